package ledger

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
)

// Any is the selector value that matches every cluster, partition or QoS.
const Any = "*"

// Rate is a price per priced unit of a resource (per core-hour, GPU-hour, GB-hour,
// TB-month, billing-hour), effective on the site-local days [ValidFrom, ValidTo).
//
// Its selector says which usage it prices: Cluster, Partition and QoS ("*" for any)
// and GroupID (0 for every group, else that group's whole subtree). When several
// rates match a usage row, the most specific wins, compared in this order:
//
//  1. a rate for the row's QoS beats one for any QoS,
//  2. then a rate for its partition beats one for any partition,
//  3. then the rate of the deepest group wins (a lab's over its department's over
//     everyone's),
//  4. then a rate for its cluster beats one for any cluster.
//
// The kind of service (QoS, partition) comes first because it is what a price list
// is about: a cheaper scavenger QoS stays cheaper for a department that has its own
// override, and an override meant for one partition says so with a partition. A
// group's override comes before the cluster because sites price each cluster, and
// an override that lost to every cluster's list price would never apply; one meant
// for one cluster names it. Two rates with the same selector may not overlap in time
// (a database exclusion constraint), so the winner is always unique.
type Rate struct {
	ID        int64
	Resource  string
	Cluster   string
	Partition string
	QoS       string
	GroupID   int64
	GroupSlug string   // filled in by listings
	Price     *big.Rat // currency per priced unit
	ValidFrom time.Time
	ValidTo   time.Time // exclusive; Forever when open-ended
	Note      string
}

// Forever is the ValidTo of an open-ended rate, budget or subsidy (PostgreSQL's
// 'infinity' date).
var Forever = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// PricedUnit is the unit a resource's rates are quoted in and how many base units
// make one of it.
func PricedUnit(resource string) (name string, perUnit *big.Int) {
	switch resource {
	case ResourceCPU:
		return "core-hour", big.NewInt(secondsPerHour)
	case ResourceGPU:
		return "GPU-hour", big.NewInt(secondsPerHour)
	case ResourceMemory:
		return "GB-hour", big.NewInt(1e9 * secondsPerHour)
	case ResourceStorage:
		return "TB-month", new(big.Int).Mul(big.NewInt(1e12), big.NewInt(secondsPerMonth))
	case ResourceBilling:
		return "billing-hour", big.NewInt(secondsPerHour)
	}
	return resource, big.NewInt(1)
}

func (r Rate) selector() string {
	g := "all groups"
	if r.GroupID != 0 {
		g = fmt.Sprintf("group %d", r.GroupID)
		if r.GroupSlug != "" {
			g = "group " + r.GroupSlug
		}
	}
	return fmt.Sprintf("%s on cluster %s, partition %s, QoS %s, %s", r.Resource, r.Cluster, r.Partition, r.QoS, g)
}

func (r *Rate) normalise() {
	for _, s := range []*string{&r.Cluster, &r.Partition, &r.QoS} {
		if *s == "" {
			*s = Any
		}
	}
	if r.ValidTo.IsZero() {
		r.ValidTo = Forever
	}
}

// dateArg turns a day into a date parameter, with Forever as 'infinity'.
func dateArg(t time.Time) any {
	if !t.Before(Forever) {
		return "infinity"
	}
	return t.Format(time.DateOnly)
}

// dateFromDB reads a date column scanned as text ('infinity' → Forever).
func dateFromDB(s string) (time.Time, error) {
	switch s {
	case "infinity":
		return Forever, nil
	case "-infinity":
		return time.Time{}, nil
	}
	return time.Parse(time.DateOnly, s)
}

// SetRate makes r the price for its selector from r.ValidFrom on. A rate already
// in force for the same selector is ended the day before (a price change never edits
// a rate that has priced usage); one with the same start that has not priced
// anything yet is replaced. Setting the same price again changes nothing. Rates may
// not start inside a closed period: their months are billed. It returns the rate in
// force for the selector from ValidFrom on and whether anything changed.
func (l *Ledger) SetRate(ctx context.Context, actor string, r Rate) (Rate, bool, error) {
	var out Rate
	var changed bool
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		var err error
		out, changed, err = setRate(ctx, tx, actor, r)
		return err
	})
	return out, changed, err
}

