package ledger

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// quarantine keeps input that could not become usage. The same raw text with the same
// reason is one row, however often it is read.
func quarantine(ctx context.Context, tx pgx.Tx, runID int64, rejects []Reject) error {
	if len(rejects) == 0 {
		return nil
	}
	sources := make([]string, len(rejects))
	clusters := make([]string, len(rejects))
	raws := make([]string, len(rejects))
	reasons := make([]string, len(rejects))
	hashes := make([][]byte, len(rejects))
	for i, r := range rejects {
		sources[i], clusters[i] = SafeText(r.Source), SafeText(r.Cluster)
		raws[i], reasons[i] = SafeText(r.Raw), SafeText(r.Reason)
		sum := sha256.Sum256([]byte(r.Raw))
		hashes[i] = sum[:]
	}
	var run any
	if runID != 0 {
		run = runID
	}
	// DISTINCT ON: one batch may carry the same bad line twice; ON CONFLICT may touch
	// a row only once per statement.
	_, err := tx.Exec(ctx, `
		INSERT INTO quarantine AS q (source, cluster, raw, reason, raw_hash, run_id, seen_count)
		SELECT DISTINCT ON (source, cluster, raw_hash, reason) source, cluster, raw, reason, raw_hash, $6,
		       count(*) OVER (PARTITION BY source, cluster, raw_hash, reason)
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[]) AS t(source, cluster, raw, reason, raw_hash)
		ON CONFLICT (source, cluster, raw_hash, reason) DO UPDATE SET
		    last_seen = now(), seen_count = q.seen_count + excluded.seen_count,
		    run_id = coalesce(excluded.run_id, q.run_id)`,
		sources, clusters, raws, reasons, hashes, run)
	if err != nil {
		return fmt.Errorf("quarantine %d rejected inputs: %w", len(rejects), err)
	}
	return nil
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

// UnresolvedBySource counts the quarantined input not yet resolved, by source
// (sources with none are absent).
func (l *Ledger) UnresolvedBySource(ctx context.Context) (map[string]int64, error) {
	rows, err := l.pool.Query(ctx, `SELECT source, count(*) FROM quarantine WHERE resolved_at IS NULL GROUP BY source`)
	if err != nil {
		return nil, fmt.Errorf("quarantine by source: %w", err)
	}
	out := map[string]int64{}
	var source string
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&source, &n}, func() error {
		out[source] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("quarantine by source: %w", err)
	}
	return out, nil
}
