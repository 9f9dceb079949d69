package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Statement line kinds.
const (
	LineUsage      = "usage"      // the period's own usage, at its rate
	LineUnpriced   = "unpriced"   // usage no rate covers: shown with its quantity, amount 0
	LineLate       = "late"       // late or corrected usage of a closed month
	LineSubsidy    = "subsidy"    // free allowance or discount (negative)
	LineAdjustment = "adjustment" // finance's manual credit or debit
)

// Statement is what one billable group owes for one month: lines by resource ×
// cluster × rate, subsidies, late usage and adjustments, with subtotals per
// subgroup and per user. A draft is computed live for an open period; a final one
// is written when the period closes and never changes.
//
// Rounding (the one place money is rounded): each line's amount is its exact value
// rounded half away from zero to the currency's minor unit; the total is the sum of
// the rounded lines. Subtotals per subgroup and per user split the usage lines'
// rounded sum over the exact shares by largest remainder, so they add up to it too.
type Statement struct {
	Number       string     `json:"number"`
	Status       string     `json:"status"` // "draft" or "final"
	Period       string     `json:"period"` // "2026-10"
	Currency     string     `json:"currency"`
	MinorDigits  int        `json:"minor_digits"`
	GroupID      int64      `json:"group_id"`
	GroupSlug    string     `json:"group_slug"`
	GroupName    string     `json:"group_name"`
	GroupPath    string     `json:"group_path"` // slugs from the top, "medicine/genomics/smith-lab"
	CostCentre   string     `json:"cost_centre"`
	PI           string     `json:"pi"` // display name (login)
	PILogin      string     `json:"pi_login"`
	Lines        []Line     `json:"lines"`
	Subgroups    []Subtotal `json:"subgroups"`   // the group and every descendant it bills for, parents first
	Users        []Subtotal `json:"users"`       // by amount, largest first
	UsageMinor   int64      `json:"usage_minor"` // usage + late lines
	SubsidyMinor int64      `json:"subsidy_minor"`
	AdjustMinor  int64      `json:"adjustment_minor"`
	TotalMinor   int64      `json:"total_minor"`
	GeneratedAt  time.Time  `json:"generated_at"`
	ContentHash  string     `json:"content_hash"` // sha256 of the statement without this field
}

// Line is one statement line. Quantity is in the priced unit, written with six
// decimals (the amount is computed from the exact quantity).
type Line struct {
	Kind        string `json:"kind"`
	Description string `json:"description"`
	Resource    string `json:"resource,omitempty"`
	Cluster     string `json:"cluster,omitempty"`
	UsageMonth  string `json:"usage_month,omitempty"` // late usage: the month it belongs to
	Quantity    string `json:"quantity,omitempty"`
	Unit        string `json:"unit,omitempty"`
	UnitPrice   string `json:"unit_price,omitempty"`
	AmountMinor int64  `json:"amount_minor"`
}

// Subtotal is a subgroup's or a user's share of the usage lines.
type Subtotal struct {
	ID          int64  `json:"id"`
	ParentID    int64  `json:"parent_id,omitempty"`
	Depth       int    `json:"depth,omitempty"` // 0 for the statement's group
	Slug        string `json:"slug,omitempty"`  // groups; users: the login
	Name        string `json:"name"`
	AmountMinor int64  `json:"amount_minor"`
}

// Amount formats minor units in the statement's currency, e.g. "1,234.56".
func (s Statement) Amount(minor int64) string { return FormatMinor(minor, s.MinorDigits) }

