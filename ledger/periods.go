package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// A billing period is a calendar month in the site's time zone. The ledger keys
// periods by the UTC date of the month's first day (periods.month is a date). This
// file places periods on the site's clock, says which are still open (prices and
// subsidies change only there), and closes them: only once ended, in order, and
// for good.

// now is the ledger's clock: Options.Now, or the wall clock.
func (l *Ledger) now() time.Time {
	if l.clock != nil {
		return l.clock()
	}
	return time.Now()
}

// monthKey is the period key of month: the first day of its month, as a UTC date.
func monthKey(month time.Time) time.Time {
	return time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// CurrentMonth is the period running now in the site's time zone.
func (l *Ledger) CurrentMonth() time.Time {
	return monthKey(l.now().In(l.loc))
}

// PeriodEnd is the instant month ends in the site's time zone: the first moment it
// can be closed.
func (l *Ledger) PeriodEnd(month time.Time) time.Time {
	return time.Date(month.Year(), month.Month()+1, 1, 0, 0, 0, 0, l.loc)
}

// checkEnded refuses a month that has not ended in the site's time zone: its usage is
// still coming in, so a final statement for it would be wrong the next minute.
func (l *Ledger) checkEnded(month time.Time) error {
	end := l.PeriodEnd(month)
	if now := l.now(); now.Before(end) {
		when := end.Format("Mon 2 January 2006 15:04 MST")
		if zone := l.loc.String(); zone != end.Format("MST") {
			when += " (" + zone + ")" // "CET (Europe/Berlin)", not "UTC (UTC)"
		}
		return fmt.Errorf("%w: %s has not ended yet; it can be closed from %s", ErrConflict, month.Format("2006-01"), when)
	}
	return nil
}

// firstUsageMonth is the earliest month the ledger holds usage for, or the zero
// time when it holds none. Usage lives in one partition per site-local month that
// holds usage, so the first partition's name answers without reading a row.
func firstUsageMonth(ctx context.Context, q queryer) (time.Time, error) {
	var name *string
	err := q.QueryRow(ctx, `
		SELECT min(c.relname)
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'usage'::regclass`).Scan(&name)
	if err != nil {
		return time.Time{}, fmt.Errorf("find the first month with usage: %w", err)
	}
	if name == nil {
		return time.Time{}, nil
	}
	var y, m int
	if _, err := fmt.Sscanf(*name, "usage_y%04dm%02d", &y, &m); err != nil {
		return time.Time{}, fmt.Errorf("usage partition %q is not named by its month: %w", *name, err)
	}
	return time.Date(y, time.Month(m), 1, 0, 0, 0, 0, time.UTC), nil
}

// checkDraftable refuses a draft statement for a month the ledger cannot have one
// for: a month that has not started, or one before its first usage (an empty
// statement there would look like a real bill of zero).
func (l *Ledger) checkDraftable(ctx context.Context, q queryer, month time.Time) error {
	current := l.CurrentMonth()
	if month.After(current) {
		return fmt.Errorf("%w: %s has not started (the current period is %s)", ErrNotFound,
			month.Format("2006-01"), current.Format("2006-01"))
	}
	first, err := firstUsageMonth(ctx, q)
	if err != nil {
		return err
	}
	if month.Equal(current) || (!first.IsZero() && !month.Before(first)) {
		return nil
	}
	if first.IsZero() {
		return fmt.Errorf("%w: the ledger holds no usage yet, so %s has no statements", ErrNotFound, month.Format("2006-01"))
	}
	return fmt.Errorf("%w: %s is before the ledger's first usage (%s)", ErrNotFound,
		month.Format("2006-01"), first.Format("2006-01"))
}

// Close closes a period: it rates what is left (late usage of earlier months
// included), writes a final statement for every billable group and freezes the
// period — from then on the database refuses any change to its charges,
// adjustments and statements. Periods close in order: month must be the first open
// one, and it must have ended in the site's time zone (Options.Now is the clock).
// Closing a closed period again changes nothing and returns its statements.
func (l *Ledger) Close(ctx context.Context, actor string, month time.Time) ([]Statement, Reconciliation, error) {
	month = monthKey(month)
	if err := l.checkEnded(month); err != nil {
		return nil, Reconciliation{}, fmt.Errorf("close %s: %w", month.Format("2006-01"), err)
	}
	var sts []Statement
	var rec Reconciliation
	already := false
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1), pg_advisory_xact_lock($2)`, billingLockKey, lockKey); err != nil {
			return err
		}
		var err error
		if already, err = closeOrder(ctx, tx, month); err != nil || already {
			return err
		}
		if _, err := l.rateInTx(ctx, tx, month); err != nil {
			return err
		}
		sts, rec, err = l.buildStatements(ctx, tx, month, "final")
		if err != nil {
			return err
		}
		for _, st := range sts {
			if err := insertStatement(ctx, tx, month, st); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE periods SET closed_at = now(), closed_by = $2 WHERE month = $1`, month, actor); err != nil {
			return err
		}
		// Every month up to this one is now charged in full.
		if _, err := tx.Exec(ctx, `DELETE FROM usage_changed_months WHERE month <= $1`, month); err != nil {
			return err
		}
		return audit(ctx, tx, actor, "close", "period", month.Format("2006-01"), nil, map[string]any{
			"statements": len(sts), "total_minor": rec.StatementsMinor, "currency": l.currency})
	})
	if err != nil {
		return nil, Reconciliation{}, fmt.Errorf("close %s: %w", month.Format("2006-01"), err)
	}
	if already {
		sts, rec, err = l.Statements(ctx, month)
		return sts, rec, err
	}
	return sts, rec, nil
}

