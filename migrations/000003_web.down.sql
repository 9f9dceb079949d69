DROP TABLE IF EXISTS group_storage;
DROP TABLE IF EXISTS group_top_jobs;
DROP TABLE IF EXISTS group_summary_month;
DROP TABLE IF EXISTS group_summary;
DROP INDEX IF EXISTS charges_group_day_idx;
DROP TABLE IF EXISTS oidc_logins;
DROP TABLE IF EXISTS api_tokens;
DROP TABLE IF EXISTS sessions;
ALTER TABLE groups DROP COLUMN IF EXISTS open_leaderboard;
