// Command benchclose times closing one month of `seed --scale bench` (every
// billable group's statement) and the streamed CSV export of that month.
//
// With -database URL it reuses a seeded benchmark database (e.g. one `benchseed
// -keep` left; it is migrated first); otherwise it seeds a fresh one, which takes
// about 7 minutes on 2 cores. The seed's price list is applied, then the first month
// with usage is closed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/parsimony-hpc/parsimony/export"
	"github.com/parsimony-hpc/parsimony/internal/benchdb"
	"github.com/parsimony-hpc/parsimony/seed"
)

func main() {
	dbURL := flag.String("database", os.Getenv("PARSIMONY_BENCH_DATABASE_URL"), "a seeded benchmark database to reuse (default: seed a fresh one)")
	flag.Parse()
	if err := run(context.Background(), *dbURL); err != nil {
		fmt.Fprintln(os.Stderr, "benchclose:", err)
		os.Exit(1)
	}
}

// countingWriter counts bytes and discards them.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func run(ctx context.Context, dbURL string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var db *benchdb.DB
	var err error
	if dbURL != "" {
		db, err = benchdb.Reuse(ctx, log, dbURL)
	} else {
		db, err = benchdb.Open(ctx, log, "bench_close", false)
		if err == nil {
			fmt.Println("seeding the benchmark institution (10 million jobs)…")
			_, err = seed.Run(ctx, db.Ledger, seed.Options{Scale: seed.ScaleBench, RandomSeed: 1, Logger: log})
		}
	}
	if err != nil {
		return err
	}
	defer db.Close()
	l, pool := db.Ledger, db.Pool

	var first *time.Time
	if err := pool.QueryRow(ctx, `SELECT min(day) FROM rollup_daily`).Scan(&first); err != nil || first == nil {
		return fmt.Errorf("no usage to close (%v)", err)
	}
	if err := seed.Billing(ctx, l, seed.BillingOptions{From: *first, Now: time.Now(), RandomSeed: 1}); err != nil {
		return err
	}
	month, err := l.FirstOpenMonth(ctx)
	if err != nil {
		return err
	}
	if month.IsZero() {
		month = time.Date(first.Year(), first.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	var usageRows int64
	from := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, l.Location())
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM usage WHERE start_time >= $1 AND start_time < $2`, from, from.AddDate(0, 1, 0)).Scan(&usageRows); err != nil {
		return err
	}
	start := time.Now()
	sts, rec, err := l.Close(ctx, "benchclose", month)
	if err != nil {
		return err
	}
	took := time.Since(start)
	var charges int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM charges WHERE period = $1`, month).Scan(&charges); err != nil {
		return err
	}
	fmt.Printf("close %s: %d usage rows → %d charge rows → %d final statements (total %d minor units) in %s\n",
		month.Format("2006-01"), usageRows, charges, len(sts), rec.StatementsMinor, took.Round(time.Millisecond))

	// The export, with the heap sampled while it runs.
	var peak atomic.Uint64
	done := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	w := &countingWriter{}
	start = time.Now()
	t, err := export.CSV(ctx, l, month, io.Writer(w))
	close(done)
	if err != nil {
		return err
	}
	fmt.Printf("export csv %s: %d statements, %d lines, %d bytes in %s; heap before %d KiB, peak %d KiB\n",
		month.Format("2006-01"), t.Statements, t.Lines, w.n, time.Since(start).Round(time.Millisecond), before>>10, peak.Load()>>10)
	return nil
}
