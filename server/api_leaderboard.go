package server

import (
	"fmt"
	"net/http"
)

// The leaderboard as JSON (/api/v1/groups/{group}/leaderboard): the page's data,
// loaded, joined and ranked as the page does (loadBoard, boardRows, rankedBoard),
// by spend or ?sort= as the page, as figures rather than the page's text.

func (s *Server) apiLeaderboard(w http.ResponseWriter, r *http.Request) error {
	p, g := principal(r), routeGroup(r)
	win, err := s.pickWindow(r)
	if err != nil {
		return err
	}
	_, sortKey, err := boardSorts(r.URL.Query().Get("sort"))
	if err != nil {
		return err
	}
	d, err := s.loadBoard(r.Context(), p, g, win)
	if err != nil {
		return fmt.Errorf("api leaderboard of %s: %w", g.Slug, err)
	}
	cur, _ := s.ledger.Currency()
	out := apiLeaderboard{Group: g.Slug, GroupName: g.Name, From: s.apiTime(win.From), To: s.apiTime(win.To),
		PrevFrom: s.apiTime(win.PrevFrom), PrevTo: s.apiTime(win.PrevTo), Currency: cur, Sort: sortKey, NamesShown: d.Names,
		Members: []apiBoardMember{}, Subgroups: []apiBoardSubgroup{}}
	for i, b := range rankedBoard(boardRows(d, true), sortKey) {
		// boardRows names a line as the caller may see it: no login where it is
		// hidden (or no person ran the usage), no name where it is hidden.
		out.Members = append(out.Members, apiBoardMember{Rank: i + 1, Login: orNull(b.login), Name: orNull(b.dataName),
			You: b.id != 0 && b.id == d.Viewer, apiBoardFigures: s.boardFigures(b)})
	}
	for i, b := range rankedBoard(boardRows(d, false), sortKey) {
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