// setRate is SetRate inside tx.
func setRate(ctx context.Context, tx pgx.Tx, actor string, r Rate) (Rate, bool, error) {
	r.normalise()
	if _, ok := resourceUnits[r.Resource]; !ok {
		return Rate{}, false, fmt.Errorf("set rate: unknown resource %q", r.Resource)
	}
	if err := CheckPrice(r.Price); err != nil {
		return Rate{}, false, fmt.Errorf("set rate for %s: %w", r.selector(), err)
	}
	if r.ValidFrom.IsZero() || !r.ValidFrom.Before(r.ValidTo) {
		return Rate{}, false, fmt.Errorf("set rate for %s: valid_from must be a day before valid_to", r.selector())
	}
	changed := false
	err := func() error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, billingLockKey); err != nil {
			return err
		}
		// The rates of this selector that overlap the new one's time.
		rows, err := tx.Query(ctx, `
			SELECT id, price::text, valid_from::text, valid_to::text, EXISTS (SELECT 1 FROM charges c WHERE c.rate_id = r.id)
			FROM rates r
			WHERE resource = $1 AND cluster = $2 AND partition = $3 AND qos = $4
			  AND coalesce(group_id, 0) = $5
			  AND daterange(valid_from, valid_to) && daterange($6::date, $7::date)
			ORDER BY valid_from`, r.Resource, r.Cluster, r.Partition, r.QoS, r.GroupID, dateArg(r.ValidFrom), dateArg(r.ValidTo))
		if err != nil {
			return err
		}
		type old struct {
			id       int64
			price    *big.Rat
			from, to time.Time
			used     bool
		}
		var olds []old
		defer rows.Close()
		for rows.Next() {
			var o old
			var price, from, to string
			if err := rows.Scan(&o.id, &price, &from, &to, &o.used); err != nil {
				return err
			}
			o.price = parseRat(price)
			if o.from, err = dateFromDB(from); err != nil {
				return err
			}
			if o.to, err = dateFromDB(to); err != nil {
				return err
			}
			olds = append(olds, o)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close() // before the statements below: one query at a time on a connection
		for _, o := range olds {
			if o.price.Cmp(r.Price) == 0 && !o.from.After(r.ValidFrom) && !o.to.Before(r.ValidTo) {
				// Already in force at this price for the whole span: nothing to do
				// (importing the same price list again is harmless, closed months or not).
				r.ID = o.id
				r.ValidFrom, r.ValidTo = o.from, o.to
				return nil
			}
		}
		if err := lockOpenFrom(ctx, tx, r.ValidFrom); err != nil {
			return err
		}
		for _, o := range olds {
			switch {
			case o.from.Before(r.ValidFrom):
				// End the old rate the day before the new one starts.
				if _, err := tx.Exec(ctx, `UPDATE rates SET valid_to = $2 WHERE id = $1`, o.id, dateArg(r.ValidFrom)); err != nil {
					return fmt.Errorf("end rate %d: %w", o.id, err)
				}
				if err := audit(ctx, tx, actor, "end", "rate", fmt.Sprint(o.id),
					map[string]any{"valid_to": dateArg(o.to)}, map[string]any{"valid_to": dateArg(r.ValidFrom)}); err != nil {
					return err
				}
			case o.used:
				return fmt.Errorf("%w: rate %d (%s from %s) has priced usage and cannot be replaced; start the new price after it",
					ErrConflict, o.id, r.selector(), o.from.Format(time.DateOnly))
			default:
				// An unused rate starting within the new one's span is superseded.
				if _, err := tx.Exec(ctx, `DELETE FROM rates WHERE id = $1`, o.id); err != nil {
					return fmt.Errorf("replace rate %d: %w", o.id, err)
				}
				if err := audit(ctx, tx, actor, "replace", "rate", fmt.Sprint(o.id), map[string]any{"price": o.price.FloatString(9)}, nil); err != nil {
					return err
				}
			}
		}
		err = tx.QueryRow(ctx, `
			INSERT INTO rates (resource, cluster, partition, qos, group_id, price, valid_from, valid_to, note)
			VALUES ($1, $2, $3, $4, $5, $6::numeric, $7, $8, $9) RETURNING id`,
			r.Resource, r.Cluster, r.Partition, r.QoS, nullID(r.GroupID), ratString(r.Price), dateArg(r.ValidFrom), dateArg(r.ValidTo), r.Note).Scan(&r.ID)
		if err != nil {
			return refused(err, fmt.Sprintf("another rate for %s overlaps %s..%s", r.selector(),
				r.ValidFrom.Format(time.DateOnly), dateArg(r.ValidTo)))
		}
		changed = true
		return audit(ctx, tx, actor, "create", "rate", fmt.Sprint(r.ID), nil, rateJSON(r))
	}()
	if err != nil {
		return Rate{}, false, fmt.Errorf("set rate for %s: %w", r.selector(), err)
	}
	return r, changed, nil
}

