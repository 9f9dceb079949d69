package server

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// A group's leaderboard (/groups/{group}/leaderboard): members and subgroups
// ranked by spend, usage or waste, with the change against the period before.

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
	sorts := []views.Option{{Value: "spend", Label: "spend"}, {Value: "core", Label: "core-hours"}, {Value: "gpu", Label: "GPU-hours"},
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
