-- The web app: sign-in sessions, API tokens and OIDC logins in flight, all in
-- PostgreSQL so that any number of stateless web servers share them.

-- A group may open its leaderboard: members then see each other's names there
-- (otherwise only its PIs and managers do).
ALTER TABLE groups ADD COLUMN open_leaderboard boolean NOT NULL DEFAULT false;

-- Sessions: the cookie holds a random token; only its SHA-256 is stored, so a copy
-- of the table signs nobody in.
CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    csrf_token text NOT NULL,
    method     text NOT NULL CHECK (method IN ('oidc', 'proxy', 'demo')),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- API tokens for scripts and agents: shown once, stored hashed, scoped, revocable.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id),
    name         text NOT NULL CHECK (name <> ''),
    token_hash   bytea NOT NULL UNIQUE,
    prefix       text NOT NULL,       -- the first characters, to recognise a token in lists
    scopes       text[] NOT NULL CHECK (scopes <@ ARRAY['read', 'write', 'ingest']::text[] AND cardinality(scopes) > 0),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

-- OIDC authorization-code logins between the redirect to the provider and the
-- callback: state, PKCE verifier and nonce, for ten minutes.
CREATE TABLE oidc_logins (
    state_hash bytea PRIMARY KEY,
    verifier   text NOT NULL,
    nonce      text NOT NULL,
    return_to  text NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Dashboards read a group's subtree's charges by day.
CREATE INDEX charges_group_day_idx ON charges (group_id, day);

-- Dashboards of big groups (a whole institution, a year of 10 million jobs) must not
-- scan every charge of their subtree. Rating therefore writes, for every group and
-- every site-local day, its whole subtree's money (from the charges) and quantities
-- (from the daily rollups), summed several ways (dim):
--   res      per resource
--   child    per resource and child group (key_id; 0: the group itself)
--   user     per resource and user (key_id; 0: unknown)
--   cluster  per resource and cluster (key_text)
--   part     per resource and cluster/partition (key_text)
-- A dashboard then reads a few thousand rows whatever the group's size. It is as
-- fresh as the last rating (which the collectors' timer runs).
CREATE TABLE group_summary (
    day       date NOT NULL,
    group_id  bigint NOT NULL,
    dim       text NOT NULL CHECK (dim IN ('res', 'child', 'user', 'cluster', 'part')),
    key_id    bigint NOT NULL DEFAULT 0,
    key_text  text NOT NULL DEFAULT '',
    resource  text NOT NULL,
    -- Display figures: float8 sums are several times faster to add up than numeric,
    -- and far more precise than a page shows. Money that is billed stays exact in
    -- the charges and statements.
    amount    float8 NOT NULL,  -- currency
    quantity  float8 NOT NULL,  -- base units
    allocated float8 NOT NULL,
    used      float8 NOT NULL,
    records   bigint NOT NULL
);
CREATE INDEX group_summary_idx ON group_summary (group_id, dim, day);
CREATE INDEX group_summary_day_idx ON group_summary (day);

-- The same summed per site-local month (month = its first day), for the dashboards'
-- month-aligned windows (this month to date, a past month): 30 times fewer rows.
CREATE TABLE group_summary_month (
    month     date NOT NULL,
    group_id  bigint NOT NULL,
    dim       text NOT NULL,
    key_id    bigint NOT NULL DEFAULT 0,
    key_text  text NOT NULL DEFAULT '',
    resource  text NOT NULL,
    amount    float8 NOT NULL,
    quantity  float8 NOT NULL,
    allocated float8 NOT NULL,
    used      float8 NOT NULL,
    records   bigint NOT NULL
);
CREATE INDEX group_summary_month_idx ON group_summary_month (group_id, dim, month);

-- Each group's own most expensive and most wasteful jobs of each month (10 of each),
-- written by rating; a dashboard takes the top of its subtree's rows. A job's cost
-- is its usage at the rates its charges used; its waste is what was reserved and
-- not used (allocated − used), priced the same way.
CREATE TABLE group_top_jobs (
    month       date NOT NULL,
    group_id    bigint NOT NULL,
    source      text NOT NULL,
    cluster     text NOT NULL,
    external_id text NOT NULL,
    user_id     bigint,
    job_name    text NOT NULL,
    partition   text NOT NULL,
    state       text NOT NULL,
    start_time  timestamptz NOT NULL,
    end_time    timestamptz NOT NULL,
    cost        float8 NOT NULL,
    waste       float8 NOT NULL,
    cpu_eff     float8,            -- used / allocated core-seconds
    mem_eff     float8             -- peak / allocated memory
);
CREATE INDEX group_top_jobs_idx ON group_top_jobs (month, group_id);

-- Storage held at the end of each month (or of the month so far) per file-system
-- owner, with its quota, for the dashboards' "storage against quota": the last
-- day's snapshot of each owner, from the storage collector's records (quota in
-- their attributes), written by rating.
CREATE TABLE group_storage (
    month      date NOT NULL,
    group_id   bigint NOT NULL,
    filesystem text NOT NULL,
    owner      text NOT NULL,
    day        date NOT NULL,
    bytes      float8 NOT NULL,
    quota      float8          -- NULL: no quota reported
);
CREATE INDEX group_storage_idx ON group_storage (month, group_id);
