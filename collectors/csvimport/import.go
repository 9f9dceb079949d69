package csvimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Import reads a CSV file into the ledger as one collector run: source "csv",
// cluster name (the file's name, which quarantined lines without a cluster of their
// own are filed under too). Each batch Read makes is ingested in its own
// transaction; the run records the summed counts and, if the import failed, its
// error. The counts of the batches ingested before a failure are returned with it.
//
// Importing the same file again changes no total: every record has the same natural
// key as before and is found unchanged, and every rejected line is the same
// quarantine row, seen once more.
func Import(ctx context.Context, l *ledger.Ledger, r io.Reader, name string, opts Options) (ledger.Counts, error) {
	var total ledger.Counts
	id, err := l.StartRun(ctx, Source, name, time.Time{}, time.Time{})
	if err != nil {
		return total, err
	}
	opts.RunID = id
	if opts.Location == nil {
		opts.Location = l.Location()
	}
	if opts.Cluster == "" {
		opts.Cluster = name
	}
	_, err = Read(ctx, r, opts, func(b ledger.Batch) error {
		c, err := l.Ingest(ctx, b)
		if err != nil {
			return err
		}
		total.Add(c)
		return nil
	})
	if err != nil {
		err = fmt.Errorf("import %s: %w", name, err)
	}
	// The run is finished even when ctx was cancelled, so that it shows as failed
	// rather than as still running.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if ferr := l.FinishRun(fctx, id, total, time.Time{}, err); ferr != nil {
		return total, errors.Join(err, ferr)
	}
	return total, err
}
