package ledger_test

import (
	"testing"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// BudgetsFrom lists the budgets in force on a day or starting later, a budget
// without an end as a zero ValidTo, and leaves out those that ended.
func TestBudgetsFrom(t *testing.T) {
	s := newSetup(t, "UTC")
	lab := group(t, s, 0, "lab", true)
	for _, b := range []ledger.Budget{
		{GroupID: lab.ID, Span: ledger.SpanMonth, Amount: rat("100.5"), ValidFrom: day("2026-01-01"), Note: "first"},
		{GroupID: lab.ID, Span: ledger.SpanMonth, Amount: rat("200"), ValidFrom: day("2026-11-01"), Note: "raised"},
	} {
		if _, err := s.l.SetBudget(s.ctx, "test", b); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.l.BudgetsFrom(s.ctx, day("2026-10-15"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("budgets %+v", got)
	}
	first, raised := got[0], got[1]
	if first.GroupSlug != "lab" || first.GroupName != "LAB" || first.Amount.Cmp(rat("100.5")) != 0 || !first.ValidFrom.Equal(day("2026-01-01")) ||
		!first.ValidTo.Equal(day("2026-11-01")) || first.Note != "first" || first.Span != ledger.SpanMonth || first.Resource != "" {
		t.Errorf("first budget %+v", first)
	}
	if raised.Amount.Cmp(rat("200")) != 0 || !raised.ValidTo.Equal(ledger.Forever) || raised.Note != "raised" {
		t.Errorf("raised budget %+v", raised)
	}
	if later, err := s.l.BudgetsFrom(s.ctx, day("2026-11-01")); err != nil || len(later) != 1 || later[0].Note != "raised" {
		t.Errorf("from November: %+v, %v", later, err)
	}
}
