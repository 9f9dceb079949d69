package ledger

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Group is a node of the group tree: an institution, department, lab, project…
type Group struct {
	ID         int64
	ParentID   int64  // 0 for a top-level group
	Path       string // ids from the root, e.g. "1.7.42"
	Kind       string
	Slug       string
	Name       string
	PIUserID   int64 // 0 when none
	CostCentre string
	Billable   bool
	ArchivedAt *time.Time
}

// Depth is 1 for a top-level group.
func (g Group) Depth() int { return strings.Count(g.Path, ".") + 1 }

// NewGroup describes a group to create.
type NewGroup struct {
	ParentID   int64 // 0: a top-level group
	Kind       string
	Slug       string
	Name       string
	PIUserID   int64
	CostCentre string
	Billable   bool
}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// ValidSlug reports whether s can be a group slug: lower-case letters, digits and
// . _ - , starting with a letter or digit.
func ValidSlug(s string) bool { return slugRE.MatchString(s) }

const groupColumns = `id, coalesce(parent_id, 0), path::text, kind, slug, name, coalesce(pi_user_id, 0), cost_centre, billable, archived_at`

func scanGroup(row pgx.Row) (Group, error) {
	var g Group
	err := row.Scan(&g.ID, &g.ParentID, &g.Path, &g.Kind, &g.Slug, &g.Name, &g.PIUserID, &g.CostCentre, &g.Billable, &g.ArchivedAt)
	return g, err
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// CreateGroup adds a group under its parent (or at the top) and audits it.
func (l *Ledger) CreateGroup(ctx context.Context, actor string, n NewGroup) (Group, error) {
	if !ValidSlug(n.Slug) {
		return Group{}, fmt.Errorf("create group: invalid slug %q (use a-z, 0-9, . _ -)", n.Slug)
	}
	if n.Kind == "" || n.Name == "" {
		return Group{}, fmt.Errorf("create group %q: kind and name are required", n.Slug)
	}
	if err := checkNames(nameCheck{"slug", n.Slug, MaxSlugLen}, nameCheck{"kind", n.Kind, MaxKindLen},
		nameCheck{"name", n.Name, MaxGroupNameLen}, nameCheck{"cost centre", n.CostCentre, MaxCostCentreLen}); err != nil {
		return Group{}, fmt.Errorf("create group: %w", err)
	}
	var g Group
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		var err error
		// The id is drawn first so that the path, which ends in it, is written by the
		// same INSERT.
		g, err = scanGroup(tx.QueryRow(ctx, `
			WITH parent AS (SELECT path FROM groups WHERE id = $1),
			     next AS (SELECT nextval(pg_get_serial_sequence('groups', 'id')) AS id)
			INSERT INTO groups (id, parent_id, path, kind, slug, name, pi_user_id, cost_centre, billable)
			SELECT next.id, $1, CASE WHEN $1::bigint IS NULL THEN text2ltree(next.id::text)
			                         ELSE (SELECT path FROM parent) || next.id::text END,
			       $2, $3, $4, $5, $6, $7
			FROM next
			WHERE $1::bigint IS NULL OR EXISTS (SELECT 1 FROM parent)
			RETURNING `+groupColumns,
			nullID(n.ParentID), n.Kind, n.Slug, n.Name, nullID(n.PIUserID), n.CostCentre, n.Billable))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("parent group %d: %w", n.ParentID, ErrNotFound)
		}
		if isUniqueViolation(err) {
			return fmt.Errorf("slug %q is taken: %w", n.Slug, ErrConflict)
		}
		if err != nil {
			return err
		}
		return audit(ctx, tx, actor, "create", "group", g.Slug, nil, g)
	})
	if err != nil {
		return Group{}, fmt.Errorf("create group %q: %w", n.Slug, err)
	}
	return g, nil
}

// GroupBySlug returns the group with that slug, or ErrNotFound.
func (l *Ledger) GroupBySlug(ctx context.Context, slug string) (Group, error) {
	g, err := scanGroup(l.pool.QueryRow(ctx, `SELECT `+groupColumns+` FROM groups WHERE slug = $1`, slug))
	if errors.Is(err, pgx.ErrNoRows) {
		return Group{}, fmt.Errorf("group %q: %w", slug, ErrNotFound)
	}
	if err != nil {
		return Group{}, fmt.Errorf("group %q: %w", slug, err)
	}
	return g, nil
}

// GroupByID returns the group with that id, or ErrNotFound.
func (l *Ledger) GroupByID(ctx context.Context, id int64) (Group, error) {
	g, err := scanGroup(l.pool.QueryRow(ctx, `SELECT `+groupColumns+` FROM groups WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Group{}, fmt.Errorf("group %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Group{}, fmt.Errorf("group %d: %w", id, err)
	}
	return g, nil
}

// Groups lists every group, parents before children.
func (l *Ledger) Groups(ctx context.Context) ([]Group, error) {
	rows, err := l.pool.Query(ctx, `SELECT `+groupColumns+` FROM groups ORDER BY nlevel(path), path`)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	groups, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Group, error) { return scanGroup(r) })
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	return groups, nil
}

// Ancestors lists the group's ancestors and the group itself, from the top, in one
// query.
func (l *Ledger) Ancestors(ctx context.Context, g Group) ([]Group, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT `+groupColumns+` FROM groups WHERE path @> $1::ltree ORDER BY nlevel(path)`, g.Path)
	if err != nil {
		return nil, fmt.Errorf("ancestors of group %d: %w", g.ID, err)
	}
	groups, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Group, error) { return scanGroup(r) })
	if err != nil {
		return nil, fmt.Errorf("ancestors of group %d: %w", g.ID, err)
	}
	return groups, nil
}

