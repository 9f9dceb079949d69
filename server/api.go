package server

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/internal/csvsafe"
	"github.com/parsimony-hpc/parsimony/ledger"
)

// The JSON API under /api/v1 (docs/api.md): the same data and the same
// authorization as the pages, for scripts, spawners and portals.

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	type membership struct {
		Group string `json:"group"`
		Role  string `json:"role"`
	}
	out := struct {
		Login       string       `json:"login"`
		Name        string       `json:"name"`
		Admin       bool         `json:"admin"`
		Finance     bool         `json:"finance"`
		Memberships []membership `json:"memberships"`
	}{Login: p.Login, Name: p.Name, Admin: p.Admin, Finance: p.Finance, Memberships: []membership{}}
	for _, m := range p.Memberships {
		g, err := s.ledger.GroupByID(r.Context(), m.GroupID)
		if err != nil {
			s.apiError(w, http.StatusInternalServerError, "internal error")
			return
		}
		out.Memberships = append(out.Memberships, membership{Group: g.Slug, Role: m.Role})
	}
	writeJSON(w, http.StatusOK, out)
}

type apiGroup struct {
	Slug       string `json:"slug"`
	Name       string `json:"name"`
	Kind       string `json:"kind"`
	Parent     string `json:"parent,omitempty"`
	Billable   bool   `json:"billable"`
	CostCentre string `json:"cost_centre,omitempty"`
}

// apiGroups lists the groups the caller may see.
func (s *Server) apiGroups(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	groups, err := s.ledger.Groups(r.Context())
	if err != nil {
		s.apiError(w, http.StatusInternalServerError, "internal error")
		return
	}
	slugs := map[int64]string{}
	for _, g := range groups {
		slugs[g.ID] = g.Slug
	}
	out := []apiGroup{}
	for _, g := range groups {
		if !p.CanView(g.Path) || g.ArchivedAt != nil {
			continue
		}
		out = append(out, apiGroup{Slug: g.Slug, Name: g.Name, Kind: g.Kind, Parent: slugs[g.ParentID], Billable: g.Billable, CostCentre: g.CostCentre})
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": out})
}

// apiUsage is the group's spend over a window by one dimension (?by=resource,
// cluster, partition, subgroup, day, user — user only for those who may see member
// detail), as JSON or, with ?format=csv, CSV (the dashboard's downloads).
func (s *Server) apiUsage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, g := principal(r), routeGroup(r)
	win, err := s.pickWindow(r)
	if err != nil {
		s.requestFailed(w, r, err)
		return
	}
	switch f := r.URL.Query().Get("format"); f {
	case "", "json", "csv":
	default:
		s.apiError(w, http.StatusBadRequest, fmt.Sprintf("format %q is not one: use json or csv", f))
		return
	}
	by := r.URL.Query().Get("by")
	if by == "" {
		by = "resource"
	}
	if by == "user" && !p.CanSeeMembers(g.Path, s.openLeaderboard(ctx, g)) {
		s.apiError(w, http.StatusForbidden, "member-level detail is for the group's PIs and managers")
		return
	}
	sp, err := s.ledger.GroupSpend(ctx, g.ID, win.From, win.To)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	// Money and quantities are decimal strings, never JSON numbers (which readers
	// take as floats): amounts rounded to the currency's minor unit, quantities to
	// four decimals of the priced unit. They are the dashboards' figures as of the
	// last rating; statements are where money is exact.
	cur, digits := s.ledger.Currency()
	type item struct {
		Key      string `json:"key"`
		Resource string `json:"resource,omitempty"`
		Amount   string `json:"amount"`
		Quantity string `json:"quantity,omitempty"`
	}
	money := func(x float64) string { return decimalFloat(x, digits) }
	var items []item
	var rows []ledger.SpendRow
	switch by {
	case "resource":
		rows = sp.ByResource
	case "cluster":
		rows = sp.ByCluster
	case "partition":
		rows = sp.ByPart
	case "day":
		rows = sp.ByDay
	case "subgroup":
		children, err := s.childNames(ctx, g)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		for _, x := range sp.BySubgroup {
			key := g.Slug
			if x.GroupID != 0 {
				key = children[x.GroupID].Slug
			}
			items = append(items, item{Key: key, Amount: money(x.Amount)})
		}
	case "user":
		names, err := s.ledger.UserNames(ctx, userIDs(sp.ByUser))
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		for _, x := range sp.ByUser {
			key := ledger.UnknownUser
			if u, ok := names[x.UserID]; ok {
				key = u.Login
			}
			items = append(items, item{Key: key, Amount: money(x.Amount)})
		}
	default:
		s.apiError(w, http.StatusBadRequest, "by is one of resource, cluster, partition, subgroup, day, user")
		return
	}
	for _, x := range rows {
		it := item{Key: x.Key, Resource: x.Resource, Amount: money(x.Amount)}
		if x.Quantity != 0 {
			it.Quantity = decimalFloat(x.Quantity, 4)
		}
		items = append(items, it)
	}
	if r.URL.Query().Get("format") == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+g.Slug+`-`+by+`.csv"`)
		// A group, user or cluster name a spreadsheet would run as a formula is
		// quoted; amount and quantity stay numbers (package csvsafe).
		cw := csvsafe.NewWriter(w, []bool{false, false, true, false, true, false, false})
		cw.Write([]string{by, "resource", "amount", "currency", "quantity", "from", "to"})
		for _, it := range items {
			q := it.Quantity
			if q == "" {
				q = decimalFloat(0, 4)
			}
			cw.Write([]string{it.Key, it.Resource, it.Amount, cur, q,
				win.From.Format(time.DateOnly), win.To.AddDate(0, 0, -1).Format(time.DateOnly)})
		}
		if err := cw.Flush(); err != nil {
			s.log.Warn("api csv not written whole", "group", g.Slug, "by", by, "err", err)
		}
		return
	}
	if items == nil {
		items = []item{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"group": g.Slug, "from": win.From.Format(time.DateOnly),
		"to": win.To.Format(time.DateOnly), "currency": cur, "by": by, "total": money(sp.Total), "items": items})
}

