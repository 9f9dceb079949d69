package main

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/internal/pgtest"
)

// parsimony adjust takes a plain decimal within the documented maximum: a 20-digit
// amount, hex and exponents are refused with the reason and store nothing (a
// 20-digit amount was stored as 18,647,120,494,230,240.28), and two large
// adjustments that together pass the maximum are refused, never summed into a
// wrapped total.
func TestAdjustAmountLimits(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	cfg := configFor(t, url, "UTC")
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(t.Context(), `INSERT INTO groups (id, path, kind, slug, name, billable) VALUES (100, '100', 'lab', 'physics', 'Physics Lab', true)`); err != nil {
		t.Fatal(err)
	}
	adjust := func(amount string) (int, string) {
		code, _, stderr := cli(t, "adjust", "--config", cfg, "--period", "2026-11", "--group", "physics", "--amount="+amount, "--reason", "test")
		return code, stderr
	}
	for amount, reason := range map[string]string{
		"99999999999999999999": "--amount 99999999999999999999 is too large: it must be less than 1,000,000,000,000",
		"1000000000000":        "too large",
		"0x10":                 `--amount: "0x10" is not a plain decimal number`,
		"1e9":                  `--amount: "1e9" is not a plain decimal number`,
		"+5":                   "not a plain decimal number",
		"1.005":                "more than 2 decimals",
	} {
		if code, stderr := adjust(amount); code != 2 || !strings.Contains(stderr, reason) {
			t.Errorf("adjust --amount=%s: exit %d, %q; want 2 saying %q", amount, code, stderr, reason)
		}
	}
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM adjustments`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d adjustments stored (%v), want none", n, err)
	}

	if code, stderr := adjust("600000000000"); code != 0 {
		t.Fatalf("adjust 600 billion: exit %d, %q", code, stderr)
	}
	if code, stderr := adjust("600000000000"); code != 1 || !strings.Contains(stderr, "too large") {
		t.Errorf("a second 600 billion: exit %d, %q; want 1 saying too large", code, stderr)
	}
	var sum int64
	if err := pool.QueryRow(t.Context(), `SELECT sum(amount_minor) FROM adjustments`).Scan(&sum); err != nil || sum != 60_000_000_000_000 {
		t.Errorf("adjustments sum to %d (%v), want 60,000,000,000,000 cents", sum, err)
	}
}
