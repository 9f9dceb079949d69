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
		// Pages cache people's names with the summaries (UserNames): a new name is
		// a new generation, so no page shows the old one.
		if _, err := tx.Exec(ctx, bumpSummaryGeneration); err != nil {
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

// UserByID returns the user with that id, or ErrNotFound.
func (l *Ledger) UserByID(ctx context.Context, id int64) (User, error) {
	var u User
	err := l.pool.QueryRow(ctx, `SELECT id, login, display_name, email FROM users WHERE id = $1`, id).
		Scan(&u.ID, &u.Login, &u.DisplayName, &u.Email)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("user %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("user %d: %w", id, err)
	}
	return u, nil
}

// GlobalRoles lists the user's global roles (RoleAdmin, RoleFinance), sorted.
func (l *Ledger) GlobalRoles(ctx context.Context, userID int64) ([]string, error) {
	rows, err := l.pool.Query(ctx, `SELECT role FROM global_roles WHERE user_id = $1 ORDER BY role`, userID)
	if err != nil {
		return nil, fmt.Errorf("global roles of user %d: %w", userID, err)
	}
	roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("global roles of user %d: %w", userID, err)
	}
	return roles, nil
}

// UserMembership is one of a user's memberships with its group named.
type UserMembership struct {
	GroupSlug string
	GroupName string
	Role      string
	From      time.Time // zero: since always
	To        time.Time // zero: open-ended
	Origin    string
	Current   bool // still in force on the day asked about (To after it)
}

// UserMemberships lists every membership the user has had, those in force on day
// first, then by group (parents first), role and start.
func (l *Ledger) UserMemberships(ctx context.Context, userID int64, day time.Time) ([]UserMembership, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT g.slug, g.name, m.role, nullif(m.valid_from, '-infinity'), nullif(m.valid_to, 'infinity'), m.origin, m.valid_to > $2::date
		FROM memberships m JOIN groups g ON g.id = m.group_id
		WHERE m.user_id = $1
		ORDER BY m.valid_to <= $2::date, g.path, m.role, m.valid_from`, userID, day.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("memberships of user %d: %w", userID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UserMembership, error) {
		var m UserMembership
		var from, to *time.Time
		if err := r.Scan(&m.GroupSlug, &m.GroupName, &m.Role, &from, &to, &m.Origin, &m.Current); err != nil {
			return m, err
		}
		if from != nil {
			m.From = *from
		}
		if to != nil {
			m.To = *to
		}
		return m, nil
	})
	if err != nil {
		return nil, fmt.Errorf("memberships of user %d: %w", userID, err)
	}
	return out, nil
}

// UserListing is a person as the users page lists them.
type UserListing struct {
	Login       string
	DisplayName string
	Email       string
	Roles       string // global roles, comma-separated
	Memberships string // e.g. "PI of zhou-lab, member of ramirez-lab"
}

// FindUsers lists up to limit people whose login or name contains q (ignoring
// case; everyone when q is empty), those with a global role first, then by login,
// with their memberships in force on day; and how many match in all.
func (l *Ledger) FindUsers(ctx context.Context, q string, day time.Time, limit int) ([]UserListing, int, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT u.login, u.display_name, u.email,
		       coalesce((SELECT string_agg(r.role, ', ' ORDER BY r.role) FROM global_roles r WHERE r.user_id = u.id), ''),
		       coalesce((SELECT string_agg(CASE m.role WHEN 'pi' THEN 'PI' ELSE m.role END || ' of ' || g.slug, ', ' ORDER BY g.path, m.role)
		                 FROM memberships m JOIN groups g ON g.id = m.group_id
		                 WHERE m.user_id = u.id AND m.valid_from <= $2::date AND m.valid_to > $2::date), ''),
		       count(*) OVER ()
		FROM users u
		WHERE $1 = '' OR strpos(lower(u.login), lower($1)) > 0 OR strpos(lower(u.display_name), lower($1)) > 0
		ORDER BY EXISTS (SELECT 1 FROM global_roles r WHERE r.user_id = u.id) DESC, u.login
		LIMIT $3`, q, day.Format(time.DateOnly), limit)
	if err != nil {
		return nil, 0, fmt.Errorf("find users: %w", err)
	}
	var out []UserListing
	var total int
	var u UserListing
	_, err = pgx.ForEachRow(rows, []any{&u.Login, &u.DisplayName, &u.Email, &u.Roles, &u.Memberships, &total}, func() error {
		out = append(out, u)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("find users: %w", err)
	}
	return out, total, nil
}

// DemoUser is a person the demo's sign-in page offers, with what they are.
type DemoUser struct {
	Login       string
	DisplayName string
	Role        string // e.g. "Admin", "Finance", "PI of Zhou Lab", "Member of Zhou Lab"
}

// DemoUsers offers one person of each kind to sign in as: the first admin, the
// first finance officer, the PIs of the first three labs and the first three lab
// members.
func (l *Ledger) DemoUsers(ctx context.Context) ([]DemoUser, error) {
	rows, err := l.pool.Query(ctx, `
		(SELECT u.login, u.display_name, 'Admin' FROM users u JOIN global_roles r ON r.user_id = u.id AND r.role = 'admin' ORDER BY u.login LIMIT 1)
		UNION ALL
		(SELECT u.login, u.display_name, 'Finance' FROM users u JOIN global_roles r ON r.user_id = u.id AND r.role = 'finance' ORDER BY u.login LIMIT 1)
		UNION ALL
		(SELECT u.login, u.display_name, 'PI of ' || g.name FROM users u JOIN groups g ON g.pi_user_id = u.id AND g.kind = 'lab'
		 ORDER BY g.path LIMIT 3)
		UNION ALL
		(SELECT u.login, u.display_name, 'Member of ' || g.name FROM memberships m JOIN users u ON u.id = m.user_id
		 JOIN groups g ON g.id = m.group_id WHERE m.role = 'member' AND g.kind = 'lab' ORDER BY g.path, u.login LIMIT 3)`)
	if err != nil {
		return nil, fmt.Errorf("demo users: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DemoUser, error) {
		var u DemoUser
		err := r.Scan(&u.Login, &u.DisplayName, &u.Role)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("demo users: %w", err)
	}
	return out, nil
}
