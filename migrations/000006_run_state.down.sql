DROP INDEX collector_runs_running_idx;
ALTER TABLE collector_runs DROP CONSTRAINT collector_runs_state_finished;
ALTER TABLE collector_runs DROP COLUMN state;
