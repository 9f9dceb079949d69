package server

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/a-h/templ"
	"golang.org/x/sync/errgroup"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/charts"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// A group's dashboard (/groups/{group}): spend against budget, the daily chart, the
// breakdowns by subgroup, resource, cluster, partition and person; and what the
// group pages share (breadcrumbs, child and person names, the open-leaderboard flag).

// dashboard is the group (PI) dashboard: spend against budget, the daily chart and
// the breakdowns, for any period.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, g := principal(r), routeGroup(r)
	win, err := s.pickWindow(r)
	if err != nil {
		s.requestFailed(w, r, err)
		return
	}
	open := s.openLeaderboard(ctx, g)
	detail := p.CanSeeMembers(g.Path, open)
	stack := r.URL.Query().Get("stack")
	if stack != "" && stack != "resource" && stack != "cluster" {
		s.badRequest(w, r, fmt.Sprintf("stack %q is not one: use resource or cluster", stack))
		return
	}
	byCluster := stack == "cluster"
	dims := []string{"res", "child", "cluster", "part"}
	if byCluster {
		dims = append(dims, "cluster-day")
	}
	if detail {
		dims = append(dims, "user")
	}
	// The page's reads are independent: run them at once, each on its own
	// connection, so a big group's page costs its slowest query, not their sum.
	var (
		sp       ledger.Spend
		crumbs   []views.Crumb
		bs       []ledger.BudgetStatus
		children map[int64]ledger.Group
		eff      views.Table
	)
	var eg errgroup.Group
	eg.Go(func() (err error) { sp, err = s.ledger.GroupSpend(ctx, g.ID, win.From, win.To, dims...); return })
	eg.Go(func() (err error) { crumbs, err = s.crumbs(ctx, p, g); return })
	eg.Go(func() (err error) { children, err = s.childNames(ctx, g); return })
	wantCSV := r.URL.Query().Get("csv")
	effRows := tableRows
	if wantCSV == "efficiency" {
		effRows = 1 << 30 // the download has every row
	}
	eg.Go(func() (err error) { eff, err = s.efficiencyTable(ctx, g, win, detail, effRows); return })
	var topCost, topWaste views.Table
	var storage []ledger.StorageUse
	eg.Go(func() (err error) { storage, err = s.ledger.GroupStorage(ctx, g.ID, win.To.Add(-time.Second)); return })
	eg.Go(func() (err error) { topCost, err = s.topJobsTable(ctx, p, g, win, false, detail); return })
	eg.Go(func() (err error) { topWaste, err = s.topJobsTable(ctx, p, g, win, true, detail); return })
	if win.MonthToDate {
		eg.Go(func() (err error) { bs, err = s.ledger.BudgetStatuses(ctx, g.ID, s.now()); return })
	}
	if err := eg.Wait(); err != nil {
		s.serverError(w, r, err)
		return
	}
	page := views.DashboardPage{Layout: s.layout(r, g.Name), Slug: g.Slug, Name: g.Name, Crumbs: crumbs,
		Period: win.Label, Periods: win.choices(s), From: win.CustomFrom, To: win.CustomTo, Total: s.money(sp.Total),
		CanManage: p.CanManage(g.Path), Statements: "/groups/" + g.Slug + "/statements",
		Leaderboard: "/groups/" + g.Slug + "/leaderboard?" + win.query()}
	for _, b := range bs {
		page.Budgets = append(page.Budgets, s.budgetView(b))
	}
	page.Chart = s.dailyChart(sp, win, byCluster)
	page.StackBy = "resource"
	if byCluster {
		page.StackBy = "cluster"
	}
	page.Query = win.query()

	csv := "/api/v1/groups/" + g.Slug + "/usage?format=csv&" + win.query()
	sub := views.Table{Title: "By subgroup", Head: []string{"Group", "Spend", "Share"}, Numeric: []bool{false, true, true},
		Empty: "No subgroups, or none used anything.", CSV: csv + "&by=subgroup"}
	for _, row := range sortSpend(sp.BySubgroup) {
		name, slug := g.Name+" (itself)", ""
		if row.GroupID != 0 {
			name, slug = children[row.GroupID].Name, children[row.GroupID].Slug
		}
		link := ""
		if slug != "" {
			link = "/groups/" + slug + "?" + win.query()
		}
		sub.Rows = append(sub.Rows, views.Row{Cells: []string{name, s.money(row.Amount), share(row.Amount, sp.Total)}, Link: link})
	}
	res := views.Table{Title: "By resource", Head: []string{"Resource", "Quantity", "Spend"}, Numeric: []bool{false, true, true},
		Empty: "Nothing used in this period.", CSV: csv + "&by=resource"}
	for _, row := range sortSpend(sp.ByResource) {
		unit, _ := ledger.PricedUnit(row.Resource)
		res.Rows = append(res.Rows, views.Row{Cells: []string{resourceName(row.Resource), number(row.Quantity) + " " + unit + "s", s.money(row.Amount)}})
	}
	clusters := views.Table{Title: "By cluster", Head: []string{"Cluster", "Spend", "Share"}, Numeric: []bool{false, true, true},
		Empty: "Nothing used in this period.", CSV: csv + "&by=cluster"}
	for _, row := range sortSpend(sp.ByCluster) {
		clusters.Rows = append(clusters.Rows, views.Row{Cells: []string{row.Key, s.money(row.Amount), share(row.Amount, sp.Total)}})
	}
	parts := views.Table{Title: "By partition", Head: []string{"Cluster / partition", "Spend"}, Numeric: []bool{false, true},
		Empty: "Nothing used in this period.", CSV: csv + "&by=partition"}
	for _, row := range sortSpend(sp.ByPart) {
		key := strings.TrimSuffix(row.Key, "/")
		parts.Rows = append(parts.Rows, views.Row{Cells: []string{key, s.money(row.Amount)}})
	}
	page.Tables = []views.Table{topRows(sub, tableRows), res, clusters, topRows(parts, tableRows), s.storageTable(storage)}
	if detail {
		users := views.Table{Title: "By user", Head: []string{"Person", "Spend", "Share"}, Numeric: []bool{false, true, true},
			Empty: "Nobody used anything in this period.", CSV: csv + "&by=user"}
		ranked := sortSpend(sp.ByUser)
		if len(ranked) > tableRows {
			users.More, ranked = len(ranked)-tableRows, ranked[:tableRows]
		}
		names, err := s.userNames(ctx, ranked)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		for _, row := range ranked {
			users.Rows = append(users.Rows, views.Row{Cells: []string{names[row.UserID], s.money(row.Amount), share(row.Amount, sp.Total)}})
		}
		page.Tables = append(page.Tables, users)
	}
	page.Efficiency = []views.Table{topCost, topWaste, eff}
	storageT := &page.Tables[4]
	for _, t := range []*views.Table{storageT, &page.Efficiency[0], &page.Efficiency[1], &page.Efficiency[2]} {
		t.CSV = csvLink(r, t.ID)
	}
	if wantCSV != "" {
		s.tableCSV(w, r, g.Slug, wantCSV, append(append([]views.Table{}, page.Tables...), page.Efficiency...))
		return
	}
	s.render(w, r, views.Dashboard(page))
}

