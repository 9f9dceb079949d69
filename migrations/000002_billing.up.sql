-- Billing: rates, charges, periods, subsidies, budgets, adjustments and statements.
-- Money is exact (DESIGN.md rule 5): a charge keeps its quantity and the price it was
-- rated at, and its value quantity × price exactly (numeric multiplication is exact);
-- a value in currency is value / the resource's base units per priced unit, divided
-- once for a whole statement line and rounded there, to the minor unit.
-- Closed is closed (rule 6): triggers refuse any write to a closed period's charges,
-- adjustments and statements, whatever the application does.

-- btree_gist lets one exclusion constraint combine equality on the selector with
-- overlap of the effective dates.
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- How many base units make one priced unit (core-hour = 3,600 core-seconds; GB-hour
-- = 3.6e12 byte-seconds; TB-month = 10^12 bytes × 30 days). Same as the reports'
-- human units (ledger.HumanUnitOf).
ALTER TABLE resources ADD COLUMN priced_unit text;
ALTER TABLE resources ADD COLUMN per_unit numeric;
UPDATE resources SET priced_unit = 'core-hour', per_unit = 3600 WHERE name = 'cpu';
UPDATE resources SET priced_unit = 'GPU-hour', per_unit = 3600 WHERE name = 'gpu';
UPDATE resources SET priced_unit = 'GB-hour', per_unit = 3600e9 WHERE name = 'memory';
UPDATE resources SET priced_unit = 'TB-month', per_unit = 2592000e12 WHERE name = 'storage';
UPDATE resources SET priced_unit = 'billing-hour', per_unit = 3600 WHERE name = 'billing';
ALTER TABLE resources ALTER COLUMN priced_unit SET NOT NULL;
ALTER TABLE resources ALTER COLUMN per_unit SET NOT NULL;

-- Billing periods are site-local calendar months, named by their first day. A row
-- appears when a month is first rated; closed_at makes it final.
CREATE TABLE periods (
    month     date PRIMARY KEY CHECK (extract(day FROM month) = 1),
    rated_at  timestamptz,
    closed_at timestamptz,
    closed_by text
);

-- Months whose usage changed (new usage, revision, re-mapping, a hand-made fix) since
-- they were last charged in full. Rating an open period turns the changes of closed
-- months into late-usage adjustment lines, and closing that period clears them.
-- Ingest notes the months it inserts into itself, in its transaction; the triggers
-- below note every UPDATE and DELETE, whoever makes it. (A trigger on INSERT too
-- cost 13% of ingest speed: its transition table copies every row.)
CREATE TABLE usage_changed_months (
    month date PRIMARY KEY
);

CREATE FUNCTION note_changed_usage_months() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO usage_changed_months (month)
        SELECT DISTINCT date_trunc('month', day)::date FROM new_rows
        ON CONFLICT DO NOTHING;
    END IF;
    INSERT INTO usage_changed_months (month)
    SELECT DISTINCT date_trunc('month', day)::date FROM old_rows
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
-- One trigger per event: a trigger with transition tables takes one event.
CREATE TRIGGER usage_changed_update AFTER UPDATE ON usage
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION note_changed_usage_months();
CREATE TRIGGER usage_changed_delete AFTER DELETE ON usage
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION note_changed_usage_months();

-- Rates: a price per priced unit of a resource, effective on site-local days
-- [valid_from, valid_to), for usage matching the selector ('*' matches anything;
-- group_id NULL: every group, else the group's whole subtree). When several match,
-- the most specific wins: QoS, then partition, then the deepest group, then cluster
-- (ledger/rates.go explains the order). Two rates with the same selector may not
-- overlap in time, which makes the winner unique.
CREATE TABLE rates (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    resource   text NOT NULL REFERENCES resources (name),
    cluster    text NOT NULL DEFAULT '*' CHECK (cluster <> ''),
    partition  text NOT NULL DEFAULT '*' CHECK (partition <> ''),
    qos        text NOT NULL DEFAULT '*' CHECK (qos <> ''),
    group_id   bigint REFERENCES groups (id),
    price      numeric NOT NULL CHECK (price >= 0),  -- currency per priced unit, any precision
    valid_from date NOT NULL,
    valid_to   date NOT NULL DEFAULT 'infinity',     -- exclusive
    note       text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_from < valid_to),
    CONSTRAINT rates_no_overlap EXCLUDE USING gist (
        resource WITH =, cluster WITH =, partition WITH =, qos WITH =,
        (coalesce(group_id, 0)) WITH =, daterange(valid_from, valid_to) WITH &&)
);

