package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is a person as the sources know them: a Unix/Slurm login.
type User struct {
	ID          int64
	Login       string
	DisplayName string
	Email       string
}

// Membership roles in a group.
const (
	RolePI      = "pi"
	RoleManager = "manager"
	RoleMember  = "member"
	RoleViewer  = "viewer"
)

// Global roles, across all groups.
const (
	RoleAdmin   = "admin"
	RoleFinance = "finance"
)

// UpsertUser creates a user or updates the name and e-mail of the user with that
// login, and audits the change.
func (l *Ledger) UpsertUser(ctx context.Context, actor string, u User) (User, error) {
	if u.Login == "" {
		return User{}, fmt.Errorf("upsert user: %w: empty login", ErrInvalid)
	}
	if err := checkNames(nameCheck{"login", u.Login, MaxLoginLen}, nameCheck{"display name", u.DisplayName, MaxDisplayNameLen},
		nameCheck{"email address", u.Email, MaxEmailLen}); err != nil {
		return User{}, fmt.Errorf("upsert user: %w", err)
	}
	var out User
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			INSERT INTO users (login, display_name, email) VALUES ($1, $2, $3)
			ON CONFLICT (login) DO UPDATE SET display_name = excluded.display_name, email = excluded.email,
			                                  auto_created = false
			RETURNING id, login, display_name, email`, u.Login, u.DisplayName, u.Email).
			Scan(&out.ID, &out.Login, &out.DisplayName, &out.Email)
		if err != nil {
			return err
		}
		return audit(ctx, tx, actor, "upsert", "user", u.Login, nil, out)
	})
	if err != nil {
		return User{}, fmt.Errorf("upsert user %q: %w", u.Login, err)
	}
	return out, nil
}

// UserByLogin returns the user with that login, or ErrNotFound.
func (l *Ledger) UserByLogin(ctx context.Context, login string) (User, error) {
	var u User
	err := l.pool.QueryRow(ctx, `SELECT id, login, display_name, email FROM users WHERE login = $1`, login).
		Scan(&u.ID, &u.Login, &u.DisplayName, &u.Email)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("user %q: %w", login, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", login, err)
	}
	return u, nil
}

// Membership is a user's role in a group over [From, To).
type Membership struct {
	UserID  int64
	GroupID int64
	Role    string
	From    time.Time // zero: since always
	To      time.Time // zero: open-ended
	Origin  string    // "manual", or the source that synced it (e.g. "slurm:cluster")
}

// AddMembership grants a role in a group and audits it. Adding the same membership
// again changes nothing.
func (l *Ledger) AddMembership(ctx context.Context, actor string, m Membership) error {
	if m.Origin == "" {
		m.Origin = "manual"
	}
	date := func(t time.Time, fallback string) any {
		if t.IsZero() {
			return fallback
		}
		return t.Format(time.DateOnly)
	}
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			INSERT INTO memberships (user_id, group_id, role, valid_from, valid_to, origin)
			VALUES ($1, $2, $3, $4::date, $5::date, $6)
			ON CONFLICT (user_id, group_id, role, valid_from) DO NOTHING`,
			m.UserID, m.GroupID, m.Role, date(m.From, "-infinity"), date(m.To, "infinity"), m.Origin)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		return audit(ctx, tx, actor, "add", "membership", fmt.Sprintf("%d/%d/%s", m.UserID, m.GroupID, m.Role), nil, m)
	})
	if err != nil {
		return fmt.Errorf("add membership of user %d in group %d: %w", m.UserID, m.GroupID, err)
	}
	return nil
}

// GrantGlobalRole gives a user the admin or finance role and audits it.
func (l *Ledger) GrantGlobalRole(ctx context.Context, actor string, userID int64, role string) error {
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO global_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING`, userID, role)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		return audit(ctx, tx, actor, "grant", "global_role", fmt.Sprintf("%d/%s", userID, role), nil, map[string]any{"user_id": userID, "role": role})
	})
	if err != nil {
		return fmt.Errorf("grant %s to user %d: %w", role, userID, err)
	}
	return nil
}

// RevokeGlobalRole takes the admin or finance role away from a user and audits it.
// A user who does not hold the role is ErrNotFound.
func (l *Ledger) RevokeGlobalRole(ctx context.Context, actor string, userID int64, role string) error {
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM global_roles WHERE user_id = $1 AND role = $2`, userID, role)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("user %d does not hold the %s role: %w", userID, role, ErrNotFound)
		}
		return audit(ctx, tx, actor, "revoke", "global_role", fmt.Sprintf("%d/%s", userID, role),
			map[string]any{"user_id": userID, "role": role}, nil)
	})
	if err != nil {
		return fmt.Errorf("revoke %s from user %d: %w", role, userID, err)
	}
	return nil
}
