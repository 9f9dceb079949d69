package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
)

// Subsidy lowers what the billable groups at and below a group pay, per month and
// per resource ("*": a discount on every resource). The nearest group up the tree
// that sets a discount (or an allowance) for a resource decides it; a discount for
// the resource itself beats a "*" discount of the same group.
//
// Order on a statement (documented in docs/billing.md): first the free allowance
// covers that many base units of the month's own priced usage of the resource, the
// dearest lines first; then the discount takes its percentage off what is left of
// the resource's usage and late-usage lines. Each shows as its own line.
type Subsidy struct {
	ID              int64
	GroupID         int64
	Resource        string
	DiscountPercent *big.Rat
	FreeQuantity    *big.Int // base units per month
	ValidFrom       time.Time
	ValidTo         time.Time
	Note            string
}

// SetSubsidy records a subsidy from s.ValidFrom on (the first day of a month),
// ending the group's subsidy for the same resource that is in force then.
func (l *Ledger) SetSubsidy(ctx context.Context, actor string, s Subsidy) (int64, error) {
	var id int64
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		var err error
		id, err = setSubsidy(ctx, tx, actor, s)
		return err
	})
	return id, err
}

// setSubsidy is SetSubsidy inside tx.
func setSubsidy(ctx context.Context, tx pgx.Tx, actor string, s Subsidy) (int64, error) {
	if s.Resource == "" {
		s.Resource = Any
	}
	if s.DiscountPercent == nil {
		s.DiscountPercent = new(big.Rat)
	}
	if s.FreeQuantity == nil {
		s.FreeQuantity = new(big.Int)
	}
	if s.ValidTo.IsZero() {
		s.ValidTo = Forever
	}
	if s.ValidFrom.Day() != 1 {
		return 0, fmt.Errorf("set subsidy: it must start on the first day of a month, not %s", s.ValidFrom.Format(time.DateOnly))
	}
	if s.DiscountPercent.Sign() < 0 || s.DiscountPercent.Cmp(big.NewRat(100, 1)) > 0 || !hasDecimals(s.DiscountPercent, MaxPercentDecimals) {
		return 0, fmt.Errorf("set subsidy: the discount %s%% is not a percentage from 0 to 100 with at most %d decimals",
			ratString(s.DiscountPercent), MaxPercentDecimals)
	}
	if s.FreeQuantity.Sign() < 0 {
		return 0, errors.New("set subsidy: the free allowance must be zero or more")
	}
	if s.Resource != Any {
		// The allowance is written in the priced unit and bounded there.
		_, per := PricedUnit(s.Resource)
		if err := checkQuantity(new(big.Rat).SetFrac(s.FreeQuantity, per), "free allowance"); err != nil {
			return 0, fmt.Errorf("set subsidy: %w", err)
		}
	}
	var id int64
	err := func() error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, billingLockKey); err != nil {
			return err
		}
		// The same subsidy again is kept; one with the same start is replaced.
		err := tx.QueryRow(ctx, `
			SELECT id FROM subsidies WHERE group_id = $1 AND resource = $2 AND valid_from = $3
			  AND discount_percent = $4::numeric AND free_quantity = $5::numeric AND valid_to = $6 AND note = $7`,
			s.GroupID, s.Resource, dateArg(s.ValidFrom), ratString(s.DiscountPercent), s.FreeQuantity.String(),
			dateArg(s.ValidTo), s.Note).Scan(&id)
		if err == nil {
			return nil
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := lockOpenFrom(ctx, tx, s.ValidFrom); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM subsidies WHERE group_id = $1 AND resource = $2 AND valid_from = $3`,
			s.GroupID, s.Resource, dateArg(s.ValidFrom)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			UPDATE subsidies SET valid_to = $3
			WHERE group_id = $1 AND resource = $2 AND valid_from < $3 AND valid_to > $3`,
			s.GroupID, s.Resource, dateArg(s.ValidFrom)); err != nil {
			return err
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO subsidies (group_id, resource, discount_percent, free_quantity, valid_from, valid_to, note)
			VALUES ($1, $2, $3::numeric, $4::numeric, $5, $6, $7) RETURNING id`,
			s.GroupID, s.Resource, ratString(s.DiscountPercent), s.FreeQuantity.String(),
			dateArg(s.ValidFrom), dateArg(s.ValidTo), s.Note).Scan(&id)
		if err != nil {
			return refused(err, "")
		}
		return audit(ctx, tx, actor, "create", "subsidy", fmt.Sprint(id), nil, map[string]any{
			"group_id": s.GroupID, "resource": s.Resource, "discount_percent": ratString(s.DiscountPercent),
			"free_quantity": s.FreeQuantity.String(), "valid_from": dateArg(s.ValidFrom), "note": s.Note})
	}()
	if err != nil {
		return 0, fmt.Errorf("set subsidy for group %d (%s): %w", s.GroupID, s.Resource, err)
	}
	return id, nil
}

type subsidyRow struct {
	groupID  int64
	resource string
	discount *big.Rat
	free     *big.Int
}

func loadSubsidies(ctx context.Context, tx pgx.Tx, month time.Time) ([]subsidyRow, error) {
	rows, err := tx.Query(ctx, `
		SELECT group_id, resource, discount_percent::text, free_quantity::text FROM subsidies
		WHERE valid_from <= $1 AND valid_to > $1`, month)
	if err != nil {
		return nil, fmt.Errorf("read subsidies: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (subsidyRow, error) {
		var s subsidyRow
		var d, f string
		if err := r.Scan(&s.groupID, &s.resource, &d, &f); err != nil {
			return s, err
		}
		s.discount = parseRat(d)
		fr := parseRat(f)
		s.free = new(big.Int).Quo(fr.Num(), fr.Denom())
		return s, nil
	})
}

// nearestSubsidy finds the rule that decides resource's allowance (allowance true)
// or discount for the statement of group id: the nearest group at or above it with
// one, where a rule for the resource beats a "*" rule of the same group.
func nearestSubsidy(t *billingTree, id int64, rows []subsidyRow, resource string, allowance bool) *subsidyRule {
	for g := id; g != 0; g = t.groups[g].ParentID {
		var star *subsidyRule
		for _, s := range rows {
			if s.groupID != g {
				continue
			}
			if allowance {
				if s.resource == resource && s.free.Sign() > 0 {
					return &subsidyRule{discount: s.discount, free: s.free}
				}
				continue
			}
			if s.discount.Sign() <= 0 {
				continue
			}
			if s.resource == resource {
				return &subsidyRule{discount: s.discount, free: s.free}
			}
			if s.resource == Any {
				star = &subsidyRule{discount: s.discount, free: new(big.Int)}
			}
		}
		if star != nil {
			return star
		}
		if t.groups[g] == nil {
			break
		}
	}
	return nil
}

// subsidy is the discount and allowance a statement applies to a resource.
type subsidyRule struct {
	discount *big.Rat // percent
	free     *big.Int // base units per month
}
