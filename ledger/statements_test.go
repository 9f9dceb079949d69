package ledger_test

import (
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// GroupStatements lists a group's final statements newest first, and
// BilledByMonth sums each closed month's statements.
func TestGroupStatementsAndBilledByMonth(t *testing.T) {
	s := newSetup(t, "UTC")
	lab := group(t, s, 0, "lab", true)
	other := group(t, s, 0, "other", true)
	sep, oct := day("2026-09-01"), day("2026-10-01")
	setRate(t, s, ledger.Rate{Resource: ledger.ResourceCPU, Cluster: "*", Partition: "*", QoS: "*", Price: rat("0.02"), ValidFrom: sep})
	ingest(t, s, []ledger.Record{
		job("1", "lab", "cpu", "normal", time.Date(2026, 9, 10, 9, 0, 0, 0, time.UTC), 4),
		job("2", "lab", "cpu", "normal", time.Date(2026, 10, 10, 9, 0, 0, 0, time.UTC), 8),
		job("3", "other", "cpu", "normal", time.Date(2026, 9, 11, 9, 0, 0, 0, time.UTC), 16),
	})
	if got, err := s.l.BilledByMonth(s.ctx); err != nil || len(got) != 0 {
		t.Fatalf("billed before closing: %v, %v", got, err)
	}
	closed := map[string]int64{}
	for _, m := range []time.Time{sep, oct} {
		sts, _, err := s.l.Close(s.ctx, "finance", m)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range sts {
			closed[st.Number] = st.TotalMinor
		}
	}
	list, err := s.l.GroupStatements(s.ctx, lab.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || !list[0].Month.Equal(oct) || !list[1].Month.Equal(sep) {
		t.Fatalf("lab's statements: %+v", list)
	}
	for _, st := range list {
		if want, ok := closed[st.Number]; !ok || st.TotalMinor != want || st.TotalMinor == 0 {
			t.Errorf("statement %s total %d, closed with %d", st.Number, st.TotalMinor, want)
		}
	}
	billed, err := s.l.BilledByMonth(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	others, err := s.l.GroupStatements(s.ctx, other.ID)
	if err != nil {
		t.Fatal(err)
	}
	var otherSep int64
	for _, st := range others {
		if st.Month.Equal(sep) {
			otherSep = st.TotalMinor
		}
	}
	if b := billed["2026-09"]; b.Statements != 2 || b.TotalMinor != list[1].TotalMinor+otherSep || otherSep == 0 {
		t.Errorf("September billed %+v, want 2 statements of %d + %d", b, list[1].TotalMinor, otherSep)
	}
	if b := billed["2026-10"]; b.TotalMinor != list[0].TotalMinor {
		t.Errorf("October billed %+v, lab's statement %d", b, list[0].TotalMinor)
	}
}
