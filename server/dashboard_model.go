package server

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/parsimony-hpc/parsimony/charts"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// The dashboard's view model, built from what loadDashboard read: no HTTP, no
// database, so each table is tested on its own (dashboard_model_test.go).
//
// One number for one thing. For a billable group over a calendar month the page
// shows its statement: the total is the statement's (draft or final) to the cent,
// the walk from usage to it is the statement's, and every breakdown adds up to the
// statement's usage figure (late usage included) in minor units. Otherwise (a group
// billed through the one above it, or a window that is not a month) the total is
// the subtree's spend from the summaries, rounded once, and every breakdown is
// shared out of that same total, so the rows of each table add up to it.

// buildDashboard makes the page and, in full, the tables it offers as downloads
// (the page shows the first tableRows rows of each).
func buildDashboard(d dashboardData) (views.DashboardPage, []views.Table) {
	g, win := d.Group, d.Win
	page := views.DashboardPage{Layout: d.Layout, Slug: g.Slug, Name: g.Name, Crumbs: d.Crumbs,
		Period: win.Label, Periods: d.Periods, From: win.CustomFrom, To: win.CustomTo,
		CanManage: d.CanManage, Statements: "/groups/" + g.Slug + "/statements",
		Leaderboard: "/groups/" + g.Slug + "/leaderboard?" + win.query(), Query: win.query(), StackBy: "resource"}
	if d.ByCluster {
		page.StackBy = "cluster"
	}
	for _, b := range d.Budgets {
		page.Budgets = append(page.Budgets, budgetView(b, d.money))
	}
	var b breakdowns
	if d.Walk != nil {
		b = walkBreakdowns(d, &page)
	} else {
		b = spendBreakdowns(d, &page)
	}
	full := []views.Table{b.sub, b.res, b.cluster, b.part, d.StorageTable}
	if d.Detail {
		full = append(full, b.user)
	}
	page.Tables = make([]views.Table, len(full))
	for i, t := range full {
		page.Tables[i] = topRows(t, tableRows)
	}
	page.Efficiency = []views.Table{d.TopCost, d.TopWaste, d.Efficiency}
	return page, full
}

// money formats an amount in the site's currency.
func (d dashboardData) money(v float64) string { return formatMoney(d.Currency, d.Digits, v) }

// minor formats minor units in the site's currency.
func (d dashboardData) minor(v int64) string {
	return withCurrency(d.Currency, ledger.FormatMinor(v, d.Digits))
}

// breakdowns are the dashboard's money tables, every row of each.
type breakdowns struct{ sub, res, cluster, part, user views.Table }

// amountRow is a breakdown's row before formatting: its names (cells and data),
// its amount in minor units and, by resource, its quantity and unit.
type amountRow struct {
	cells, data []string
	link        string
	minor       int64
	quantity    float64
	unit        string
}

// emptyTables are the breakdowns' titles, heads and download columns.
func emptyTables(note string) breakdowns {
	num := func(n ...bool) []bool { return n }
	return breakdowns{
		sub: views.Table{ID: "by-subgroup", Title: "By subgroup", Head: []string{"Group", "Spend", "Share"}, Numeric: num(false, true, true),
			Empty: "No subgroups, or none used anything.", Note: note,
			DataHead: []string{"group_slug", "group_name", "amount"}, DataNumeric: num(false, false, true)},
		res: views.Table{ID: "by-resource", Title: "By resource", Head: []string{"Resource", "Quantity", "Spend"}, Numeric: num(false, true, true),
			Empty: "Nothing used in this period.", Note: note,
			DataHead: []string{"resource", "quantity", "unit", "amount"}, DataNumeric: num(false, true, false, true)},
		cluster: views.Table{ID: "by-cluster", Title: "By cluster", Head: []string{"Cluster", "Spend", "Share"}, Numeric: num(false, true, true),
			Empty: "Nothing used in this period.", Note: note,
			DataHead: []string{"cluster", "amount"}, DataNumeric: num(false, true)},
		part: views.Table{ID: "by-partition", Title: "By partition", Head: []string{"Cluster / partition", "Spend"}, Numeric: num(false, true),
			Empty: "Nothing used in this period.", Note: note,
			DataHead: []string{"cluster", "partition", "amount"}, DataNumeric: num(false, false, true)},
		user: views.Table{ID: "by-user", Title: "By user", Head: []string{"Person", "Spend", "Share"}, Numeric: num(false, true, true),
			Empty: "Nobody used anything in this period.", Note: note,
			DataHead: []string{"user_login", "user_name", "amount"}, DataNumeric: num(false, false, true)},
	}
}

