-- Money has documented maxima (docs/billing.md, "Limits"; ledger/money.go), so that
-- no amount is ever stored or printed wrapped around 64 bits. The ledger checks them
-- at every entry point and again where it computes money; these constraints hold
-- them for any other writer too.
--
-- The CHECK constraints are NOT VALID: they bind every new or changed row, but a
-- database that already holds a row beyond them still migrates (a rate that priced
-- usage can never change), and the ledger refuses to bill such a row with a message
-- naming it.

-- A unit price is less than 10^9 currency units per priced unit, with at most 12
-- decimals.
ALTER TABLE rates ADD CONSTRAINT rates_price_limits
    CHECK (price < 1e9 AND price = round(price, 12)) NOT VALID;

-- A budget (money, or a quantity in a priced unit) is less than 10^12, with at most
-- 6 decimals.
ALTER TABLE budgets ADD CONSTRAINT budgets_amount_limits
    CHECK (amount < 1e12 AND amount = round(amount, 6)) NOT VALID;

-- A discount has at most 6 decimals (0 to 100 is checked already).
ALTER TABLE subsidies ADD CONSTRAINT subsidies_discount_decimals
    CHECK (discount_percent = round(discount_percent, 6)) NOT VALID;

-- The largest amount in minor units: 10^(12 + minor digits) − 1, with the minor
-- digits of the currency the database is pinned to (settings 'currency', e.g.
-- 'EUR/2'), or the most a currency may have (6) before it is pinned.
CREATE FUNCTION max_amount_minor() RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT 10::numeric ^ (12 + coalesce(
        (SELECT nullif(split_part(value, '/', 2), '')::int FROM settings WHERE key = 'currency'), 6)) - 1
$$;

-- An adjustment, and the adjustments of a group's statement together, are each less
-- than 10^12 currency units in absolute value.
CREATE FUNCTION check_adjustment_limits() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    lim   numeric := max_amount_minor();
    total numeric;
BEGIN
    IF abs(NEW.amount_minor) > lim THEN
        RAISE EXCEPTION 'adjustment of % minor units is too large: an amount is less than 10^12 currency units', NEW.amount_minor
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT coalesce(sum(amount_minor), 0) + NEW.amount_minor INTO total
    FROM adjustments WHERE period = NEW.period AND group_id = NEW.group_id AND id <> NEW.id;
    IF abs(total) > lim THEN
        RAISE EXCEPTION 'the adjustments of group % in % would come to % minor units: too large, the total is less than 10^12 currency units',
            NEW.group_id, to_char(NEW.period, 'YYYY-MM'), total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER adjustments_limits BEFORE INSERT OR UPDATE ON adjustments
    FOR EACH ROW EXECUTE FUNCTION check_adjustment_limits();