// EndRate ends a rate: it prices nothing from day on. A rate cannot end inside a
// closed period, nor before a day it has priced.
func (l *Ledger) EndRate(ctx context.Context, actor string, id int64, day time.Time) error {
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if err := lockOpenFrom(ctx, tx, day); err != nil {
			return err
		}
		var before string
		if err := tx.QueryRow(ctx, `SELECT valid_to::text FROM rates WHERE id = $1`, id).Scan(&before); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE rates SET valid_to = $2 WHERE id = $1`, id, dateArg(day)); err != nil {
			return err
		}
		return audit(ctx, tx, actor, "end", "rate", fmt.Sprint(id), map[string]any{"valid_to": before},
			map[string]any{"valid_to": dateArg(day)})
	})
	if err != nil {
		return fmt.Errorf("end rate %d: %w", id, err)
	}
	return nil
}

func rateJSON(r Rate) map[string]any {
	return map[string]any{
		"resource": r.Resource, "cluster": r.Cluster, "partition": r.Partition, "qos": r.QoS,
		"group_id": r.GroupID, "price": ratString(r.Price), "valid_from": dateArg(r.ValidFrom),
		"valid_to": dateArg(r.ValidTo), "note": r.Note,
	}
}

// Rates lists rates, most general first; with at non-zero only those in force on
// that day.
func (l *Ledger) Rates(ctx context.Context, at time.Time) ([]Rate, error) {
	var atArg any
	if !at.IsZero() {
		atArg = at.Format(time.DateOnly)
	}
	rows, err := l.pool.Query(ctx, `
		SELECT r.id, r.resource, r.cluster, r.partition, r.qos, coalesce(r.group_id, 0), coalesce(g.slug, ''),
		       r.price::text, r.valid_from::text, r.valid_to::text, r.note
		FROM rates r LEFT JOIN groups g ON g.id = r.group_id
		WHERE $1::date IS NULL OR ($1::date >= r.valid_from AND $1::date < r.valid_to)
		ORDER BY r.resource, coalesce(nlevel(g.path), 0), r.cluster <> '*', r.partition <> '*', r.qos <> '*',
		         r.cluster, r.partition, r.qos, g.slug, r.valid_from`, atArg)
	if err != nil {
		return nil, fmt.Errorf("list rates: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Rate, error) {
		var r Rate
		var price, from, to string
		if err := row.Scan(&r.ID, &r.Resource, &r.Cluster, &r.Partition, &r.QoS, &r.GroupID, &r.GroupSlug,
			&price, &from, &to, &r.Note); err != nil {
			return Rate{}, err
		}
		r.Price = parseRat(price)
		var err error
		if r.ValidFrom, err = dateFromDB(from); err != nil {
			return Rate{}, err
		}
		r.ValidTo, err = dateFromDB(to)
		return r, err
	})
}

// ratString writes a rational number as an exact decimal for PostgreSQL's numeric.
// Prices, percentages and quantities come from decimal text, so their denominators
// divide a power of ten; anything else is written with 30 decimals.
func ratString(r *big.Rat) string {
	if r == nil {
		return "0"
	}
	if d, ok := exactDecimals(r); ok {
		return r.FloatString(d)
	}
	return r.FloatString(30)
}

// exactDecimals says how many decimals write r exactly, if some number up to 60 does.
func exactDecimals(r *big.Rat) (int, bool) {
	den := new(big.Int).Set(r.Denom())
	twos, fives := 0, 0
	two, five := big.NewInt(2), big.NewInt(5)
	m := new(big.Int)
	for {
		q, rem := new(big.Int).QuoRem(den, two, m)
		if rem.Sign() != 0 {
			break
		}
		den, twos = q, twos+1
	}
	for {
		q, rem := new(big.Int).QuoRem(den, five, m)
		if rem.Sign() != 0 {
			break
		}
		den, fives = q, fives+1
	}
	if den.Cmp(big.NewInt(1)) != 0 {
		return 0, false
	}
	d := max(twos, fives)
	return d, d <= 60
}

// EstimateQuery asks what a job would cost a group at the rates in force on Day:
// quantities per resource in priced units (core-hours, GB-hours, GPU-hours).
type EstimateQuery struct {
	GroupID                 int64
	Cluster, Partition, QoS string
	Day                     time.Time
	Quantities              map[string]*big.Rat
}

// EstimateLine is one resource of an estimate.
type EstimateLine struct {
	Resource  string `json:"resource"`
	Quantity  string `json:"quantity"`
	Unit      string `json:"unit"`
	UnitPrice string `json:"unit_price,omitempty"` // empty: no rate applies (unpriced)
	Amount    string `json:"amount"`
}

// Estimate is a cost estimate.
type Estimate struct {
	Currency string         `json:"currency"`
	Lines    []EstimateLine `json:"lines"`
	Total    string         `json:"total"`
}

// Estimate prices quantities the way rating would: the most specific rate for the
// group, cluster, partition and QoS on the day (see Rate). A quantity, line or total
// beyond the documented maxima is refused with ErrTooLarge.
func (l *Ledger) Estimate(ctx context.Context, q EstimateQuery) (Estimate, error) {
	est := Estimate{Currency: l.currency}
	total := new(big.Rat)
	day := q.Day.In(l.loc).Format(time.DateOnly)
	for _, res := range Resources() {
		qty := q.Quantities[res]
		if qty == nil {
			continue
		}
		unit, _ := PricedUnit(res)
		if new(big.Rat).Abs(qty).Cmp(maxAmount) >= 0 { // MaxQuantityDigits = MaxAmountDigits
			return est, fmt.Errorf("estimate %s: %s %ss is %w: a quantity must be less than %s", res,
				DecimalString(qty, 0), unit, ErrTooLarge, limitText(MaxQuantityDigits))
		}
		var price *string
		err := l.pool.QueryRow(ctx, `
			SELECT r.price::text FROM rates r LEFT JOIN groups rg ON rg.id = r.group_id
			WHERE r.resource = $1 AND r.cluster IN ('*', $2) AND r.partition IN ('*', $3) AND r.qos IN ('*', $4)
			  AND (r.group_id IS NULL OR rg.path @> (SELECT path FROM groups WHERE id = $5))
			  AND $6::date >= r.valid_from AND $6::date < r.valid_to
			ORDER BY r.qos <> '*' DESC, r.partition <> '*' DESC, coalesce(nlevel(rg.path), 0) DESC, r.cluster <> '*' DESC
			LIMIT 1`, res, q.Cluster, q.Partition, q.QoS, q.GroupID, day).Scan(&price)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return est, fmt.Errorf("estimate %s: %w", res, err)
		}
		ln := EstimateLine{Resource: res, Quantity: DecimalString(qty, 4), Unit: unit, Amount: DecimalString(new(big.Rat), l.minorDigits)}
		if price != nil {
			p := parseRat(*price)
			amount := new(big.Rat).Mul(qty, p)
			if _, err := MinorUnits(amount, l.minorDigits, "the estimate of "+res); err != nil {
				return est, err
			}
			total.Add(total, amount)
			ln.UnitPrice, ln.Amount = ratString(p), DecimalString(amount, l.minorDigits)
		}
		est.Lines = append(est.Lines, ln)
	}
	if _, err := MinorUnits(total, l.minorDigits, "the estimate's total"); err != nil {
		return est, err
	}
	est.Total = DecimalString(total, l.minorDigits)
	return est, nil
}
