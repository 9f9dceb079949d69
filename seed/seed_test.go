package seed_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/seed"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// seeded is a demo run into a fresh database.
type seeded struct {
	l   *ledger.Ledger
	sum seed.Summary
	err error
}

func seedDemo(t *testing.T, opts seed.Options) seeded {
	t.Helper()
	ctx := context.Background()
	loc, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ctx, pgtest.NewPool(t), ledger.Options{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	sum, err := seed.Run(ctx, l, opts)
	return seeded{l: l, sum: sum, err: err}
}

// The demo history in the tests: two months and a bit, ending on a Monday evening
// just after a month end, so jobs run across it and some are still running.
var (
	testNow  = time.Date(2025, 11, 3, 18, 30, 0, 0, time.UTC)
	testOpts = seed.Options{Scale: seed.ScaleDemo, Months: 2, RandomSeed: 20251103, Now: testNow}
)

func TestDemo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// Same seed into two databases at once.
	var runs [2]seeded
	var wg sync.WaitGroup
	for i := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i] = seedDemo(t, testOpts)
		}()
	}
	wg.Wait()
	for _, r := range runs {
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	l, sum := runs[0].l, runs[0].sum
	t.Logf("summary: %d groups, %d users, %d jobs; %v; took %s", sum.Groups, sum.Users, sum.Jobs, sum.Counts, sum.Elapsed)

	// Everything read was stored, nothing quarantined, some of it unassigned.
	c := sum.Counts
	if c.Quarantined != 0 || c.Read != c.Ingested || c.Revised != 0 || c.Unchanged != 0 {
		t.Errorf("counts %v: want everything ingested, nothing quarantined", c)
	}
	if c.Unmapped == 0 {
		t.Errorf("counts %v: want some unassigned usage", c)
	}
	if sum.Jobs < 10_000 {
		t.Errorf("%d jobs, want tens of thousands over the months", sum.Jobs)
	}

	// The group tree.
	groups, err := l.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	depth := 0
	for _, g := range groups {
		kinds[g.Kind]++
		depth = max(depth, g.Depth())
	}
	if len(groups) < 150 || depth < 4 || int64(len(groups)) != sum.Groups {
		t.Errorf("%d groups (summary %d) in %d levels, want ≥ 150 in ≥ 4", len(groups), sum.Groups, depth)
	}
	if kinds["institution"] != 1 || kinds["department"] != 5 || kinds["lab"] < 35 || kinds["project"] < 100 {
		t.Errorf("group kinds %v", kinds)
	}
	pool := l.Pool()
	var users, pis, viewers, admins int64
	if err := pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM users WHERE NOT auto_created),
		       (SELECT count(DISTINCT user_id) FROM memberships WHERE role = 'pi'),
		       (SELECT count(*) FROM memberships WHERE role = 'viewer'),
		       (SELECT count(*) FROM global_roles)`).Scan(&users, &pis, &viewers, &admins); err != nil {
		t.Fatal(err)
	}
	if users < 300 || users != sum.Users || pis < 35 || viewers < 2 || admins != 2 {
		t.Errorf("%d users (summary %d), %d PIs, %d viewers, %d global roles", users, sum.Users, pis, viewers, admins)
	}
	for _, login := range []string{"admin", "finance"} {
		if _, err := l.UserByLogin(ctx, login); err != nil {
			t.Error(err)
		}
	}

	// Usage: every source, three Slurm clusters, nothing after Now, jobs counted exactly.
	from := time.Date(2025, 9, 1, 0, 0, 0, 0, l.Location())
	to := time.Date(2025, 11, 4, 0, 0, 0, 0, l.Location())
	rows, err := l.Report(ctx, ledger.ReportQuery{From: from, To: to, By: []string{ledger.BySource, ledger.ByCluster}})
	if err != nil {
		t.Fatal(err)
	}
	sources := map[string]bool{}
	slurmClusters := map[string]bool{}
	for _, r := range rows {
		if r.Quantity.Sign() > 0 {
			sources[r.Keys[0]] = true
			if r.Keys[0] == ledger.SourceSlurm {
				slurmClusters[r.Keys[1]] = true
			}
		}
	}
	for _, s := range []string{ledger.SourceSlurm, ledger.SourceCgroup, ledger.SourceK8s, ledger.SourceStorage} {
		if !sources[s] {
			t.Errorf("no usage from %s", s)
		}
	}
	if len(slurmClusters) != 3 {
		t.Errorf("Slurm clusters %v, want 3", slurmClusters)
	}
	var last time.Time
	var jobs, running int64
	if err := pool.QueryRow(ctx, `
		SELECT max(record_end),
		       count(*) FILTER (WHERE source = 'slurm' AND resource = 'cpu' AND start_time = record_start
		                          AND external_id NOT LIKE 'late-%'), -- billing's late job is not in the summary
		       count(*) FILTER (WHERE source = 'slurm' AND resource = 'cpu' AND start_time = record_start AND state = 'RUNNING')
		FROM usage`).Scan(&last, &jobs, &running); err != nil {
		t.Fatal(err)
	}
	if last.After(testNow) {
		t.Errorf("usage until %s, after now %s", last, testNow)
	}
	if jobs != sum.Jobs || running == 0 {
		t.Errorf("%d jobs stored (%d running), summary says %d", jobs, running, sum.Jobs)
	}
	byGroup, err := l.Report(ctx, ledger.ReportQuery{From: from, To: to, By: []string{ledger.ByGroup}, Depth: 1})
	if err != nil {
		t.Fatal(err)
	}
	unassigned := false
	for _, r := range byGroup {
		if r.Keys[0] == ledger.UnassignedGroup && r.Quantity.Sign() > 0 {
			unassigned = true
		}
	}
	if !unassigned {
		t.Error("no unassigned usage")
	}

	// Deterministic: the second database holds the same totals, group by group and
	// person by person.
	detail := func(l *ledger.Ledger) []string {
		rows, err := l.Report(ctx, ledger.ReportQuery{From: from, To: to,
			By: []string{ledger.ByGroup, ledger.ByUser, ledger.BySource, ledger.ByCluster, ledger.ByPartition}})
		if err != nil {
			t.Fatal(err)
		}
		out := make([]string, len(rows))
		for i, r := range rows {
			out[i] = fmt.Sprint(r.Keys, r.Resource, r.Quantity, r.Allocated, r.Used)
		}
		return out
	}
	a, b := detail(l), detail(runs[1].l)
	if len(a) != len(b) {
		t.Fatalf("same seed: %d report rows, then %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed, different totals:\n%s\n%s", a[i], b[i])
		}
	}
	if runs[0].sum.Counts != runs[1].sum.Counts || runs[0].sum.Jobs != runs[1].sum.Jobs {
		t.Errorf("same seed, different counts: %v / %v", runs[0].sum.Counts, runs[1].sum.Counts)
	}
}

// Seeding again over a seeded database finds everything in place and changes nothing.
func TestRunAgain(t *testing.T) {
	t.Parallel()
	var done, total, calls int64
	opts := seed.Options{Months: 1, RandomSeed: 5, Now: time.Date(2025, 2, 12, 10, 0, 0, 0, time.UTC), Jobs: 3000,
		Progress: func(d, tot int64) {
			if d < done {
				t.Errorf("progress went back from %d to %d", done, d)
			}
			done, total = d, tot
			calls++
		}}
	first := seedDemo(t, opts)
	if first.err != nil {
		t.Fatal(first.err)
	}
	if calls == 0 || done != 3000 || total != 3000 {
		t.Errorf("progress ended at %d of %d after %d calls", done, total, calls)
	}
	opts.Progress = nil
	opts.Logger = slog.New(slog.DiscardHandler)
	again, err := seed.Run(context.Background(), first.l, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := again.Counts
	if c.Read == 0 || c.Unchanged != c.Read || again.Jobs != 3000 {
		t.Errorf("second run: %v, %d jobs; want every record unchanged", c, again.Jobs)
	}
}

func TestOptions(t *testing.T) {
	t.Parallel()
	l := seedDemo(t, seed.Options{Scale: "huge"})
	if l.err == nil {
		t.Error("an unknown scale was accepted")
	}
}

// A cancelled run stops soon, says why, and leaves no goroutine behind blocked on a
// batch.
func TestCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, err := ledger.Open(ctx, pgtest.NewPool(t), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	sum, err := seed.Run(ctx, l, seed.Options{Scale: seed.ScaleBench, Months: 1, Now: time.Date(2025, 5, 20, 0, 0, 0, 0, time.UTC),
		Logger:   slog.New(slog.DiscardHandler),
		Progress: func(done, total int64) { cancel() }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	if sum.Jobs == 0 || sum.Jobs >= 10_000_000 || time.Since(began) > 30*time.Second {
		t.Errorf("cancelled run stored %d jobs in %s", sum.Jobs, time.Since(began))
	}
}