-- Charges: usage rated, summed per site-local day × group × user × cluster × partition
-- × QoS × resource × rate (the finest grain a rate can depend on, plus the user for
-- statements' per-user subtotals). kind 'usage' is the period's own month; 'late'
-- rows are differences found later for a closed month (usage_month), charged in the
-- next open period. rate_id NULL is unpriced usage: counted, never silently free.
CREATE TABLE charges (
    period      date NOT NULL REFERENCES periods (month),
    usage_month date NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('usage', 'late')),
    day         date NOT NULL,
    group_id    bigint,          -- NULL: unassigned usage
    user_id     bigint,
    cluster     text NOT NULL,
    partition   text NOT NULL,
    qos         text NOT NULL,
    resource    text NOT NULL,
    rate_id     bigint REFERENCES rates (id),
    price       numeric,         -- the rate's price, kept beside it for explaining
    quantity    numeric NOT NULL,  -- base units; a late row may be negative
    value       numeric NOT NULL,  -- quantity × price (0 when unpriced)
    CHECK ((kind = 'usage') = (usage_month = period))
);
CREATE INDEX charges_period_idx ON charges (period, group_id);
CREATE INDEX charges_usage_month_idx ON charges (usage_month);
CREATE INDEX charges_rate_idx ON charges (rate_id);

-- A rate that has been used keeps its price and selector for good; only its end may
-- move, and not before the last day it priced. (Changing a price = end it, start a
-- new one.)
CREATE FUNCTION guard_used_rate() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_day date;
BEGIN
    SELECT max(day) INTO last_day FROM charges WHERE rate_id = OLD.id;
    IF last_day IS NULL THEN
        RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'rate % has priced usage and cannot be deleted; end it instead', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (NEW.resource, NEW.cluster, NEW.partition, NEW.qos, NEW.group_id, NEW.price, NEW.valid_from)
       IS DISTINCT FROM (OLD.resource, OLD.cluster, OLD.partition, OLD.qos, OLD.group_id, OLD.price, OLD.valid_from) THEN
        RAISE EXCEPTION 'rate % has priced usage: only its end date may change (end it and start a new rate to change the price)', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.valid_to <= last_day THEN
        RAISE EXCEPTION 'rate % priced usage on %: it cannot end before %', OLD.id, last_day, last_day + 1
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER rates_guard_used BEFORE UPDATE OR DELETE ON rates
    FOR EACH ROW EXECUTE FUNCTION guard_used_rate();

-- Subsidies for a group's statements, inherited down the tree by every billable group
-- below it (the nearest one per resource wins): a percentage discount and/or a free
-- allowance per month, in the resource's base units. resource '*' is a discount on
-- every resource (an allowance needs a resource).
CREATE TABLE subsidies (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id         bigint NOT NULL REFERENCES groups (id),
    resource         text NOT NULL,
    discount_percent numeric NOT NULL DEFAULT 0 CHECK (discount_percent BETWEEN 0 AND 100),
    free_quantity    numeric NOT NULL DEFAULT 0 CHECK (free_quantity >= 0),
    valid_from       date NOT NULL,
    valid_to         date NOT NULL DEFAULT 'infinity',
    note             text NOT NULL DEFAULT '',
    CHECK (valid_from < valid_to),
    CHECK (resource = '*' OR resource IN ('cpu', 'gpu', 'memory', 'storage', 'billing')),
    CHECK (resource <> '*' OR free_quantity = 0),
    CONSTRAINT subsidies_no_overlap EXCLUDE USING gist (
        group_id WITH =, resource WITH =, daterange(valid_from, valid_to) WITH &&)
);

-- Budgets: money (resource NULL, amount in currency) or a quantity of a resource
-- (amount in its priced unit, e.g. GPU-hours), per month or per fiscal year, for a
-- group's whole subtree.
CREATE TABLE budgets (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    group_id   bigint NOT NULL REFERENCES groups (id),
    span       text NOT NULL CHECK (span IN ('month', 'fiscal_year')),
    resource   text REFERENCES resources (name),
    amount     numeric NOT NULL CHECK (amount >= 0),
    valid_from date NOT NULL,
    valid_to   date NOT NULL DEFAULT 'infinity',
    note       text NOT NULL DEFAULT '',
    CHECK (valid_from < valid_to),
    CONSTRAINT budgets_no_overlap EXCLUDE USING gist (
        group_id WITH =, span WITH =, (coalesce(resource, '')) WITH =, daterange(valid_from, valid_to) WITH &&)
);

-- Manual adjustments by finance: a credit (negative) or debit in minor units, with a
-- reason, on a group's statement of an open period.
CREATE TABLE adjustments (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    period       date NOT NULL REFERENCES periods (month),
    group_id     bigint NOT NULL REFERENCES groups (id),
    amount_minor bigint NOT NULL CHECK (amount_minor <> 0),
    reason       text NOT NULL CHECK (reason <> ''),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX adjustments_period_idx ON adjustments (period, group_id);

-- Final statements, written when their period closes. doc is the whole statement as
-- rendered (lines, subtotals, people), hashed into content_hash; statement_lines
-- repeats its lines as rows for the export and for SQL.
CREATE TABLE statements (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    period       date NOT NULL REFERENCES periods (month),
    group_id     bigint NOT NULL REFERENCES groups (id),
    number       text NOT NULL UNIQUE,
    currency     text NOT NULL,
    total_minor  bigint NOT NULL,
    content_hash text NOT NULL,
    doc          jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (period, group_id)
);

CREATE TABLE statement_lines (
    statement_id bigint NOT NULL REFERENCES statements (id),
    line_no      integer NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('usage', 'unpriced', 'late', 'subsidy', 'adjustment')),
    description  text NOT NULL,
    resource     text NOT NULL DEFAULT '',
    cluster      text NOT NULL DEFAULT '',
    usage_month  date,
    quantity     numeric,          -- in the priced unit
    unit         text NOT NULL DEFAULT '',
    unit_price   numeric,
    amount_minor bigint NOT NULL,
    PRIMARY KEY (statement_id, line_no)
);

