-- A collector run's state, so that a run whose process died (kill -9, a crash, a
-- lost machine) shows as abandoned instead of running for ever. The next run of
-- the same source and cluster marks it: a live run holds a session-level advisory
-- lock (classid 1347568206, objid its id) on a connection of its own, which
-- PostgreSQL releases when that process goes, so a run that is still unfinished
-- and unlocked has nobody left to finish it.
ALTER TABLE collector_runs ADD COLUMN state text NOT NULL DEFAULT 'running'
    CHECK (state IN ('running', 'done', 'failed', 'abandoned'));
UPDATE collector_runs SET state = CASE WHEN finished_at IS NULL THEN 'running'
                                       WHEN error IS NULL THEN 'done'
                                       ELSE 'failed' END;
ALTER TABLE collector_runs ADD CONSTRAINT collector_runs_state_finished
    CHECK ((state = 'running') = (finished_at IS NULL));
-- The runs a new run looks at: the unfinished ones of its source and cluster.
CREATE INDEX collector_runs_running_idx ON collector_runs (source, cluster) WHERE state = 'running';
