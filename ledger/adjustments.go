package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
)

// Adjustment is a manual credit (negative) or debit on a group's statement.
type Adjustment struct {
	ID          int64
	Period      time.Time
	GroupID     int64
	AmountMinor int64
	Reason      string
	CreatedBy   string
	CreatedAt   time.Time
}

type adjustmentRow struct {
	amountMinor int64
	reason      string
}

// AddAdjustment puts a manual credit or debit on a billable group's statement of an
// open period. The period's row is created if it has not been rated yet.
func (l *Ledger) AddAdjustment(ctx context.Context, actor string, a Adjustment) (int64, error) {
	month := time.Date(a.Period.Year(), a.Period.Month(), 1, 0, 0, 0, 0, time.UTC)
	if a.AmountMinor == 0 || a.Reason == "" {
		return 0, fmt.Errorf("add adjustment: an amount other than zero and a reason are required")
	}
	if _, err := checkedMinor(big.NewInt(a.AmountMinor), l.minorDigits, "the adjustment"); err != nil {
		return 0, fmt.Errorf("add adjustment to group %d in %s: %w", a.GroupID, month.Format("2006-01"), err)
	}
	var id int64
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, billingLockKey); err != nil {
			return err
		}
		var billable bool
		if err := tx.QueryRow(ctx, `SELECT billable FROM groups WHERE id = $1`, a.GroupID).Scan(&billable); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("group %d: %w", a.GroupID, ErrNotFound)
			}
			return err
		}
		if !billable {
			return fmt.Errorf("%w: group %d is not billable, so it has no statement", ErrConflict, a.GroupID)
		}
		var closed bool
		if err := tx.QueryRow(ctx, `
			INSERT INTO periods (month) VALUES ($1) ON CONFLICT (month) DO UPDATE SET month = excluded.month
			RETURNING closed_at IS NOT NULL`, month).Scan(&closed); err != nil {
			return err
		}
		if closed {
			return fmt.Errorf("%w: period %s is closed; adjust the next open one", ErrConflict, month.Format("2006-01"))
		}
		// The group's adjustments of the period together are one figure on its
		// statement, bounded like any other (the billing lock holds them still).
		var sum string
		if err := tx.QueryRow(ctx, `SELECT coalesce(sum(amount_minor), 0)::text FROM adjustments WHERE period = $1 AND group_id = $2`,
			month, a.GroupID).Scan(&sum); err != nil {
			return err
		}
		total, ok := new(big.Int).SetString(sum, 10)
		if !ok {
			return fmt.Errorf("read the adjustments so far: %q is not an integer", sum)
		}
		total.Add(total, big.NewInt(a.AmountMinor))
		if _, err := checkedMinor(total, l.minorDigits, "the group's adjustments of "+month.Format("2006-01")+" with this one"); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `
			INSERT INTO adjustments (period, group_id, amount_minor, reason, created_by)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, month, a.GroupID, a.AmountMinor, a.Reason, actor).Scan(&id); err != nil {
			return err
		}
		return audit(ctx, tx, actor, "create", "adjustment", fmt.Sprint(id), nil, map[string]any{
			"period": month.Format("2006-01"), "group_id": a.GroupID, "amount_minor": a.AmountMinor, "reason": a.Reason})
	})
	if err != nil {
		return 0, fmt.Errorf("add adjustment to group %d in %s: %w", a.GroupID, month.Format("2006-01"), err)
	}
	return id, nil
}

func loadAdjustments(ctx context.Context, tx pgx.Tx, month time.Time) (map[int64][]adjustmentRow, error) {
	rows, err := tx.Query(ctx, `SELECT group_id, amount_minor, reason FROM adjustments WHERE period = $1 ORDER BY id`, month)
	if err != nil {
		return nil, fmt.Errorf("read adjustments: %w", err)
	}
	out := map[int64][]adjustmentRow{}
	for rows.Next() {
		var g int64
		var a adjustmentRow
		if err := rows.Scan(&g, &a.amountMinor, &a.reason); err != nil {
			rows.Close()
			return nil, err
		}
		out[g] = append(out[g], a)
	}
	return out, rows.Err()
}

// HasAdjustments reports whether any group has an adjustment in the period that
// begins on month.
func (l *Ledger) HasAdjustments(ctx context.Context, month time.Time) (bool, error) {
	var any bool
	if err := l.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM adjustments WHERE period = $1)`, month).Scan(&any); err != nil {
		return false, fmt.Errorf("adjustments of %s: %w", month.Format("2006-01"), err)
	}
	return any, nil
}
