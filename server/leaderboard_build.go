package server

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// The leaderboard's view model, built from loaded data without HTTP or a database.

// boardInput is what the leaderboard shows, loaded (loadBoard).
type boardInput struct {
	Group    ledger.Group
	Viewer   int64 // the signed-in person's user id: their own row is theirs to see
	Names    bool  // may the viewer see who the other members are
	Period   string
	Query    string // the window as a query, for the subgroups' links
	Crumbs   []views.Crumb
	Figures  boardData
	Users    map[int64]ledger.User  // everyone on the members' board
	Children map[int64]ledger.Group // every subgroup on the subgroups' board
	Money    tableMoney
}

// boardSortKeys are the orders a leaderboard can take, the default first.
var boardSortKeys = []views.Option{{Value: "spend", Label: "spend"}, {Value: "core", Label: "core-hours"},
	{Value: "gpu", Label: "GPU-hours"}, {Value: "storage", Label: "storage"}, {Value: "efficiency", Label: "CPU efficiency"},
	{Value: "waste", Label: "waste"}}

// boardSorts checks ?sort= ("" is spend) and returns the picker's options with it
// selected.
func boardSorts(key string) ([]views.Option, string, error) {
	if key == "" {
		key = boardSortKeys[0].Value
	}
	out := make([]views.Option, len(boardSortKeys))
	valid := false
	for i, o := range boardSortKeys {
		o.Selected = o.Value == key
		valid = valid || o.Selected
		out[i] = o
	}
	if !valid {
		return nil, "", badInputf("sort %q is not one: use spend, core, gpu, storage, efficiency or waste", key)
	}
	return out, key, nil
}

// buildLeaderboard makes the page (but its layout, picker options and download
// links, which need the request) from loaded data, ranked by sortKey.
func buildLeaderboard(d boardInput, sortKey string) views.LeaderboardPage {
	page := views.LeaderboardPage{Slug: d.Group.Slug, Name: d.Group.Name, Period: d.Period, Sort: sortKey, NamesHidden: !d.Names}
	for _, c := range d.Crumbs {
		if c.Link {
			page.Crumbs = append(page.Crumbs, c)
		}
	}
	page.Members = boardTable(d, true, sortKey)
	page.Subgroups = boardTable(d, false, sortKey)
	return page
}

// boardRow is one ranked member or subgroup.
type boardRow struct {
	id               int64
	name, link       string
	login, slug      string // for the download: who or which group, apart from the name
	dataName         string // the name in the download: "" where it is hidden
	spend, prevSpend float64
	usage            ledger.UsageRow
}

// metric is the figure a row ranks by.
func (b *boardRow) metric(sortKey string) float64 {
	switch sortKey {
	case "core":
		return b.usage.CoreHours
	case "gpu":
		return b.usage.GPUHours
	case "storage":
		return b.usage.StorageTBMonths
	case "efficiency":
		return b.usage.CPUEfficiency()
	case "waste":
		return b.usage.Waste
	}
	return b.spend
}

// rankedBoard keeps the rows that spent or used anything, ranked by sortKey,
// largest first; ties by the name shown, then id, so the order never depends on a
// map's.
func rankedBoard(rows map[int64]*boardRow, sortKey string) []*boardRow {
	list := make([]*boardRow, 0, len(rows))
	for _, b := range rows {
		if b.spend != 0 || b.usage.CoreHours != 0 || b.usage.GPUHours != 0 || b.usage.StorageTBMonths != 0 {
			list = append(list, b)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if ma, mb := a.metric(sortKey), b.metric(sortKey); ma != mb {
			return ma > mb
		}
		if a.name != b.name {
			return a.name < b.name
		}
		return a.id < b.id
	})
	return list
}

