// Command benchseed times `seed --scale bench` (10 million Slurm jobs and the rest of
// the benchmark institution) into a fresh database, and reports the ledger's size.
//
// It uses PARSIMONY_TEST_DATABASE_URL when set (a role that may create databases),
// otherwise a throwaway PostgreSQL of its own. -keep leaves the database for later
// benchmarks (with PARSIMONY_TEST_DATABASE_URL).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/parsimony-hpc/parsimony/internal/benchdb"
	"github.com/parsimony-hpc/parsimony/seed"
)

func main() {
	jobs := flag.Int64("jobs", 0, "Slurm jobs (0: the bench scale's 10 million)")
	keep := flag.Bool("keep", false, "keep the database afterwards (with PARSIMONY_TEST_DATABASE_URL)")
	flag.Parse()
	if err := run(context.Background(), *jobs, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "benchseed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, jobs int64, keep bool) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	db, err := benchdb.Open(ctx, log, "bench_seed", keep)
	if err != nil {
		return err
	}
	defer db.Close()
	l, pool := db.Ledger, db.Pool
	start := time.Now()
	var peak uint64
	last := time.Now()
	sum, err := seed.Run(ctx, l, seed.Options{Scale: seed.ScaleBench, Jobs: jobs, RandomSeed: 1, Logger: log,
		Progress: func(done, total int64) {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			if time.Since(last) > 30*time.Second {
				last = time.Now()
				el := time.Since(start)
				fmt.Printf("%s: %d/%d jobs (%.0f jobs/s), heap %d MiB\n", el.Round(time.Second), done, total,
					float64(done)/el.Seconds(), ms.HeapAlloc>>20)
			}
		}})
	if err != nil {
		return err
	}
	var rows int64
	var size string
	if err := pool.QueryRow(ctx, `SELECT count(*), pg_size_pretty(pg_database_size(current_database())) FROM usage`).Scan(&rows, &size); err != nil {
		return err
	}
	fmt.Printf("seed --scale bench: %d groups, %d users, %d jobs, %d usage rows, database %s, peak heap %d MiB, in %s (%v)\n",
		sum.Groups, sum.Users, sum.Jobs, rows, size, peak>>20, time.Since(start).Round(time.Second), sum.Counts)
	return nil
}