// hash computes the content hash: sha256 over the statement's JSON without the hash.
func (s Statement) hash() (string, error) {
	s.ContentHash = ""
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Reconciliation accounts for every charge of a period: what the statements bill,
// what is unassigned (no group), what belongs to groups with no billable group above
// them, and what has no rate. Values are exact, in currency.
type Reconciliation struct {
	Period     string
	Statements int
	// Money: exact sums of the period's charges (usage + late) by where they went.
	Billed, Unassigned, NotBillable, Rated *big.Rat
	// Quantity in base units per resource: everything charged, and what was unpriced.
	Quantity, Unpriced map[string]*big.Int
	// Statement totals as printed (rounded lines, subsidies, adjustments).
	StatementsMinor, UsageLinesMinor, SubsidyMinor, AdjustMinor int64
}

// billingTree is the group tree as statements need it.
type billingTree struct {
	groups map[int64]*Group
	kids   map[int64][]int64
	bill   map[int64]int64 // group → its nearest billable ancestor-or-self (0: none)
	slugs  map[int64]string
	users  map[int64]User
	// rateLabel says what sets a rate apart from the list price of its resource and
	// cluster ("QoS scavenger", "partition gpu", "chemistry rate"), for line
	// descriptions; empty for a plain rate.
	rateLabel map[int64]string
}

func loadRateLabels(ctx context.Context, tx pgx.Tx, t *billingTree) error {
	rows, err := tx.Query(ctx, `SELECT id, partition, qos, coalesce(group_id, 0) FROM rates`)
	if err != nil {
		return fmt.Errorf("read rates: %w", err)
	}
	defer rows.Close()
	t.rateLabel = map[int64]string{}
	for rows.Next() {
		var id, group int64
		var partition, qos string
		if err := rows.Scan(&id, &partition, &qos, &group); err != nil {
			return err
		}
		var parts []string
		if qos != Any {
			parts = append(parts, "QoS "+qos)
		}
		if partition != Any {
			parts = append(parts, "partition "+partition)
		}
		if g := t.groups[group]; g != nil {
			parts = append(parts, g.Slug+" rate")
		}
		t.rateLabel[id] = strings.Join(parts, ", ")
	}
	return rows.Err()
}

func (l *Ledger) loadBillingTree(ctx context.Context, q pgx.Tx) (*billingTree, error) {
	rows, err := q.Query(ctx, `SELECT `+groupColumns+` FROM groups ORDER BY nlevel(path), path`)
	if err != nil {
		return nil, fmt.Errorf("load groups: %w", err)
	}
	groups, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Group, error) { return scanGroup(r) })
	if err != nil {
		return nil, fmt.Errorf("load groups: %w", err)
	}
	t := &billingTree{groups: map[int64]*Group{}, kids: map[int64][]int64{}, bill: map[int64]int64{},
		slugs: map[int64]string{}, users: map[int64]User{}}
	for i := range groups { // parents come first
		g := &groups[i]
		t.groups[g.ID] = g
		t.kids[g.ParentID] = append(t.kids[g.ParentID], g.ID)
		if g.Billable {
			t.bill[g.ID] = g.ID
		} else {
			t.bill[g.ID] = t.bill[g.ParentID]
		}
		if p, ok := t.slugs[g.ParentID]; ok {
			t.slugs[g.ID] = p + "/" + g.Slug
		} else {
			t.slugs[g.ID] = g.Slug
		}
	}
	rows, err = q.Query(ctx, `SELECT id, login, display_name, email FROM users`)
	if err != nil {
		return nil, fmt.Errorf("load users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) {
		var u User
		err := r.Scan(&u.ID, &u.Login, &u.DisplayName, &u.Email)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("load users: %w", err)
	}
	for _, u := range users {
		t.users[u.ID] = u
	}
	return t, nil
}

// subsidy is the discount and allowance a statement applies to a resource.
type subsidyRule struct {
	discount *big.Rat // percent
	free     *big.Int // base units per month
}

// lineKey identifies a usage, unpriced or late line.
type lineKey struct {
	kind, usageMonth, resource, cluster string
	rateID                              int64
}

type lineAcc struct {
	price    *big.Rat
	quantity *big.Rat // base units
	value    *big.Rat // quantity × price
}

type draft struct {
	st      *Statement
	lines   map[lineKey]*lineAcc
	byGroup map[int64]*big.Rat // exact usage+late amounts by the group that used it
	byUser  map[int64]*big.Rat
}

// Statements computes the statements of a period from its charges: final ones as
// stored for a closed period, drafts for an open one (as of its last rating).
func (l *Ledger) Statements(ctx context.Context, month time.Time) ([]Statement, Reconciliation, error) {
	month = time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	var sts []Statement
	var rec Reconciliation
	err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var closed bool
		err := tx.QueryRow(ctx, `SELECT closed_at IS NOT NULL FROM periods WHERE month = $1`, month).Scan(&closed)
		if errors.Is(err, pgx.ErrNoRows) {
			closed = false
		} else if err != nil {
			return err
		}
		if !closed {
			if err := l.checkDraftable(ctx, tx, month); err != nil {
				return err
			}
		}
		if closed {
			sts, err = storedStatements(ctx, tx, month)
			if err != nil {
				return err
			}
			_, rec, err = l.buildStatements(ctx, tx, month, "final")
			return err
		}
		sts, rec, err = l.buildStatements(ctx, tx, month, "draft")
		return err
	})
	if err != nil {
		return nil, Reconciliation{}, fmt.Errorf("statements of %s: %w", month.Format("2006-01"), err)
	}
	return sts, rec, nil
}

