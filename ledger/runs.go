package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Run is one execution of a collector.
type Run struct {
	ID         int64
	Source     string
	Cluster    string
	WindowFrom *time.Time
	WindowTo   *time.Time
	StartedAt  time.Time
	FinishedAt *time.Time
	Counts     Counts
	Watermark  *time.Time
	Error      string
}

// StartRun records that a collector begins reading [from, to) of a source.
func (l *Ledger) StartRun(ctx context.Context, source, cluster string, from, to time.Time) (int64, error) {
	var id int64
	err := l.pool.QueryRow(ctx, `
		INSERT INTO collector_runs (source, cluster, window_from, window_to)
		VALUES ($1, $2, $3, $4) RETURNING id`, source, cluster, nullTime(from), nullTime(to)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("start %s run for %s: %w", source, cluster, err)
	}
	return id, nil
}

// FinishRun records a run's counts. A run that failed (runErr != nil) keeps its
// error and sets no watermark, so the next run starts where the last good one ended.
func (l *Ledger) FinishRun(ctx context.Context, id int64, c Counts, watermark time.Time, runErr error) error {
	var errText, mark any
	if runErr != nil {
		errText = SafeText(runErr.Error())
	} else {
		mark = nullTime(watermark)
	}
	_, err := l.pool.Exec(ctx, `
		UPDATE collector_runs SET finished_at = now(), read = $2, ingested = $3, revised = $4,
		       unchanged = $5, quarantined = $6, unmapped = $7, watermark = $8, error = $9
		WHERE id = $1`, id, c.Read, c.Ingested, c.Revised, c.Unchanged, c.Quarantined, c.Unmapped, mark, errText)
	if err != nil {
		return fmt.Errorf("finish run %d: %w", id, err)
	}
	return nil
}

// Watermark is where the last successful run of a source on a cluster ended; ok is
// false when there has been none.
func (l *Ledger) Watermark(ctx context.Context, source, cluster string) (t time.Time, ok bool, err error) {
	var mark *time.Time
	err = l.pool.QueryRow(ctx, `
		SELECT max(watermark) FROM collector_runs
		WHERE source = $1 AND cluster = $2 AND error IS NULL AND finished_at IS NOT NULL`, source, cluster).Scan(&mark)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, fmt.Errorf("read watermark of %s on %s: %w", source, cluster, err)
	}
	if mark == nil {
		return time.Time{}, false, nil
	}
	return *mark, true, nil
}

// Runs lists the most recent collector runs, newest first.
func (l *Ledger) Runs(ctx context.Context, limit int) ([]Run, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT id, source, cluster, window_from, window_to,
		       started_at, finished_at, read, ingested, revised, unchanged, quarantined, unmapped,
		       watermark, coalesce(error, '')
		FROM collector_runs ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Run, error) {
		var run Run
		err := r.Scan(&run.ID, &run.Source, &run.Cluster, &run.WindowFrom, &run.WindowTo, &run.StartedAt, &run.FinishedAt,
			&run.Counts.Read, &run.Counts.Ingested, &run.Counts.Revised, &run.Counts.Unchanged,
			&run.Counts.Quarantined, &run.Counts.Unmapped, &run.Watermark, &run.Error)
		return run, err
	})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// QuarantinedInput is one row of the quarantine.
type QuarantinedInput struct {
	ID        int64
	Source    string
	Cluster   string
	Raw       string
	Reason    string
	FirstSeen time.Time
	LastSeen  time.Time
	SeenCount int64
}

// Quarantined lists unresolved quarantined input, newest first.
func (l *Ledger) Quarantined(ctx context.Context, limit int) ([]QuarantinedInput, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT id, source, cluster, raw, reason, first_seen, last_seen, seen_count
		FROM quarantine WHERE resolved_at IS NULL ORDER BY last_seen DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (QuarantinedInput, error) {
		var q QuarantinedInput
		err := r.Scan(&q.ID, &q.Source, &q.Cluster, &q.Raw, &q.Reason, &q.FirstSeen, &q.LastSeen, &q.SeenCount)
		return q, err
	})
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	return out, nil
}
