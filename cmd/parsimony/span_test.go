package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parsimony-hpc/parsimony/internal/pgtest"
)

// A CSV line running to year 9999 is quarantined with the reason; the rest of the
// file goes in, and a rerun changes nothing (it used to fail the whole import with
// "out of shared memory", every time).
func TestCSVImportQuarantinesAnAbsurdSpan(t *testing.T) {
	t.Parallel()
	cfg := configFor(t, pgtest.NewDatabase(t), "UTC")
	usage := filepath.Join(t.TempDir(), "usage.csv")
	os.WriteFile(usage, []byte("source,cluster,external_id,resource,start,end,quantity,account,user\n"+
		"api,box,forever,cpu,2026-09-03T10:00:00Z,9999-12-31T00:00:00Z,360000,physics,ann\n"+
		"api,box,j1,cpu,2026-09-03T10:00:00Z,2026-09-03T20:00:00Z,360000,physics,ann\n"), 0o600)
	for run := 1; run <= 2; run++ {
		code, out, stderr := cli(t, "collect", "csv", "--config", cfg, "--file", usage)
		if code != 0 || !strings.Contains(out+stderr, "quarantined 1") {
			t.Fatalf("run %d: exit %d, %q %q; want success with 1 quarantined", run, code, out, stderr)
		}
	}
	code, out, stderr := cli(t, "report", "--config", cfg, "--from", "2026-01-01", "--to", "2027-01-01", "--format", "csv")
	if code != 0 || !strings.Contains(out, "cpu,core-seconds,360000,") {
		t.Errorf("report after the import: exit %d, %q %q; want the one good line's 360000 core-seconds", code, out, stderr)
	}
}