// Subtree lists a group and all its descendants, parents before children.
func (l *Ledger) Subtree(ctx context.Context, id int64) ([]Group, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT `+groupColumns+` FROM groups
		WHERE path <@ (SELECT path FROM groups WHERE id = $1)
		ORDER BY nlevel(path), path`, id)
	if err != nil {
		return nil, fmt.Errorf("subtree of group %d: %w", id, err)
	}
	groups, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Group, error) { return scanGroup(r) })
	if err != nil {
		return nil, fmt.Errorf("subtree of group %d: %w", id, err)
	}
	return groups, nil
}

// MoveGroup puts a group (with its subtree) under newParentID, or at the top when it
// is 0. Usage and rollups are keyed by group id, so they move with the group and no
// total changes; only the paths of the subtree are rewritten.
func (l *Ledger) MoveGroup(ctx context.Context, actor string, id, newParentID int64) error {
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		before, err := scanGroup(tx.QueryRow(ctx, `SELECT `+groupColumns+` FROM groups WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("group %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		newPrefix := ""
		if newParentID != 0 {
			var parentPath string
			var inside bool
			err := tx.QueryRow(ctx, `SELECT path::text, path <@ $2::ltree FROM groups WHERE id = $1`, newParentID, before.Path).
				Scan(&parentPath, &inside)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("new parent %d: %w", newParentID, ErrNotFound)
			}
			if err != nil {
				return err
			}
			if inside {
				return fmt.Errorf("%w: cannot move group %s under its own subtree", ErrConflict, before.Slug)
			}
			newPrefix = parentPath
		}
		// Rewrite the subtree's paths: new parent's path, then the part from the moved
		// group down.
		if _, err := tx.Exec(ctx, `
			UPDATE groups SET path = CASE WHEN $2 = '' THEN subpath(path, nlevel($1::ltree) - 1)
			                              ELSE $2::ltree || subpath(path, nlevel($1::ltree) - 1) END
			WHERE path <@ $1::ltree`, before.Path, newPrefix); err != nil {
			return fmt.Errorf("rewrite paths: %w", err)
		}
		after, err := scanGroup(tx.QueryRow(ctx,
			`UPDATE groups SET parent_id = $2 WHERE id = $1 RETURNING `+groupColumns, id, nullID(newParentID)))
		if err != nil {
			return err
		}
		return audit(ctx, tx, actor, "move", "group", before.Slug, before, after)
	})
	if err != nil {
		return fmt.Errorf("move group %d: %w", id, err)
	}
	return nil
}

// ArchiveGroup marks a group archived (hidden from pickers, kept with its history).
func (l *Ledger) ArchiveGroup(ctx context.Context, actor string, id int64) error {
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		before, err := scanGroup(tx.QueryRow(ctx, `SELECT `+groupColumns+` FROM groups WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("group %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		after, err := scanGroup(tx.QueryRow(ctx,
			`UPDATE groups SET archived_at = coalesce(archived_at, now()) WHERE id = $1 RETURNING `+groupColumns, id))
		if err != nil {
			return err
		}
		return audit(ctx, tx, actor, "archive", "group", before.Slug, before, after)
	})
	if err != nil {
		return fmt.Errorf("archive group %d: %w", id, err)
	}
	return nil
}

// pathIDs splits a path into its group ids.
func pathIDs(path string) []int64 {
	var ids []int64
	for _, p := range strings.Split(path, ".") {
		if id, err := strconv.ParseInt(p, 10, 64); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// LeaderboardOpen reports whether the group shows its members the leaderboard of
// its users (groups.open_leaderboard), or ErrNotFound.
func (l *Ledger) LeaderboardOpen(ctx context.Context, groupID int64) (bool, error) {
	var open bool
	err := l.pool.QueryRow(ctx, `SELECT open_leaderboard FROM groups WHERE id = $1`, groupID).Scan(&open)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("group %d: %w", groupID, ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("group %d leaderboard: %w", groupID, err)
	}
	return open, nil
}

// Children lists the group's direct children (archived ones too), in no
// particular order.
func (l *Ledger) Children(ctx context.Context, groupID int64) ([]Group, error) {
	rows, err := l.pool.Query(ctx, `SELECT `+groupColumns+` FROM groups WHERE parent_id = $1`, groupID)
	if err != nil {
		return nil, fmt.Errorf("children of group %d: %w", groupID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Group, error) { return scanGroup(r) })
	if err != nil {
		return nil, fmt.Errorf("children of group %d: %w", groupID, err)
	}
	return out, nil
}
