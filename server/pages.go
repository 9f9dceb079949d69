package server

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/internal/csvsafe"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// home lists the signed-in person's groups with this month's spend, their share
// and rank, and the group's budget.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	ctx := r.Context()
	win, err := s.pickWindow(r)
	if err != nil {
		s.requestFailed(w, r, err)
		return
	}
	page := views.HomePage{Layout: s.layout(r, "My groups"), Name: p.Display(), Period: win.Label}
	// A person's groups: the ones they hold a role in (not every descendant).
	seen := map[int64]bool{}
	for _, m := range p.Memberships {
		if seen[m.GroupID] {
			continue
		}
		seen[m.GroupID] = true
		g, err := s.ledger.GroupByID(ctx, m.GroupID)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		card, err := s.groupCard(ctx, p, g, win)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		page.Groups = append(page.Groups, card)
	}
	if p.Everything() && len(page.Groups) == 0 {
		// Admin and finance see everything: start them at the top of the tree.
		groups, err := s.ledger.Groups(ctx)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		for _, g := range groups {
			if g.ParentID != 0 || g.ArchivedAt != nil {
				continue
			}
			card, err := s.groupCard(ctx, p, g, win)
			if err != nil {
				s.serverError(w, r, err)
				return
			}
			card.Role = map[bool]string{true: "admin", false: "finance"}[p.Admin]
			page.Groups = append(page.Groups, card)
		}
	}
	sort.Slice(page.Groups, func(i, j int) bool {
		return page.Groups[i].Path+page.Groups[i].Name < page.Groups[j].Path+page.Groups[j].Name
	})
	s.render(w, r, views.Home(page))
}

func (s *Server) groupCard(ctx context.Context, p *auth.Principal, g ledger.Group, win window) (views.GroupCard, error) {
	card := views.GroupCard{Slug: g.Slug, Name: g.Name, Kind: g.Kind, Role: roleName(p.RoleIn(g.Path))}
	crumbs, err := s.crumbs(ctx, p, g)
	if err != nil {
		return card, err
	}
	var names []string
	for _, c := range crumbs[:len(crumbs)-1] {
		names = append(names, c.Name)
	}
	card.Path = strings.Join(names, " › ")
	sp, err := s.ledger.GroupSpend(ctx, g.ID, win.From, win.To, "res", "user")
	if err != nil {
		return card, err
	}
	card.GroupSpend = s.money(sp.Total)
	var mine float64
	ranked := append([]ledger.SpendRow(nil), sp.ByUser...)
	sort.Slice(ranked, func(i, j int) bool { return ranked[i].Amount > ranked[j].Amount })
	for i, u := range ranked {
		if u.UserID == p.UserID {
			mine = u.Amount
			card.Rank = fmt.Sprintf("%s of %d", ordinal(i+1), len(ranked))
		}
	}
	card.MySpend = s.money(mine)
	usage, err := s.ledger.GroupUsage(ctx, g.ID, win.From, win.To, true)
	if err != nil {
		return card, err
	}
	for _, u := range usage {
		if u.UserID != p.UserID {
			continue
		}
		var parts []string
		if u.CoreHours > 0 {
			parts = append(parts, number(u.CoreHours)+" core-hours", percent(u.CPUEfficiency())+" CPU efficiency")
		}
		if u.GPUHours > 0 {
			parts = append(parts, number(u.GPUHours)+" GPU-hours")
		}
		card.MyUsage = strings.Join(parts, " · ")
	}
	if sp.Total > 0 && mine > 0 {
		card.MyShare = percent(mine / sp.Total)
	}
	bs, err := s.ledger.BudgetStatuses(ctx, g.ID, s.now())
	if err != nil {
		return card, err
	}
	for _, b := range bs {
		if b.Resource == "" && b.Span == ledger.SpanMonth {
			spent, _ := b.Spent.Float64()
			amount, _ := b.Amount.Float64()
			card.Budget = s.money(spent) + " of " + s.money(amount)
		}
	}
	return card, nil
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

func share(v, total float64) string {
	if total <= 0 {
		return "–"
	}
	return percent(v / total)
}

func sortSpend(rows []ledger.SpendRow) []ledger.SpendRow {
	out := append([]ledger.SpendRow(nil), rows...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Amount > out[j].Amount })
	return out
}

