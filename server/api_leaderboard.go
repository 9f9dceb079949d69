package server

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// The leaderboard as JSON (/api/v1/groups/{group}/leaderboard): the page's data
// (boardSpend, leaderboard.go), ranked by spend, as figures rather than the
// page's text.

func (s *Server) apiLeaderboard(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, g := principal(r), routeGroup(r)
	win, err := s.pickWindow(r)
	if err != nil {
		return err
	}
	names := p.CanSeeMembers(g.Path, s.openLeaderboard(ctx, g))
	data, err := s.boardSpend(r, g, win)
	if err != nil {
		return fmt.Errorf("api leaderboard of %s: %w", g.Slug, err)
	}
	cur, _ := s.ledger.Currency()
	out := apiLeaderboard{Group: g.Slug, GroupName: g.Name, From: s.apiTime(win.From), To: s.apiTime(win.To),
		PrevFrom: s.apiTime(win.PrevFrom), PrevTo: s.apiTime(win.PrevTo), Currency: cur, NamesShown: names,
		Members: []apiBoardMember{}, Subgroups: []apiBoardSubgroup{}}

	members := boardLines(data.cur.ByUser, data.prev.ByUser, data.userUsage, true)
	users, err := s.ledger.UserNames(ctx, lineIDs(members))
	if err != nil {
		return fmt.Errorf("api leaderboard of %s: %w", g.Slug, err)
	}
	key := func(l boardLine) string {
		if !names {
			return "" // ties in id order: an order by login would hint at who is who
		}
		return users[l.id].Login
	}
	for i, l := range rankLines(members, key) {
		m := apiBoardMember{Rank: i + 1, You: l.id != 0 && l.id == p.UserID, apiBoardFigures: s.boardFigures(l)}
		u, known := users[l.id]
		switch {
		case !names && !m.You:
			// Not for this caller: who it is stays null.
		case known:
			m.Login, m.Name = orNull(u.Login), orNull(displayName(u))
		default:
			m.Name = orNull(noUser)
		}
		out.Members = append(out.Members, m)
	}

	groups := boardLines(data.cur.BySubgroup, data.prev.BySubgroup, data.childUsage, false)
	children, err := s.childNames(ctx, g)
	if err != nil {
		return fmt.Errorf("api leaderboard of %s: %w", g.Slug, err)
	}
	children[0] = g // the group's own usage
	for _, l := range groups {
		if _, ok := children[l.id]; !ok {
			// Usage rated while the group was a child, moved since.
			c, err := s.ledger.GroupByID(ctx, l.id)
			if err != nil {
				return fmt.Errorf("api leaderboard of %s: subgroup %d: %w", g.Slug, l.id, err)
			}
			children[l.id] = c
		}
	}
	for i, l := range rankLines(groups, func(l boardLine) string { return children[l.id].Slug }) {
		c := children[l.id]
		out.Subgroups = append(out.Subgroups, apiBoardSubgroup{Rank: i + 1, Slug: c.Slug, Name: c.Name, Itself: l.id == 0,
			apiBoardFigures: s.boardFigures(l)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// boardLine is a member's or subgroup's figures before ranking.
type boardLine struct {
	id               int64 // user or child group (0: no person, or the group itself)
	spend, prevSpend float64
	usage            ledger.UsageRow
}

// boardLines joins spend, the previous window's spend and usage by member
// (byUser) or subgroup, keeping the lines with any spend or usage, as the page
// does.
func boardLines(cur, prev []ledger.SpendRow, usage []ledger.UsageRow, byUser bool) []boardLine {
	byID := map[int64]*boardLine{}
	get := func(id int64) *boardLine {
		if byID[id] == nil {
			byID[id] = &boardLine{id: id}
		}
		return byID[id]
	}
	id := func(sr ledger.SpendRow) int64 {
		if byUser {
			return sr.UserID
		}
		return sr.GroupID
	}
	for _, sr := range cur {
		get(id(sr)).spend += sr.Amount
	}
	for _, sr := range prev {
		get(id(sr)).prevSpend += sr.Amount
	}
	for _, u := range usage {
		k := u.GroupID
		if byUser {
			k = u.UserID
		}
		get(k).usage = u
	}
	out := make([]boardLine, 0, len(byID))
	for _, l := range byID {
		if l.spend != 0 || l.usage.CoreHours != 0 || l.usage.GPUHours != 0 || l.usage.StorageTBMonths != 0 {
			out = append(out, *l)
		}
	}
	return out
}

// rankLines orders lines by spend, largest first; ties by key (a login or slug),
// then id, so that the order never depends on a map's.
func rankLines(lines []boardLine, key func(boardLine) string) []boardLine {
	sort.Slice(lines, func(i, j int) bool {
		a, b := lines[i], lines[j]
		if a.spend != b.spend {
			return a.spend > b.spend
		}
		if ka, kb := key(a), key(b); ka != kb {
			return ka < kb
		}
		return a.id < b.id
	})
	return lines
}

func lineIDs(lines []boardLine) []int64 {
	out := make([]int64, 0, len(lines))
	for _, l := range lines {
		out = append(out, l.id)
	}
	return out
}

// boardFigures are a line's figures as the API writes them.
func (s *Server) boardFigures(l boardLine) apiBoardFigures {
	f := apiBoardFigures{Spend: s.apiMoney(l.spend), PrevSpend: s.apiMoney(l.prevSpend),
		CoreHours: quantity(l.usage.CoreHours), GPUHours: quantity(l.usage.GPUHours),
		StorageTBMonths: quantity(l.usage.StorageTBMonths), Waste: s.apiMoney(l.usage.Waste), Jobs: l.usage.Jobs}
	if l.prevSpend != 0 {
		f.Change = ratio((l.spend - l.prevSpend) / l.prevSpend)
	}
	if l.usage.CoreHours > 0 {
		f.CPUEfficiency = ratio(l.usage.CPUEfficiency())
	}
	return f
}
