package server

import (
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// The JSON API under /api/v1 (docs/api.md): the same data and the same
// authorization as the pages, for scripts, spawners and portals. Each answer is a
// type of api_types.go; errors go to s.fail, which answers {"error": "…"}.

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	out := apiMe{Login: p.Login, Name: p.Display(), Admin: p.Admin, Finance: p.Finance, Memberships: []apiMembership{}}
	for _, m := range p.Memberships {
		g, err := s.ledger.GroupByID(r.Context(), m.GroupID)
		if err != nil {
			return fmt.Errorf("api me: group %d of %s's memberships: %w", m.GroupID, p.Login, err)
		}
		out.Memberships = append(out.Memberships, apiMembership{Group: g.Slug, GroupName: g.Name, Role: m.Role})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// apiGroups lists the groups the caller may see, archived ones left out.
func (s *Server) apiGroups(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	groups, err := s.ledger.Groups(r.Context())
	if err != nil {
		return fmt.Errorf("api groups: %w", err)
	}
	slugs := map[int64]string{}
	for _, g := range groups {
		slugs[g.ID] = g.Slug
	}
	out := apiGroupList{Groups: []apiGroup{}}
	for _, g := range groups {
		if !p.CanView(g.Path) || g.ArchivedAt != nil {
			continue
		}
		ag := apiGroup{Slug: g.Slug, Name: g.Name, Kind: g.Kind, Billable: g.Billable, CostCentre: g.CostCentre}
		if g.ParentID != 0 {
			ag.Parent = orNull(slugs[g.ParentID])
		}
		out.Groups = append(out.Groups, ag)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// displayName is a person's name as the pages show it: the display name, or the
// login when there is none.
func displayName(u ledger.User) string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Login
}

func userIDs(rows []ledger.SpendRow) []int64 {
	out := make([]int64, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.UserID)
	}
	return out
}

// apiStatement is the group's statement for {period}: the final one of a closed
// month, or the draft of an open one.
func (s *Server) apiStatement(w http.ResponseWriter, r *http.Request) error {
	st, err := s.findStatement(r)
	if errors.Is(err, ledger.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return fmt.Errorf("api statement of %s: %w", routeGroup(r).Slug, err)
	}
	writeJSON(w, http.StatusOK, newAPIStatement(st, s.ledger.Location()))
	return nil
}

// apiEstimate answers "what would this job cost this group at today's rates?"
// from ?cluster=&partition=&qos=&cpus=&memory_gb=&gpus=&hours=, for spawn pages.
// Numbers are plain decimals within the documented maxima (docs/billing.md,
// "Limits"); anything else, or an estimate beyond them, is a 400 saying why.
func (s *Server) apiEstimate(w http.ResponseWriter, r *http.Request) error {
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
			return badInputf("%s", err)
		}
		nums[k] = x
	}
	if q.Get("cluster") == "" || nums["hours"].Sign() == 0 {
		return badInputf("cluster and hours are required; cpus, memory_gb, gpus and hours are numbers ≥ 0")
	}
	hours, day := nums["hours"], s.now()
	est, err := s.ledger.Estimate(r.Context(), ledger.EstimateQuery{GroupID: g.ID, Cluster: q.Get("cluster"), Partition: q.Get("partition"),
		QoS: q.Get("qos"), Day: day, Quantities: map[string]*big.Rat{
			ledger.ResourceCPU:    new(big.Rat).Mul(nums["cpus"], hours),
			ledger.ResourceMemory: new(big.Rat).Mul(nums["memory_gb"], hours),
			ledger.ResourceGPU:    new(big.Rat).Mul(nums["gpus"], hours),
		}})
	if errors.Is(err, ledger.ErrTooLarge) {
		// A question beyond the maxima is the asker's to change: a 400 saying
		// which number, not the 409 of a statement the books cannot hold.
		return badInputf("%s", err)
	}
	if err != nil {
		return fmt.Errorf("api estimate for %s: %w", g.Slug, err)
	}
	out := apiEstimate{Group: g.Slug, GroupName: g.Name, Cluster: q.Get("cluster"), Partition: q.Get("partition"), QoS: q.Get("qos"),
		Day: day.In(s.ledger.Location()).Format(time.DateOnly), Currency: est.Currency, Lines: []apiEstimateLine{}, Total: est.Total}
	for _, ln := range est.Lines {
		out.Lines = append(out.Lines, apiEstimateLine{Resource: ln.Resource, Quantity: ln.Quantity, Unit: ln.Unit,
			UnitPrice: orNull(ln.UnitPrice), Amount: ln.Amount})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