// decimalFloat writes a display figure with digits decimals as a plain decimal
// string ("-0" reads "0"). The dashboards' sums are float8 by design (see
// ledger.Spend); the API hands them on as text so no reader parses money as a float.
func decimalFloat(x float64, digits int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "0" // cannot come from a sum of finite numbers; never a JSON error
	}
	s := strconv.FormatFloat(x, 'f', digits, 64)
	if strings.Trim(s, "-0.") == "" {
		s = strings.TrimPrefix(s, "-")
	}
	return s
}

func userIDs(rows []ledger.SpendRow) []int64 {
	out := make([]int64, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.UserID)
	}
	return out
}

// apiLeaderboard ranks the group's subgroups (and members, with names only for
// those who may see them).
func (s *Server) apiLeaderboard(w http.ResponseWriter, r *http.Request) {
	p, g := principal(r), routeGroup(r)
	win, err := s.pickWindow(r)
	if err != nil {
		s.requestFailed(w, r, err)
		return
	}
	names := p.CanSeeMembers(g.Path, s.openLeaderboard(r.Context(), g))
	out := map[string]any{"group": g.Slug, "from": win.From.Format(time.DateOnly), "to": win.To.Format(time.DateOnly), "names_shown": names}
	data, err := s.boardSpend(r, g, win)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	for _, byUser := range []bool{true, false} {
		t, err := s.board(r, g, win, data, byUser, "spend", names)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		rows := []map[string]string{}
		for _, row := range t.Rows {
			m := map[string]string{}
			for i, h := range t.Head {
				m[h] = row.Cells[i]
			}
			rows = append(rows, m)
		}
		if byUser {
			out["members"] = rows
		} else {
			out["subgroups"] = rows
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiStatement(w http.ResponseWriter, r *http.Request) {
	st, err := s.findStatement(r)
	if errors.Is(err, ledger.ErrNotFound) {
		s.apiError(w, http.StatusNotFound, "no statement for this group and period")
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// apiEstimate answers "what would this job cost this group at today's rates?"
// from ?cluster=&partition=&qos=&cpus=&memory_gb=&gpus=&hours=, for spawn pages.
// Numbers are plain decimals within the documented maxima (docs/billing.md,
// "Limits"); anything else, or an estimate beyond them, is a 400 saying why.
func (s *Server) apiEstimate(w http.ResponseWriter, r *http.Request) {
	g := routeGroup(r)
	q := r.URL.Query()
	nums := map[string]*big.Rat{}
	for _, k := range []string{"cpus", "memory_gb", "gpus", "hours"} {
		v := strings.TrimSpace(q.Get(k))
		if v == "" {
			nums[k] = new(big.Rat)
			continue
		}
		x, err := ledger.ParseQuantity(v, k)
		if err != nil {
			s.apiError(w, http.StatusBadRequest, err.Error())
			return
		}
		nums[k] = x
	}
	if q.Get("cluster") == "" || nums["hours"].Sign() == 0 {
		s.apiError(w, http.StatusBadRequest, "cluster and hours are required; cpus, memory_gb, gpus and hours are numbers ≥ 0")
		return
	}
	hours := nums["hours"]
	est, err := s.ledger.Estimate(r.Context(), ledger.EstimateQuery{GroupID: g.ID, Cluster: q.Get("cluster"), Partition: q.Get("partition"),
		QoS: q.Get("qos"), Day: s.now(), Quantities: map[string]*big.Rat{
			ledger.ResourceCPU:    new(big.Rat).Mul(nums["cpus"], hours),
			ledger.ResourceMemory: new(big.Rat).Mul(nums["memory_gb"], hours),
			ledger.ResourceGPU:    new(big.Rat).Mul(nums["gpus"], hours),
		}})
	if errors.Is(err, ledger.ErrTooLarge) {
		s.apiError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, est)
}
