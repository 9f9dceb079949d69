package ledger_test

import (
	"testing"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// UnresolvedBySource counts the unresolved quarantined input of each source.
func TestUnresolvedBySource(t *testing.T) {
	s := newSetup(t, "UTC")
	if got, err := s.l.UnresolvedBySource(s.ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty ledger: %v, %v", got, err)
	}
	_, err := s.l.Ingest(s.ctx, ledger.Batch{Rejects: []ledger.Reject{
		{Source: "slurm", Cluster: "c1", Raw: "garbage 1", Reason: "unreadable"},
		{Source: "slurm", Cluster: "c2", Raw: "garbage 2", Reason: "unreadable"},
		{Source: "csv", Cluster: "c1", Raw: "garbage 3", Reason: "unreadable"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.l.UnresolvedBySource(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["slurm"] != 2 || got["csv"] != 1 {
		t.Errorf("unresolved by source %v, want slurm 2, csv 1", got)
	}
}
