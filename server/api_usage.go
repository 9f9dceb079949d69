package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// The usage answer (/api/v1/groups/{group}/usage): the dashboard's figures by one
// dimension. Like the dashboard, a billable group's calendar month is its
// statement's usage (the walk: usage and late usage, before subsidies and
// adjustments, without the descendants billed on statements of their own); any
// other window is the subtree's spend from the summaries, rounded once. Either
// way the items add up to the total in minor units.

// apiUsage is the group's spend over a window by one dimension (?by=resource,
// cluster, partition, subgroup, day, user — user only for those who may see member
// detail), as JSON or, with ?format=csv, CSV (api_csv.go).
func (s *Server) apiUsage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, g := principal(r), routeGroup(r)
	win, err := s.pickWindow(r)
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	switch format {
	case "", "json", "csv":
	default:
		return badInputf("format %q is not one: use json or csv", format)
	}
	by := r.URL.Query().Get("by")
	if by == "" {
		by = "resource"
	}
	switch by {
	case "resource", "cluster", "partition", "subgroup", "day", "user":
	default:
		return badInputf("by %q is not one: use resource, cluster, partition, subgroup, day or user", by)
	}
	if by == "user" && !p.CanSeeMembers(g.Path, s.openLeaderboard(ctx, g)) {
		return forbiddenf("member-level detail is for the group's PIs and managers")
	}
	cur, digits := s.ledger.Currency()
	out := apiUsage{Group: g.Slug, GroupName: g.Name, From: s.apiTime(win.From), To: s.apiTime(win.To), By: by,
		Currency: cur, BilledSeparately: []apiGroupRef{}}
	var (
		rows  []usageRow
		total int64
	)
	if month, ok := walkMonth(win); ok && g.Billable {
		wk, err := s.ledger.StatementWalk(ctx, g.ID, month)
		if err != nil {
			return fmt.Errorf("api usage of %s: statement walk of %s: %w", g.Slug, month.Format("2006-01"), err)
		}
		st := wk.Statement
		out.Statement = &apiStatementRef{Number: st.Number, Status: st.Status, Period: st.Period}
		for _, sep := range wk.BilledSeparately {
			out.BilledSeparately = append(out.BilledSeparately, apiGroupRef{Slug: sep.Slug, Name: sep.Name})
		}
		total = wk.UsageMinor + wk.LateMinor
		if rows, err = walkRows(g, by, wk, digits); err != nil {
			return fmt.Errorf("api usage of %s by %s: %w", g.Slug, by, err)
		}
	} else {
		sp, err := s.ledger.GroupSpend(ctx, g.ID, win.From, win.To)
		if err != nil {
			return fmt.Errorf("api usage of %s: %w", g.Slug, err)
		}
		total = int64(math.Round(sp.Total * math.Pow10(digits)))
		if rows, err = s.spendRows(ctx, g, by, sp, total); err != nil {
			return fmt.Errorf("api usage of %s by %s: %w", g.Slug, by, err)
		}
	}
	out.Total = ledger.PlainMinor(total, digits)
	out.Items = usageItems(by, rows, digits)
	if format == "csv" {
		return s.writeUsageCSV(w, out)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// usageRow is an item with its amount in minor units, before ordering.
type usageRow struct {
	item  apiUsageItem
	minor int64
}

// usageItems orders rows as the dashboard's tables do — largest amount first,
// ties by key; days in order, then by resource — and writes their amounts.
func usageItems(by string, rows []usageRow, digits int) []apiUsageItem {
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if by == "day" {
			if a.item.Key != b.item.Key {
				return a.item.Key < b.item.Key
			}
			return a.item.Resource < b.item.Resource
		}
		if a.minor != b.minor {
			return a.minor > b.minor
		}
		return a.item.Key < b.item.Key
	})
	items := make([]apiUsageItem, 0, len(rows))
	for _, r := range rows {
		r.item.Amount = ledger.PlainMinor(r.minor, digits)
		items = append(items, r.item)
	}
	return items
}

// resourceItem is a by=resource item.
func resourceItem(resource string, qty float64) apiUsageItem {
	unit, _ := ledger.PricedUnit(resource)
	return apiUsageItem{Key: resource, Name: resourceName(resource), Resource: resource, Quantity: quantity(qty), Unit: unit}
}

// partitionItem is a by=partition item; a source without partitions has
// "cluster/", named by its cluster.
func partitionItem(key string) apiUsageItem {
	return apiUsageItem{Key: key, Name: strings.TrimSuffix(key, "/")}
}

// lateKey is the by=day key of a statement's late usage, which ran on days of
// months already closed.
const lateKey = "late"

