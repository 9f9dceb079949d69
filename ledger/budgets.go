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
	Projected *big.Rat  // Spent with the usage's run-rate since From carried on to To
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
// spent so far in its period, projected to the period's end, and remaining.
//
// Money spent by a billable group is what its statements of the period's months so
// far bill (the drafts' totals for open months, the final ones for closed months):
// the same money as the dashboard's walk, with its subsidies, late usage and
// adjustments, and without the descendants billed on statements of their own. For a
// group that is not billable it is its whole subtree's rated usage on the days so
// far plus the adjustments of the subtree's billable groups.
//
// The projection carries on the usage's run-rate (the months' own usage so far ÷
// the time elapsed) to the period's end; subsidies, late usage and adjustments are
// one-off amounts and count once, as they stand. A quantity is read from the daily
// rollups and projected at its run-rate.
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
		// run is what runs at a rate (usage); once is what does not.
		var run, once *big.Rat
		if b.Resource == "" {
			s.Unit = l.currency
			run, once, err = l.moneyParts(ctx, groupID, s.From, s.To, at)
		} else {
			s.Unit, _ = PricedUnit(b.Resource)
			run, err = l.quantitySpent(ctx, groupID, b.Resource, s.From, at)
			once = new(big.Rat)
		}
		if err != nil {
			return nil, err
		}
		s.Spent = new(big.Rat).Add(run, once)
		s.Projected = project(run, once, at.Sub(s.From), s.To.Sub(s.From))
		s.Remaining = new(big.Rat).Sub(b.Amount, s.Spent)
		out = append(out, s)
	}
	return out, nil
}

// project carries run on at its rate over elapsed to the whole span and adds once.
// Before the span starts or after it ends, there is nothing to carry on.
func project(run, once *big.Rat, elapsed, span time.Duration) *big.Rat {
	p := new(big.Rat).Set(run)
	if e, t := int64(elapsed.Seconds()), int64(span.Seconds()); e > 0 && e < t {
		p.Mul(run, new(big.Rat).SetFrac64(t, e))
	}
	return p.Add(p, once)
}

// moneyParts is what groupID spent in the budget period [from, to) up to at, split
// into the usage that runs at a rate and the one-off amounts (see BudgetStatuses).
func (l *Ledger) moneyParts(ctx context.Context, groupID int64, from, to, at time.Time) (run, once *big.Rat, err error) {
	var billable bool
	if err := l.pool.QueryRow(ctx, `SELECT billable FROM groups WHERE id = $1`, groupID).Scan(&billable); err != nil {
		return nil, nil, fmt.Errorf("read group %d: %w", groupID, err)
	}
	if !billable {
		return l.moneySpentParts(ctx, groupID, from, to)
	}
	run, once = new(big.Rat), new(big.Rat)
	scale := new(big.Rat).SetInt(pow10(l.minorDigits))
	last := monthKey(at)
	if end := monthKey(to.Add(-time.Second)); end.Before(last) {
		last = end
	}
	err = pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		for m := monthKey(from); !m.After(last); m = m.AddDate(0, 1, 0) {
			st, final, err := l.groupStatementInTx(ctx, tx, groupID, m)
			if err != nil {
				return err
			}
			w := walkOf(st, final)
			run.Add(run, new(big.Rat).Quo(new(big.Rat).SetInt64(w.UsageMinor), scale))
			rest := st.TotalMinor - w.UsageMinor // subsidies, late usage, adjustments
			once.Add(once, new(big.Rat).Quo(new(big.Rat).SetInt64(rest), scale))
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("money billed to group %d: %w", groupID, err)
	}
	return run, once, nil
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
	usage, adjust, err := l.moneySpentParts(ctx, groupID, from, to)
	if err != nil {
		return nil, err
	}
	return usage.Add(usage, adjust), nil
}

// moneySpentParts is MoneySpent as its usage and its adjustments.
func (l *Ledger) moneySpentParts(ctx context.Context, groupID int64, from, to time.Time) (usage, adjust *big.Rat, err error) {
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
		return nil, nil, fmt.Errorf("money spent by group %d: %w", groupID, err)
	}
	defer rows.Close()
	usage, adjust = new(big.Rat), new(big.Rat)
	for rows.Next() {
		var resource string
		var sum *string
		if err := rows.Scan(&resource, &sum); err != nil {
			return nil, nil, fmt.Errorf("money spent by group %d: %w", groupID, err)
		}
		if sum == nil {
			continue
		}
		v := parseRat(*sum)
		if resource == "" { // adjustments, in minor units
			adjust.Add(adjust, v.Quo(v, new(big.Rat).SetInt(pow10(l.minorDigits))))
			continue
		}
		_, per := PricedUnit(resource)
		usage.Add(usage, v.Quo(v, new(big.Rat).SetInt(per)))
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("money spent by group %d: %w", groupID, err)
	}
	return usage, adjust, nil
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