-- Closed is closed: any INSERT, UPDATE or DELETE touching a closed period's rows fails.
-- Statement-level triggers with transition tables check a whole bulk statement at
-- once (closing a month writes hundreds of thousands of charges).
CREATE FUNCTION refuse_closed_period_writes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    closed date;
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE format('SELECT p.month FROM new_rows n JOIN periods p ON p.month = n.%I WHERE p.closed_at IS NOT NULL LIMIT 1',
                       TG_ARGV[0]) INTO closed;
    END IF;
    IF closed IS NULL AND TG_OP IN ('UPDATE', 'DELETE') THEN
        EXECUTE format('SELECT p.month FROM old_rows o JOIN periods p ON p.month = o.%I WHERE p.closed_at IS NOT NULL LIMIT 1',
                       TG_ARGV[0]) INTO closed;
    END IF;
    IF closed IS NOT NULL THEN
        RAISE EXCEPTION 'period % is closed: its % cannot change', to_char(closed, 'YYYY-MM'), TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation',
                  HINT = 'late or corrected usage is charged in the next open period';
    END IF;
    RETURN NULL;
END $$;

-- statement_lines has no period column: its rows are checked through their statement.
CREATE FUNCTION refuse_closed_statement_line_writes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM statements s JOIN periods p ON p.month = s.period
               WHERE p.closed_at IS NOT NULL
                 AND s.id = (CASE WHEN TG_OP = 'DELETE' THEN OLD.statement_id ELSE NEW.statement_id END))
       OR (TG_OP = 'UPDATE' AND EXISTS (SELECT 1 FROM statements s JOIN periods p ON p.month = s.period
               WHERE p.closed_at IS NOT NULL AND s.id = OLD.statement_id)) THEN
        RAISE EXCEPTION 'the statement''s period is closed: its lines cannot change'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;

CREATE FUNCTION refuse_truncate_of_closed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM periods WHERE closed_at IS NOT NULL) THEN
        RAISE EXCEPTION 'closed periods exist: % cannot be truncated', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER charges_closed_insert AFTER INSERT ON charges
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION refuse_closed_period_writes('period');
CREATE TRIGGER charges_closed_update AFTER UPDATE ON charges
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION refuse_closed_period_writes('period');
CREATE TRIGGER charges_closed_delete AFTER DELETE ON charges
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION refuse_closed_period_writes('period');
CREATE TRIGGER charges_closed_truncate BEFORE TRUNCATE ON charges
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate_of_closed();

CREATE TRIGGER adjustments_closed_insert AFTER INSERT ON adjustments
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION refuse_closed_period_writes('period');
CREATE TRIGGER adjustments_closed_update AFTER UPDATE ON adjustments
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION refuse_closed_period_writes('period');
CREATE TRIGGER adjustments_closed_delete AFTER DELETE ON adjustments
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION refuse_closed_period_writes('period');
CREATE TRIGGER adjustments_closed_truncate BEFORE TRUNCATE ON adjustments
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate_of_closed();

CREATE TRIGGER statements_closed_insert AFTER INSERT ON statements
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION refuse_closed_period_writes('period');
CREATE TRIGGER statements_closed_update AFTER UPDATE ON statements
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION refuse_closed_period_writes('period');
CREATE TRIGGER statements_closed_delete AFTER DELETE ON statements
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION refuse_closed_period_writes('period');
CREATE TRIGGER statements_closed_truncate BEFORE TRUNCATE ON statements
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate_of_closed();

CREATE TRIGGER statement_lines_closed BEFORE INSERT OR UPDATE OR DELETE ON statement_lines
    FOR EACH ROW EXECUTE FUNCTION refuse_closed_statement_line_writes();
CREATE TRIGGER statement_lines_closed_truncate BEFORE TRUNCATE ON statement_lines
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate_of_closed();

-- A closed period stays closed: its closed_at can be neither cleared nor changed, and
-- the row cannot go.
CREATE FUNCTION keep_closed_periods_closed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.closed_at IS NOT NULL AND (TG_OP = 'DELETE' OR NEW.closed_at IS DISTINCT FROM OLD.closed_at
                                      OR NEW.closed_by IS DISTINCT FROM OLD.closed_by) THEN
        RAISE EXCEPTION 'period % is closed and stays closed', to_char(OLD.month, 'YYYY-MM')
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER periods_stay_closed BEFORE UPDATE OR DELETE ON periods
    FOR EACH ROW EXECUTE FUNCTION keep_closed_periods_closed();
CREATE TRIGGER periods_closed_truncate BEFORE TRUNCATE ON periods
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_truncate_of_closed();
