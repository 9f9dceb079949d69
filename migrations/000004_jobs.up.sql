-- Work that can outlast a web request (closing a month of a large site takes a
-- minute): the request records a job and answers at once; the server runs it and
-- records its outcome here, and a status page follows it.
CREATE TABLE jobs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text NOT NULL,                 -- 'close'
    subject      text NOT NULL,                 -- what it works on: '2026-10'
    requested_by text NOT NULL,                 -- 'web:login'
    state        text NOT NULL DEFAULT 'running'
                 CHECK (state IN ('running', 'done', 'failed', 'abandoned')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    -- The runner touches this while it works: a running job whose heartbeat has
    -- stopped belonged to a server that died, and is shown (and later marked) abandoned.
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    outcome      text NOT NULL DEFAULT '',      -- what it did, for people
    error        text NOT NULL DEFAULT '',      -- why it failed, safe to show
    CHECK ((state = 'running') = (finished_at IS NULL))
);
-- One running job per kind and subject: a second click follows the first job.
CREATE UNIQUE INDEX jobs_one_running ON jobs (kind, subject) WHERE state = 'running';
CREATE INDEX jobs_started_idx ON jobs (started_at DESC);
