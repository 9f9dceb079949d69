package ledger_test

import (
	"errors"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Amounts, prices and quantities are plain decimals within the documented maxima:
// anything else is refused with a reason, never read as a different number.
func TestParseMoneyAndPrices(t *testing.T) {
	t.Parallel()
	price44 := "12345678901234567890123456789012345678901234" // 44 digits
	tests := []struct {
		name  string
		parse func(string) (string, error)
		in    string
		want  string // the value read, or
		err   string // a substring of the error
		large bool   // the error is ErrTooLarge
	}{
		{"amount", amount, "-25.00", "-2500", "", false},
		{"amount, no decimals", amount, "7", "700", "", false},
		{"amount, the largest", amount, "999999999999.99", "99999999999999", "", false},
		{"amount, leading zeros", amount, "000012.5", "1250", "", false},
		{"amount of 20 digits", amount, "99999999999999999999", "", "too large", true},
		{"amount of 10^12", amount, "1000000000000", "", "less than 1,000,000,000,000", true},
		{"amount in hex", amount, "0x10", "", "not a plain decimal", false},
		{"amount with an exponent", amount, "1e9", "", "not a plain decimal", false},
		{"amount with a plus", amount, "+5", "", "not a plain decimal", false},
		{"amount as a fraction", amount, "1/3", "", "not a plain decimal", false},
		{"amount with separators", amount, "1,000", "", "not a plain decimal", false},
		{"amount with a bare point", amount, "5.", "", "not a plain decimal", false},
		{"amount with spaces", amount, " 5", "", "not a plain decimal", false},
		{"amount, infinity", amount, "Inf", "", "not a plain decimal", false},
		{"amount, too many decimals", amount, "1.005", "", "more than 2 decimals", false},
		{"amount, trailing zeros are fine", amount, "1.5000", "150", "", false},
		{"amount, empty", amount, "", "", "a number is required", false},
		{"amount, a huge text", amount, strings.Repeat("0", 100) + "1", "", "too large", true},
		{"price", price, "0.000123456789", "0.000123456789", "", false},
		{"price, the largest", price, "999999999.999999999999", "999999999.999999999999", "", false},
		{"price of 44 digits", price, price44, "", "too large", true},
		{"price of 10^9", price, "1000000000", "", "less than 1,000,000,000", true},
		{"price, 13 decimals", price, "0.0000000000001", "", "more than 12 decimals", false},
		{"price, negative", price, "-1", "", "must not be negative", false},
		{"price with an exponent", price, "1e-3", "", "not a plain decimal", false},
		{"quantity", quantity, "12.5", "12.5", "", false},
		{"quantity 1e1000", quantity, "1e1000", "", "not a plain decimal", false},
		{"quantity of 13 digits", quantity, "1000000000000", "", "too large", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse(tt.in)
			if tt.err == "" {
				if err != nil || got != tt.want {
					t.Fatalf("%q: %s, %v; want %s", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("%q: %s, %v; want an error saying %q", tt.in, got, err, tt.err)
			}
			if errors.Is(err, ledger.ErrTooLarge) != tt.large {
				t.Errorf("%q: errors.Is(%v, ErrTooLarge) = %v", tt.in, err, !tt.large)
			}
		})
	}
}

func amount(s string) (string, error) {
	m, err := ledger.ParseAmount(s, "amount", 2)
	return big.NewInt(m).String(), err
}

func price(s string) (string, error) {
	r, err := ledger.ParsePrice(s)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(strings.TrimRight(r.FloatString(12), "0"), "."), nil
}

func quantity(s string) (string, error) {
	r, err := ledger.ParseQuantity(s, "quantity")
	if err != nil {
		return "", err
	}
	return strings.TrimRight(strings.TrimRight(r.FloatString(6), "0"), "."), nil
}

// An adjustment is less than 10^12 currency units, and so are a statement's
// adjustments together: two large ones that would pass the maximum are refused —
// by the ledger and by the database for any other writer — never summed into a
// wrapped or negative total.
func TestAdjustmentLimits(t *testing.T) {
	s := newSetup(t, "UTC")
	g := group(t, s, 0, "lab", true)
	oct := day("2026-10-01")
	ingest(t, s, []ledger.Record{job("1", "lab", "std", "normal", time.Date(2026, 10, 5, 10, 0, 0, 0, time.UTC), 1)}) // unpriced
	adjust := func(minor int64) error {
		_, err := s.l.AddAdjustment(s.ctx, "test", ledger.Adjustment{Period: oct, GroupID: g.ID, AmountMinor: minor, Reason: "test"})
		return err
	}
	// 10^12 EUR (10^14 cents) is one cent too many; 92,233,720,368,547,758.07 is
	// what an int64 of cents holds at most.
	for _, minor := range []int64{100_000_000_000_000, -100_000_000_000_000, 9_223_372_036_854_775_807} {
		if err := adjust(minor); !errors.Is(err, ledger.ErrTooLarge) {
			t.Errorf("adjustment of %d cents: %v, want ErrTooLarge", minor, err)
		}
	}
	if err := adjust(60_000_000_000_000); err != nil { // 600 billion
		t.Fatal(err)
	}
	err := adjust(60_000_000_000_000)
	if !errors.Is(err, ledger.ErrTooLarge) || !errors.Is(err, ledger.ErrConflict) || !strings.Contains(err.Error(), "adjustments") {
		t.Fatalf("a second adjustment of 600 billion: %v, want ErrTooLarge (and ErrConflict) naming the adjustments", err)
	}
	// Any other writer: the database refuses the row alone and the sum.
	for _, minor := range []string{"60000000000000", "100000000000000", "5000000000000000000"} {
		if _, err := s.pool.Exec(s.ctx, `INSERT INTO adjustments (period, group_id, amount_minor, reason, created_by)
			VALUES ($1, $2, $3::bigint, 'sql', 'test')`, oct, g.ID, minor); err == nil || !strings.Contains(err.Error(), "too large") {
			t.Errorf("INSERT of an adjustment of %s cents: %v, want it refused", minor, err)
		}
	}
	sts, _, err := s.l.Statements(s.ctx, oct)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 1 || sts[0].TotalMinor != 60_000_000_000_000 || sts[0].Amount(sts[0].TotalMinor) != "600,000,000,000.00" {
		t.Fatalf("statements %+v, want one of 600,000,000,000.00", sts)
	}
}

// Rating a huge price × a huge quantity gives no garbage line: the statement is
// refused with an error naming the group and the rate, and so is a total over the
// maximum (a large line plus a large adjustment); a period cannot close on them.
func TestStatementAmountLimits(t *testing.T) {
	oct := day("2026-10-01")
	at := time.Date(2026, 10, 5, 10, 0, 0, 0, time.UTC)
	t.Run("line", func(t *testing.T) { statementLineLimit(t, oct, at) })
	t.Run("total", func(t *testing.T) { statementTotalLimit(t, oct, at) })
}

func statementLineLimit(t *testing.T, oct, at time.Time) {
	s := newSetup(t, "UTC")
	group(t, s, 0, "lab", true)
	other := group(t, s, 0, "other", true)
	// Valid prices (under 10^9), and a job of 10^11 core-hours for lab: 10^20 EUR.
	r := setRate(t, s, ledger.Rate{Resource: "cpu", Cluster: "c1", Price: rat("999999999"), ValidFrom: oct})
	setRate(t, s, ledger.Rate{Resource: "cpu", GroupID: other.ID, Price: rat("1"), ValidFrom: oct})
	ingest(t, s, []ledger.Record{job("1", "lab", "std", "normal", at, 100_000_000_000)})
	if _, err := s.l.RatePeriod(s.ctx, "test", oct); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.l.Statements(s.ctx, oct)
	if !errors.Is(err, ledger.ErrTooLarge) || !strings.Contains(err.Error(), "statement of lab") ||
		!strings.Contains(err.Error(), "rate "+big.NewInt(r.ID).String()) {
		t.Fatalf("statements with a 10^20 EUR line: %v, want ErrTooLarge naming lab and rate %d", err, r.ID)
	}
	t.Log(err)
	if _, _, err := s.l.Close(s.ctx, "test", oct); !errors.Is(err, ledger.ErrTooLarge) {
		t.Fatalf("close: %v, want ErrTooLarge", err)
	}
}

// statementTotalLimit: a line under the maximum plus an adjustment under it, over
// it together.
func statementTotalLimit(t *testing.T, oct, at time.Time) {
	s2 := newSetup(t, "UTC")
	g := group(t, s2, 0, "lab", true)
	setRate(t, s2, ledger.Rate{Resource: "cpu", Price: rat("1"), ValidFrom: oct})
	ingest(t, s2, []ledger.Record{job("1", "lab", "std", "normal", at, 900_000_000_000)}) // 900 billion EUR
	if _, err := s2.l.RatePeriod(s2.ctx, "test", oct); err != nil {
		t.Fatal(err)
	}
	sts, _, err := s2.l.Statements(s2.ctx, oct)
	if err != nil || len(sts) != 1 || sts[0].TotalMinor != 90_000_000_000_000 {
		t.Fatalf("900 billion: %+v, %v", sts, err)
	}
	if _, err := s2.l.AddAdjustment(s2.ctx, "test", ledger.Adjustment{Period: oct, GroupID: g.ID, AmountMinor: 50_000_000_000_000, Reason: "more"}); err != nil {
		t.Fatal(err)
	}
	_, _, err = s2.l.Statements(s2.ctx, oct)
	if !errors.Is(err, ledger.ErrTooLarge) || !strings.Contains(err.Error(), "the total on the statement of lab") {
		t.Fatalf("statement of 1.4 trillion: %v, want ErrTooLarge naming its total", err)
	}
	t.Log(err)
}

// A rate's price is less than 10^9 with at most 12 decimals, whoever writes it.
func TestRatePriceLimits(t *testing.T) {
	s := newSetup(t, "UTC")
	oct := day("2026-10-01")
	for _, p := range []string{"12345678901234567890123456789012345678901234", "1000000000", "0.0000000000001"} {
		if _, _, err := s.l.SetRate(s.ctx, "test", ledger.Rate{Resource: "cpu", Price: rat(p), ValidFrom: oct}); err == nil {
			t.Errorf("SetRate with price %s: no error", p)
		}
		if _, err := s.pool.Exec(s.ctx, `INSERT INTO rates (resource, price, valid_from) VALUES ('cpu', $1::numeric, '2026-10-01')`, p); err == nil ||
			!strings.Contains(err.Error(), "rates_price_limits") {
			t.Errorf("INSERT of a rate with price %s: %v, want rates_price_limits", p, err)
		}
	}
	setRate(t, s, ledger.Rate{Resource: "cpu", Price: rat("999999999.999999999999"), ValidFrom: oct})
	if _, err := s.l.SetBudget(s.ctx, "test", ledger.Budget{GroupID: group(t, s, 0, "lab", true).ID, Span: ledger.SpanMonth,
		Amount: rat("1000000000000"), ValidFrom: oct}); !errors.Is(err, ledger.ErrTooLarge) {
		t.Errorf("a budget of 10^12: %v, want ErrTooLarge", err)
	}
}

// An estimate beyond the maxima is refused, never answered with a wrapped amount.
func TestEstimateLimits(t *testing.T) {
	s := newSetup(t, "UTC")
	g := group(t, s, 0, "lab", true)
	setRate(t, s, ledger.Rate{Resource: "cpu", Price: rat("100"), ValidFrom: day("2026-10-01")})
	q := func(cpuHours string) (ledger.Estimate, error) {
		return s.l.Estimate(s.ctx, ledger.EstimateQuery{GroupID: g.ID, Cluster: "c1", Day: day("2026-10-05"),
			Quantities: map[string]*big.Rat{ledger.ResourceCPU: rat(cpuHours)}})
	}
	est, err := q("32")
	if err != nil || est.Total != "3200.00" {
		t.Fatalf("32 core-hours at 100: %+v, %v", est, err)
	}
	for _, h := range []string{"10000000000", "1000000000000", "1" + strings.Repeat("0", 1000)} {
		if est, err := q(h); !errors.Is(err, ledger.ErrTooLarge) {
			t.Errorf("%.20s… core-hours: %+v, %v; want ErrTooLarge", h, est, err)
		}
	}
}

// Whatever the parser accepts is a plain decimal within its bounds, and reads back
// as itself.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "-12.50", "0x10", "1e9", "999999999999.99", "1000000000000", "00.10", "-", ".5", "5."} {
		f.Add(s)
	}
	plain := regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ledger.ParseDecimal(s, "x", 12, 2)
		if err != nil {
			return
		}
		if !plain.MatchString(s) {
			t.Fatalf("accepted %q", s)
		}
		if new(big.Rat).Abs(r).Cmp(new(big.Rat).SetInt64(1_000_000_000_000)) >= 0 {
			t.Fatalf("accepted %q, %s: not less than 10^12", s, r.FloatString(2))
		}
		if back, ok := new(big.Rat).SetString(s); !ok || back.Cmp(r) != 0 {
			t.Fatalf("%q read as %s", s, r.FloatString(2))
		}
	})
}
