// Command benchingest measures the ledger's Ingest against a raw COPY of the same
// rows into a bare copy of the usage table with the same partitions and indexes.
// It ends with one line: "ingest: N rows/s, copy: M rows/s, ratio: R".
//
// It uses PARSIMONY_TEST_DATABASE_URL when set (a role that may create databases),
// otherwise a throwaway PostgreSQL of its own with default (durable) settings.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/parsimony-hpc/parsimony/internal/benchdb"
	"github.com/parsimony-hpc/parsimony/ledger"
)

func main() {
	rows := flag.Int("rows", 2_000_000, "usage records to ingest")
	batch := flag.Int("batch", 50_000, "records per Ingest call")
	keep := flag.Bool("keep", false, "keep the benchmark database (with PARSIMONY_TEST_DATABASE_URL) to look at afterwards")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run to `file`")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchingest:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(context.Background(), *rows, *batch, *keep); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "benchingest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n, batchSize int, keep bool) error {
	level := slog.LevelInfo
	if os.Getenv("PARSIMONY_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	db, err := benchdb.Open(ctx, log, "bench_ingest", keep)
	if err != nil {
		return err
	}
	defer db.Close()
	l, pool := db.Ledger, db.Pool
	loc := l.Location()
	// Half the accounts are mapped, as at a real site with some unassigned usage.
	lab, err := l.CreateGroup(ctx, "bench", ledger.NewGroup{Kind: "lab", Slug: "lab", Name: "Lab"})
	if err != nil {
		return err
	}
	for i := 0; i < 50; i++ {
		if _, err := l.SetGroupMapping(ctx, "bench", ledger.Mapping{Kind: ledger.KindSlurm, Scope: "c1", Identity: fmt.Sprintf("acct%d", i), GroupID: lab.ID}); err != nil {
			return err
		}
	}

	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 10, 1, 0, 0, 0, 0, loc)
	// Jobs arrive in time order, as sacct lists them: n/4 jobs spread over 29 days.
	jobs := n / 4
	step := 29 * 24 * time.Hour / time.Duration(max(jobs, 1))
	resources := []string{ledger.ResourceCPU, ledger.ResourceMemory, ledger.ResourceBilling, ledger.ResourceGPU}
	var ingestTime time.Duration
	var counts ledger.Counts
	var peak uint64
	for done := 0; done < n; {
		size := min(batchSize, n-done)
		recs := make([]ledger.Record, size)
		for i := range recs {
			job := (done + i) / len(resources)
			s := start.Add(time.Duration(job)*step + time.Duration(rng.Int64N(int64(time.Hour)))).Truncate(time.Second)
			// Most jobs last minutes to hours; the tail runs for days.
			length := time.Duration(rng.ExpFloat64() * float64(2*time.Hour)).Truncate(time.Second)
			q := rng.Int64N(1 << 32)
			recs[i] = ledger.Record{
				Source: ledger.SourceSlurm, Cluster: "c1", ExternalID: fmt.Sprint(1_000_000 + job),
				Resource: resources[(done+i)%len(resources)], Start: s, End: s.Add(length),
				Quantity: q, Allocated: q, Used: q / 2, Account: fmt.Sprintf("acct%d", rng.IntN(100)),
				User: fmt.Sprintf("user%d", rng.IntN(500)), Partition: "cpu", QoS: "normal", Nodes: 1,
				JobName: "job.sh", State: "COMPLETED",
			}
		}
		t0 := time.Now()
		c, err := l.Ingest(ctx, ledger.Batch{Records: recs})
		if err != nil {
			return err
		}
		ingestTime += time.Since(t0)
		counts.Add(c)
		done += size
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
	}
	var parts int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM usage`).Scan(&parts); err != nil {
		return err
	}
	fmt.Printf("Ingest: %d records → %d usage rows (day parts) in %s; %v; peak heap %d MiB\n",
		n, parts, ingestTime.Round(time.Millisecond), counts, peak>>20)

	// The same rows, COPYed raw into a table shaped like usage with its indexes.
	if _, err := pool.Exec(ctx, `
		CREATE TABLE usage_bare (LIKE usage INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (start_time);
		CREATE UNIQUE INDEX ON usage_bare (source, cluster, external_id, resource, record_start, start_time);
		CREATE INDEX ON usage_bare (source, cluster, account) WHERE group_id IS NULL`); err != nil {
		return err
	}
	rowsIn, err := pool.Query(ctx, `
		SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'usage'::regclass`)
	if err != nil {
		return err
	}
	var partDDL []string
	for rowsIn.Next() {
		var name, bound string
		if err := rowsIn.Scan(&name, &bound); err != nil {
			return err
		}
		partDDL = append(partDDL, fmt.Sprintf(`CREATE TABLE bare_%s PARTITION OF usage_bare %s`, name, bound))
	}
	if err := rowsIn.Err(); err != nil {
		return err
	}
	for _, ddl := range partDDL {
		if _, err := pool.Exec(ctx, ddl); err != nil {
			return err
		}
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var buf bytes.Buffer
	if _, err := conn.Conn().PgConn().CopyTo(ctx, &buf, `COPY (SELECT * FROM usage) TO STDOUT (FORMAT binary)`); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `CHECKPOINT`); err != nil {
		return err
	}
	t0 := time.Now()
	tag, err := conn.Conn().PgConn().CopyFrom(ctx, &buf, `COPY usage_bare FROM STDIN (FORMAT binary)`)
	if err != nil {
		return err
	}
	copyTime := time.Since(t0)
	ingestRate := float64(parts) / ingestTime.Seconds()
	copyRate := float64(tag.RowsAffected()) / copyTime.Seconds()
	fmt.Printf("Raw COPY: %d rows in %s\n", tag.RowsAffected(), copyTime.Round(time.Millisecond))
	fmt.Printf("ingest: %.0f rows/s, copy: %.0f rows/s, ratio: %.2f\n", ingestRate, copyRate, ingestRate/copyRate)
	return nil
}
