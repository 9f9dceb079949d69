ALTER TABLE group_summary_month DROP COLUMN waste;
ALTER TABLE group_summary DROP COLUMN waste;
