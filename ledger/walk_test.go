package ledger_test

import (
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// walkSetup is a lab (billable) under a department, with a subgroup billed with it
// at a rate of its own and a billable subgroup billed on its own statement; a CPU
// allowance; September closed, late usage for it and an adjustment in October.
//
//	September: lab 100 core-hours × 0.01, sub 100 × 0.005, sep 100 × 0.01
//	October:   lab 200 × 0.01, sub 100 × 0.005, sep 50 × 0.01; late: lab 30 × 0.01
//	           in September; adjustment +50.00; allowance 10 core-hours (−0.10)
func walkSetup(t *testing.T) (s setup, dept, lab, sep ledger.Group) {
	s = newSetup(t, "UTC")
	dept = group(t, s, 0, "dept", false)
	lab = group(t, s, dept.ID, "lab", true)
	sub := group(t, s, lab.ID, "sub", false)
	sep = group(t, s, lab.ID, "sep", true)
	sept, oct := day("2026-09-01"), day("2026-10-01")
	setRate(t, s, ledger.Rate{Resource: "cpu", Price: rat("0.01"), ValidFrom: sept})
	setRate(t, s, ledger.Rate{Resource: "cpu", GroupID: sub.ID, Price: rat("0.005"), ValidFrom: sept})
	if _, err := s.l.SetSubsidy(s.ctx, "test", ledger.Subsidy{GroupID: lab.ID, Resource: "cpu", FreeQuantity: big.NewInt(10 * 3600), ValidFrom: sept}); err != nil {
		t.Fatal(err)
	}
	at := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 0, 0, 0, 0, time.UTC) }
	ingest(t, s, []ledger.Record{
		job("1", "lab", "std", "normal", at(9, 10), 100),
		job("2", "sub", "std", "normal", at(9, 11), 100),
		job("3", "sep", "std", "normal", at(9, 12), 100),
	})
	if _, _, err := s.l.Close(s.ctx, "finance", sept); err != nil {
		t.Fatal(err)
	}
	ingest(t, s, []ledger.Record{
		job("4", "lab", "std", "normal", at(9, 20), 30), // late
		job("5", "lab", "gpu", "normal", at(10, 3), 200),
		job("6", "sub", "std", "normal", at(10, 4), 100),
		job("7", "sep", "std", "normal", at(10, 5), 50),
	})
	if _, err := s.l.AddAdjustment(s.ctx, "finance", ledger.Adjustment{Period: oct, GroupID: lab.ID, AmountMinor: 5000, Reason: "tape"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.l.RatePeriod(s.ctx, "test", oct); err != nil {
		t.Fatal(err)
	}
	return s, dept, lab, sep
}

// A walk is its group's statement: the steps add up to the total, every breakdown
// to the usage figure, and the billable subgroup is named, not counted.
func TestStatementWalk(t *testing.T) {
	s, dept, lab, sep := walkSetup(t)
	for _, c := range []struct {
		month                       string
		final                       bool
		usage, late, subsidy, total int64
	}{
		{"2026-09", true, 150, 0, -10, 140},
		{"2026-10", false, 250, 30, -10, 5270},
	} {
		month := day(c.month + "-01")
		w, err := s.l.StatementWalk(s.ctx, lab.ID, month)
		if err != nil {
			t.Fatal(err)
		}
		st := w.Statement
		if w.Final != c.final || w.UsageMinor != c.usage || w.LateMinor != c.late || st.SubsidyMinor != c.subsidy || st.TotalMinor != c.total {
			t.Errorf("%s: final %v usage %d late %d subsidies %d total %d", c.month, w.Final, w.UsageMinor, w.LateMinor, st.SubsidyMinor, st.TotalMinor)
		}
		if w.UsageMinor+st.SubsidyMinor+w.LateMinor+st.AdjustMinor != st.TotalMinor {
			t.Errorf("%s: the walk does not add up: %+v", c.month, w)
		}
		sts, _, err := s.l.Statements(s.ctx, month)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range sts {
			if x.GroupID == lab.ID && (x.TotalMinor != st.TotalMinor || (c.final && x.ContentHash != st.ContentHash)) {
				t.Errorf("%s: the walk's statement %d, Statements' %d", c.month, st.TotalMinor, x.TotalMinor)
			}
		}
		for name, rows := range map[string][]ledger.WalkRow{"resource": w.ByResource, "cluster": w.ByCluster, "partition": w.ByPartition} {
			var sum int64
			for _, r := range rows {
				sum += r.AmountMinor
			}
			if sum != st.UsageMinor {
				t.Errorf("%s: by %s adds up to %d, usage is %d", c.month, name, sum, st.UsageMinor)
			}
		}
		if len(w.BilledSeparately) != 1 || w.BilledSeparately[0].ID != sep.ID {
			t.Errorf("%s: billed separately %+v", c.month, w.BilledSeparately)
		}
		var days float64
		for _, d := range w.ByDay {
			if d.Day.Format("2006-01") != c.month {
				t.Errorf("%s: a day of another month in the chart: %s", c.month, d.Day)
			}
			days += d.Amount
		}
		if int64(days*100+0.5) != c.usage {
			t.Errorf("%s: the days add up to %.4f, the month's own usage is %d", c.month, days, c.usage)
		}
	}
	// A new rating is seen at once: the cached charge sums are the old generation's.
	ingest(t, s, []ledger.Record{job("8", "lab", "new", "normal", time.Date(2026, 10, 6, 0, 0, 0, 0, time.UTC), 100)})
	if _, err := s.l.RatePeriod(s.ctx, "test", day("2026-10-01")); err != nil {
		t.Fatal(err)
	}
	w, err := s.l.StatementWalk(s.ctx, lab.ID, day("2026-10-01"))
	if err != nil {
		t.Fatal(err)
	}
	var parts int64
	for _, r := range w.ByPartition {
		parts += r.AmountMinor
	}
	if w.UsageMinor != 350 || parts != 380 || w.Statement.TotalMinor != 5370 {
		t.Errorf("after rating again: usage %d, partitions %d, total %d; want 350, 380, 5370", w.UsageMinor, parts, w.Statement.TotalMinor)
	}
	if _, err := s.l.StatementWalk(s.ctx, dept.ID, day("2026-10-01")); !errors.Is(err, ledger.ErrConflict) {
		t.Errorf("a group that is not billable has no walk: %v", err)
	}
}

// A billable group's money budget spends its statement's total; the projection
// carries the usage's run-rate on and counts subsidies, late usage and adjustments
// once. A group that is not billable spends its subtree's usage and adjustments.
func TestBudgetProjectsUsageAndCountsOneOffsOnce(t *testing.T) {
	s, dept, lab, _ := walkSetup(t)
	oct := day("2026-10-01")
	for _, g := range []ledger.Group{lab, dept} {
		if _, err := s.l.SetBudget(s.ctx, "test", ledger.Budget{GroupID: g.ID, Span: ledger.SpanMonth, Amount: rat("100"), ValidFrom: oct}); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 10, 11, 0, 0, 0, 0, time.UTC) // 10 of 31 days
	for _, c := range []struct {
		g                ledger.Group
		spent, projected string
	}{
		// 2.50 of usage × 31/10 = 7.75, + 0.30 late − 0.10 allowance + 50.00 adjustment.
		{lab, "52.70", "57.95"},
		// The subtree by day: 2.00 + 0.50 + 0.50 (sep) in October (late usage ran in
		// September), × 31/10 = 9.30, + 50.00 of the lab's adjustment.
		{dept, "53.00", "59.30"},
	} {
		bs, err := s.l.BudgetStatuses(s.ctx, c.g.ID, at)
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) != 1 || bs[0].Spent.Cmp(rat(c.spent)) != 0 || bs[0].Projected.Cmp(rat(c.projected)) != 0 {
			for _, b := range bs {
				t.Errorf("%s: spent %s projected %s; want %s and %s", c.g.Slug, b.Spent.FloatString(2), b.Projected.FloatString(2), c.spent, c.projected)
			}
		}
	}
}

// Many walks at once, more than the pool has connections, all finish: a walk
// holds one connection for its transaction and must not wait for a second (the
// home page asks for one per billable group, and a dozen pages at once once hung
// the pool for good).
func TestStatementWalksAtOnceDoNotExhaustThePool(t *testing.T) {
	s, _, lab, _ := walkSetup(t)
	n := 3 * int(s.l.Pool().Config().MaxConns)
	ctx, cancel := context.WithTimeout(s.ctx, 60*time.Second)
	defer cancel()
	errs := make(chan error, n)
	for i := range n {
		go func() {
			// A new generation now and then, so some walks read and keep their sums.
			if i%4 == 0 {
				if _, err := s.l.Pool().Exec(ctx, `UPDATE settings SET value = (value::bigint + 1)::text WHERE key = 'summary_generation'`); err != nil {
					errs <- err
					return
				}
			}
			_, err := s.l.StatementWalk(ctx, lab.ID, day("2026-10-01"))
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("%d walks at once: %v", n, err)
		}
	}
}
