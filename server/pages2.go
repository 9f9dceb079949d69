package server

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"
	"golang.org/x/sync/errgroup"

	"github.com/parsimony-hpc/parsimony/charts"
	"github.com/parsimony-hpc/parsimony/export"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/statementdoc"
	"github.com/parsimony-hpc/parsimony/views"
)

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
			series = append(series, charts.Series{Name: "Other", Values: vals})
			continue
		}
		series = append(series, charts.Series{Name: name(key), Values: vals})
	}
	return charts.StackedBars(charts.StackedBarsOptions{Title: title, XLabels: labels, XTitles: titles,
		Series: series, FormatY: func(v float64) string { return s.money(v) }, Empty: "No spend in this period."})
}

// leaderboard ranks a group's members and subgroups.
func (s *Server) leaderboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, g := principal(r), routeGroup(r)
	win, err := s.pickWindow(r)
	if err != nil {
		s.requestFailed(w, r, err)
		return
	}
	open := s.openLeaderboard(ctx, g)
	names := p.CanSeeMembers(g.Path, open)
	sortKey := r.URL.Query().Get("sort")
	sorts := []views.PeriodChoice{{Value: "spend", Label: "spend"}, {Value: "core", Label: "core-hours"}, {Value: "gpu", Label: "GPU-hours"},
		{Value: "storage", Label: "storage"}, {Value: "efficiency", Label: "CPU efficiency"}, {Value: "waste", Label: "waste"}}
	valid := false
	for i := range sorts {
		sorts[i].Selected = sorts[i].Value == sortKey
		valid = valid || sorts[i].Selected
	}
	switch {
	case sortKey == "":
		sortKey, sorts[0].Selected = "spend", true
	case !valid:
		s.badRequest(w, r, fmt.Sprintf("sort %q is not one: use spend, core, gpu, storage, efficiency or waste", sortKey))
		return
	}
	crumbs, err := s.crumbs(ctx, p, g)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page := views.LeaderboardPage{Layout: s.layout(r, "Leaderboard · "+g.Name), Slug: g.Slug, Name: g.Name, Period: win.Label,
		Periods: win.choices(s), Sorts: sorts, Sort: sortKey, NamesHidden: !names}
	for _, c := range crumbs {
		if c.Link {
			page.Crumbs = append(page.Crumbs, c)
		}
	}
	data, err := s.boardSpend(r, g, win)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	for _, byUser := range []bool{true, false} {
		board, err := s.board(r, g, win, data, byUser, sortKey, names)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		if byUser {
			board.ID = "members"
			page.Members = board
		} else {
			board.ID = "subgroups"
			page.Subgroups = board
		}
	}
	page.Members.CSV, page.Subgroups.CSV = csvLink(r, "members"), csvLink(r, "subgroups")
	if id := r.URL.Query().Get("csv"); id != "" {
		s.tableCSV(w, r, g.Slug, id, []views.Table{page.Members, page.Subgroups})
		return
	}
	s.render(w, r, views.Leaderboard(page))
}

// boardRow is one ranked member or subgroup.
type boardRow struct {
	id               int64
	name, link       string
	spend, prevSpend float64
	usage            ledger.UsageRow
	waste            float64 // money: spend × idle share of reserved cores
	eff              float64
}

// boardData is what both leaderboards read: spend by member and subgroup in the
// window and the one before, and usage by member and by subgroup.
type boardData struct {
	cur, prev             ledger.Spend
	userUsage, childUsage []ledger.UsageRow
}

// boardSpend reads the leaderboards' data, the four reads at once.
func (s *Server) boardSpend(r *http.Request, g ledger.Group, win window) (d boardData, err error) {
	ctx := r.Context()
	var eg errgroup.Group
	eg.Go(func() (err error) {
		d.cur, err = s.ledger.GroupSpend(ctx, g.ID, win.From, win.To, "user", "child")
		return
	})
	eg.Go(func() (err error) {
		d.prev, err = s.ledger.GroupSpend(ctx, g.ID, win.PrevFrom, win.PrevTo, "user", "child")
		return
	})
	eg.Go(func() (err error) { d.userUsage, err = s.ledger.GroupUsage(ctx, g.ID, win.From, win.To, true); return })
	eg.Go(func() (err error) {
		d.childUsage, err = s.ledger.GroupUsage(ctx, g.ID, win.From, win.To, false)
		return
	})
	err = eg.Wait()
	return
}

