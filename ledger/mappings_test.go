package ledger_test

import (
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// UnmappedAccounts lists the accounts whose usage belongs to no group, most rows
// first, with their first day, and none that is mapped.
func TestUnmappedAccounts(t *testing.T) {
	s := newSetup(t, "UTC")
	group(t, s, 0, "lab", true)
	t0 := time.Date(2026, 10, 3, 9, 0, 0, 0, time.UTC)
	ingest(t, s, []ledger.Record{
		job("1", "lab", "cpu", "normal", t0, 4),
		job("2", "stray", "cpu", "normal", t0.Add(24*time.Hour), 4),
		job("3", "stray", "cpu", "normal", t0.Add(48*time.Hour), 4),
		job("4", "lost", "cpu", "normal", t0, 4),
	})
	got, err := s.l.UnmappedAccounts(s.ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.UnmappedAccount{
		{Source: ledger.SourceSlurm, Cluster: "c1", Account: "stray", Rows: 2, Since: day("2026-10-04")},
		{Source: ledger.SourceSlurm, Cluster: "c1", Account: "lost", Rows: 1, Since: day("2026-10-03")},
	}
	if len(got) != len(want) {
		t.Fatalf("unmapped %+v, want %+v", got, want)
	}
	for i := range want {
		if g := got[i]; g.Source != want[i].Source || g.Cluster != want[i].Cluster || g.Account != want[i].Account ||
			g.Rows != want[i].Rows || !g.Since.Equal(want[i].Since) {
			t.Errorf("unmapped %d: %+v, want %+v", i, g, want[i])
		}
	}
	if top, err := s.l.UnmappedAccounts(s.ctx, 1); err != nil || len(top) != 1 || top[0].Account != "stray" {
		t.Errorf("limit 1: %+v, %v", top, err)
	}
}
