package ledger_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/ledger"
)

// Batches of different sources and clusters are stored side by side (each holds
// its streams' locks, not one global lock). Many goroutines ingesting disjoint
// streams, batches spanning two streams, the same batch twice at once, and
// revisions of the same keys must leave exactly what one goroutine ingesting the
// same batches in turn leaves: the same usage rows, rollups, quarantine, changed
// months and users.
func TestConcurrentStreamsEqualSerialIngest(t *testing.T) {
	seed := seedFromEnv(t)
	plan := concurrentPlan(rand.New(rand.NewPCG(seed, 11)))

	serial := newSetup(t, "Europe/Zurich")
	parallel := setup{ctx: serial.ctx, pool: pgtest.NewPool(t)}
	var err error
	if parallel.l, err = ledger.Open(parallel.ctx, parallel.pool, ledger.Options{Location: serial.l.Location(), Logger: testLogger()}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []setup{serial, parallel} {
		randomTree(t, s, rand.New(rand.NewPCG(seed, 12)), 5)
	}

	for _, seq := range plan {
		for _, b := range seq {
			ingest(t, serial, b)
		}
	}

	// Each sequence keeps its order (a revision lands after what it revises); the
	// sequences run at once, and each is run by two goroutines when it only
	// replays content that never changes.
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(plan))
	run := func(seq [][]ledger.Record) {
		defer wg.Done()
		for _, b := range seq {
			batch := append([]ledger.Record(nil), b...)
			if _, err := parallel.l.Ingest(parallel.ctx, ledger.Batch{Records: batch}); err != nil {
				errs <- err
				return
			}
		}
	}
	for _, seq := range plan {
		wg.Add(1)
		go run(seq)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("seed %d: %v", seed, err)
	}

	checkRollups(t, parallel)
	for _, q := range ledgerStateQueries {
		want, got := dumpRows(t, serial, q.sql), dumpRows(t, parallel, q.sql)
		if len(want) == 0 {
			t.Fatalf("seed %d: %s: the serial ingest left nothing to compare", seed, q.name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("seed %d: %s after concurrent ingest differ from the serial ingest's:\n%s",
				seed, q.name, firstDifference(want, got))
		}
	}
	var unattributed int
	if err := parallel.pool.QueryRow(parallel.ctx, `SELECT count(*) FROM usage WHERE username <> '' AND user_id IS NULL`).Scan(&unattributed); err != nil {
		t.Fatal(err)
	}
	if unattributed != 0 {
		t.Errorf("seed %d: %d usage rows name a user but belong to none (a login created by a concurrent batch was missed)", seed, unattributed)
	}
}

// concurrentPlan is the sequences of batches the test runs at once. Per stream
// (four sources and clusters) one sequence: new records, then revisions of some of
// them (a running job that ran on) with new ones, then a replay. One sequence of
// batches that each span two streams (with keys of their own). And the same
// batch, never revised, in two sequences, so that identical batches race.
func concurrentPlan(rng *rand.Rand) [][][]ledger.Record {
	base := time.Date(2026, 10, 30, 20, 0, 0, 0, time.UTC) // crosses into November, in Zurich too
	type stream struct{ source, cluster, account string }
	streams := []stream{{"slurm", "c1", "acct1"}, {"slurm", "c2", "acct2"}, {"cgroup", "ws-1", "lab"}, {"cgroup", "ws-2", "lab"}}
	record := func(st stream, id string, start time.Time, length time.Duration, q int64) ledger.Record {
		return ledger.Record{Source: st.source, Cluster: st.cluster, ExternalID: id, Resource: ledger.ResourceCPU,
			Start: start, End: start.Add(length), Quantity: q, Allocated: q, Used: q / 2,
			Account: st.account, User: fmt.Sprintf("shared%d", rng.IntN(12)), Partition: "cpu"}
	}
	broken := func(st stream, id string) ledger.Record {
		r := record(st, id, base, time.Hour, 1)
		r.End = r.Start.Add(-time.Hour) // quarantined: ends before it starts
		return r
	}
	var plan [][][]ledger.Record
	for _, st := range streams {
		var first, second []ledger.Record
		for i := range 300 {
			start := base.Add(time.Duration(rng.IntN(48*60)) * time.Minute)
			r := record(st, fmt.Sprintf("job%d", i), start, time.Duration(1+rng.IntN(600))*time.Minute, 1+rng.Int64N(1<<20))
			first = append(first, r)
			if rng.IntN(3) == 0 {
				r.End = r.End.Add(time.Duration(1+rng.IntN(1440)) * time.Minute)
				r.Quantity += 1 + rng.Int64N(1<<20)
				second = append(second, r)
			}
		}
		for i := range 100 {
			start := base.Add(time.Duration(48*60+rng.IntN(600)) * time.Minute)
			second = append(second, record(st, fmt.Sprintf("late%d", i), start, time.Hour, 1+rng.Int64N(1<<20)))
		}
		first = append(first, broken(st, "broken"))
		second = append(second, broken(st, "broken"))
		plan = append(plan, [][]ledger.Record{first, second, slices.Clone(second)})
	}
	var mixed [][]ledger.Record
	for b := range 4 {
		var batch []ledger.Record
		for i := range 100 {
			st := streams[(b+i%2)%len(streams)]
			start := base.Add(time.Duration(rng.IntN(72*60)) * time.Minute)
			batch = append(batch, record(st, fmt.Sprintf("mixed%d-%d", b, i), start, time.Duration(1+rng.IntN(120))*time.Minute, 1+rng.Int64N(1<<20)))
		}
		mixed = append(mixed, batch)
	}
	plan = append(plan, mixed)
	var twice []ledger.Record
	for i := range 200 {
		st := streams[i%len(streams)]
		twice = append(twice, record(st, fmt.Sprintf("twice%d", i), base.Add(time.Duration(i)*time.Minute), 90*time.Minute, 1+rng.Int64N(1<<20)))
	}
	plan = append(plan, [][]ledger.Record{twice}, [][]ledger.Record{slices.Clone(twice)})
	// Small batches of streams of their own, all naming the same logins nobody has
	// seen: they create those users at the same moment.
	for c := range 8 {
		st := stream{"slurm", fmt.Sprintf("fresh-c%d", c), "acct1"}
		var batch []ledger.Record
		for u := range 8 {
			r := record(st, fmt.Sprintf("fresh%d", u), base.Add(time.Duration(u)*time.Minute), time.Hour, 1+rng.Int64N(1<<20))
			r.User = fmt.Sprintf("fresh%d", (u+c)%8)
			batch = append(batch, r)
		}
		plan = append(plan, [][]ledger.Record{batch})
	}
	return plan
}

// ledgerStateQueries read what ingest writes, with groups and users by slug and
// login (ids may differ between two databases), in a fixed order.
var ledgerStateQueries = []struct{ name, sql string }{
	{"usage rows", `
		SELECT u.source, u.cluster, u.external_id, u.resource, u.record_start, u.record_end, u.start_time, u.day,
		       u.quantity, u.allocated, u.used, g.slug, us.login, u.record_hash
		FROM usage u LEFT JOIN groups g ON g.id = u.group_id LEFT JOIN users us ON us.id = u.user_id
		ORDER BY u.source, u.cluster, u.external_id, u.resource, u.record_start, u.start_time`},
	{"rollups", `
		SELECT r.day, g.slug, us.login, r.source, r.cluster, r.resource, r.partition, r.quantity, r.allocated, r.used, r.records
		FROM rollup_daily r LEFT JOIN groups g ON g.id = r.group_id LEFT JOIN users us ON us.id = r.user_id
		WHERE r.quantity <> 0 OR r.allocated <> 0 OR r.used <> 0 OR r.records <> 0
		ORDER BY 1, 2, 3, 4, 5, 6, 7`},
	{"quarantine", `SELECT source, cluster, reason, raw, seen_count FROM quarantine ORDER BY 1, 2, 3, 4`},
	{"changed months", `SELECT month FROM usage_changed_months ORDER BY month`},
	{"users", `SELECT login, auto_created FROM users ORDER BY login`},
}

// dumpRows reads every row of sql as text.
func dumpRows(t *testing.T, s setup, sql string) []string {
	t.Helper()
	rows, err := s.pool.Query(s.ctx, sql)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// firstDifference shows where two row lists part, for a readable failure.
func firstDifference(want, got []string) string {
	for i := range min(len(want), len(got)) {
		if want[i] != got[i] {
			return fmt.Sprintf("row %d: want %s\n        got  %s", i, want[i], got[i])
		}
	}
	return strings.TrimSpace(fmt.Sprintf("want %d rows, got %d", len(want), len(got)))
}

// Two batches of different streams naming the same unknown login: the second
// waits on the first's new user row, and once the first commits, its own insert
// creates nothing and its statement's snapshot does not see the row. It must still
// attribute its usage to that user. The rollups are locked so that the first
// batch holds its new user, uncommitted, until the second is waiting for it.
func TestConcurrentIngestsCreateTheSameUser(t *testing.T) {
	s := newSetup(t, "UTC")
	t0 := time.Date(2026, 10, 1, 10, 0, 0, 0, time.UTC)
	batch := func(cluster string) []ledger.Record {
		return []ledger.Record{{Source: "slurm", Cluster: cluster, ExternalID: "1", Resource: ledger.ResourceCPU,
			Start: t0, End: t0.Add(time.Hour), Quantity: 3600, Account: "a", User: "newcomer"}}
	}
	// Partitions first: creating one takes the ingest lock exclusively.
	ingest(t, s, []ledger.Record{{Source: "slurm", Cluster: "warm", ExternalID: "0", Resource: ledger.ResourceCPU,
		Start: t0, End: t0.Add(time.Hour), Quantity: 1, Account: "a", User: "someone"}})

	hold, err := s.pool.Begin(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(s.ctx)
	if _, err := hold.Exec(s.ctx, `LOCK TABLE rollup_daily IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	start := func(cluster string) {
		go func() {
			_, err := s.l.Ingest(s.ctx, ledger.Batch{Records: batch(cluster)})
			errs <- err
		}()
	}
	waitFor := func(what, sql string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			var n int
			if err := s.pool.QueryRow(s.ctx, sql).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no batch came to wait for %s", what)
			}
		}
	}
	start("c1")
	waitFor("the rollups", `SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'rollup_daily'::regclass`)
	start("c2")
	waitFor("the other batch's user", `SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'`)
	if err := hold.Commit(s.ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var users, unattributed int
	if err := s.pool.QueryRow(s.ctx, `
		SELECT count(DISTINCT user_id), count(*) FILTER (WHERE user_id IS NULL)
		FROM usage WHERE cluster IN ('c1', 'c2')`).Scan(&users, &unattributed); err != nil {
		t.Fatal(err)
	}
	if users != 1 || unattributed != 0 {
		t.Fatalf("the two batches' usage belongs to %d users, %d rows to none: want both rows with the one new user", users, unattributed)
	}
	checkRollups(t, s)
}