func storedStatements(ctx context.Context, tx pgx.Tx, month time.Time) ([]Statement, error) {
	rows, err := tx.Query(ctx, `SELECT doc FROM statements WHERE period = $1 ORDER BY number`, month)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Statement, error) {
		var s Statement
		var doc []byte
		if err := r.Scan(&doc); err != nil {
			return s, err
		}
		return s, json.Unmarshal(doc, &s)
	})
}

// buildStatements computes every billable group's statement for month from its
// charges, subsidies and adjustments, and reconciles them with the charges.
func (l *Ledger) buildStatements(ctx context.Context, tx pgx.Tx, month time.Time, status string) ([]Statement, Reconciliation, error) {
	period := month.Format("2006-01")
	rec := Reconciliation{Period: period, Billed: new(big.Rat), Unassigned: new(big.Rat), NotBillable: new(big.Rat),
		Rated: new(big.Rat), Quantity: map[string]*big.Int{}, Unpriced: map[string]*big.Int{}}
	tree, err := l.loadBillingTree(ctx, tx)
	if err != nil {
		return nil, rec, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	drafts := map[int64]*draft{}
	var order []int64
	for _, id := range sortedBillable(tree) {
		g := tree.groups[id]
		st := &Statement{Status: status, Period: period, Currency: l.currency, MinorDigits: l.minorDigits,
			GroupID: g.ID, GroupSlug: g.Slug, GroupName: g.Name, GroupPath: tree.slugs[g.ID], CostCentre: g.CostCentre,
			GeneratedAt: now}
		if pi, ok := tree.users[g.PIUserID]; ok {
			st.PILogin = pi.Login
			st.PI = pi.Login
			if pi.DisplayName != "" {
				st.PI = pi.DisplayName + " (" + pi.Login + ")"
			}
		}
		drafts[id] = &draft{st: st, lines: map[lineKey]*lineAcc{}, byGroup: map[int64]*big.Rat{}, byUser: map[int64]*big.Rat{}}
		order = append(order, id)
	}

	rows, err := tx.Query(ctx, `
		SELECT kind, to_char(usage_month, 'YYYY-MM'), coalesce(group_id, 0), coalesce(user_id, 0), cluster, resource,
		       coalesce(rate_id, 0), coalesce(price::text, ''), sum(quantity)::text, sum(value)::text
		FROM charges WHERE period = $1
		GROUP BY 1, 2, 3, 4, 5, 6, 7, 8`, month)
	if err != nil {
		return nil, rec, fmt.Errorf("read charges: %w", err)
	}
	for rows.Next() {
		var kind, usageMonth, cluster, resource, price, qText, vText string
		var groupID, userID, rateID int64
		if err := rows.Scan(&kind, &usageMonth, &groupID, &userID, &cluster, &resource, &rateID, &price, &qText, &vText); err != nil {
			rows.Close()
			return nil, rec, err
		}
		_, perUnit := PricedUnit(resource)
		q, v := parseRat(qText), parseRat(vText)
		amount := new(big.Rat).Quo(v, new(big.Rat).SetInt(perUnit))
		rec.Rated.Add(rec.Rated, amount)
		addInt(rec.Quantity, resource, q)
		if rateID == 0 {
			addInt(rec.Unpriced, resource, q)
		}
		b := tree.bill[groupID]
		switch {
		case groupID == 0:
			rec.Unassigned.Add(rec.Unassigned, amount)
			continue
		case b == 0:
			rec.NotBillable.Add(rec.NotBillable, amount)
			continue
		}
		rec.Billed.Add(rec.Billed, amount)
		d := drafts[b]
		if d == nil { // a billable group that sortedBillable skipped (cannot happen: all are listed)
			return nil, rec, fmt.Errorf("charges for group %d billed to unknown group %d", groupID, b)
		}
		lk := lineKey{kind: kind, resource: resource, cluster: cluster, rateID: rateID}
		if kind == LineLate {
			lk.usageMonth = usageMonth
		} else if rateID == 0 {
			lk.kind = LineUnpriced
		}
		acc := d.lines[lk]
		if acc == nil {
			acc = &lineAcc{price: parseRat(price), quantity: new(big.Rat), value: new(big.Rat)}
			d.lines[lk] = acc
		}
		acc.quantity.Add(acc.quantity, q)
		acc.value.Add(acc.value, v)
		addRat(d.byGroup, groupID, amount)
		addRat(d.byUser, userID, amount)
	}
	if err := rows.Err(); err != nil {
		return nil, rec, fmt.Errorf("read charges: %w", err)
	}

	if err := loadRateLabels(ctx, tx, tree); err != nil {
		return nil, rec, err
	}
	subsidies, err := loadSubsidies(ctx, tx, month)
	if err != nil {
		return nil, rec, err
	}
	adjustments, err := loadAdjustments(ctx, tx, month)
	if err != nil {
		return nil, rec, err
	}

	var sts []Statement
	var stmtSum, usageSum, subsidySum, adjustSum minorSum
	for _, id := range order {
		d := drafts[id]
		if err := l.finishStatement(d, tree, subsidies, adjustments[id]); err != nil {
			return nil, rec, err
		}
		if len(d.lines) == 0 && len(adjustments[id]) == 0 && tree.groups[id].ArchivedAt != nil {
			continue // an archived group with nothing to bill gets no statement
		}
		st := d.st
		rec.Statements++
		// The month's sums have no maximum of their own, but must never wrap.
		for _, x := range []struct {
			sum *minorSum
			v   int64
		}{{&stmtSum, st.TotalMinor}, {&usageSum, st.UsageMinor}, {&subsidySum, st.SubsidyMinor}, {&adjustSum, st.AdjustMinor}} {
			x.sum.add(x.v)
		}
		if rec.StatementsMinor, err = stmtSum.int64(l.minorDigits, "the statements of "+period); err != nil {
			return nil, rec, err
		}
		if rec.UsageLinesMinor, err = usageSum.int64(l.minorDigits, "the usage lines of "+period); err != nil {
			return nil, rec, err
		}
		if rec.SubsidyMinor, err = subsidySum.int64(l.minorDigits, "the subsidies of "+period); err != nil {
			return nil, rec, err
		}
		if rec.AdjustMinor, err = adjustSum.int64(l.minorDigits, "the adjustments of "+period); err != nil {
			return nil, rec, err
		}
		if status == "draft" {
			st.Number = "DRAFT-" + strings.ReplaceAll(period, "-", "") + "-" + st.GroupSlug
		} else {
			st.Number = fmt.Sprintf("%s-%04d", strings.ReplaceAll(period, "-", ""), len(sts)+1)
		}
		if st.ContentHash, err = st.hash(); err != nil {
			return nil, rec, err
		}
		sts = append(sts, *st)
	}
	return sts, rec, nil
}

// sortedBillable lists the billable groups in path order (by slugs).
func sortedBillable(t *billingTree) []int64 {
	var ids []int64
	for id, g := range t.groups {
		if g.Billable {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(a, b int) bool { return t.slugs[ids[a]] < t.slugs[ids[b]] })
	return ids
}

func addInt(m map[string]*big.Int, k string, q *big.Rat) {
	if m[k] == nil {
		m[k] = new(big.Int)
	}
	// Quantities are sums of integers (base units), so q is an integer.
	m[k].Add(m[k], new(big.Int).Quo(q.Num(), q.Denom()))
}

func addRat(m map[int64]*big.Rat, k int64, v *big.Rat) {
	if m[k] == nil {
		m[k] = new(big.Rat)
	}
	m[k].Add(m[k], v)
}

// finishStatement turns a draft's accumulated charges into ordered, rounded lines,
// subsidies, adjustments, subtotals and totals. Every figure it prints must be less
// than the maximum amount (docs/billing.md, "Limits"): one that is not is refused
// with ErrTooLarge, naming the group and the line, never written wrapped.
func (l *Ledger) finishStatement(d *draft, t *billingTree, subsidies []subsidyRow, adjustments []adjustmentRow) error {
	st := d.st
	digits := l.minorDigits
	of := " on the statement of " + st.GroupSlug
	keys := make([]lineKey, 0, len(d.lines))
	for k := range d.lines {
		keys = append(keys, k)
	}
	kindOrder := map[string]int{LineUsage: 0, LineUnpriced: 1, LineLate: 2}
	sort.Slice(keys, func(a, b int) bool {
		x, y := keys[a], keys[b]
		if kindOrder[x.kind] != kindOrder[y.kind] {
			return kindOrder[x.kind] < kindOrder[y.kind]
		}
		if x.usageMonth != y.usageMonth {
			return x.usageMonth < y.usageMonth
		}
		if x.resource != y.resource {
			return resourceOrder(x.resource) < resourceOrder(y.resource)
		}
		if x.cluster != y.cluster {
			return x.cluster < y.cluster
		}
		return d.lines[x].price.Cmp(d.lines[y].price) > 0
	})

	// Allowance and discount per resource, from the nearest group that sets them.
	allowanceLeft := map[string]*big.Rat{}
	discount := map[string]*big.Rat{}
	for _, r := range Resources() {
		if rule := nearestSubsidy(t, st.GroupID, subsidies, r, true); rule != nil {
			allowanceLeft[r] = new(big.Rat).SetInt(rule.free)
		}
		if rule := nearestSubsidy(t, st.GroupID, subsidies, r, false); rule != nil {
			discount[r] = rule.discount
		}
	}
	allowanceValue := map[string]*big.Rat{} // exact money the allowance covers, per resource
	base := map[string]*big.Rat{}           // exact money of usage + late, per resource

	// The allowance covers the month's own priced usage, the dearest lines first
	// (where it saves the most).
	priced := make([]lineKey, 0, len(keys))
	for _, k := range keys {
		if k.kind == LineUsage {
			priced = append(priced, k)
		}
	}
	sort.SliceStable(priced, func(a, b int) bool { return d.lines[priced[a]].price.Cmp(d.lines[priced[b]].price) > 0 })
	for _, k := range priced {
		left := allowanceLeft[k.resource]
		if left == nil || left.Sign() <= 0 {
			continue
		}
		acc := d.lines[k]
		covered := acc.quantity
		if covered.Cmp(left) > 0 {
			covered = left
		}
		if covered.Sign() <= 0 {
			continue
		}
		_, perUnit := PricedUnit(k.resource)
		money := new(big.Rat).Mul(covered, acc.price)
		money.Quo(money, new(big.Rat).SetInt(perUnit))
		addRatS(allowanceValue, k.resource, money)
		left.Sub(left, covered)
	}

	var usageSum minorSum
	for _, k := range keys {
		acc := d.lines[k]
		unit, perUnit := PricedUnit(k.resource)
		per := new(big.Rat).SetInt(perUnit)
		amount := new(big.Rat).Quo(acc.value, per)
		addRatS(base, k.resource, amount)
		ln := Line{Kind: k.kind, Resource: k.resource, Cluster: k.cluster, Unit: unit,
			Quantity: DecimalString(new(big.Rat).Quo(acc.quantity, per), 6)}
		switch k.kind {
		case LineUsage:
			ln.Description = fmt.Sprintf("%s on %s", resourceTitle(k.resource), k.cluster)
			if label := t.rateLabel[k.rateID]; label != "" {
				ln.Description += " (" + label + ")"
			}
			ln.UnitPrice = ratString(acc.price)
		case LineUnpriced:
			ln.Description = fmt.Sprintf("%s on %s (no rate: not charged)", resourceTitle(k.resource), k.cluster)
		case LineLate:
			ln.UsageMonth = k.usageMonth
			ln.Description = fmt.Sprintf("Late usage for %s: %s on %s", monthName(k.usageMonth), resourceTitle(k.resource), k.cluster)
			if k.rateID != 0 {
				ln.UnitPrice = ratString(acc.price)
			} else {
				ln.Description += " (no rate: not charged)"
			}
		}
		var err error
		what := fmt.Sprintf("the line %q%s", ln.Description, of)
		if k.rateID != 0 {
			what = fmt.Sprintf("the line %q (rate %d, %s × %s per %s)%s", ln.Description, k.rateID,
				DecimalString(new(big.Rat).Quo(acc.quantity, per), 6), ratString(acc.price), unit, of)
		}
		if ln.AmountMinor, err = MinorUnits(amount, digits, what); err != nil {
			return err
		}
		usageSum.add(ln.AmountMinor)
		st.Lines = append(st.Lines, ln)
	}
	usageMinor, err := usageSum.amount(digits, "the usage"+of)
	if err != nil {
		return err
	}
	st.UsageMinor = usageMinor
	var subsidySum, adjustSum minorSum

	for _, r := range Resources() {
		if v := allowanceValue[r]; v != nil && v.Sign() != 0 {
			unit, perUnit := PricedUnit(r)
			free := nearestSubsidy(t, st.GroupID, subsidies, r, true).free
			covered := new(big.Rat).Sub(new(big.Rat).SetInt(free), allowanceLeft[r])
			ln := Line{Kind: LineSubsidy, Resource: r, Unit: unit,
				Description: fmt.Sprintf("Free allowance: %s %ss of %s a month", FormatHuman(r, free), unit, resourceTitle(r)),
				Quantity:    DecimalString(new(big.Rat).Neg(new(big.Rat).Quo(covered, new(big.Rat).SetInt(perUnit))), 6)}
			if ln.AmountMinor, err = MinorUnits(new(big.Rat).Neg(v), digits, fmt.Sprintf("the line %q%s", ln.Description, of)); err != nil {
				return err
			}
			st.Lines = append(st.Lines, ln)
			subsidySum.add(ln.AmountMinor)
		}
	}
	for _, r := range Resources() {
		pct := discount[r]
		b := base[r]
		if pct == nil || pct.Sign() == 0 || b == nil {
			continue
		}
		after := new(big.Rat).Sub(b, ratOr0(allowanceValue[r]))
		money := new(big.Rat).Mul(after, pct)
		money.Quo(money, big.NewRat(100, 1))
		if money.Sign() == 0 {
			continue
		}
		ln := Line{Kind: LineSubsidy, Resource: r,
			Description: fmt.Sprintf("Discount: %s%% of %s", ratString(pct), resourceTitle(r))}
		if ln.AmountMinor, err = MinorUnits(new(big.Rat).Neg(money), digits, fmt.Sprintf("the line %q%s", ln.Description, of)); err != nil {
			return err
		}
		st.Lines = append(st.Lines, ln)
		subsidySum.add(ln.AmountMinor)
	}
	for _, a := range adjustments {
		ln := Line{Kind: LineAdjustment, Description: a.reason, AmountMinor: a.amountMinor}
		// Written by any writer, an adjustment is checked again here.
		if _, err := checkedMinor(big.NewInt(a.amountMinor), digits, fmt.Sprintf("the adjustment %q%s", a.reason, of)); err != nil {
			return err
		}
		st.Lines = append(st.Lines, ln)
		adjustSum.add(a.amountMinor)
	}
	if st.SubsidyMinor, err = subsidySum.amount(digits, "the subsidies"+of); err != nil {
		return err
	}
	if st.AdjustMinor, err = adjustSum.amount(digits, "the adjustments"+of); err != nil {
		return err
	}
	var total minorSum
	total.add(st.UsageMinor)
	total.add(st.SubsidyMinor)
	total.add(st.AdjustMinor)
	if st.TotalMinor, err = total.amount(digits, "the total"+of); err != nil {
		return err
	}

	// Subgroups: every group this statement bills for, with its whole subtree's share.
	var members []int64 // parents first
	var walk func(id int64, depth int)
	depthOf := map[int64]int{}
	walk = func(id int64, depth int) {
		members = append(members, id)
		depthOf[id] = depth
		for _, k := range t.kids[id] {
			if t.bill[k] == st.GroupID {
				walk(k, depth+1)
			}
		}
	}
	walk(st.GroupID, 0)
	shares := make([]*big.Rat, len(members))
	for i, id := range members {
		shares[i] = ratOr0(d.byGroup[id])
	}
	own, err := apportion(usageMinor, shares, digits, func(i int) string {
		return "the share of " + t.groups[members[i]].Slug + of
	})
	if err != nil {
		return err
	}
	subtree := map[int64]*minorSum{}
	for _, id := range members {
		subtree[id] = new(minorSum)
	}
	for i := len(members) - 1; i >= 0; i-- { // children before parents
		id := members[i]
		subtree[id].add(own[i])
		if p := t.groups[id].ParentID; p != 0 && i > 0 {
			subtree[p].v.Add(&subtree[p].v, &subtree[id].v)
		}
	}
	for _, id := range members {
		g := t.groups[id]
		amount, err := subtree[id].amount(digits, "the subtotal of "+g.Slug+of)
		if err != nil {
			return err
		}
		st.Subgroups = append(st.Subgroups, Subtotal{ID: id, ParentID: g.ParentID, Depth: depthOf[id], Slug: g.Slug,
			Name: g.Name, AmountMinor: amount})
	}

	userIDs := make([]int64, 0, len(d.byUser))
	for id := range d.byUser {
		userIDs = append(userIDs, id)
	}
	sort.Slice(userIDs, func(a, b int) bool { return userIDs[a] < userIDs[b] })
	ushares := make([]*big.Rat, len(userIDs))
	for i, id := range userIDs {
		ushares[i] = d.byUser[id]
	}
	uamounts, err := apportion(usageMinor, ushares, digits, func(i int) string {
		return fmt.Sprintf("the share of user %d%s", userIDs[i], of)
	})
	if err != nil {
		return err
	}
	for i, id := range userIDs {
		s := Subtotal{ID: id, AmountMinor: uamounts[i], Name: "(no person: shared storage, services)"}
		if u, ok := t.users[id]; ok {
			s.Slug, s.Name = u.Login, u.Login
			if u.DisplayName != "" {
				s.Name = u.DisplayName
			}
		}
		st.Users = append(st.Users, s)
	}
	sort.SliceStable(st.Users, func(a, b int) bool { return st.Users[a].AmountMinor > st.Users[b].AmountMinor })
	return nil
}

func addRatS(m map[string]*big.Rat, k string, v *big.Rat) {
	if m[k] == nil {
		m[k] = new(big.Rat)
	}
	m[k].Add(m[k], v)
}

func ratOr0(r *big.Rat) *big.Rat {
	if r == nil {
		return new(big.Rat)
	}
	return r
}

func resourceOrder(r string) int {
	for i, x := range []string{ResourceCPU, ResourceGPU, ResourceMemory, ResourceStorage, ResourceBilling} {
		if x == r {
			return i
		}
	}
	return 99
}

func resourceTitle(r string) string {
	switch r {
	case ResourceCPU:
		return "CPU"
	case ResourceGPU:
		return "GPU"
	case ResourceMemory:
		return "Memory"
	case ResourceStorage:
		return "Storage"
	case ResourceBilling:
		return "Billing TRES"
	}
	return r
}

func monthName(ym string) string {
	t, err := time.Parse("2006-01", ym)
	if err != nil {
		return ym
	}
	return t.Format("January 2006")
}

func insertStatement(ctx context.Context, tx pgx.Tx, month time.Time, st Statement) error {
	doc, err := json.Marshal(st)
	if err != nil {
		return err
	}
	var id int64
	err = tx.QueryRow(ctx, `
		INSERT INTO statements (period, group_id, number, currency, total_minor, content_hash, doc)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		month, st.GroupID, st.Number, st.Currency, st.TotalMinor, st.ContentHash, doc).Scan(&id)
	if err != nil {
		return fmt.Errorf("write statement %s: %w", st.Number, err)
	}
	rows := make([][]any, len(st.Lines))
	for i, ln := range st.Lines {
		var usageMonth, quantity, price any
		if ln.UsageMonth != "" {
			usageMonth = ln.UsageMonth + "-01"
		}
		if ln.Quantity != "" {
			quantity = ln.Quantity
		}
		if ln.UnitPrice != "" {
			price = ln.UnitPrice
		}
		rows[i] = []any{id, i + 1, ln.Kind, ln.Description, ln.Resource, ln.Cluster, usageMonth, quantity, ln.Unit, price, ln.AmountMinor}
	}
	if len(rows) == 0 {
		return nil
	}
	// Statement lines go in with one multi-row INSERT per statement (COPY cannot take
	// text for numeric here without a codec per column).
	var sb strings.Builder
	args := make([]any, 0, len(rows)*11)
	sb.WriteString(`INSERT INTO statement_lines (statement_id, line_no, kind, description, resource, cluster, usage_month, quantity, unit, unit_price, amount_minor) VALUES `)
	for i, r := range rows {
		if i > 0 {
			sb.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d, $%d, $%d::date, $%d::numeric, $%d, $%d::numeric, $%d)",
			n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9, n+10, n+11)
		args = append(args, r...)
	}
	if _, err := tx.Exec(ctx, sb.String(), args...); err != nil {
		return fmt.Errorf("write lines of statement %s: %w", st.Number, err)
	}
	return nil
}