// dailyChart stacks each day's spend by resource (or by cluster).
func (s *Server) dailyChart(sp ledger.Spend, win window, byCluster bool) templ.Component {
	var days []time.Time
	for d := win.From; d.Before(win.To); d = d.AddDate(0, 0, 1) {
		days = append(days, d)
	}
	index := map[string]int{}
	labels, titles := make([]string, len(days)), make([]string, len(days))
	for i, d := range days {
		index[d.Format(time.DateOnly)] = i
		labels[i], titles[i] = d.Format("2 Jan"), d.Format("Mon 2 January 2006")
	}
	rows, keys, title := sp.ByDay, ledger.Resources(), "Daily spend by resource"
	name := resourceName
	if byCluster {
		rows, keys, title, name = sp.ByDayCluster, nil, "Daily spend by cluster", func(c string) string { return c }
		total := map[string]float64{}
		for _, row := range rows {
			if total[row.Resource] == 0 {
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
		if k >= 7 && byCluster { // beyond seven clusters: one "Other" series, in grey
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
		Series: series, FormatY: func(v float64) string { return s.money(v) }, Empty: "No spend in this period."})
}

func (s *Server) budgetView(b ledger.BudgetStatus) views.BudgetView {
	spent, _ := b.Spent.Float64()
	amount, _ := b.Amount.Float64()
	proj, _ := b.Projected.Float64()
	rem, _ := b.Remaining.Float64()
	fmtV := s.money
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

func sortSpend(rows []ledger.SpendRow) []ledger.SpendRow {
	out := append([]ledger.SpendRow(nil), rows...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Amount > out[j].Amount })
	return out
}

// crumbs are the group's ancestors and itself, each linked when the person may see it.
func (s *Server) crumbs(ctx context.Context, p *auth.Principal, g ledger.Group) ([]views.Crumb, error) {
	ancestors, err := s.ledger.Ancestors(ctx, g)
	if err != nil {
		return nil, err
	}
	out := make([]views.Crumb, 0, len(ancestors))
	for _, a := range ancestors {
		out = append(out, views.Crumb{Slug: a.Slug, Name: a.Name, Link: p.CanView(a.Path)})
	}
	return out, nil
}

func (s *Server) openLeaderboard(ctx context.Context, g ledger.Group) bool {
	open, err := s.ledger.LeaderboardOpen(ctx, g.ID)
	if err != nil {
		s.log.Warn("read open_leaderboard", "group", g.Slug, "err", err)
	}
	return open
}

// childNames maps the group's children by id.
func (s *Server) childNames(ctx context.Context, g ledger.Group) (map[int64]ledger.Group, error) {
	children, err := s.ledger.Children(ctx, g.ID)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]ledger.Group, len(children))
	for _, c := range children {
		out[c.ID] = c
	}
	return out, nil
}

func (s *Server) userNames(ctx context.Context, rows []ledger.SpendRow) (map[int64]string, error) {
	ids := make([]int64, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.UserID)
	}
	users, err := s.ledger.UserNames(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := map[int64]string{0: noUser}
	for id, u := range users {
		out[id] = u.DisplayName
		if out[id] == "" {
			out[id] = u.Login
		}
	}
	return out, nil
}
