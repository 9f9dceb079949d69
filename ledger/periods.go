package ledger

import (
	"context"
	"fmt"
	"time"
)

// A billing period is a calendar month in the site's time zone. The ledger keys
// periods by the UTC date of the month's first day (periods.month is a date); these
// helpers place that month on the site's clock.

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
		return fmt.Errorf("%w: %s has not ended yet; it can be closed from %s (%s)", ErrConflict,
			month.Format("2006-01"), end.Format("Mon 2 January 2006 15:04 MST"), l.loc)
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
