DROP TRIGGER IF EXISTS adjustments_limits ON adjustments;
DROP FUNCTION IF EXISTS check_adjustment_limits();
DROP FUNCTION IF EXISTS max_amount_minor();
ALTER TABLE subsidies DROP CONSTRAINT IF EXISTS subsidies_discount_decimals;
ALTER TABLE budgets DROP CONSTRAINT IF EXISTS budgets_amount_limits;
ALTER TABLE rates DROP CONSTRAINT IF EXISTS rates_price_limits;
