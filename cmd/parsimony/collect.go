package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/parsimony-hpc/parsimony/ledger"

	"github.com/parsimony-hpc/parsimony/collectors/csvimport"
)

// runCollect dispatches `parsimony collect SOURCE`.
func runCollect(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "collect", "SOURCE [flags]   (sources: csv)")
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fs.Usage()
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	switch args[0] {
	case "csv":
		return runCollectCSV(ctx, e, args[1:])
	}
	return usageError(e, fs, "unknown source %q", args[0])
}

// runCollectCSV imports usage from a CSV file (docs/csv-import.md).
func runCollectCSV(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "collect csv", "--file PATH|- [--config FILE]")
	cfgPath := configFlag(fs)
	file := fs.String("file", "", "CSV `file` to import (docs/csv-import.md), or - for standard input")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return usageError(e, fs, "--file is required")
	}
	return withLedger(ctx, e, *cfgPath, func(l *ledger.Ledger) error {
		var in io.Reader = os.Stdin
		name := "stdin"
		if *file != "-" {
			f, err := os.Open(*file)
			if err != nil {
				return err
			}
			defer f.Close()
			in, name = f, *file
		}
		c, err := csvimport.Import(ctx, l, in, name, csvimport.Options{})
		fmt.Fprintf(e.stdout, "%s: read %d, ingested %d, revised %d, unchanged %d, quarantined %d, unmapped %d\n",
			name, c.Read, c.Ingested, c.Revised, c.Unchanged, c.Quarantined, c.Unmapped)
		return err
	})
}