// walkRows is the statement's usage by one dimension, as the dashboard's tables
// of a billable group's month show it.
func walkRows(g ledger.Group, by string, wk ledger.Walk, digits int) ([]usageRow, error) {
	st := wk.Statement
	var rows []usageRow
	switch by {
	case "resource":
		for _, x := range wk.ByResource {
			rows = append(rows, usageRow{resourceItem(x.Key, x.Quantity), x.AmountMinor})
		}
	case "cluster":
		for _, x := range wk.ByCluster {
			rows = append(rows, usageRow{apiUsageItem{Key: x.Key, Name: x.Key}, x.AmountMinor})
		}
	case "partition":
		for _, x := range wk.ByPartition {
			rows = append(rows, usageRow{partitionItem(x.Key), x.AmountMinor})
		}
	case "subgroup":
		// The statement's subtotals of the group's children (each with its own
		// subgroups), and what the group used itself.
		itself := wk.UsageMinor + wk.LateMinor
		for _, sg := range st.Subgroups {
			if sg.Depth == 1 {
				itself -= sg.AmountMinor
				rows = append(rows, usageRow{apiUsageItem{Key: sg.Slug, Name: sg.Name}, sg.AmountMinor})
			}
		}
		if len(rows) > 0 || itself != 0 {
			rows = append(rows, usageRow{apiUsageItem{Key: g.Slug, Name: g.Name}, itself})
		}
	case "user":
		for _, u := range st.Users {
			it := apiUsageItem{Key: u.Slug, Name: u.Name}
			if u.Slug == "" {
				it.Name = noUser // one name for the no-person row everywhere
			}
			rows = append(rows, usageRow{it, u.AmountMinor})
		}
	case "day":
		// The month's own usage shared out over its days (the charges' display
		// figures), and the late usage by resource under lateKey.
		type dayRes struct {
			day      time.Time
			resource string
		}
		byDay := map[dayRes]float64{}
		var keys []dayRes
		for _, x := range wk.ByDay {
			k := dayRes{x.Day, x.Resource}
			if _, ok := byDay[k]; !ok {
				keys = append(keys, k)
			}
			byDay[k] += x.Amount
		}
		amounts := make([]float64, len(keys))
		for i, k := range keys {
			amounts[i] = byDay[k]
		}
		if len(keys) > 0 {
			parts, err := ledger.SplitMinor(wk.UsageMinor, amounts, digits)
			if err != nil {
				return nil, err
			}
			for i, k := range keys {
				day := k.day.Format(time.DateOnly)
				rows = append(rows, usageRow{apiUsageItem{Key: day, Name: day, Resource: k.resource}, parts[i]})
			}
		}
		late := map[string]int64{}
		for _, ln := range st.Lines {
			if ln.Kind == ledger.LineLate {
				late[ln.Resource] += ln.AmountMinor
			}
		}
		for res, minor := range late {
			rows = append(rows, usageRow{apiUsageItem{Key: lateKey, Name: "Late usage", Resource: res}, minor})
		}
	}
	return rows, nil
}

// spendRows is the subtree's spend by one dimension, total (minor units) shared
// out over the rows as the dashboard does.
func (s *Server) spendRows(ctx context.Context, g ledger.Group, by string, sp ledger.Spend, total int64) ([]usageRow, error) {
	var (
		rows    []usageRow
		amounts []float64
	)
	add := func(it apiUsageItem, amount float64) {
		rows, amounts = append(rows, usageRow{item: it}), append(amounts, amount)
	}
	switch by {
	case "resource":
		for _, x := range sp.ByResource {
			add(resourceItem(x.Resource, x.Quantity), x.Amount)
		}
	case "day":
		for _, x := range sp.ByDay {
			add(apiUsageItem{Key: x.Key, Name: x.Key, Resource: x.Resource}, x.Amount)
		}
	case "cluster":
		for _, x := range sp.ByCluster {
			add(apiUsageItem{Key: x.Key, Name: x.Key}, x.Amount)
		}
	case "partition":
		for _, x := range sp.ByPart {
			add(partitionItem(x.Key), x.Amount)
		}
	case "subgroup":
		children, err := s.childNames(ctx, g)
		if err != nil {
			return nil, err
		}
		for _, x := range sp.BySubgroup {
			c, ok := children[x.GroupID]
			switch {
			case x.GroupID == 0:
				c = g // the group's own usage, not a child's
			case !ok:
				// Usage rated while the group was a child, moved since.
				if c, err = s.ledger.GroupByID(ctx, x.GroupID); err != nil {
					return nil, fmt.Errorf("subgroup %d: %w", x.GroupID, err)
				}
			}
			add(apiUsageItem{Key: c.Slug, Name: c.Name}, x.Amount)
		}
	case "user":
		names, err := s.ledger.UserNames(ctx, userIDs(sp.ByUser))
		if err != nil {
			return nil, err
		}
		for _, x := range sp.ByUser {
			it := apiUsageItem{Name: noUser}
			if u, ok := names[x.UserID]; ok {
				it.Key, it.Name = u.Login, displayName(u)
			}
			add(it, x.Amount)
		}
	}
	if len(rows) == 0 {
		return nil, nil
	}
	_, digits := s.ledger.Currency()
	parts, err := ledger.SplitMinor(total, amounts, digits)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		rows[i].minor = parts[i]
	}
	return rows, nil
}
