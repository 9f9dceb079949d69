package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Prices changes rates, subsidies and budgets inside one transaction: see
// ChangePrices. Its methods do what the Ledger's methods of the same names do.
type Prices struct {
	tx    pgx.Tx
	actor string
}

// ChangePrices runs fn with a Prices whose changes all happen in one transaction:
// if fn returns an error (or any change is refused), none of them happens — no
// rate, subsidy, budget or audit entry is left behind. A price list file is applied
// this way, so that it is all or nothing (docs/billing.md).
func (l *Ledger) ChangePrices(ctx context.Context, actor string, fn func(p *Prices) error) error {
	return pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		// The billing lock first, for the whole list: rating and closing wait for
		// it rather than see half of it.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, billingLockKey); err != nil {
			return fmt.Errorf("take the billing lock: %w", err)
		}
		return fn(&Prices{tx: tx, actor: actor})
	})
}

// GroupID is the id of the group with slug, or ErrNotFound.
func (p *Prices) GroupID(ctx context.Context, slug string) (int64, error) {
	var id int64
	err := p.tx.QueryRow(ctx, `SELECT id FROM groups WHERE slug = $1`, slug).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("group %q: %w", slug, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("group %q: %w", slug, err)
	}
	return id, nil
}

// SetRate is Ledger.SetRate within the transaction.
func (p *Prices) SetRate(ctx context.Context, r Rate) (Rate, bool, error) {
	return setRate(ctx, p.tx, p.actor, r)
}

// SetSubsidy is Ledger.SetSubsidy within the transaction.
func (p *Prices) SetSubsidy(ctx context.Context, s Subsidy) (int64, error) {
	return setSubsidy(ctx, p.tx, p.actor, s)
}

// SetBudget is Ledger.SetBudget within the transaction.
func (p *Prices) SetBudget(ctx context.Context, b Budget) (int64, error) {
	return setBudget(ctx, p.tx, p.actor, b)
}
