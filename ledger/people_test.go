package ledger_test

import (
	"errors"
	"testing"

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
