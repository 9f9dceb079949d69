package server

import (
	"context"
	"fmt"
	"net/http"

	"golang.org/x/sync/errgroup"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// A group's leaderboard (/groups/{group}/leaderboard): members and subgroups
// ranked by spend, usage or waste, with the change against the period before.
// The handler loads (loadBoard), checks the sort, and renders what the pure
// builder (leaderboard_build.go) makes of the loaded data.

// leaderboard ranks a group's members and subgroups.
func (s *Server) leaderboard(w http.ResponseWriter, r *http.Request) error {
	p, g := principal(r), routeGroup(r)
	win, err := s.pickWindow(r)
	if err != nil {
		return err
	}
	sorts, sortKey, err := boardSorts(r.URL.Query().Get("sort"))
	if err != nil {
		return err
	}
	d, err := s.loadBoard(r.Context(), p, g, win)
	if err != nil {
		return fmt.Errorf("leaderboard of %s: %w", g.Slug, err)
	}
	page := buildLeaderboard(d, sortKey)
	page.Layout, page.Sorts, page.Periods = s.layout(r, "Leaderboard · "+g.Name), sorts, win.choices(s)
	page.Members.CSV, page.Subgroups.CSV = csvLink(r, page.Members.ID), csvLink(r, page.Subgroups.ID)
	if id := r.URL.Query().Get("csv"); id != "" {
		return s.tableCSV(w, r, g.Slug, id, []views.Table{page.Members, page.Subgroups})
	}
	return s.render(w, r, views.Leaderboard(page))
}

// boardData is what both leaderboards read: spend by member and subgroup in the
// window and the one before, and usage (waste included) by member and by subgroup.
type boardData struct {
	cur, prev             ledger.Spend
	userUsage, childUsage []ledger.UsageRow
}

// readBoard reads the leaderboards' figures, the four reads at once.
func (s *Server) readBoard(ctx context.Context, g ledger.Group, win window) (d boardData, err error) {
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

// loadBoard reads everything the leaderboard shows for p: the figures, the
// breadcrumbs, and the names of the people and subgroups on it. The API's
// leaderboard loads the same.
func (s *Server) loadBoard(ctx context.Context, p *auth.Principal, g ledger.Group, win window) (boardInput, error) {
	d := boardInput{Group: g, Viewer: p.UserID, Names: p.CanSeeMembers(g.Path, s.openLeaderboard(ctx, g)),
		Period: win.Label, Query: win.query(), Money: s.tableMoney()}
	var eg errgroup.Group
	eg.Go(func() (err error) { d.Figures, err = s.readBoard(ctx, g, win); return })
	eg.Go(func() (err error) { d.Crumbs, err = s.crumbs(ctx, p, g); return })
	eg.Go(func() (err error) { d.Children, err = s.childNames(ctx, g); return })
	if err := eg.Wait(); err != nil {
		return d, err
	}
	ids := []int64{}
	for _, sr := range append(append([]ledger.SpendRow{}, d.Figures.cur.ByUser...), d.Figures.prev.ByUser...) {
		ids = append(ids, sr.UserID)
	}
	for _, u := range d.Figures.userUsage {
		ids = append(ids, u.UserID)
	}
	var err error
	if d.Users, err = s.ledger.UserNames(ctx, ids); err != nil {
		return d, err
	}
	// Usage rated while a group was a child of this one, moved since, still
	// counts here: name it too.
	for _, rows := range [][]ledger.SpendRow{d.Figures.cur.BySubgroup, d.Figures.prev.BySubgroup} {
		for _, sr := range rows {
			if err := s.nameChild(ctx, d.Children, sr.GroupID); err != nil {
				return d, err
			}
		}
	}
	for _, u := range d.Figures.childUsage {
		if err := s.nameChild(ctx, d.Children, u.GroupID); err != nil {
			return d, err
		}
	}
	return d, nil
}

// nameChild adds a subgroup that is no longer a child to children.
func (s *Server) nameChild(ctx context.Context, children map[int64]ledger.Group, id int64) error {
	if _, ok := children[id]; ok || id == 0 {
		return nil
	}
	c, err := s.ledger.GroupByID(ctx, id)
	if err != nil {
		return fmt.Errorf("subgroup %d: %w", id, err)
	}
	children[id] = c
	return nil
}
