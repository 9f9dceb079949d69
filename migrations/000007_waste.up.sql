-- Waste in the group summaries (ledger/waste.go): the money that reserved cores,
-- memory above its peak and idle GPUs (where their use is measured) did not use,
-- priced at the rates of the charges that priced them. Rating writes it beside the
-- money, so a leaderboard ranks waste from the summaries, never the usage rows.
-- Months rated before this migration show no waste until they are rated again.
ALTER TABLE group_summary ADD COLUMN waste float8 NOT NULL DEFAULT 0;
ALTER TABLE group_summary_month ADD COLUMN waste float8 NOT NULL DEFAULT 0;
