package server

import (
	"context"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// A group's dashboard (/groups/{group}): spend against budget, the daily chart, the
// breakdowns by subgroup, resource, cluster, partition and person; and what the
// group pages share (breadcrumbs, child and person names, the open-leaderboard flag).
//
// The handler loads (loadDashboard: the ledger's answers, nothing formatted),
// checks, and renders the view model that buildDashboard (dashboard_model.go) makes
// from them without HTTP or a database.

// dashboard is the group (PI) dashboard for any period; ?csv=ID downloads one of
// its tables, every row of it.
func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) error {
	p, g := principal(r), routeGroup(r)
	win, err := s.pickWindow(r)
	if err != nil {
		return err
	}
	stack := r.URL.Query().Get("stack")
	if stack != "" && stack != "resource" && stack != "cluster" {
		return badInputf("stack %q is not one: use resource or cluster", stack)
	}
	wantCSV := r.URL.Query().Get("csv")
	d, err := s.loadDashboard(r.Context(), p, g, win, dashboardWants{byCluster: stack == "cluster", allRows: wantCSV != ""})
	if err != nil {
		return err
	}
	d.Layout, d.Periods = s.layout(r, g.Name), win.choices(s)
	page, downloads := buildDashboard(d)
	// A table offers a download when it has data for one (DataHead).
	for _, ts := range [][]views.Table{page.Tables, page.Efficiency} {
		for i := range ts {
			if len(ts[i].DataHead) > 0 {
				ts[i].CSV = csvLink(r, ts[i].ID)
			}
		}
	}
	if wantCSV != "" {
		return s.tableCSV(w, r, g.Slug, wantCSV, append(downloads, page.Efficiency...))
	}
	return s.render(w, r, views.Dashboard(page))
}

// dashboardWants is what a request asks of the loader beyond the window.
type dashboardWants struct {
	byCluster bool // the chart stacks by cluster
	allRows   bool // a download: every row of the efficiency table
}

// dashboardData is everything a dashboard shows, as the ledger answered it.
type dashboardData struct {
	Group     ledger.Group
	Win       window
	Detail    bool // the viewer may see member-level detail
	CanManage bool
	ByCluster bool
	Currency  string
	Digits    int
	Location  *time.Location
	Layout    views.LayoutProps
	Periods   []views.Option
	Crumbs    []views.Crumb

	// A billable group's calendar month: its statement's walk. Otherwise the
	// subtree's spend from the summaries, with the names its rows need.
	Walk       *ledger.Walk
	Separately []views.Crumb // Walk.BilledSeparately, each linked if the viewer may see it
	Spend      ledger.Spend
	Children   map[int64]ledger.Group
	Users      map[int64]ledger.User

	Budgets []ledger.BudgetStatus
	// Built by dashboard_tables.go.
	StorageTable, TopCost, TopWaste, Efficiency views.Table
}

// walkMonth is the calendar month a window is, if it is one: this month to date, or
// a whole past month.
func walkMonth(win window) (time.Time, bool) {
	if win.From.Day() != 1 || win.From.Hour() != 0 || win.Key == "custom" {
		return time.Time{}, false
	}
	if win.MonthToDate || win.To.Equal(win.From.AddDate(0, 1, 0)) {
		return win.From, true
	}
	return time.Time{}, false
}

// loadDashboard reads what group g's dashboard shows to p over win. The reads are
// independent: they run at once, each on its own connection, so a big group's page
// costs its slowest query, not their sum.
func (s *Server) loadDashboard(ctx context.Context, p *auth.Principal, g ledger.Group, win window, want dashboardWants) (dashboardData, error) {
	d := dashboardData{Group: g, Win: win, ByCluster: want.byCluster, CanManage: p.CanManage(g.Path), Location: s.ledger.Location()}
	d.Currency, d.Digits = s.ledger.Currency()
	d.Detail = p.CanSeeMembers(g.Path, s.openLeaderboard(ctx, g))
	effRows := tableRows
	if want.allRows {
		effRows = 1 << 30 // the download has every row
	}
	var eg errgroup.Group
	eg.Go(func() (err error) { d.Crumbs, err = s.crumbs(ctx, p, g); return })
	eg.Go(func() (err error) { d.Efficiency, err = s.efficiencyTable(ctx, g, win, d.Detail, effRows); return })
	eg.Go(func() error {
		storage, err := s.ledger.GroupStorage(ctx, g.ID, win.To.Add(-time.Second))
		d.StorageTable = s.storageTable(storage)
		return err
	})
	eg.Go(func() (err error) { d.TopCost, err = s.topJobsTable(ctx, p, g, win, false, d.Detail); return })
	eg.Go(func() (err error) { d.TopWaste, err = s.topJobsTable(ctx, p, g, win, true, d.Detail); return })
	if win.MonthToDate {
		eg.Go(func() (err error) { d.Budgets, err = s.ledger.BudgetStatuses(ctx, g.ID, s.now()); return })
	}
	if month, ok := walkMonth(win); ok && g.Billable {
		eg.Go(func() error {
			w, err := s.ledger.StatementWalk(ctx, g.ID, month)
			if err != nil {
				return err
			}
			d.Walk = &w
			for _, sep := range w.BilledSeparately {
				d.Separately = append(d.Separately, views.Crumb{Slug: sep.Slug, Name: sep.Name, Link: p.CanView(sep.Path)})
			}
			return nil
		})
	} else {
		eg.Go(func() error { return s.loadSpend(ctx, &d) })
	}
	if err := eg.Wait(); err != nil {
		return d, err
	}
	return d, nil
}

// loadSpend reads the subtree's spend from the summaries, with the children's and
// people's names its rows need.
func (s *Server) loadSpend(ctx context.Context, d *dashboardData) error {
	dims := []string{"res", "child", "cluster", "part"}
	if d.ByCluster {
		dims = append(dims, "cluster-day")
	}
	if d.Detail {
		dims = append(dims, "user")
	}
	var err error
	if d.Spend, err = s.ledger.GroupSpend(ctx, d.Group.ID, d.Win.From, d.Win.To, dims...); err != nil {
		return err
	}
	if d.Children, err = s.childNames(ctx, d.Group); err != nil {
		return err
	}
	if d.Detail {
		ids := make([]int64, 0, len(d.Spend.ByUser))
		for _, r := range d.Spend.ByUser {
			ids = append(ids, r.UserID)
		}
		if d.Users, err = s.ledger.UserNames(ctx, ids); err != nil {
			return err
		}
	}
	return nil
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
