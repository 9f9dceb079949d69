package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/parsimony-hpc/parsimony/config"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/seed"
)

func runSeed(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "seed", "[--scale demo|bench] [--months N] [--random-seed S]")
	cfgPath := configFlag(fs)
	scale := fs.String("scale", "demo", "demo (a few months, tens of thousands of jobs) or bench (10 million jobs)")
	months := fs.Int("months", 0, "months of history ending now (0: the scale's default)")
	randomSeed := fs.Uint64("random-seed", 1, "random seed: the same seed gives the same institution")
	if err := parseFlagsOnly(e, fs, args); err != nil {
		return err
	}
	if *scale != "demo" && *scale != "bench" {
		return usageError(e, fs, "--scale is demo or bench")
	}
	return withLedger(ctx, e, *cfgPath, func(l *ledger.Ledger, _ config.Config) error {
		sum, err := seedLedger(ctx, e, l, seed.Options{Scale: *scale, Months: *months, RandomSeed: *randomSeed})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "seeded %d groups, %d users, %d jobs in %s: %v\n",
			sum.Groups, sum.Users, sum.Jobs, sum.Elapsed.Round(time.Second), sum.Counts)
		return nil
	})
}

// seedLedger runs the seed with a progress line on a terminal.
func seedLedger(ctx context.Context, e *env, l *ledger.Ledger, opts seed.Options) (seed.Summary, error) {
	opts.Logger = e.log
	if isTerminal(e.stderr) {
		start := time.Now()
		last := time.Time{}
		opts.Progress = func(done, total int64) {
			if time.Since(last) < 500*time.Millisecond && done < total {
				return
			}
			last = time.Now()
			rate := float64(done) / time.Since(start).Seconds()
			eta := ""
			if rate > 0 && total > done {
				eta = fmt.Sprintf(", ETA %s", (time.Duration(float64(total-done)/rate) * time.Second).Round(time.Second))
			}
			fmt.Fprintf(e.stderr, "\rseeding: %d/%d jobs (%.0f jobs/s%s)   ", done, total, rate, eta)
		}
		defer fmt.Fprintln(e.stderr)
	}
	return seed.Run(ctx, l, opts)
}

// isTerminal reports whether w is a character device (a terminal), where a
// progress line that rewrites itself makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
