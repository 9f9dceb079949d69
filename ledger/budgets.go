package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
)

// Budget spans.
const (
	SpanMonth      = "month"
	SpanFiscalYear = "fiscal_year"
)

// Budget is what a group (with its whole subtree) means to spend per month or per
// fiscal year: money (Resource "") in the site's currency, or a quantity of a
// resource in its priced unit (e.g. 5,000 GPU-hours).
type Budget struct {
	ID        int64
	GroupID   int64
	Span      string
	Resource  string
	Amount    *big.Rat
	ValidFrom time.Time
	ValidTo   time.Time
	Note      string
}

// SetBudget records a budget from b.ValidFrom on, ending the group's budget of the
// same span and resource that is in force then.
func (l *Ledger) SetBudget(ctx context.Context, actor string, b Budget) (int64, error) {
	var id int64
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		var err error
		id, err = setBudget(ctx, tx, actor, b)
		return err
	})
	return id, err
}

// setBudget is SetBudget inside tx.
func setBudget(ctx context.Context, tx pgx.Tx, actor string, b Budget) (int64, error) {
	if b.Span != SpanMonth && b.Span != SpanFiscalYear {
		return 0, fmt.Errorf("set budget: span must be %q or %q", SpanMonth, SpanFiscalYear)
	}
	if err := checkQuantity(b.Amount, "amount"); err != nil {
		return 0, fmt.Errorf("set budget: %w", err)
	}
	if b.Resource != "" {
		if _, ok := resourceUnits[b.Resource]; !ok {
			return 0, fmt.Errorf("set budget: unknown resource %q", b.Resource)
		}
	}
	if b.ValidTo.IsZero() {
		b.ValidTo = Forever
	}
	var resource any
	if b.Resource != "" {
		resource = b.Resource
	}
	var id int64
	err := func() error {
		// The same budget again is kept; one with the same start is replaced.
		err := tx.QueryRow(ctx, `
			SELECT id FROM budgets WHERE group_id = $1 AND span = $2 AND resource IS NOT DISTINCT FROM $3
			  AND valid_from = $4 AND amount = $5::numeric AND valid_to = $6 AND note = $7`,
			b.GroupID, b.Span, resource, dateArg(b.ValidFrom), ratString(b.Amount), dateArg(b.ValidTo), b.Note).Scan(&id)
		if err == nil {
			return nil
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM budgets WHERE group_id = $1 AND span = $2 AND resource IS NOT DISTINCT FROM $3 AND valid_from = $4`,
			b.GroupID, b.Span, resource, dateArg(b.ValidFrom)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			UPDATE budgets SET valid_to = $4
			WHERE group_id = $1 AND span = $2 AND resource IS NOT DISTINCT FROM $3 AND valid_from < $4 AND valid_to > $4`,
			b.GroupID, b.Span, resource, dateArg(b.ValidFrom)); err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO budgets (group_id, span, resource, amount, valid_from, valid_to, note)
			VALUES ($1, $2, $3, $4::numeric, $5, $6, $7) RETURNING id`,
			b.GroupID, b.Span, resource, ratString(b.Amount), dateArg(b.ValidFrom), dateArg(b.ValidTo), b.Note).Scan(&id)
		if err != nil {
			return refused(err, "another budget overlaps")
		}
		return audit(ctx, tx, actor, "create", "budget", fmt.Sprint(id), nil, map[string]any{
			"group_id": b.GroupID, "span": b.Span, "resource": b.Resource, "amount": ratString(b.Amount),
			"valid_from": dateArg(b.ValidFrom), "valid_to": dateArg(b.ValidTo), "note": b.Note})
	}()
	if err != nil {
		return 0, fmt.Errorf("set budget for group %d: %w", b.GroupID, err)
	}
	return id, nil
}

// BudgetStatus is where a group stands against one of its budgets at a moment.
type BudgetStatus struct {
	Budget
	From, To  time.Time // the budget period (a month or fiscal year), site-local
	Spent     *big.Rat  // money in currency, or quantity in the priced unit
	Projected *big.Rat  // Spent extrapolated to To at the burn rate since From
	Remaining *big.Rat  // Amount − Spent
	Unit      string    // the currency code, or the priced unit
}

// FractionUsed is Spent / Amount (0 when the budget is 0).
func (s BudgetStatus) FractionUsed() float64 {
	if s.Amount.Sign() == 0 {
		return 0
	}
	f, _ := new(big.Rat).Quo(s.Spent, s.Amount).Float64()
	return f
}

// BudgetStatuses answers, for each budget of the group in force at the moment at:
// spent so far in its period (the whole subtree counted), projected to the period's
// end at the burn rate so far, and remaining. Money spent is the rated charges of
// the months so far (as of their last rating) plus manual adjustments; a quantity is
// read from the daily rollups.
func (l *Ledger) BudgetStatuses(ctx context.Context, groupID int64, at time.Time) ([]BudgetStatus, error) {
	at = at.In(l.loc)
	day := time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC)
	rows, err := l.pool.Query(ctx, `
		SELECT id, group_id, span, coalesce(resource, ''), amount::text, valid_from::text, valid_to::text, note
		FROM budgets WHERE group_id = $1 AND valid_from <= $2 AND valid_to > $2
		ORDER BY span, resource NULLS FIRST`, groupID, day)
	if err != nil {
		return nil, fmt.Errorf("read budgets of group %d: %w", groupID, err)
	}
	budgets, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Budget, error) {
		var b Budget
		var amount, from, to string
		if err := r.Scan(&b.ID, &b.GroupID, &b.Span, &b.Resource, &amount, &from, &to, &b.Note); err != nil {
			return b, err
		}
		b.Amount = parseRat(amount)
		var err error
		if b.ValidFrom, err = dateFromDB(from); err != nil {
			return b, err
		}
		b.ValidTo, err = dateFromDB(to)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("read budgets of group %d: %w", groupID, err)
	}
	var out []BudgetStatus
	for _, b := range budgets {
		s := BudgetStatus{Budget: b}
		s.From, s.To = l.budgetWindow(b.Span, at)
		if b.Resource == "" {
			s.Unit = l.currency
			s.Spent, err = l.MoneySpent(ctx, groupID, s.From, s.To)
		} else {
			s.Unit, _ = PricedUnit(b.Resource)
			s.Spent, err = l.quantitySpent(ctx, groupID, b.Resource, s.From, at)
		}
		if err != nil {
			return nil, err
		}
		elapsed := at.Sub(s.From).Seconds()
		total := s.To.Sub(s.From).Seconds()
		s.Projected = new(big.Rat).Set(s.Spent)
		if elapsed > 0 && elapsed < total {
			s.Projected.Mul(s.Spent, new(big.Rat).SetFrac64(int64(total), int64(elapsed)))
		}
		s.Remaining = new(big.Rat).Sub(b.Amount, s.Spent)
		out = append(out, s)
	}
	return out, nil
}

// budgetWindow is the month or fiscal year around at, site-local.
func (l *Ledger) budgetWindow(span string, at time.Time) (time.Time, time.Time) {
	if span == SpanMonth {
		from := time.Date(at.Year(), at.Month(), 1, 0, 0, 0, 0, l.loc)
		return from, from.AddDate(0, 1, 0)
	}
	y := at.Year()
	if at.Month() < l.fiscalStart {
		y--
	}
	from := time.Date(y, l.fiscalStart, 1, 0, 0, 0, 0, l.loc)
	return from, from.AddDate(1, 0, 0)
}

// MoneySpent is what the group's subtree's usage on the days in [from, to) costs
// (late usage counts on the day it ran, like the dashboards) plus the manual
// adjustments of the periods in the window, in currency.
func (l *Ledger) MoneySpent(ctx context.Context, groupID int64, from, to time.Time) (*big.Rat, error) {
	pf := time.Date(from.Year(), from.Month(), 1, 0, 0, 0, 0, time.UTC)
	pt := time.Date(to.Year(), to.Month(), 1, 0, 0, 0, 0, time.UTC)
	rows, err := l.pool.Query(ctx, `
		WITH sub AS (SELECT id FROM groups WHERE path <@ (SELECT path FROM groups WHERE id = $1))
		SELECT c.resource, sum(c.value)::text FROM charges c
		WHERE c.group_id IN (SELECT id FROM sub) AND c.day >= $4 AND c.day < $5
		GROUP BY c.resource
		UNION ALL
		SELECT '', sum(a.amount_minor)::text FROM adjustments a
		WHERE a.group_id IN (SELECT id FROM sub) AND a.period >= $2 AND a.period < $3`, groupID, pf, pt,
		from.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("money spent by group %d: %w", groupID, err)
	}
	total := new(big.Rat)
	for rows.Next() {
		var resource string
		var sum *string
		if err := rows.Scan(&resource, &sum); err != nil {
			rows.Close()
			return nil, err
		}
		if sum == nil {
			continue
		}
		v := parseRat(*sum)
		if resource == "" { // adjustments, in minor units
			v.Quo(v, new(big.Rat).SetInt(pow10(l.minorDigits)))
		} else {
			_, per := PricedUnit(resource)
			v.Quo(v, new(big.Rat).SetInt(per))
		}
		total.Add(total, v)
	}
	return total, rows.Err()
}

// quantitySpent is the group's subtree's usage of resource from the site-local day
// of from to the day of at (inclusive), in the priced unit.
func (l *Ledger) quantitySpent(ctx context.Context, groupID int64, resource string, from, at time.Time) (*big.Rat, error) {
	var sum *string
	err := l.pool.QueryRow(ctx, `
		SELECT sum(quantity)::text FROM rollup_daily
		WHERE group_id IN (SELECT id FROM groups WHERE path <@ (SELECT path FROM groups WHERE id = $1))
		  AND resource = $2 AND day >= $3 AND day <= $4`,
		groupID, resource, from.Format(time.DateOnly), at.Format(time.DateOnly)).Scan(&sum)
	if err != nil {
		return nil, fmt.Errorf("%s used by group %d: %w", resource, groupID, err)
	}
	v := new(big.Rat)
	if sum != nil {
		v = parseRat(*sum)
	}
	_, per := PricedUnit(resource)
	return v.Quo(v, new(big.Rat).SetInt(per)), nil
}

// BudgetListing is a budget with its group named.
type BudgetListing struct {
	Budget
	GroupSlug string
	GroupName string
}

// BudgetsFrom lists the budgets in force on day or starting later (ValidTo Forever:
// open-ended), by group (parents first), span, resource (money first) and start.
func (l *Ledger) BudgetsFrom(ctx context.Context, day time.Time) ([]BudgetListing, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT b.id, b.group_id, g.slug, g.name, b.span, coalesce(b.resource, ''), b.amount::text,
		       b.valid_from::text, b.valid_to::text, b.note
		FROM budgets b JOIN groups g ON g.id = b.group_id
		WHERE b.valid_to > $1::date
		ORDER BY g.path, b.span, b.resource NULLS FIRST, b.valid_from`, day.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("list budgets: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BudgetListing, error) {
		var b BudgetListing
		var amount, from, to string
		if err := r.Scan(&b.ID, &b.GroupID, &b.GroupSlug, &b.GroupName, &b.Span, &b.Resource, &amount, &from, &to, &b.Note); err != nil {
			return b, err
		}
		b.Amount = parseRat(amount)
		var err error
		if b.ValidFrom, err = dateFromDB(from); err != nil {
			return b, err
		}
		b.ValidTo, err = dateFromDB(to)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("list budgets: %w", err)
	}
	return out, nil
}
