package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// This file holds the small reads and writes that syncing the group tree from a
// source (e.g. Slurm's associations) needs beyond the rest of the ledger's API.

// CreateUserIfMissing returns the user with that login, creating it if there is none.
// Unlike UpsertUser it never changes an existing user: a sync knows logins, not the
// names and e-mail addresses admins may have filled in. A user it creates is marked
// auto-created, as ingest marks the users it meets, and its creation is audited.
func (l *Ledger) CreateUserIfMissing(ctx context.Context, actor, login string) (u User, created bool, err error) {
	if login == "" {
		return User{}, false, errors.New("create user: empty login")
	}
	err = pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO users (login, auto_created) VALUES ($1, true)
			ON CONFLICT (login) DO NOTHING
			RETURNING id, login, display_name, email`, login).
			Scan(&u.ID, &u.Login, &u.DisplayName, &u.Email)
		if errors.Is(err, pgx.ErrNoRows) {
			return tx.QueryRow(ctx, `SELECT id, login, display_name, email FROM users WHERE login = $1`, login).
				Scan(&u.ID, &u.Login, &u.DisplayName, &u.Email)
		}
		if err != nil {
			return err
		}
		created = true
		return audit(ctx, tx, actor, "create", "user", login, nil, u)
	})
	if err != nil {
		return User{}, false, fmt.Errorf("create user %q: %w", login, err)
	}
	return u, created, nil
}

// ResolveUserNames finds the users that a source's user names stand for, the way
// ingest resolves them: a user mapping of the kind for the scope, else one for scope
// "*", else the user whose login is the name. Names that resolve to no user are not
// in the result.
func (l *Ledger) ResolveUserNames(ctx context.Context, kind, scope string, names []string) (map[string]int64, error) {
	out := make(map[string]int64, len(names))
	if len(names) == 0 {
		return out, nil
	}
	rows, err := l.pool.Query(ctx, `
		SELECT n.name, coalesce(
		         (SELECT user_id FROM user_mappings WHERE kind = $1 AND scope = $2 AND identity = n.name),
		         (SELECT user_id FROM user_mappings WHERE kind = $1 AND scope = '*' AND identity = n.name),
		         (SELECT id FROM users WHERE login = n.name))
		FROM unnest($3::text[]) AS n(name)`, kind, scope, names)
	if err != nil {
		return nil, fmt.Errorf("resolve %s user names: %w", kind, err)
	}
	var name string
	var id *int64
	_, err = pgx.ForEachRow(rows, []any{&name, &id}, func() error {
		if id != nil {
			out[name] = *id
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("resolve %s user names: %w", kind, err)
	}
	return out, nil
}

// MemberEntry is a membership row with its user's login.
type MemberEntry struct {
	Membership
	Login string
}

// MembershipsForSync lists the memberships a sync compares with its source: every
// membership (of any role, origin and time) in the groups groupIDs, and every
// membership of the given origin wherever it is. From and To are zero for an open
// start or end, and otherwise midnight UTC of their date.
func (l *Ledger) MembershipsForSync(ctx context.Context, origin string, groupIDs []int64) ([]MemberEntry, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT m.user_id, m.group_id, m.role, nullif(m.valid_from, '-infinity'), nullif(m.valid_to, 'infinity'),
		       m.origin, u.login
		FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.group_id = ANY($1) OR m.origin = $2
		ORDER BY m.group_id, u.login, m.role, m.valid_from`, groupIDs, origin)
	if err != nil {
		return nil, fmt.Errorf("list memberships of origin %s: %w", origin, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (MemberEntry, error) {
		var e MemberEntry
		var from, to *time.Time
		err := r.Scan(&e.UserID, &e.GroupID, &e.Role, &from, &to, &e.Origin, &e.Login)
		if from != nil {
			e.From = *from
		}
		if to != nil {
			e.To = *to
		}
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list memberships of origin %s: %w", origin, err)
	}
	return out, nil
}

// EndMembership ends the membership row m names — by user, group, role, start and
// origin ("" meaning "manual"), so a sync can never end a row another origin made —
// on day: it is then valid up to, not including, day. A row that starts on day or
// later had no part before it and is removed instead. Both are audited. A row that
// does not exist, or has ended by day already, is ErrNotFound.
func (l *Ledger) EndMembership(ctx context.Context, actor string, m Membership, day time.Time) error {
	if m.Origin == "" {
		m.Origin = "manual"
	}
	from := any("-infinity")
	if !m.From.IsZero() {
		from = m.From.Format(time.DateOnly)
	}
	on := day.Format(time.DateOnly)
	id := fmt.Sprintf("%d/%d/%s", m.UserID, m.GroupID, m.Role)
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		var startsLater bool
		err := tx.QueryRow(ctx, `
			SELECT valid_from >= $5::date FROM memberships
			WHERE user_id = $1 AND group_id = $2 AND role = $3 AND valid_from = $4::date
			  AND origin = $6 AND valid_to > $5::date
			FOR UPDATE`, m.UserID, m.GroupID, m.Role, from, on, m.Origin).Scan(&startsLater)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		key := []any{m.UserID, m.GroupID, m.Role, from}
		if startsLater {
			if _, err := tx.Exec(ctx, `
				DELETE FROM memberships WHERE user_id = $1 AND group_id = $2 AND role = $3 AND valid_from = $4::date`,
				key...); err != nil {
				return err
			}
			return audit(ctx, tx, actor, "delete", "membership", id, m, nil)
		}
		if _, err := tx.Exec(ctx, `
			UPDATE memberships SET valid_to = $5::date
			WHERE user_id = $1 AND group_id = $2 AND role = $3 AND valid_from = $4::date`,
			append(key, on)...); err != nil {
			return err
		}
		after := m
		after.To = dateOnly(day)
		return audit(ctx, tx, actor, "end", "membership", id, m, after)
	})
	if err != nil {
		return fmt.Errorf("end membership of user %d in group %d on %s: %w", m.UserID, m.GroupID, on, err)
	}
	return nil
}

// GroupsCreatedBy lists the ids of the existing groups whose creation the audit log
// records as done by actor. An actor recorded as "ACTOR (WHO)" — a process acting for
// someone — counts as ACTOR. Since the entry is written in the transaction that creates
// the group, this is a reliable record of who made a group, for as long as it exists.
func (l *Ledger) GroupsCreatedBy(ctx context.Context, actor string) ([]int64, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT DISTINCT g.id
		FROM audit_log a JOIN groups g ON g.id::text = a.after->>'ID'
		WHERE a.object_kind = 'group' AND a.action = 'create'
		  AND (a.actor = $1 OR starts_with(a.actor, $1 || ' ('))
		ORDER BY g.id`, actor)
	if err != nil {
		return nil, fmt.Errorf("groups created by %s: %w", actor, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("groups created by %s: %w", actor, err)
	}
	return ids, nil
}

// dateOnly is midnight UTC of t's date (in t's own location).
func dateOnly(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
