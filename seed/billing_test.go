package seed_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"math/big"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/export"
	"github.com/parsimony-hpc/parsimony/ledger"
)

// TestDemoBilling: the demo closes every past month and leaves the current one open
// with a late-usage line and an adjustment; for every closed month the export's total
// is the sum of the statements, and the statements with unassigned and unbillable
// usage account for every rated charge.
func TestDemoBilling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := seedDemo(t, testOpts)
	if s.err != nil {
		t.Fatal(s.err)
	}
	l := s.l
	periods, err := l.Periods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// testOpts: two full months before November 2025, November open.
	var closed, open []string
	for _, p := range periods {
		if p.ClosedAt != nil {
			closed = append(closed, p.Month.Format("2006-01"))
		} else {
			open = append(open, p.Month.Format("2006-01"))
		}
	}
	if len(closed) != 2 || len(open) != 1 || open[0] != "2025-11" {
		t.Fatalf("closed %v, open %v", closed, open)
	}
	_, digits := l.Currency()
	for _, p := range periods {
		sts, rec, err := l.Statements(ctx, p.Month)
		if err != nil {
			t.Fatal(err)
		}
		if len(sts) < 50 {
			t.Errorf("%s: only %d statements", p.Month.Format("2006-01"), len(sts))
		}
		sum := new(big.Rat).Add(rec.Billed, rec.Unassigned)
		sum.Add(sum, rec.NotBillable)
		if sum.Cmp(rec.Rated) != 0 {
			t.Errorf("%s: billed + unassigned + not billable ≠ rated", p.Month.Format("2006-01"))
		}
		var total, lines int64
		var late, subsidies, adjustments bool
		for _, st := range sts {
			total += st.TotalMinor
			var sumLines int64
			for _, ln := range st.Lines {
				sumLines += ln.AmountMinor
				lines++
				late = late || ln.Kind == ledger.LineLate
				subsidies = subsidies || ln.Kind == ledger.LineSubsidy
				adjustments = adjustments || ln.Kind == ledger.LineAdjustment
			}
			if sumLines != st.TotalMinor {
				t.Errorf("%s: lines add up to %d, total %d", st.Number, sumLines, st.TotalMinor)
			}
		}
		if !subsidies {
			t.Errorf("%s: no subsidy lines", p.Month.Format("2006-01"))
		}
		if p.ClosedAt == nil && (!late || !adjustments) {
			t.Errorf("open %s: late usage %v, adjustments %v; want both", p.Month.Format("2006-01"), late, adjustments)
		}
		// The CSV export: a header, one row per line, a trailer with the total.
		var buf bytes.Buffer
		tot, err := export.CSV(ctx, l, p.Month, &buf)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(recs)) != lines+2 || tot.AmountMinor != total {
			t.Errorf("%s: export has %d rows for %d lines, total %d vs statements %d", p.Month.Format("2006-01"), len(recs), lines, tot.AmountMinor, total)
		}
		trailer := recs[len(recs)-1]
		if trailer[8] != "total" || trailer[16] != ledger.PlainMinor(total, digits) {
			t.Errorf("%s: trailer %v, want total %s", p.Month.Format("2006-01"), trailer, ledger.PlainMinor(total, digits))
		}
		var rowSum int64
		for _, r := range recs[1 : len(recs)-1] {
			v, ok := new(big.Rat).SetString(r[16])
			if !ok {
				t.Fatalf("amount %q", r[16])
			}
			rowSum += ledger.RoundMinor(v, digits)
		}
		if rowSum != total {
			t.Errorf("%s: export rows add up to %d, statements to %d", p.Month.Format("2006-01"), rowSum, total)
		}
	}
	// Budgets answer for a lab.
	groups, err := l.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range groups {
		if g.Kind != "lab" || !g.Billable {
			continue
		}
		bs, err := l.BudgetStatuses(ctx, g.ID, time.Date(2025, 11, 3, 12, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) == 0 || bs[0].Amount.Sign() <= 0 {
			t.Errorf("lab %s: budgets %+v", g.Slug, bs)
		}
		break
	}
}
