package ledger

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

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
