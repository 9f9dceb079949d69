package server

import (
	"encoding/csv"
	"errors"
	"math/big"
	"net/http"
	"strconv"
	"time"

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
	win := s.pickWindow(r)
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
	type item struct {
		Key      string  `json:"key"`
		Resource string  `json:"resource,omitempty"`
		Amount   float64 `json:"amount"`
		Quantity float64 `json:"quantity,omitempty"`
	}
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
			items = append(items, item{Key: key, Amount: x.Amount})
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
			items = append(items, item{Key: key, Amount: x.Amount})
		}
	default:
		s.apiError(w, http.StatusBadRequest, "by is one of resource, cluster, partition, subgroup, day, user")
		return
	}
	for _, x := range rows {
		items = append(items, item{Key: x.Key, Resource: x.Resource, Amount: x.Amount, Quantity: x.Quantity})
	}
	cur, _ := s.ledger.Currency()
	if r.URL.Query().Get("format") == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+g.Slug+`-`+by+`.csv"`)
		cw := csv.NewWriter(w)
		cw.Write([]string{by, "resource", "amount", "currency", "quantity", "from", "to"})
		for _, it := range items {
			cw.Write([]string{it.Key, it.Resource, strconv.FormatFloat(it.Amount, 'f', 2, 64), cur,
				strconv.FormatFloat(it.Quantity, 'f', 4, 64), win.From.Format(time.DateOnly), win.To.AddDate(0, 0, -1).Format(time.DateOnly)})
		}
		cw.Flush()
		return
	}
	if items == nil {
		items = []item{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"group": g.Slug, "from": win.From.Format(time.DateOnly),
		"to": win.To.Format(time.DateOnly), "currency": cur, "by": by, "total": sp.Total, "items": items})
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
	win := s.pickWindow(r)
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
func (s *Server) apiEstimate(w http.ResponseWriter, r *http.Request) {
	g := routeGroup(r)
	q := r.URL.Query()
	num := func(k string) (*big.Rat, bool) {
		v := q.Get(k)
		if v == "" {
			return new(big.Rat), true
		}
		x, ok := new(big.Rat).SetString(v)
		return x, ok && x.Sign() >= 0
	}
	cpus, ok1 := num("cpus")
	mem, ok2 := num("memory_gb")
	gpus, ok3 := num("gpus")
	hours, ok4 := num("hours")
	if !ok1 || !ok2 || !ok3 || !ok4 || q.Get("cluster") == "" || hours.Sign() == 0 {
		s.apiError(w, http.StatusBadRequest, "cluster and hours are required; cpus, memory_gb, gpus and hours are numbers ≥ 0")
		return
	}
	est, err := s.ledger.Estimate(r.Context(), ledger.EstimateQuery{GroupID: g.ID, Cluster: q.Get("cluster"), Partition: q.Get("partition"),
		QoS: q.Get("qos"), Day: s.now(), Quantities: map[string]*big.Rat{
			ledger.ResourceCPU:    new(big.Rat).Mul(cpus, hours),
			ledger.ResourceMemory: new(big.Rat).Mul(mem, hours),
			ledger.ResourceGPU:    new(big.Rat).Mul(gpus, hours),
		}})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, est)
}