// CheckClosable says, without waiting for any lock, whether Close(month) would
// close it now: already is true for a closed month (closing it again is a no-op);
// an error (wrapping ErrConflict) says why it cannot close — not ended yet, or an
// earlier month is still open. The web app asks before it starts a closing job, so
// a mistake is answered at once; Close checks again under its locks.
func (l *Ledger) CheckClosable(ctx context.Context, month time.Time) (already bool, err error) {
	month = monthKey(month)
	if err := l.checkEnded(month); err != nil {
		return false, err
	}
	return closeOrder(ctx, l.pool, month)
}

// closeOrder checks that month is the next period to close: closed already (a
// no-op), or the first open month — periods close in order, so late usage has one
// place to go.
func closeOrder(ctx context.Context, q queryer, month time.Time) (already bool, err error) {
	var closedAt *time.Time
	err = q.QueryRow(ctx, `SELECT closed_at FROM periods WHERE month = $1`, month).Scan(&closedAt)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, err
	}
	if closedAt != nil {
		return true, nil
	}
	first, err := firstOpenMonth(ctx, q)
	if err != nil {
		return false, err
	}
	if first.IsZero() {
		// Nothing closed yet: the first open month is the first with usage.
		var day *time.Time
		if err := q.QueryRow(ctx, `SELECT min(day) FROM rollup_daily`).Scan(&day); err != nil {
			return false, err
		}
		if day != nil {
			first = monthKey(*day)
		}
	}
	if !first.IsZero() && month.After(first) {
		return false, fmt.Errorf("%w: close %s first (periods close in order, so late usage has one place to go)",
			ErrConflict, first.Format("2006-01"))
	}
	if !first.IsZero() && month.Before(first) {
		return false, fmt.Errorf("%w: %s is before the first month with usage (%s)", ErrConflict,
			month.Format("2006-01"), first.Format("2006-01"))
	}
	return false, nil
}

// PeriodClosed reports whether month's period is closed.
func (l *Ledger) PeriodClosed(ctx context.Context, month time.Time) (bool, error) {
	var closed bool
	err := l.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM periods WHERE month = $1 AND closed_at IS NOT NULL)`,
		time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)).Scan(&closed)
	if err != nil {
		return false, fmt.Errorf("is %s closed: %w", month.Format("2006-01"), err)
	}
	return closed, nil
}

// Period is a billing month and its state.
type Period struct {
	Month    time.Time
	RatedAt  *time.Time
	ClosedAt *time.Time
	ClosedBy string
}

// Periods lists the periods that have been rated or closed, newest first.
func (l *Ledger) Periods(ctx context.Context) ([]Period, error) {
	rows, err := l.pool.Query(ctx, `SELECT month, rated_at, closed_at, coalesce(closed_by, '') FROM periods ORDER BY month DESC`)
	if err != nil {
		return nil, fmt.Errorf("list periods: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Period, error) {
		var p Period
		err := r.Scan(&p.Month, &p.RatedAt, &p.ClosedAt, &p.ClosedBy)
		return p, err
	})
}

// FirstOpenMonth is the first month that is not closed: the month after the last
// closed one, or the zero time when none is closed (every month is open).
func (l *Ledger) FirstOpenMonth(ctx context.Context) (time.Time, error) {
	return firstOpenMonth(ctx, l.pool)
}

// queryer is the pool or a transaction: what reading one row needs.
type queryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// lockOpenFrom takes the billing lock (ordering a change of prices against rating
// and closing) and fails unless day lies in an open period: a closed month's
// prices are what its statements say, for good.
func lockOpenFrom(ctx context.Context, tx pgx.Tx, day time.Time) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, billingLockKey); err != nil {
		return err
	}
	open, err := firstOpenMonth(ctx, tx)
	if err != nil {
		return err
	}
	if day.Before(open) {
		return fmt.Errorf("%w: %s is in a closed period (the first open day is %s)",
			ErrConflict, day.Format(time.DateOnly), open.Format(time.DateOnly))
	}
	return nil
}

func firstOpenMonth(ctx context.Context, q queryer) (time.Time, error) {
	var last *time.Time
	if err := q.QueryRow(ctx, `SELECT max(month) FROM periods WHERE closed_at IS NOT NULL`).Scan(&last); err != nil {
		return time.Time{}, fmt.Errorf("find the first open period: %w", err)
	}
	if last == nil {
		return time.Time{}, nil
	}
	return last.AddDate(0, 1, 0), nil
}

// Billed is what a closed month billed: how many final statements, and their
// total in minor units.
type Billed struct {
	Statements int
	TotalMinor int64
}

// BilledByMonth sums the final statements of each closed month, keyed by the
// month as "2006-01".
func (l *Ledger) BilledByMonth(ctx context.Context) (map[string]Billed, error) {
	rows, err := l.pool.Query(ctx, `SELECT to_char(period, 'YYYY-MM'), count(*), sum(total_minor) FROM statements GROUP BY period`)
	if err != nil {
		return nil, fmt.Errorf("billed by month: %w", err)
	}
	out := map[string]Billed{}
	var month string
	var b Billed
	_, err = pgx.ForEachRow(rows, []any{&month, &b.Statements, &b.TotalMinor}, func() error {
		out[month] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("billed by month: %w", err)
	}
	return out, nil
}

// LastRated is when the open months were last rated; ok is false when none has
// been.
func (l *Ledger) LastRated(ctx context.Context) (at time.Time, ok bool, err error) {
	var rated *time.Time
	if err := l.pool.QueryRow(ctx, `SELECT max(rated_at) FROM periods WHERE closed_at IS NULL`).Scan(&rated); err != nil {
		return time.Time{}, false, fmt.Errorf("last rated: %w", err)
	}
	if rated == nil {
		return time.Time{}, false, nil
	}
	return *rated, true, nil
}