func resourceName(r string) string {
	switch r {
	case ledger.ResourceCPU:
		return "CPU"
	case ledger.ResourceGPU:
		return "GPU"
	case ledger.ResourceMemory:
		return "Memory"
	case ledger.ResourceStorage:
		return "Storage"
	case ledger.ResourceBilling:
		return "Billing TRES"
	}
	return r
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

func (s *Server) openLeaderboard(ctx context.Context, g ledger.Group) bool {
	var open bool
	if err := s.ledger.Pool().QueryRow(ctx, `SELECT open_leaderboard FROM groups WHERE id = $1`, g.ID).Scan(&open); err != nil {
		s.log.Warn("read open_leaderboard", "group", g.Slug, "err", err)
	}
	return open
}

// childNames maps the group's children by id.
func (s *Server) childNames(ctx context.Context, g ledger.Group) (map[int64]ledger.Group, error) {
	rows, err := s.ledger.Pool().Query(ctx, `SELECT id, slug, name FROM groups WHERE parent_id = $1`, g.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]ledger.Group{}
	for rows.Next() {
		var c ledger.Group
		if err := rows.Scan(&c.ID, &c.Slug, &c.Name); err != nil {
			return nil, err
		}
		out[c.ID] = c
	}
	return out, rows.Err()
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

// efficiencyTable explains CPU and memory efficiency per subgroup (or per person for
// those who may see member detail).
func (s *Server) efficiencyTable(ctx context.Context, g ledger.Group, win window, byUser bool, limit int) (views.Table, error) {
	t := views.Table{ID: "efficiency", Title: "Efficiency",
		Note: "CPU efficiency is CPU time used ÷ cores reserved × time: 50% means half the reserved cores sat idle. " +
			"Memory efficiency is the peak memory used ÷ memory requested. GPU-hours are GPUs reserved × time.",
		Head: []string{"", "Core-hours", "CPU efficiency", "GPU-hours", "Memory efficiency", "Jobs"}, Numeric: []bool{false, true, true, true, true, true},
		Empty: "Nothing ran in this period."}
	all, err := s.ledger.GroupUsage(ctx, g.ID, win.From, win.To, byUser)
	if err != nil {
		return t, err
	}
	// The busiest first, and names only for the rows shown (the CSV has the rest).
	rows := make([]ledger.UsageRow, 0, len(all))
	for _, u := range all {
		if u.CoreHours != 0 || u.GPUHours != 0 {
			rows = append(rows, u)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].CoreHours > rows[j].CoreHours })
	if len(rows) > limit {
		t.More, rows = len(rows)-limit, rows[:limit]
	}
	names := map[int64]string{}
	if byUser {
		t.Head[0] = "Person"
		ids := make([]int64, 0, len(rows))
		for _, r := range rows {
			ids = append(ids, r.UserID)
		}
		users, err := s.ledger.UserNames(ctx, ids)
		if err != nil {
			return t, err
		}
		names[0] = noUser
		for id, u := range users {
			names[id] = u.DisplayName
			if names[id] == "" {
				names[id] = u.Login
			}
		}
	} else {
		t.Head[0] = "Group"
		children, err := s.childNames(ctx, g)
		if err != nil {
			return t, err
		}
		names[0] = g.Name + " (itself)"
		for id, c := range children {
			names[id] = c.Name
		}
	}
	for _, u := range rows {
		key := names[u.GroupID]
		if byUser {
			key = names[u.UserID]
		}
		t.Rows = append(t.Rows, views.Row{Cells: []string{key, number(u.CoreHours), percent(u.CPUEfficiency()), number(u.GPUHours),
			percent(u.MemEfficiency()), ledger.GroupThousands(fmt.Sprint(u.Jobs))}, Hint: hint(u)})
	}
	return t, nil
}

// hint is a short, kind sentence about a row's worst habit, if it has one.
func hint(u ledger.UsageRow) string {
	switch {
	case u.MemGBHours > 100 && u.MemEfficiency() < 0.25:
		return fmt.Sprintf("requests about %.0f× the memory it peaks at", 1/max(u.MemEfficiency(), 0.01))
	case u.CoreHours > 100 && u.CPUEfficiency() < 0.3:
		return fmt.Sprintf("%s of reserved cores sat idle", percent(1-u.CPUEfficiency()))
	}
	return ""
}

// since formats a time for tables.
func since(t *time.Time) string {
	if t == nil {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// noUser names usage no person ran: storage of shared project space, service
// accounts the sources did not name.
const noUser = "(no person: shared storage, services)"

func roleName(r string) string {
	switch r {
	case "pi":
		return "PI"
	case "":
		return "a viewer"
	}
	return r
}

// tableRows is how many rows a dashboard table shows; the rest are in its CSV.
const tableRows = 25

// topRows keeps a table's first n rows and says how many more there are.
func topRows(t views.Table, n int) views.Table {
	if len(t.Rows) > n {
		t.More = len(t.Rows) - n
		t.Rows = t.Rows[:n]
	}
	return t
}

// topJobsTable lists the subtree's most expensive (or most wasteful) jobs of the
// period's months. Who ran them is member-level detail: others see their own name
// only.
func (s *Server) topJobsTable(ctx context.Context, p *auth.Principal, g ledger.Group, win window, byWaste, detail bool) (views.Table, error) {
	t := views.Table{ID: "top-cost", Title: "Top jobs by cost", Empty: "No priced jobs in this period.",
		Head:    []string{"Job", "Person", "Cluster / partition", "Ran", "State", "Cost", "Waste"},
		Numeric: []bool{false, false, false, false, false, true, true}}
	if byWaste {
		t.ID, t.Title = "top-waste", "Top jobs by waste"
		t.Note = "Waste is what a job reserved and did not use (idle cores, memory above its peak), priced at its rates."
		t.Head = append(t.Head, "CPU efficiency", "Memory efficiency")
		t.Numeric = append(t.Numeric, true, true)
	}
	jobs, err := s.ledger.TopJobs(ctx, g.ID, win.From, win.To, byWaste, 10)
	if err != nil {
		return t, err
	}
	ids := make([]int64, 0, len(jobs))
	for _, j := range jobs {
		ids = append(ids, j.UserID)
	}
	users, err := s.ledger.UserNames(ctx, ids)
	if err != nil {
		return t, err
	}
	loc := s.ledger.Location()
	for _, j := range jobs {
		who := "—"
		if u, ok := users[j.UserID]; ok && (detail || j.UserID == p.UserID) {
			who = u.Login
		}
		name := j.ExternalID
		if j.JobName != "" {
			name += " · " + j.JobName
		}
		ran := j.Start.In(loc).Format("2 Jan 15:04") + " – " + j.End.In(loc).Format("2 Jan 15:04")
		cells := []string{name, who, j.Cluster + "/" + j.Partition, ran, strings.ToLower(j.State), s.money(j.Cost), s.money(j.Waste)}
		if byWaste {
			cells = append(cells, ptrPercent(j.CPUEff), ptrPercent(j.MemEff))
		}
		t.Rows = append(t.Rows, views.Row{Cells: cells})
	}
	return t, nil
}

func ptrPercent(f *float64) string {
	if f == nil {
		return "–"
	}
	return percent(*f)
}

// storageTable shows what the subtree holds on each file system against its quotas.
func (s *Server) storageTable(rows []ledger.StorageUse) views.Table {
	t := views.Table{ID: "storage", Title: "Storage against quota", Head: []string{"File system", "Used", "Quota", "Use"},
		Numeric: []bool{false, true, true, true}, Empty: "No storage recorded."}
	for _, st := range rows {
		quota, use, hint := "none", "–", ""
		if st.Quota > 0 {
			quota, use = terabytes(st.Quota), percent(st.Bytes/st.Quota)
		}
		if st.OverQuota > 0 {
			hint = fmt.Sprintf("%d of %d directories at 90%% of their quota or more", st.OverQuota, st.Owners)
		}
		t.Rows = append(t.Rows, views.Row{Cells: []string{st.Filesystem, terabytes(st.Bytes), quota, use}, Hint: hint})
	}
	if len(rows) > 0 {
		t.Note = "As of " + rows[0].Day.Format("2 January 2006") + ", the last snapshot in the period."
	}
	return t
}

// terabytes writes bytes in TB (10^12), or GB under one TB.
func terabytes(b float64) string {
	if b < 1e12 {
		return number(b/1e9) + " GB"
	}
	return number(b/1e12) + " TB"
}

// csvLink is the page's own URL asking for one of its tables as CSV.
func csvLink(r *http.Request, id string) string {
	q := r.URL.Query()
	q.Set("csv", id)
	return r.URL.Path + "?" + q.Encode()
}

// tableCSV writes the page's table named id as CSV — the same rows and formatted
// values the page shows, with each row's hint — or 404 when there is none.
func (s *Server) tableCSV(w http.ResponseWriter, r *http.Request, slug, id string, tables []views.Table) {
	for _, t := range tables {
		if t.ID != id || id == "" {
			continue
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, slug, id))
		// Names a spreadsheet would run as formulas are quoted; the table's numeric
		// columns are written as they are (package csvsafe).
		cw := csvsafe.NewWriter(w, t.Numeric)
		cw.Write(append(append([]string{}, t.Head...), "note"))
		for _, row := range t.Rows {
			cw.Write(append(append([]string{}, row.Cells...), row.Hint))
		}
		if err := cw.Flush(); err != nil {
			s.log.Warn("table csv not written whole", "table", id, "err", err)
		}
		return
	}
	s.notFound(w, r)
}