func (s *Server) board(r *http.Request, g ledger.Group, win window, d boardData, byUser bool, sortKey string, names bool) (views.Table, error) {
	ctx := r.Context()
	p := principal(r)
	cur, prev, usage := d.cur, d.prev, d.childUsage
	if byUser {
		usage = d.userUsage
	}
	rows := map[int64]*boardRow{}
	get := func(id int64) *boardRow {
		if rows[id] == nil {
			rows[id] = &boardRow{id: id}
		}
		return rows[id]
	}
	spendRows, prevRows := cur.BySubgroup, prev.BySubgroup
	if byUser {
		spendRows, prevRows = cur.ByUser, prev.ByUser
	}
	key := func(sr ledger.SpendRow) int64 {
		if byUser {
			return sr.UserID
		}
		return sr.GroupID
	}
	for _, sr := range spendRows {
		get(key(sr)).spend += sr.Amount
	}
	for _, sr := range prevRows {
		get(key(sr)).prevSpend += sr.Amount
	}
	for _, u := range usage {
		id := u.GroupID
		if byUser {
			id = u.UserID
		}
		b := get(id)
		b.usage = u
		b.eff = u.CPUEfficiency()
		if u.CoreHours > 0 {
			b.waste = b.spend * (1 - u.CPUEfficiency())
		}
	}
	t := views.Table{Title: "Subgroups", Empty: "No subgroups used anything in this period.",
		Head:    []string{"#", "Group", "Spend", "Change", "Core-hours", "GPU-hours", "Storage (TB-months)", "CPU efficiency", "Waste"},
		Numeric: []bool{true, false, true, true, true, true, true, true, true}, NameCol: 1}
	if byUser {
		t.Title, t.Head[1], t.Empty = "Members", "Person", "Nobody used anything in this period."
		ids := make([]int64, 0, len(rows))
		for id := range rows {
			ids = append(ids, id)
		}
		users, err := s.ledger.UserNames(ctx, ids)
		if err != nil {
			return t, err
		}
		for id, b := range rows {
			switch {
			case id == p.UserID:
				b.name = "You (" + users[id].Login + ")"
			case !names:
				b.name = "—"
			case id == 0:
				b.name = noUser
			default:
				b.name = users[id].DisplayName
				if b.name == "" {
					b.name = users[id].Login
				}
			}
		}
	} else {
		children, err := s.childNames(ctx, g)
		if err != nil {
			return t, err
		}
		for id, b := range rows {
			if id == 0 {
				b.name = g.Name + " (itself)"
				continue
			}
			b.name, b.link = children[id].Name, "/groups/"+children[id].Slug+"/leaderboard?"+win.query()
		}
	}
	list := make([]*boardRow, 0, len(rows))
	for _, b := range rows {
		if b.spend != 0 || b.usage.CoreHours != 0 || b.usage.GPUHours != 0 || b.usage.StorageTBMonths != 0 {
			list = append(list, b)
		}
	}
	metric := func(b *boardRow) float64 {
		switch sortKey {
		case "core":
			return b.usage.CoreHours
		case "gpu":
			return b.usage.GPUHours
		case "storage":
			return b.usage.StorageTBMonths
		case "efficiency":
			return b.eff
		case "waste":
			return b.waste
		}
		return b.spend
	}
	sort.SliceStable(list, func(i, j int) bool {
		if metric(list[i]) != metric(list[j]) {
			return metric(list[i]) > metric(list[j])
		}
		return list[i].name < list[j].name
	})
	for i, b := range list {
		change := "new"
		if b.prevSpend != 0 {
			change = strings.Replace(fmt.Sprintf("%+.0f%%", (b.spend-b.prevSpend)/b.prevSpend*100), "-", "−", 1)
		} else if b.spend == 0 {
			change = "–"
		}
		t.Rows = append(t.Rows, views.Row{Cells: []string{strconv.Itoa(i + 1), b.name, s.money(b.spend), change, number(b.usage.CoreHours),
			number(b.usage.GPUHours), number(b.usage.StorageTBMonths), percent(b.eff), s.money(b.waste)}, Hint: hint(b.usage),
			Link: b.link, Mine: byUser && b.id == p.UserID})
	}
	return t, nil
}

