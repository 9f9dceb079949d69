package ledger_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/ledger"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// setup is what most ledger tests start from: a fresh database and a ledger on it.
type setup struct {
	ctx  context.Context
	pool *pgxpool.Pool
	l    *ledger.Ledger
}

func newSetup(t *testing.T, zone string) setup {
	t.Helper()
	t.Parallel()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	l, err := ledger.Open(ctx, pool, ledger.Options{Location: loc, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return setup{ctx: ctx, pool: pool, l: l}
}

// seedFromEnv returns a random seed, or PARSIMONY_TEST_SEED to replay a failure.
func seedFromEnv(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv("PARSIMONY_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d (replay with PARSIMONY_TEST_SEED=%d)", seed, seed)
	return seed
}

// tree is a random group tree with Slurm account mappings for some of its groups.
type tree struct {
	groups   []ledger.Group
	accounts []string // accounts records may name; some are mapped, some are not
}

func randomTree(t *testing.T, s setup, rng *rand.Rand, n int) tree {
	t.Helper()
	var tr tree
	for i := 0; i < n; i++ {
		var parent int64
		if i > 0 && rng.IntN(5) > 0 {
			parent = tr.groups[rng.IntN(len(tr.groups))].ID
		}
		g, err := s.l.CreateGroup(s.ctx, "test", ledger.NewGroup{
			ParentID: parent, Kind: "lab", Slug: fmt.Sprintf("g%d", i), Name: fmt.Sprintf("Group %d", i),
		})
		if err != nil {
			t.Fatal(err)
		}
		tr.groups = append(tr.groups, g)
		acct := fmt.Sprintf("acct%d", i)
		tr.accounts = append(tr.accounts, acct)
		if rng.IntN(4) > 0 {
			if _, err := s.l.SetGroupMapping(s.ctx, "test", ledger.Mapping{Kind: ledger.KindSlurm, Scope: "c1", Identity: acct, GroupID: g.ID}); err != nil {
				t.Fatal(err)
			}
		}
	}
	tr.accounts = append(tr.accounts, "nobody-claims-this")
	return tr
}

var windowStart = time.Date(2026, 9, 20, 0, 0, 0, 0, time.UTC)

func randomRecords(rng *rand.Rand, tr tree, n int) []ledger.Record {
	resources := ledger.Resources()
	recs := make([]ledger.Record, 0, n)
	for i := 0; i < n; i++ {
		start := windowStart.Add(time.Duration(rng.Int64N(int64(40 * 24 * time.Hour)))).Truncate(time.Second)
		length := time.Duration(rng.ExpFloat64() * float64(8*time.Hour)).Truncate(time.Second)
		alloc := rng.Int64N(1 << 36)
		recs = append(recs, ledger.Record{
			Source: ledger.SourceSlurm, Cluster: "c1", ExternalID: fmt.Sprintf("%d", i),
			Resource: resources[rng.IntN(len(resources))], Start: start, End: start.Add(length),
			Quantity: alloc, Allocated: alloc, Used: rng.Int64N(alloc + 1),
			Account: tr.accounts[rng.IntN(len(tr.accounts))], User: fmt.Sprintf("user%d", rng.IntN(30)),
			Partition: []string{"cpu", "gpu", "highmem"}[rng.IntN(3)], State: "COMPLETED",
		})
	}
	return recs
}

// totals sums record quantities per resource, as the ground truth.
func totals(recs []ledger.Record) map[string]*big.Int {
	out := map[string]*big.Int{}
	for _, r := range recs {
		if out[r.Resource] == nil {
			out[r.Resource] = new(big.Int)
		}
		out[r.Resource].Add(out[r.Resource], big.NewInt(r.Quantity))
	}
	return out
}

// everything is a day-aligned window that holds all the test records.
var everythingFrom, everythingTo = time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func reportByResource(t *testing.T, s setup, q ledger.ReportQuery) map[string]*big.Int {
	t.Helper()
	rows, err := s.l.Report(s.ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*big.Int{}
	for _, r := range rows {
		if out[r.Resource] == nil {
			out[r.Resource] = new(big.Int)
		}
		out[r.Resource].Add(out[r.Resource], r.Quantity)
	}
	return out
}

func equalTotals(a, b map[string]*big.Int) bool {
	for k, v := range a {
		if v.Sign() != 0 && (b[k] == nil || b[k].Cmp(v) != 0) {
			return false
		}
	}
	for k, v := range b {
		if v.Sign() != 0 && (a[k] == nil || a[k].Cmp(v) != 0) {
			return false
		}
	}
	return true
}

// checkRollups asserts that the rollups equal the usage rows summed afresh: the
// rollups are maintained incrementally, so any drift is a bug.
func checkRollups(t *testing.T, s setup) {
	t.Helper()
	var diff int
	err := s.pool.QueryRow(s.ctx, `
		WITH fresh AS (
			SELECT day, group_id, user_id, source, cluster, resource, partition,
			       sum(quantity) AS q, sum(allocated) AS a, sum(used) AS u,
			       count(*) FILTER (WHERE start_time = record_start) AS n
			FROM usage GROUP BY 1, 2, 3, 4, 5, 6, 7
		), kept AS (
			SELECT day, group_id, user_id, source, cluster, resource, partition,
			       quantity AS q, allocated AS a, used AS u, records AS n
			FROM rollup_daily WHERE quantity <> 0 OR allocated <> 0 OR used <> 0 OR records <> 0
		)
		SELECT count(*) FROM (
			(SELECT * FROM fresh EXCEPT SELECT * FROM kept)
			UNION ALL
			(SELECT * FROM kept EXCEPT SELECT * FROM fresh)
		) d`).Scan(&diff)
	if err != nil {
		t.Fatal(err)
	}
	if diff != 0 {
		t.Fatalf("rollups differ from usage in %d rows", diff)
	}
}

func ingest(t *testing.T, s setup, recs []ledger.Record) ledger.Counts {
	t.Helper()
	// A copy: Ingest normalises records in place, and tests compare against the input.
	batch := append([]ledger.Record(nil), recs...)
	c, err := s.l.Ingest(s.ctx, ledger.Batch{Records: batch})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testLogger shows the ledger's debug log (ingest step timings) when
// PARSIMONY_DEBUG is set, and only warnings otherwise.
func testLogger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("PARSIMONY_DEBUG") != "" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}