// boardTable is the members' (byUser) or the subgroups' table, ranked by sortKey.
func boardTable(d boardInput, byUser bool, sortKey string) views.Table {
	t := views.Table{ID: "subgroups", Title: "Subgroups", Empty: "No subgroups used anything in this period.",
		Head:    []string{"#", "Group", "Spend", "Change", "Core-hours", "GPU-hours", "Storage (TB-months)", "CPU efficiency", "Waste"},
		Numeric: []bool{true, false, true, true, true, true, true, true, true}, NameCol: 1,
		DataHead: []string{"rank", "group", "group_name", "spend", "previous_spend", "change", "core_hours", "gpu_hours",
			"storage_tb_months", "cpu_efficiency", "waste"},
		DataNumeric: []bool{true, false, false, true, true, true, true, true, true, true, true}}
	if byUser {
		t.ID, t.Title, t.Head[1], t.Empty = "members", "Members", "Person", "Nobody used anything in this period."
		t.Note = wasteNote
		t.DataHead = append([]string{"rank", "login", "name"}, t.DataHead[3:]...)
	}
	money := d.Money
	for i, b := range rankedBoard(boardRows(d, byUser), sortKey) {
		change, changeData := "new", ""
		switch {
		case b.prevSpend != 0:
			rel := (b.spend - b.prevSpend) / b.prevSpend
			change, changeData = strings.Replace(fmt.Sprintf("%+.0f%%", rel*100), "-", "−", 1), decimalFloat(rel, 4)
		case b.spend == 0:
			change = "–"
		}
		eff := ""
		if b.usage.CoreHours > 0 {
			eff = decimalFloat(b.usage.CPUEfficiency(), 4)
		}
		rank := strconv.Itoa(i + 1)
		id, name := b.slug, b.dataName
		if byUser {
			id = b.login
		}
		t.Rows = append(t.Rows, views.Row{
			Cells: []string{rank, b.name, money.text(b.spend), change, number(b.usage.CoreHours),
				number(b.usage.GPUHours), number(b.usage.StorageTBMonths), percent(b.usage.CPUEfficiency()), money.text(b.usage.Waste)},
			Hint: hint(b.usage), Link: b.link, Mine: byUser && b.id == d.Viewer,
			Data: []string{rank, id, name, money.data(b.spend), money.data(b.prevSpend), changeData, quantity(b.usage.CoreHours),
				quantity(b.usage.GPUHours), quantity(b.usage.StorageTBMonths), eff, money.data(b.usage.Waste)}})
	}
	return t
}

// boardRows joins spend, the previous window's spend and usage by member (byUser)
// or subgroup, and names each row as the viewer may see it.
func boardRows(d boardInput, byUser bool) map[int64]*boardRow {
	f := d.Figures
	rows := map[int64]*boardRow{}
	get := func(id int64) *boardRow {
		if rows[id] == nil {
			rows[id] = &boardRow{id: id}
		}
		return rows[id]
	}
	spendRows, prevRows, usage := f.cur.BySubgroup, f.prev.BySubgroup, f.childUsage
	key := func(sr ledger.SpendRow) int64 { return sr.GroupID }
	if byUser {
		spendRows, prevRows, usage = f.cur.ByUser, f.prev.ByUser, f.userUsage
		key = func(sr ledger.SpendRow) int64 { return sr.UserID }
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
		get(id).usage = u
	}
	for id, b := range rows {
		switch {
		case !byUser && id == 0:
			b.name, b.slug = d.Group.Name+" (itself)", d.Group.Slug
			b.dataName = b.name
		case !byUser:
			c := d.Children[id]
			b.name, b.slug, b.link = c.Name, c.Slug, "/groups/"+c.Slug+"/leaderboard?"+d.Query
			b.dataName = b.name
		case id == 0:
			// Usage no person ran is nobody's to hide.
			b.name, b.dataName = noUser, noUser
		case id == d.Viewer:
			u := d.Users[id]
			b.name, b.login, b.dataName = "You ("+u.Login+")", u.Login, displayName(u)
		case !d.Names:
			b.name = "—"
		default:
			u := d.Users[id]
			b.name, b.login = displayName(u), u.Login
			b.dataName = b.name
		}
	}
	return rows
}