// groupStatements lists a billable group's statements (and its open draft).
func (s *Server) groupStatements(w http.ResponseWriter, r *http.Request) {
	g := routeGroup(r)
	rows, err := s.ledger.Pool().Query(r.Context(), `
		SELECT to_char(period, 'YYYY-MM'), number, total_minor FROM statements WHERE group_id = $1 ORDER BY period DESC`, g.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	defer rows.Close()
	_, digits := s.ledger.Currency()
	t := views.Table{Title: "Statements", Head: []string{"Period", "Number", "Total"}, Numeric: []bool{false, false, true},
		Empty: "No closed periods yet: statements appear here when finance closes a month."}
	for rows.Next() {
		var period, number string
		var total int64
		if err := rows.Scan(&period, &number, &total); err != nil {
			s.serverError(w, r, err)
			return
		}
		t.Rows = append(t.Rows, views.Row{Cells: []string{period, number, s.moneyMinor(total, digits)},
			Link: "/groups/" + g.Slug + "/statements/" + period})
	}
	if err := rows.Err(); err != nil {
		s.serverError(w, r, err)
		return
	}
	note := "Statements are for billable groups: this group's usage is billed to the group above it that is billable."
	if g.Billable {
		open := s.now().In(s.ledger.Location())
		note = "Final statements never change. The current month's statement is a draft until finance closes the month."
		t.Rows = append([]views.Row{{Cells: []string{open.Format("January 2006"), "draft", "–"},
			Link: "/groups/" + g.Slug + "/statements/" + open.Format("2006-01")}}, t.Rows...)
	}
	s.render(w, r, views.StatementList(views.StatementListPage{Layout: s.layout(r, "Statements · "+g.Name),
		Title: "Statements · " + g.Name, Note: note, Table: t}))
}

func (s *Server) moneyMinor(minor int64, digits int) string {
	return s.money(float64(minor) / math.Pow10(digits))
}

// findStatement returns the group's statement for the {period}.
func (s *Server) findStatement(r *http.Request) (ledger.Statement, error) {
	g := routeGroup(r)
	month, err := time.Parse("2006-01", chi.URLParam(r, "period"))
	if err != nil {
		return ledger.Statement{}, ledger.ErrNotFound
	}
	sts, _, err := s.ledger.Statements(r.Context(), month)
	if err != nil {
		return ledger.Statement{}, err
	}
	for _, st := range sts {
		if st.GroupID == g.ID {
			return st, nil
		}
	}
	return ledger.Statement{}, ledger.ErrNotFound
}

func (s *Server) statement(w http.ResponseWriter, r *http.Request) {
	st, err := s.findStatement(r)
	if errors.Is(err, ledger.ErrNotFound) {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	base := r.URL.Path
	s.render(w, r, views.StatementPage(views.StatementPageProps{Layout: s.layout(r, "Statement "+st.Number), Statement: st,
		PDF: base + "/pdf", CSV: base + "/csv", Back: "/groups/" + st.GroupSlug + "/statements"}))
}

func (s *Server) statementPDF(w http.ResponseWriter, r *http.Request) {
	st, err := s.findStatement(r)
	if errors.Is(err, ledger.ErrNotFound) {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := statementdoc.PDF(&buf, s.siteName, st); err != nil {
		s.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.pdf"`, st.Number, st.GroupSlug))
	w.Write(buf.Bytes())
}

func (s *Server) statementCSV(w http.ResponseWriter, r *http.Request) {
	st, err := s.findStatement(r)
	if errors.Is(err, ledger.ErrNotFound) {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	// The finance export's columns and writer: text cells a spreadsheet would run
	// as formulas are quoted, the numbers stay numbers.
	cw, err := export.NewCSVWriter(w)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, st.Number, st.GroupSlug))
	cw.Write(export.Columns)
	for i, ln := range st.Lines {
		cw.Write([]string{st.Period, st.Number, st.Status, st.GroupPath, st.GroupName, st.CostCentre, st.PI, strconv.Itoa(i + 1),
			ln.Kind, ln.Description, ln.Resource, ln.Cluster, ln.UsageMonth, ln.Quantity, ln.Unit, ln.UnitPrice,
			ledger.PlainMinor(ln.AmountMinor, st.MinorDigits), st.Currency})
	}
	if err := cw.Flush(); err != nil {
		s.log.Warn("statement csv not written whole", "statement", st.Number, "err", err)
	}
}