// fill sorts rows as the page shows them (largest first, then by name) and writes
// them into t: a share of total in the column after the amount when the table has
// one.
func (d dashboardData) fill(t *views.Table, rows []amountRow, total int64) {
	order := make([]*amountRow, len(rows)) // sorting pointers moves 8 bytes a swap, not the row
	for i := range rows {
		order[i] = &rows[i]
	}
	slices.SortStableFunc(order, func(a, b *amountRow) int {
		if a.minor != b.minor {
			return cmp.Compare(b.minor, a.minor)
		}
		return slices.Compare(a.data, b.data)
	})
	withShare := len(t.Head) > 0 && t.Head[len(t.Head)-1] == "Share"
	t.Rows = slices.Grow(t.Rows, len(order))
	for _, r := range order {
		cells := append(make([]string, 0, len(r.cells)+3), r.cells...)
		data := append(make([]string, 0, len(r.data)+3), r.data...)
		if r.unit != "" { // by resource: the quantity, in its priced unit
			cells = append(cells, number(r.quantity)+" "+r.unit+"s")
			data = append(data, strconv.FormatFloat(r.quantity, 'f', 6, 64), r.unit)
		}
		cells = append(cells, d.minor(r.minor))
		if withShare {
			cells = append(cells, shareMinor(r.minor, total))
		}
		data = append(data, ledger.PlainMinor(r.minor, d.Digits))
		t.Rows = append(t.Rows, views.Row{Cells: cells, Data: data, Link: r.link})
	}
}

// shareMinor is part's share of total, as a percentage.
func shareMinor(part, total int64) string {
	if total <= 0 {
		return "–"
	}
	return percent(float64(part) / float64(total))
}

// splitKey splits "cluster/partition" (a partition may be empty).
func splitKey(k string) (cluster, partition string) {
	cluster, partition, _ = strings.Cut(k, "/")
	return cluster, partition
}

// partitionName is how the page names a cluster's partition ("hpc/cpu", or "jhub"
// where the source has no partitions).
func partitionName(k string) string { return strings.TrimSuffix(k, "/") }

// walkBreakdowns fills the page from a billable group's statement of the month.
func walkBreakdowns(d dashboardData, page *views.DashboardPage) breakdowns {
	w, g := d.Walk, d.Group
	st := w.Statement
	usage := w.UsageMinor + w.LateMinor // the statement's usage figure
	month, _ := time.Parse("2006-01", st.Period)
	page.TotalLabel = "To be billed"
	status := "the draft statement of " + month.Format("January 2006") + " (it may change until the month is closed)"
	if w.Final {
		page.TotalLabel = "Billed"
		status = "the final statement of " + month.Format("January 2006")
	}
	page.Total = d.minor(st.TotalMinor)
	page.TotalNote = "What " + status + " bills " + g.Name + ": its usage and that of its subgroups billed with it, at each group's rates."
	page.Walk = []views.WalkStep{
		{Label: "Usage", Amount: d.minor(w.UsageMinor), Note: "this month's usage, as priced on the statement"},
		{Label: "Subsidies", Amount: d.minor(st.SubsidyMinor), Note: "free allowances and discounts"},
		{Label: "Late usage", Amount: d.minor(w.LateMinor), Note: "corrections to months already closed"},
		{Label: "Adjustments", Amount: d.minor(st.AdjustMinor), Note: "credits and debits from finance"},
		{Label: page.TotalLabel, Amount: d.minor(st.TotalMinor), Total: true},
	}
	if d.CanManage {
		page.Statement = "/groups/" + g.Slug + "/statements/" + st.Period
	}
	page.Separately = d.Separately
	page.Chart = d.chart(walkDays(w.ByDay))

	note := "Usage on the statement (late usage included), before subsidies and adjustments: " + d.minor(usage) + "."
	b := emptyTables(note)
	// Subgroups: the statement's subtotals of the group's children (each with its
	// own subgroups), and what the group used itself.
	var rows []amountRow
	itself := usage
	for _, sg := range st.Subgroups {
		if sg.Depth != 1 {
			continue
		}
		itself -= sg.AmountMinor
		rows = append(rows, amountRow{cells: []string{sg.Name}, data: []string{sg.Slug, sg.Name}, minor: sg.AmountMinor,
			link: "/groups/" + sg.Slug + "?" + d.Win.query()})
	}
	if len(rows) > 0 || itself != 0 {
		rows = append(rows, amountRow{cells: []string{g.Name + " (itself)"}, data: []string{g.Slug, g.Name}, minor: itself})
	}
	d.fill(&b.sub, rows, usage)
	rows = nil
	for _, r := range w.ByResource {
		unit, _ := ledger.PricedUnit(r.Key)
		rows = append(rows, amountRow{cells: []string{resourceName(r.Key)}, data: []string{r.Key}, minor: r.AmountMinor, quantity: r.Quantity, unit: unit})
	}
	d.fill(&b.res, rows, usage)
	rows = nil
	for _, r := range w.ByCluster {
		rows = append(rows, amountRow{cells: []string{r.Key}, data: []string{r.Key}, minor: r.AmountMinor})
	}
	d.fill(&b.cluster, rows, usage)
	rows = nil
	for _, r := range w.ByPartition {
		c, p := splitKey(r.Key)
		rows = append(rows, amountRow{cells: []string{partitionName(r.Key)}, data: []string{c, p}, minor: r.AmountMinor})
	}
	d.fill(&b.part, rows, usage)
	rows = nil
	for _, u := range st.Users {
		name := u.Name
		if u.ID == 0 {
			name = noUser
		}
		rows = append(rows, amountRow{cells: []string{name}, data: []string{u.Slug, name}, minor: u.AmountMinor})
	}
	d.fill(&b.user, rows, usage)
	return b
}

