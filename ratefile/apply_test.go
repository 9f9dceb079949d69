package ratefile_test

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/ratefile"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// snapshot is everything a price list can change: rates, subsidies, budgets (each
// row as it is) and the audit log.
func snapshot(t *testing.T, ctx context.Context, pool *pgxpool.Pool) string {
	t.Helper()
	var out string
	err := pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM rates) || ' rates: ' ||
		coalesce((SELECT string_agg(id || ' ' || resource || ' ' || price || ' ' || valid_from || '..' || valid_to, '; ' ORDER BY id) FROM rates), '') ||
		' | ' || (SELECT count(*) FROM subsidies) || ' subsidies: ' ||
		coalesce((SELECT string_agg(id || ' ' || group_id || ' ' || valid_from || '..' || valid_to, '; ' ORDER BY id) FROM subsidies), '') ||
		' | ' || (SELECT count(*) FROM budgets) || ' budgets: ' ||
		coalesce((SELECT string_agg(id || ' ' || group_id || ' ' || amount || ' ' || valid_from || '..' || valid_to, '; ' ORDER BY id) FROM budgets), '') ||
		' | ' || (SELECT count(*) FROM audit_log) || ' audit entries'`).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A price list is all or nothing (docs/billing.md): a file whose last entry is
// refused by the ledger — an unknown group, a closed month — leaves the rates,
// subsidies, budgets and audit log exactly as they were, even when its earlier
// entries would end a rate in force.
func TestApplyIsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := pgtest.NewPool(t)
	l, err := ledger.Open(ctx, pool, ledger.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	lab, err := l.CreateGroup(ctx, "test", ledger.NewGroup{Kind: "lab", Slug: "lab", Name: "Lab", Billable: true})
	if err != nil {
		t.Fatal(err)
	}
	// What the ledger holds before: a rate in force (which the files below would
	// end), a subsidy and a budget; September is closed.
	if _, _, err := l.SetRate(ctx, "test", ledger.Rate{Resource: "cpu", Price: big.NewRat(1, 100), ValidFrom: day(t, "2026-01-01")}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.SetSubsidy(ctx, "test", ledger.Subsidy{GroupID: lab.ID, Resource: "*", DiscountPercent: big.NewRat(10, 1), ValidFrom: day(t, "2026-01-01")}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.SetBudget(ctx, "test", ledger.Budget{GroupID: lab.ID, Span: ledger.SpanMonth, Amount: big.NewRat(1000, 1), ValidFrom: day(t, "2026-01-01")}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO periods (month, closed_at, closed_by) VALUES ('2026-09-01', now(), 'test')`); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, ctx, pool)

	tests := []struct {
		name, file, body string
		want             []string // in the error
	}{
		{"csv, unknown group last", "prices.csv", "resource,price,valid_from,group\n" +
			"cpu,0.02,2026-11-01,\n" +
			"gpu,1.50,2026-11-01,lab\n" +
			"memory,0.001,2026-11-01,no-such-lab\n", []string{"line 4", `"no-such-lab"`, "nothing applied"}},
		{"csv, closed month last", "prices.csv", "resource,price,valid_from\n" +
			"cpu,0.02,2026-11-01\n" +
			"gpu,1.50,2026-11-01\n" +
			"memory,0.001,2026-09-15\n", []string{"line 4", "closed period", "nothing applied"}},
		{"toml, unknown group in the last budget", "prices.toml", `
[[rate]]
resource = "cpu"
price = "0.02"
valid_from = 2026-11-01
[[subsidy]]
group = "lab"
resource = "cpu"
free = 100
valid_from = 2026-11-01
[[budget]]
group = "lab"
span = "month"
amount = 2500
valid_from = 2026-11-01
[[budget]]
group = "no-such-lab"
span = "month"
amount = 10
valid_from = 2026-11-01
`, []string{"budget 2", `"no-such-lab"`}},
		{"toml, last subsidy in a closed month", "prices.toml", `
[[rate]]
resource = "cpu"
price = "0.02"
valid_from = 2026-11-01
[[subsidy]]
group = "lab"
resource = "gpu"
free = 10
valid_from = 2026-11-01
[[subsidy]]
group = "lab"
resource = "cpu"
free = 10
valid_from = 2026-09-01
`, []string{"subsidy 2", "closed period"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := ratefile.Read(tt.file, strings.NewReader(tt.body))
			if err != nil {
				t.Fatalf("the file reads cleanly; its last entry is refused by the ledger: %v", err)
			}
			sum, err := ratefile.Apply(ctx, l, "test", list)
			if err == nil {
				t.Fatalf("applied: %+v", sum)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if after := snapshot(t, ctx, pool); after != before {
				t.Errorf("the ledger changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}

	// The same file without its bad entry applies whole.
	list, err := ratefile.Read("prices.csv", strings.NewReader("resource,price,valid_from,group\ncpu,0.02,2026-11-01,\ngpu,1.50,2026-11-01,lab\n"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := ratefile.Apply(ctx, l, "test", list)
	if err != nil || sum.RatesChanged != 2 {
		t.Fatalf("a good file: %+v, %v", sum, err)
	}
	if snapshot(t, ctx, pool) == before {
		t.Error("a good file changed nothing")
	}
}

// A price beyond the documented maxima is refused when the file is read, with its
// line, before anything is applied.
func TestReadRefusesPricesBeyondTheMaximum(t *testing.T) {
	t.Parallel()
	price44 := "12345678901234567890123456789012345678901234"
	if _, err := ratefile.ReadCSV(strings.NewReader("resource,price,valid_from\ncpu,0.01,2026-10-01\ngpu," + price44 + ",2026-10-01\n")); err == nil ||
		!strings.Contains(err.Error(), "line 3: price "+price44+" is too large") {
		t.Errorf("CSV with a 44-digit price: %v", err)
	}
	for _, p := range []string{`"` + price44 + `"`, "1e300", `"1e9"`, `"0x10"`} {
		_, err := ratefile.ReadTOML(strings.NewReader("[[rate]]\nresource = \"cpu\"\nprice = " + p + "\nvalid_from = 2026-10-01\n"))
		if err == nil || !strings.Contains(err.Error(), "rate 1: price") {
			t.Errorf("TOML price %s: %v", p, err)
		}
	}
	_, err := ratefile.ReadTOML(strings.NewReader("[[budget]]\ngroup = \"lab\"\nspan = \"month\"\namount = \"99999999999999999999\"\nvalid_from = 2026-10-01\n"))
	var probs ratefile.Problems
	if !errors.As(err, &probs) || !strings.Contains(err.Error(), "budget 1: amount") || !strings.Contains(err.Error(), "too large") {
		t.Errorf("TOML budget of 20 digits: %v", err)
	}
}

func day(t *testing.T, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
