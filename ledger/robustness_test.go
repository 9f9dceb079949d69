package ledger_test

import (
	"context"
	"encoding/json"
	"math/big"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// An ingest cut off at any point (here: its context cancelled after a random delay,
// which aborts whatever statement runs) leaves no trace, and running everything
// again ends with exact totals. Each round revises the records, so every round has
// inserts, deletes and rollup moves to interrupt.
func TestInterruptedIngestThenRerunIsExact(t *testing.T) {
	s := newSetup(t, "Europe/Berlin")
	seed := seedFromEnv(t)
	rng := rand.New(rand.NewPCG(seed, 4))
	tr := randomTree(t, s, rng, 8)
	recs := randomRecords(rng, tr, 3000)

	// How long does an uninterrupted ingest of this size take here? Measured on
	// another cluster name, which the totals below leave out.
	calib := append([]ledger.Record(nil), recs...)
	for i := range calib {
		calib[i].Cluster = "calibration"
	}
	began := time.Now()
	ingest(t, s, calib)
	full := time.Since(began)

	interrupted := 0
	for round := 0; round < 8; round++ {
		for i := range recs {
			recs[i].Quantity = rng.Int64N(1 << 30)
			recs[i].End = recs[i].Start.Add(time.Duration(rng.Int64N(int64(50 * time.Hour))))
		}
		ctx, cancel := context.WithTimeout(s.ctx, time.Duration(rng.Int64N(int64(3*full))))
		_, err := s.l.Ingest(ctx, ledger.Batch{Records: append([]ledger.Record(nil), recs...)})
		cancel()
		if err != nil {
			interrupted++
		}
		checkRollups(t, s)
	}
	t.Logf("seed %d: %d of 8 ingests interrupted (an ingest takes %s)", seed, interrupted, full)
	if interrupted == 0 {
		t.Fatalf("seed %d: no ingest was interrupted, so nothing was tested", seed)
	}
	ingest(t, s, recs)
	rows, err := s.l.Report(s.ctx, ledger.ReportQuery{From: everythingFrom, To: everythingTo, By: []string{ledger.ByCluster}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*big.Int{}
	for _, r := range rows {
		if r.Keys[0] == "c1" {
			got[r.Resource] = r.Quantity
		}
	}
	if !equalTotals(got, totals(recs)) {
		t.Fatalf("seed %d: after %d interrupted ingests and a rerun, totals %v, want %v", seed, interrupted, got, totals(recs))
	}
	checkRollups(t, s)
}

// Concurrent ingests of overlapping batches (two collectors, or a re-run racing a
// run) end as one ingest of their union would.
func TestConcurrentOverlappingIngests(t *testing.T) {
	s := newSetup(t, "UTC")
	seed := seedFromEnv(t)
	rng := rand.New(rand.NewPCG(seed, 5))
	tr := randomTree(t, s, rng, 6)
	recs := randomRecords(rng, tr, 4000)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		part := append([]ledger.Record(nil), recs[w*800:w*800+1600]...) // each overlaps the next
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.l.Ingest(s.ctx, ledger.Batch{Records: part}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := reportByResource(t, s, ledger.ReportQuery{From: everythingFrom, To: everythingTo})
	if want := totals(recs[:4000]); !equalTotals(got, want) {
		t.Fatalf("seed %d: totals %v, want %v", seed, got, want)
	}
	checkRollups(t, s)
}

// Within one batch the last version of a record wins.
func TestDuplicateWithinBatch(t *testing.T) {
	s := newSetup(t, "UTC")
	t0 := time.Date(2026, 10, 1, 10, 0, 0, 0, time.UTC)
	a := ledger.Record{Source: "slurm", Cluster: "c", ExternalID: "9", Resource: "cpu", Start: t0, End: t0.Add(time.Hour), Quantity: 100, Account: "x", User: "u"}
	b := a
	b.End, b.Quantity = t0.Add(2*time.Hour), 200
	c := ingest(t, s, []ledger.Record{a, a, b})
	if c.Read != 3 || c.Ingested != 1 || c.Unchanged != 1 || c.Revised != 1 {
		t.Fatalf("counts %v", c)
	}
	if got := reportByResource(t, s, ledger.ReportQuery{From: everythingFrom, To: everythingTo}); got["cpu"].Int64() != 200 {
		t.Fatalf("cpu %v, want the last version's 200", got["cpu"])
	}
}

// Source user names resolve through user mappings, else as logins; unknown logins
// become users.
func TestUserResolution(t *testing.T) {
	s := newSetup(t, "UTC")
	alice, err := s.l.UpsertUser(s.ctx, "admin", ledger.User{Login: "alice", DisplayName: "Alice A", Email: "a@example.edu"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.l.SetUserMapping(s.ctx, "admin", ledger.KindK8s, "jhub", "jupyter-alice", alice.ID); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 10, 1, 10, 0, 0, 0, time.UTC)
	base := ledger.Record{Source: "k8s", Cluster: "jhub", Resource: "cpu", Start: t0, End: t0.Add(time.Hour), Quantity: 10, Account: "ns"}
	r1, r2, r3 := base, base, base
	r1.ExternalID, r1.User = "pod-1", "jupyter-alice"
	r2.ExternalID, r2.User = "pod-2", "alice"
	r3.ExternalID, r3.User = "pod-3", "newcomer"
	ingest(t, s, []ledger.Record{r1, r2, r3})
	rows, err := s.l.Report(s.ctx, ledger.ReportQuery{From: everythingFrom, To: everythingTo, By: []string{ledger.ByUser}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, r := range rows {
		got[r.Keys[0]] = r.Quantity.Int64()
	}
	if got["alice"] != 20 || got["newcomer"] != 10 || len(got) != 2 {
		t.Fatalf("by user: %v, want alice 20, newcomer 10", got)
	}
	if _, err := s.l.UserByLogin(s.ctx, "newcomer"); err != nil {
		t.Fatalf("auto-created user: %v", err)
	}
}

// Administrative changes are audited with before and after.
func TestArchiveAndAudit(t *testing.T) {
	s := newSetup(t, "UTC")
	g, err := s.l.CreateGroup(s.ctx, "carol", ledger.NewGroup{Kind: "lab", Slug: "optics", Name: "Optics", CostCentre: "CC-1", Billable: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.l.CreateGroup(s.ctx, "carol", ledger.NewGroup{Kind: "lab", Slug: "optics", Name: "Again"}); err == nil {
		t.Fatal("a second group with the same slug was created")
	}
	if _, err := s.l.CreateGroup(s.ctx, "carol", ledger.NewGroup{Kind: "lab", Slug: "Bad Slug!", Name: "x"}); err == nil {
		t.Fatal("an invalid slug was accepted")
	}
	if err := s.l.ArchiveGroup(s.ctx, "dave", g.ID); err != nil {
		t.Fatal(err)
	}
	after, err := s.l.GroupBySlug(s.ctx, "optics")
	if err != nil || after.ArchivedAt == nil {
		t.Fatalf("archived group: %+v, %v", after, err)
	}
	log, err := s.l.AuditLog(s.ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0].Action != "archive" || log[0].Actor != "dave" || log[1].Action != "create" || log[1].Actor != "carol" {
		t.Fatalf("audit log: %+v", log)
	}
	var before, now ledger.Group
	json.Unmarshal(log[0].Before, &before)
	json.Unmarshal(log[0].After, &now)
	if before.ArchivedAt != nil || now.ArchivedAt == nil || now.CostCentre != "CC-1" {
		t.Fatalf("archive entry before %+v after %+v", before, now)
	}
}

// Collector runs keep their counts; the watermark comes from the last good run.
func TestRunsAndWatermark(t *testing.T) {
	s := newSetup(t, "UTC")
	if _, ok, err := s.l.Watermark(s.ctx, "slurm", "hpc"); ok || err != nil {
		t.Fatalf("watermark before any run: %v %v", ok, err)
	}
	t1 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	id, err := s.l.StartRun(s.ctx, "slurm", "hpc", t1.Add(-time.Hour), t1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.l.FinishRun(s.ctx, id, ledger.Counts{Read: 5, Ingested: 5}, t1, nil); err != nil {
		t.Fatal(err)
	}
	id2, _ := s.l.StartRun(s.ctx, "slurm", "hpc", t1, t1.Add(time.Hour))
	if err := s.l.FinishRun(s.ctx, id2, ledger.Counts{}, t1.Add(time.Hour), context.DeadlineExceeded); err != nil {
		t.Fatal(err)
	}
	mark, ok, err := s.l.Watermark(s.ctx, "slurm", "hpc")
	if err != nil || !ok || !mark.Equal(t1) {
		t.Fatalf("watermark %v %v %v, want %v (the failed run sets none)", mark, ok, err, t1)
	}
	runs, err := s.l.Runs(s.ctx, 10)
	if err != nil || len(runs) != 2 || runs[0].Error == "" || runs[1].Counts.Ingested != 5 {
		t.Fatalf("runs: %+v %v", runs, err)
	}
}
