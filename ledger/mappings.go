package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Mapping kinds: the namespaces source identities live in.
const (
	KindSlurm     = "slurm"      // scope: cluster; identity: account
	KindUnixGroup = "unix-group" // scope: host or "*"; identity: group name or gid
	KindK8s       = "k8s"        // scope: cluster; identity: namespace
	KindStorage   = "storage"    // scope: file system; identity: path or project
	KindAPI       = "api"        // scope: as the API caller says
)

// Mapping ties a source identity to a group.
type Mapping struct {
	Kind     string
	Scope    string // cluster, host, file system, or "*" for all
	Identity string
	GroupID  int64
}

// SetGroupMapping maps a source identity to a group (replacing an earlier mapping of
// the same identity) and moves the unassigned usage of that identity into the group,
// with its rollups, in the same transaction. Usage already attributed to a group
// stays where it is: changing a mapping changes attribution from now on, and
// re-attributing history is a separate, deliberate act. It returns how many usage
// rows (day parts) moved.
func (l *Ledger) SetGroupMapping(ctx context.Context, actor string, m Mapping) (moved int64, err error) {
	sources := sourcesOfKind(m.Kind)
	if len(sources) == 0 {
		return 0, fmt.Errorf("set mapping: unknown kind %q", m.Kind)
	}
	if m.Scope == "" || m.Identity == "" {
		return 0, fmt.Errorf("set mapping: scope and identity are required")
	}
	err = pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
			return err
		}
		var before *Mapping
		var old Mapping
		err := tx.QueryRow(ctx, `
			SELECT kind, scope, identity, group_id FROM group_mappings
			WHERE kind = $1 AND scope = $2 AND identity = $3`, m.Kind, m.Scope, m.Identity).
			Scan(&old.Kind, &old.Scope, &old.Identity, &old.GroupID)
		switch {
		case err == nil:
			before = &old
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO group_mappings (kind, scope, identity, group_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT (kind, scope, identity) DO UPDATE SET group_id = excluded.group_id`,
			m.Kind, m.Scope, m.Identity, m.GroupID); err != nil {
			return err
		}
		// A "*" mapping claims unassigned usage only on clusters without a mapping of
		// their own for the identity (that one would have claimed it). The count
		// comes first, under the same lock, because the statement's own count is of
		// the rollup rows it touches.
		if err := tx.QueryRow(ctx, `
			SELECT count(*) FROM usage u
			WHERE u.group_id IS NULL AND u.source = ANY($1) AND u.account = $3
			  AND (u.cluster = $2 OR ($2 = '*' AND NOT EXISTS (
			        SELECT 1 FROM group_mappings m
			        WHERE m.kind = $4 AND m.scope = u.cluster AND m.identity = $3)))`,
			sources, m.Scope, m.Identity, m.Kind).Scan(&moved); err != nil {
			return fmt.Errorf("count unassigned usage: %w", err)
		}
		_, err = tx.Exec(ctx, `
			WITH moved AS (
				UPDATE usage u SET group_id = $4
				WHERE u.group_id IS NULL AND u.source = ANY($1) AND u.account = $3
				  AND (u.cluster = $2 OR ($2 = '*' AND NOT EXISTS (
				        SELECT 1 FROM group_mappings m
				        WHERE m.kind = $5 AND m.scope = u.cluster AND m.identity = $3)))
				RETURNING u.*
			), changed AS (
				SELECT m.day, NULL::bigint AS group_id, m.user_id, m.source, m.cluster, m.resource, m.partition,
				       m.quantity, m.allocated, m.used, m.start_time, m.record_start, -1 AS sign
				FROM moved m
				UNION ALL
				SELECT m.day, $4::bigint, m.user_id, m.source, m.cluster, m.resource, m.partition,
				       m.quantity, m.allocated, m.used, m.start_time, m.record_start, 1
				FROM moved m
			)`+rollupDelta,
			sources, m.Scope, m.Identity, m.GroupID, m.Kind)
		if err != nil {
			return fmt.Errorf("move unassigned usage: %w", err)
		}
		return audit(ctx, tx, actor, "set", "group_mapping", m.Kind+"/"+m.Scope+"/"+m.Identity, before, m)
	})
	if err != nil {
		return 0, fmt.Errorf("map %s %s/%s to group %d: %w", m.Kind, m.Scope, m.Identity, m.GroupID, err)
	}
	return moved, nil
}

// SetUserMapping maps a source user name (e.g. JupyterHub's "jupyter-alice") to a
// user. It applies to usage ingested from now on.
func (l *Ledger) SetUserMapping(ctx context.Context, actor, kind, scope, identity string, userID int64) error {
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `
			INSERT INTO user_mappings (kind, scope, identity, user_id) VALUES ($1, $2, $3, $4)
			ON CONFLICT (kind, scope, identity) DO UPDATE SET user_id = excluded.user_id`,
			kind, scope, identity, userID); err != nil {
			return err
		}
		return audit(ctx, tx, actor, "set", "user_mapping", kind+"/"+scope+"/"+identity, nil,
			map[string]any{"kind": kind, "scope": scope, "identity": identity, "user_id": userID})
	})
	if err != nil {
		return fmt.Errorf("map user %s %s/%s: %w", kind, scope, identity, err)
	}
	return nil
}

// Mappings lists the group mappings.
func (l *Ledger) Mappings(ctx context.Context) ([]Mapping, error) {
	rows, err := l.pool.Query(ctx, `SELECT kind, scope, identity, group_id FROM group_mappings ORDER BY kind, scope, identity`)
	if err != nil {
		return nil, fmt.Errorf("list mappings: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Mapping, error) {
		var m Mapping
		err := r.Scan(&m.Kind, &m.Scope, &m.Identity, &m.GroupID)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("list mappings: %w", err)
	}
	return out, nil
}

// UnmappedAccount is an account (Slurm account, Unix group, namespace…) whose
// usage belongs to no group: nobody has mapped it yet.
type UnmappedAccount struct {
	Source  string
	Cluster string
	Account string
	Rows    int64     // usage rows without a group
	Since   time.Time // the first day with such usage
}

// UnmappedAccounts lists up to limit accounts with usage that belongs to no
// group, those with the most rows first.
func (l *Ledger) UnmappedAccounts(ctx context.Context, limit int) ([]UnmappedAccount, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT source, cluster, account, count(*), min(day) FROM usage WHERE group_id IS NULL
		GROUP BY 1, 2, 3 ORDER BY count(*) DESC, 1, 2, 3 LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("unmapped accounts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UnmappedAccount, error) {
		var a UnmappedAccount
		err := r.Scan(&a.Source, &a.Cluster, &a.Account, &a.Rows, &a.Since)
		return a, err
	})
	if err != nil {
		return nil, fmt.Errorf("unmapped accounts: %w", err)
	}
	return out, nil
}
