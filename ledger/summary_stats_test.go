package ledger_test

import (
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Rating leaves statistics on the summaries it wrote: the dashboards read them as
// soon as the generation moves, long before autovacuum would analyse them, and a
// planner that takes a month of top jobs for a few rows joins them to the subtree's
// groups by a nested loop over every pair (a tenfold slower first page after a
// rating). The top jobs read back the same either way.
func TestRatingAnalysesTheSummaries(t *testing.T) {
	s := newSetup(t, "UTC")
	dept := group(t, s, 0, "dept", false)
	lab := group(t, s, dept.ID, "lab", true)
	oct, nov := day("2026-10-01"), day("2026-11-01")
	setRate(t, s, ledger.Rate{Resource: ledger.ResourceCPU, Price: rat("0.01"), ValidFrom: oct})
	at := time.Date(2026, 10, 3, 8, 0, 0, 0, time.UTC)
	var recs []ledger.Record
	for i, id := range []string{"1", "2", "3"} {
		recs = append(recs, ledger.Record{Source: ledger.SourceSlurm, Cluster: "c1", ExternalID: id, Resource: ledger.ResourceCPU,
			Start: at, End: at.Add(time.Hour), Quantity: int64(i+1) * 3600, Allocated: int64(i+1) * 3600, Used: 1800,
			Account: "lab", User: "alice", Partition: "std", QoS: "normal"})
	}
	ingest(t, s, recs)
	for _, table := range []string{"group_summary", "group_summary_month", "group_top_jobs", "group_storage"} {
		var stats int
		if err := s.pool.QueryRow(s.ctx, `SELECT count(*) FROM pg_statistic WHERE starelid = $1::regclass`, table).Scan(&stats); err != nil {
			t.Fatal(err)
		}
		if stats != 0 {
			t.Fatalf("%s has statistics before any rating", table)
		}
	}
	if _, err := s.l.RatePeriod(s.ctx, "test", oct); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"group_summary", "group_summary_month", "group_top_jobs"} {
		var stats int
		var tuples float64
		if err := s.pool.QueryRow(s.ctx, `
			SELECT (SELECT count(*) FROM pg_statistic WHERE starelid = $1::regclass),
			       (SELECT reltuples FROM pg_class WHERE oid = $1::regclass)`, table).Scan(&stats, &tuples); err != nil {
			t.Fatal(err)
		}
		if stats == 0 || tuples <= 0 {
			t.Errorf("%s after rating: %d statistics rows, %v tuples estimated; want it analysed", table, stats, tuples)
		}
	}
	jobs, err := s.l.TopJobs(s.ctx, dept.ID, oct, nov, false, 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.ExternalID)
		if j.GroupID != lab.ID {
			t.Errorf("job %s in group %d, want the lab's %d", j.ExternalID, j.GroupID, lab.ID)
		}
	}
	if len(ids) != 3 || ids[0] != "3" || ids[1] != "2" || ids[2] != "1" {
		t.Fatalf("top jobs by cost %v, want [3 2 1]", ids)
	}
	// Rating again (the analyses run inside rating's transaction) gives the same.
	if _, err := s.l.RatePeriod(s.ctx, "test", oct); err != nil {
		t.Fatal(err)
	}
	again, err := s.l.TopJobs(s.ctx, dept.ID, oct, nov, false, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(jobs) {
		t.Fatalf("top jobs after rating again: %d, want %d", len(again), len(jobs))
	}
	for i := range jobs {
		if again[i].ExternalID != jobs[i].ExternalID || again[i].Cost != jobs[i].Cost {
			t.Errorf("top job %d after rating again: %+v, want %+v", i, again[i], jobs[i])
		}
	}
}