// walkDays turns the walk's days into the chart's rows.
func walkDays(days []ledger.WalkDay) ledger.Spend {
	var sp ledger.Spend
	for _, x := range days {
		key := x.Day.Format(time.DateOnly)
		sp.ByDay = append(sp.ByDay, ledger.SpendRow{Key: key, Resource: x.Resource, Amount: x.Amount})
		sp.ByDayCluster = append(sp.ByDayCluster, ledger.SpendRow{Key: key, Resource: x.Cluster, Amount: x.Amount})
	}
	return sp
}

// spendBreakdowns fills the page from the subtree's spend (summaries): the total
// rounded once, and every table shared out of it.
func spendBreakdowns(d dashboardData, page *views.DashboardPage) breakdowns {
	sp, g := d.Spend, d.Group
	page.TotalLabel = "Spend"
	var exact float64
	for _, r := range sp.ByResource {
		exact += r.Amount
	}
	total := int64(math.Round(exact * math.Pow10(d.Digits)))
	page.Total = d.minor(total)
	switch {
	case !g.Billable:
		page.TotalNote = "Usage of " + g.Name + " and every group below it, by the day it ran, at each group's rates. " +
			"It is billed on the statements of the billable groups above or below it."
	default:
		page.TotalNote = "Usage of " + g.Name + " and every group below it, by the day it ran, at each group's rates. " +
			"Pick a calendar month to see what its statement bills."
	}
	page.Chart = d.chart(sp)
	b := emptyTables("")
	split := func(rows []amountRow, amounts []float64) []amountRow {
		parts, err := ledger.SplitMinor(total, amounts, d.Digits)
		if err != nil { // only past the largest amount, which a sum of display figures is not
			parts = make([]int64, len(amounts))
			for i, a := range amounts {
				parts[i] = int64(math.Round(a * math.Pow10(d.Digits)))
			}
		}
		for i := range rows {
			rows[i].minor = parts[i]
		}
		return rows
	}
	var rows []amountRow
	var amounts []float64
	for _, r := range sp.BySubgroup {
		row := amountRow{cells: []string{g.Name + " (itself)"}, data: []string{g.Slug, g.Name}}
		if r.GroupID != 0 {
			c := d.Children[r.GroupID]
			row = amountRow{cells: []string{c.Name}, data: []string{c.Slug, c.Name}}
			if c.Slug != "" {
				row.link = "/groups/" + c.Slug + "?" + d.Win.query()
			}
		}
		rows, amounts = append(rows, row), append(amounts, r.Amount)
	}
	d.fill(&b.sub, split(rows, amounts), total)
	rows, amounts = nil, nil
	for _, r := range sp.ByResource {
		unit, _ := ledger.PricedUnit(r.Resource)
		rows = append(rows, amountRow{cells: []string{resourceName(r.Resource)}, data: []string{r.Resource}, quantity: r.Quantity, unit: unit})
		amounts = append(amounts, r.Amount)
	}
	d.fill(&b.res, split(rows, amounts), total)
	rows, amounts = nil, nil
	for _, r := range sp.ByCluster {
		rows, amounts = append(rows, amountRow{cells: []string{r.Key}, data: []string{r.Key}}), append(amounts, r.Amount)
	}
	d.fill(&b.cluster, split(rows, amounts), total)
	rows, amounts = nil, nil
	for _, r := range sp.ByPart {
		c, p := splitKey(r.Key)
		rows, amounts = append(rows, amountRow{cells: []string{partitionName(r.Key)}, data: []string{c, p}}), append(amounts, r.Amount)
	}
	d.fill(&b.part, split(rows, amounts), total)
	rows, amounts = nil, nil
	for _, r := range sp.ByUser {
		row := amountRow{cells: []string{noUser}, data: []string{"", noUser}}
		if u, ok := d.Users[r.UserID]; ok && r.UserID != 0 {
			name := u.DisplayName
			if name == "" {
				name = u.Login
			}
			row = amountRow{cells: []string{name}, data: []string{u.Login, name}}
		}
		rows, amounts = append(rows, row), append(amounts, r.Amount)
	}
	d.fill(&b.user, split(rows, amounts), total)
	return b
}

