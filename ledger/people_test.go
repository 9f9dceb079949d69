package ledger_test

import (
	"errors"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Revoking a global role removes it, audits it, and revoking it again is ErrNotFound.
func TestRevokeGlobalRole(t *testing.T) {
	s := newSetup(t, "UTC")
	u, err := s.l.UpsertUser(s.ctx, "test", ledger.User{Login: "fin"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.l.GrantGlobalRole(s.ctx, "test", u.ID, ledger.RoleFinance); err != nil {
		t.Fatal(err)
	}
	if err := s.l.RevokeGlobalRole(s.ctx, "web:boss", u.ID, ledger.RoleFinance); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.pool.QueryRow(s.ctx, `SELECT count(*) FROM global_roles WHERE user_id = $1`, u.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the role is still held after revoking it")
	}
	log, err := s.l.AuditLog(s.ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 1 || log[0].Action != "revoke" || log[0].ObjectKind != "global_role" || log[0].Actor != "web:boss" {
		t.Errorf("audit log: %+v", log)
	}
	if err := s.l.RevokeGlobalRole(s.ctx, "web:boss", u.ID, ledger.RoleFinance); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("revoking a role not held: %v, want ErrNotFound", err)
	}
}

// A user's memberships come in force first, with "always" and "open-ended" as zero
// times; FindUsers matches login or name ignoring case, people with a global role
// first, and counts every match past the limit.
func TestUserMembershipsAndFindUsers(t *testing.T) {
	s := newSetup(t, "UTC")
	lab := group(t, s, 0, "lab", true)
	lab2 := group(t, s, 0, "lab2", true)
	user := func(login, name string) ledger.User {
		u, err := s.l.UpsertUser(s.ctx, "test", ledger.User{Login: login, DisplayName: name})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	zed, bob := user("zed", "Zed Admin"), user("bob", "Robert Boss")
	if err := s.l.GrantGlobalRole(s.ctx, "test", zed.ID, ledger.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	for _, m := range []ledger.Membership{
		{UserID: bob.ID, GroupID: lab.ID, Role: ledger.RolePI, From: day("2026-01-01"), To: day("2026-06-01")},
		{UserID: bob.ID, GroupID: lab2.ID, Role: ledger.RoleMember},
	} {
		if err := s.l.AddMembership(s.ctx, "test", m); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := s.l.UserMemberships(s.ctx, bob.ID, day("2026-10-01"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("memberships %+v", ms)
	}
	if m := ms[0]; m.GroupSlug != "lab2" || m.GroupName != "LAB2" || m.Role != ledger.RoleMember || !m.From.IsZero() || !m.To.IsZero() || !m.Current || m.Origin != "manual" {
		t.Errorf("current membership %+v", m)
	}
	if m := ms[1]; m.GroupSlug != "lab" || !m.From.Equal(day("2026-01-01")) || !m.To.Equal(day("2026-06-01")) || m.Current {
		t.Errorf("ended membership %+v", m)
	}
	roles, err := s.l.GlobalRoles(s.ctx, zed.ID)
	if err != nil || len(roles) != 1 || roles[0] != ledger.RoleAdmin {
		t.Errorf("zed's roles %v, %v", roles, err)
	}
	if u, err := s.l.UserByID(s.ctx, bob.ID); err != nil || u.Login != "bob" {
		t.Errorf("user by id: %+v, %v", u, err)
	}
	if _, err := s.l.UserByID(s.ctx, 999_999); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("no user: %v, want ErrNotFound", err)
	}

	all, total, err := s.l.FindUsers(s.ctx, "", day("2026-10-01"), 10)
	if err != nil || total != 2 || len(all) != 2 || all[0].Login != "zed" || all[0].Roles != "admin" {
		t.Fatalf("everyone: %+v, %d, %v", all, total, err)
	}
	if all[1].Memberships != "member of lab2" {
		t.Errorf("bob's memberships in October: %q", all[1].Memberships)
	}
	found, total, err := s.l.FindUsers(s.ctx, "BOSS", day("2026-03-01"), 10)
	if err != nil || total != 1 || len(found) != 1 || found[0].Login != "bob" || found[0].Memberships != "PI of lab, member of lab2" {
		t.Errorf("by name: %+v, %d, %v", found, total, err)
	}
	one, total, err := s.l.FindUsers(s.ctx, "", time.Now(), 1)
	if err != nil || total != 2 || len(one) != 1 {
		t.Errorf("limit 1: %+v, %d, %v", one, total, err)
	}

	demo, err := s.l.DemoUsers(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(demo) != 2 || demo[0] != (ledger.DemoUser{Login: "zed", DisplayName: "Zed Admin", Role: "Admin"}) || demo[1].Login != "bob" || demo[1].Role != "Member of LAB2" {
		t.Errorf("demo users %+v", demo)
	}
}

// UserNames is cached with the summaries, and a new name is a new generation: the
// next read names the person anew.
func TestUserNamesSeeARenameAtOnce(t *testing.T) {
	s := newSetup(t, "UTC")
	u, err := s.l.UpsertUser(s.ctx, "test", ledger.User{Login: "ada", DisplayName: "Ada L"})
	if err != nil {
		t.Fatal(err)
	}
	names, err := s.l.UserNames(s.ctx, []int64{u.ID})
	if err != nil || names[u.ID].DisplayName != "Ada L" {
		t.Fatalf("names %v, %v", names, err)
	}
	if _, err := s.l.UpsertUser(s.ctx, "test", ledger.User{Login: "ada", DisplayName: "Ada Lovelace"}); err != nil {
		t.Fatal(err)
	}
	names, err = s.l.UserNames(s.ctx, []int64{u.ID})
	if err != nil || names[u.ID].DisplayName != "Ada Lovelace" {
		t.Errorf("after the rename: %v, %v", names[u.ID], err)
	}
}
