package ledger_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// collectBatch is one record and one reject of slurm on hpc: two lines read.
func collectBatch(job string) ledger.Batch {
	t0 := time.Date(2026, 9, 1, 10, 0, 0, 0, time.UTC)
	return ledger.Batch{
		RunID: 999_999, // Collect's sink files it under its own run, whatever it says
		Records: []ledger.Record{{Source: "slurm", Cluster: "hpc", ExternalID: job, Resource: "cpu",
			Start: t0, End: t0.Add(time.Hour), Quantity: 3600, Account: "physics", User: "ada"}},
		Rejects: []ledger.Reject{{Source: "slurm", Cluster: "hpc", Raw: "garbage " + job, Reason: "unreadable"}},
	}
}

// runOf is the single run of slurm on hpc.
func runOf(t *testing.T, s setup) ledger.Run {
	t.Helper()
	runs, err := s.l.Runs(s.ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Fatalf("%d runs, want 1", len(runs))
	}
	return runs[0]
}

// A run that succeeds is recorded done with its counts and watermark, and what it
// stored is filed under it.
func TestCollectRecordsARun(t *testing.T) {
	s := newSetup(t, "UTC")
	from, to := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 9, 2, 0, 0, 0, 0, time.UTC)
	var id int64
	c, err := s.l.Collect(s.ctx, "slurm", "hpc", from, to, func(ctx context.Context, sink *ledger.Sink) (time.Time, error) {
		id = sink.RunID()
		if r := runByID(t, s, id); r.State != ledger.RunRunning {
			t.Errorf("inside Collect the run is %s", r.State)
		}
		_, err := sink.Ingest(ctx, collectBatch("1"))
		return to, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Read != 2 || c.Ingested != 1 || c.Quarantined != 1 {
		t.Errorf("counts %+v", c)
	}
	r := runOf(t, s)
	if r.ID != id || r.State != ledger.RunDone || r.FinishedAt == nil || r.Counts != c || r.Error != "" {
		t.Errorf("run %+v, want done with %+v", r, c)
	}
	if mark, ok, err := s.l.Watermark(s.ctx, "slurm", "hpc"); err != nil || !ok || !mark.Equal(to) {
		t.Errorf("watermark %v %v %v, want %v", mark, ok, err, to)
	}
	var usage, quarantined int
	if err := s.pool.QueryRow(s.ctx, `SELECT (SELECT count(*) FROM usage WHERE run_id = $1), (SELECT count(*) FROM quarantine WHERE run_id = $1)`, id).Scan(&usage, &quarantined); err != nil {
		t.Fatal(err)
	}
	if usage == 0 || quarantined != 1 {
		t.Errorf("under run %d: %d usage rows, %d quarantined", id, usage, quarantined)
	}
}

// A run whose collector fails is recorded failed with its error and the counts of
// what it stored before failing; it moves no watermark; the error comes back
// wrapped, naming the run.
func TestCollectRecordsAFailure(t *testing.T) {
	s := newSetup(t, "UTC")
	boom := errors.New("sacct exploded")
	c, err := s.l.Collect(s.ctx, "slurm", "hpc", time.Time{}, time.Time{}, func(ctx context.Context, sink *ledger.Sink) (time.Time, error) {
		if _, err := sink.Ingest(ctx, collectBatch("1")); err != nil {
			return time.Time{}, err
		}
		return time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), boom
	})
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "run ") {
		t.Fatalf("error %v, want %v wrapped with the run", err, boom)
	}
	r := runOf(t, s)
	if r.State != ledger.RunFailed || r.FinishedAt == nil || !strings.Contains(r.Error, "sacct exploded") || r.Counts != c || c.Read != 2 {
		t.Errorf("run %+v (counts returned %+v), want failed with its error and counts", r, c)
	}
	if _, ok, err := s.l.Watermark(s.ctx, "slurm", "hpc"); ok || err != nil {
		t.Errorf("a failed run set a watermark (%v, %v)", ok, err)
	}
}

// A collector cancelled mid-run (Ctrl-C, a deadline) still finishes its run row:
// it must not look as if it were still going.
func TestCollectCancelledStillFinishes(t *testing.T) {
	s := newSetup(t, "UTC")
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	_, err := s.l.Collect(ctx, "slurm", "hpc", time.Time{}, time.Time{}, func(ctx context.Context, sink *ledger.Sink) (time.Time, error) {
		if _, err := sink.Ingest(ctx, collectBatch("1")); err != nil {
			return time.Time{}, err
		}
		cancel()
		<-ctx.Done()
		_, err := sink.Ingest(ctx, collectBatch("2"))
		return time.Time{}, err
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	r := runOf(t, s)
	if r.State != ledger.RunFailed || r.FinishedAt == nil || r.Error == "" || r.Counts.Read != 2 {
		t.Errorf("cancelled run %+v, want failed and finished with the first batch's counts", r)
	}
}

// A collector that panics leaves its run failed, not running, and the panic goes on.
func TestCollectPanicFinishesTheRun(t *testing.T) {
	s := newSetup(t, "UTC")
	func() {
		defer func() {
			if p := recover(); p != "collector bug" {
				t.Errorf("recovered %v, want the collector's panic", p)
			}
		}()
		s.l.Collect(s.ctx, "csv", "f.csv", time.Time{}, time.Time{}, func(ctx context.Context, sink *ledger.Sink) (time.Time, error) {
			panic("collector bug")
		})
	}()
	if r := runOf(t, s); r.State != ledger.RunFailed || !strings.Contains(r.Error, "collector bug") {
		t.Errorf("run after a panic %+v", r)
	}
}
