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
	"net/url"
	"os"
	"runtime"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/internal/pgcluster"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/migrations"
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
	adminURL := os.Getenv("PARSIMONY_TEST_DATABASE_URL")
	if adminURL == "" {
		dir, err := os.MkdirTemp("", "parsimony-benchseed-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		c, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dir, Logger: log,
			Settings: map[string]string{"shared_buffers": "2GB", "max_wal_size": "16GB", "checkpoint_timeout": "30min"}})
		if err != nil {
			return err
		}
		defer c.Destroy(context.Background())
		adminURL = c.URL("postgres")
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	db := fmt.Sprintf("bench_seed_%d", time.Now().Unix())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
		return err
	}
	if keep {
		fmt.Println("keeping database", db)
	} else {
		defer admin.Exec(context.Background(), "DROP DATABASE "+db+" WITH (FORCE)")
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return err
	}
	u.Path = "/" + db
	m, err := migrations.New(u.String())
	if err != nil {
		return err
	}
	if err := m.Up(); err != nil {
		return err
	}
	m.Close()
	pool, err := pgxpool.New(ctx, u.String())
	if err != nil {
		return err
	}
	defer pool.Close()
	loc, _ := time.LoadLocation("Europe/Berlin")
	l, err := ledger.Open(ctx, pool, ledger.Options{Location: loc, Logger: log})
	if err != nil {
		return err
	}
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
