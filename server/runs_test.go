package server_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// A run its process left unfinished (kill -9) shows as abandoned on the admin's
// runs page and in /metrics once the next run of its source has started.
func TestAbandonedRunOnRunsPageAndMetrics(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	ctx := t.Context()
	// What a killed collector leaves: a run row nobody holds the lock of.
	var killed int64
	if err := f.l.Pool().QueryRow(ctx, `INSERT INTO collector_runs (source, cluster, started_at) VALUES ('slurm', 'hpc', now() - interval '1 hour') RETURNING id`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	next, err := f.l.StartRun(ctx, "slurm", "hpc", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := f.session(t, "admin")
	_, body := getAs(t, f.srv.URL+"/admin/runs", tok)
	if !regexp.MustCompile(`<td[^>]*>abandoned\s*</td>`).MatchString(body) || !strings.Contains(body, "its process ended without finishing it") {
		t.Errorf("the runs page does not show the killed run as abandoned:\n%.3000s", body)
	}
	_, body = get(t, f.srv.URL+"/metrics")
	for _, want := range []string{
		`parsimony_collector_abandoned_runs{cluster="hpc",source="slurm"} 1`,
		`parsimony_collector_last_run_state{cluster="hpc",source="slurm",state="running"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if err := f.l.FinishRun(ctx, next, ledger.Counts{}, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	if _, body = get(t, f.srv.URL+"/metrics"); !strings.Contains(body, `parsimony_collector_last_run_state{cluster="hpc",source="slurm",state="done"} 1`) {
		t.Errorf("/metrics after the next run finished:\n%.3000s", body)
	}
}
