package server

import (
	"fmt"
	"net/http"
	"sort"
)

// The leaderboard as JSON (/api/v1/groups/{group}/leaderboard): the page's data,
// loaded and joined as the page does (loadBoard, boardRows), ranked by spend, as
// figures rather than the page's text.

func (s *Server) apiLeaderboard(w http.ResponseWriter, r *http.Request) error {
	p, g := principal(r), routeGroup(r)
	win, err := s.pickWindow(r)
	if err != nil {
		return err
	}
	d, err := s.loadBoard(r.Context(), p, g, win)
	if err != nil {
		return fmt.Errorf("api leaderboard of %s: %w", g.Slug, err)
	}
	cur, _ := s.ledger.Currency()
	out := apiLeaderboard{Group: g.Slug, GroupName: g.Name, From: s.apiTime(win.From), To: s.apiTime(win.To),
		PrevFrom: s.apiTime(win.PrevFrom), PrevTo: s.apiTime(win.PrevTo), Currency: cur, NamesShown: d.Names,
		Members: []apiBoardMember{}, Subgroups: []apiBoardSubgroup{}}
	for i, b := range rankBoard(boardRows(d, true)) {
		// boardRows names a line as the caller may see it: no login where it is
		// hidden (or no person ran the usage), no name where it is hidden.
		out.Members = append(out.Members, apiBoardMember{Rank: i + 1, Login: orNull(b.login), Name: orNull(b.dataName),
			You: b.id != 0 && b.id == d.Viewer, apiBoardFigures: s.boardFigures(b)})
	}
	for i, b := range rankBoard(boardRows(d, false)) {
		name := b.dataName
		if b.id == 0 {
			name = g.Name // the page's "(itself)" is the itself flag here
		}
		out.Subgroups = append(out.Subgroups, apiBoardSubgroup{Rank: i + 1, Slug: b.slug, Name: name, Itself: b.id == 0,
			apiBoardFigures: s.boardFigures(b)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// rankBoard keeps the lines with anything to show and orders them as the page's
// default ranking does (boardTable with sort=spend): largest spend first, ties by
// the name shown, then id, so the order never depends on a map's.
func rankBoard(rows map[int64]*boardRow) []*boardRow {
	list := make([]*boardRow, 0, len(rows))
	for _, b := range rows {
		if b.spend != 0 || b.usage.CoreHours != 0 || b.usage.GPUHours != 0 || b.usage.StorageTBMonths != 0 {
			list = append(list, b)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if ma, mb := a.metric("spend"), b.metric("spend"); ma != mb {
			return ma > mb
		}
		if a.name != b.name {
			return a.name < b.name
		}
		return a.id < b.id
	})
	return list
}

// boardFigures are a line's figures as the API writes them.
func (s *Server) boardFigures(b *boardRow) apiBoardFigures {
	f := apiBoardFigures{Spend: s.apiMoney(b.spend), PrevSpend: s.apiMoney(b.prevSpend),
		CoreHours: quantity(b.usage.CoreHours), GPUHours: quantity(b.usage.GPUHours),
		StorageTBMonths: quantity(b.usage.StorageTBMonths), Waste: s.apiMoney(b.usage.Waste), Jobs: b.usage.Jobs}
	if b.prevSpend != 0 {
		f.Change = ratio((b.spend - b.prevSpend) / b.prevSpend)
	}
	if b.usage.CoreHours > 0 {
		f.CPUEfficiency = ratio(b.usage.CPUEfficiency())
	}
	return f
}
