package ledger

import (
	"context"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

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

// buildStatements computes every billable group's statement for month from its
// charges, subsidies and adjustments, and reconciles them with the charges.
func (l *Ledger) buildStatements(ctx context.Context, tx pgx.Tx, month time.Time, status string) ([]Statement, Reconciliation, error) {
	return l.buildStatementsOf(ctx, tx, month, status, 0)
}

// buildStatementsOf is buildStatements for one billable group (only ≠ 0): it reads
// just the charges of the groups that group bills for, so a dashboard's draft costs
// that group's charges, not the institution's. Its reconciliation then covers those
// charges only.
func (l *Ledger) buildStatementsOf(ctx context.Context, tx pgx.Tx, month time.Time, status string, only int64) ([]Statement, Reconciliation, error) {
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
	var members []int64 // with only: the groups its statement bills for
	for id, b := range tree.bill {
		if only != 0 && b == only {
			members = append(members, id)
		}
	}
	for _, id := range sortedBillable(tree) {
		if only != 0 && id != only {
			continue
		}
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
		FROM charges WHERE period = $1 AND ($2 = 0 OR group_id = ANY($3))
		GROUP BY 1, 2, 3, 4, 5, 6, 7, 8`, month, only, members)
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
