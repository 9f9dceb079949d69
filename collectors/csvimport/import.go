package csvimport

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Import reads a CSV file into the ledger as one ledger.Collect run: source
// "csv", cluster name (the file's name, which quarantined lines without a cluster
// of their own are filed under too). Each batch Read makes is ingested in its own
// transaction; the run records the summed counts and, if the import failed, its
// error. The counts of the batches ingested before a failure are returned with it.
//
// Importing the same file again changes no total: every record has the same natural
// key as before and is found unchanged, and every rejected line is the same
// quarantine row, seen once more.
func Import(ctx context.Context, l *ledger.Ledger, r io.Reader, name string, opts Options) (ledger.Counts, error) {
	if opts.Location == nil {
		opts.Location = l.Location()
	}
	if opts.Cluster == "" {
		opts.Cluster = name
	}
	c, err := l.Collect(ctx, Source, name, time.Time{}, time.Time{}, func(ctx context.Context, sink *ledger.Sink) (time.Time, error) {
		opts.RunID = sink.RunID()
		_, err := Read(ctx, r, opts, func(b ledger.Batch) error {
			_, err := sink.Ingest(ctx, b)
			return err
		})
		// A file says nothing about what a live collector has seen: no watermark.
		return time.Time{}, err
	})
	if err != nil {
		return c, fmt.Errorf("import %s: %w", name, err)
	}
	return c, nil
}
