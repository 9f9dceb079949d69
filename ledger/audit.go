package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// audit records an administrative change in the same transaction as the change, so
// there is never a change without its entry (or an entry without its change).
func audit(ctx context.Context, tx pgx.Tx, actor, action, kind, id string, before, after any) error {
	enc := func(v any) ([]byte, error) {
		if v == nil {
			return nil, nil
		}
		return json.Marshal(v)
	}
	b, err := enc(before)
	if err != nil {
		return fmt.Errorf("audit %s %s: %w", action, kind, err)
	}
	a, err := enc(after)
	if err != nil {
		return fmt.Errorf("audit %s %s: %w", action, kind, err)
	}
	if actor == "" {
		actor = "system"
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO audit_log (actor, action, object_kind, object_id, before, after)
		VALUES ($1, $2, $3, $4, $5, $6)`, actor, action, kind, id, b, a)
	if err != nil {
		return fmt.Errorf("audit %s %s: %w", action, kind, err)
	}
	return nil
}

// AuditEntry is one administrative change.
type AuditEntry struct {
	At         time.Time
	Actor      string
	Action     string
	ObjectKind string
	ObjectID   string
	Before     json.RawMessage
	After      json.RawMessage
}

// AuditLog returns the most recent entries, newest first.
func (l *Ledger) AuditLog(ctx context.Context, limit int) ([]AuditEntry, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT at, actor, action, object_kind, object_id, before, after
		FROM audit_log ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		err := r.Scan(&e.At, &e.Actor, &e.Action, &e.ObjectKind, &e.ObjectID, &e.Before, &e.After)
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	return entries, nil
}