// chart stacks each day's spend by resource (or by cluster).
func (d dashboardData) chart(sp ledger.Spend) templ.Component {
	win := d.Win
	var days []time.Time
	for day := win.From; day.Before(win.To); day = day.AddDate(0, 0, 1) {
		days = append(days, day)
	}
	index := map[string]int{}
	labels, titles := make([]string, len(days)), make([]string, len(days))
	for i, day := range days {
		index[day.Format(time.DateOnly)] = i
		labels[i], titles[i] = day.Format("2 Jan"), day.Format("Mon 2 January 2006")
	}
	rows, keys, title := sp.ByDay, ledger.Resources(), "Daily spend by resource"
	name := resourceName
	if d.ByCluster {
		rows, keys, title, name = sp.ByDayCluster, nil, "Daily spend by cluster", func(c string) string { return c }
		total := map[string]float64{}
		for _, row := range rows {
			if _, seen := total[row.Resource]; !seen {
				keys = append(keys, row.Resource)
			}
			total[row.Resource] += row.Amount
		}
		sort.SliceStable(keys, func(i, j int) bool { return total[keys[i]] > total[keys[j]] })
	}
	var series []charts.Series
	for k, key := range keys {
		vals := make([]float64, len(days))
		any := false
		for _, row := range rows {
			if row.Resource == key {
				if i, ok := index[row.Key]; ok {
					vals[i] += row.Amount
					any = any || row.Amount != 0
				}
			}
		}
		if !any {
			continue
		}
		if k >= 7 && d.ByCluster { // beyond seven clusters: one "Other" series, in grey
			if len(series) == 8 {
				for i := range vals {
					series[7].Values[i] += vals[i]
				}
				continue
			}
			series = append(series, charts.Series{Name: "Other", Key: charts.OtherKey, Values: vals})
			continue
		}
		series = append(series, charts.Series{Name: name(key), Key: key, Values: vals}) // the key picks the colour
	}
	return charts.StackedBars(charts.StackedBarsOptions{Title: title, XLabels: labels, XTitles: titles,
		Series: series, FormatY: d.money, Empty: "No spend in this period."})
}

// budgetView formats a budget's state; money figures are the walk's (see
// ledger.BudgetStatuses).
func budgetView(b ledger.BudgetStatus, money func(float64) string) views.BudgetView {
	spent, _ := b.Spent.Float64()
	amount, _ := b.Amount.Float64()
	proj, _ := b.Projected.Float64()
	rem, _ := b.Remaining.Float64()
	fmtV := money
	if b.Resource != "" {
		fmtV = func(v float64) string { return number(v) + " " + b.Unit + "s" }
	}
	label := "Monthly budget"
	if b.Span == ledger.SpanFiscalYear {
		label = "Fiscal-year budget"
	}
	if b.Resource != "" {
		label += " (" + resourceName(b.Resource) + ")"
	}
	v := views.BudgetView{Label: label, Spent: fmtV(spent), Amount: fmtV(amount), Projected: fmtV(proj), Remaining: fmtV(rem),
		Over: proj > amount}
	if amount > 0 {
		v.Fraction, v.ProjectedFraction = spent/amount, proj/amount
	}
	return v
}
