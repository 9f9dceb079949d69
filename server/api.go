package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// The JSON API under /api/v1 (docs/api.md): the same data and the same
// authorization as the pages, for scripts, spawners and portals. Each answer is a
// type of api_types.go; errors go to s.fail, which answers {"error": "…"}.

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	out := apiMe{Login: p.Login, Name: p.Name, Admin: p.Admin, Finance: p.Finance, Memberships: []apiMembership{}}
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

// apiUsage is the group's spend over a window by one dimension (?by=resource,
// cluster, partition, subgroup, day, user — user only for those who may see member
// detail), as JSON or, with ?format=csv, CSV (api_csv.go).
func (s *Server) apiUsage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	p, g := principal(r), routeGroup(r)
	win, err := s.pickWindow(r)
	if err != nil {
		return err
	}
	format := r.URL.Query().Get("format")
	switch format {
	case "", "json", "csv":
	default:
		return badInputf("format %q is not one: use json or csv", format)
	}
	by := r.URL.Query().Get("by")
	if by == "" {
		by = "resource"
	}
	switch by {
	case "resource", "cluster", "partition", "subgroup", "day", "user":
	default:
		return badInputf("by %q is not one: use resource, cluster, partition, subgroup, day or user", by)
	}
	if by == "user" && !p.CanSeeMembers(g.Path, s.openLeaderboard(ctx, g)) {
		return forbiddenf("member-level detail is for the group's PIs and managers")
	}
	sp, err := s.ledger.GroupSpend(ctx, g.ID, win.From, win.To)
	if err != nil {
		return fmt.Errorf("api usage of %s: %w", g.Slug, err)
	}
	// The total is rounded once and shared out over the items, as the dashboard
	// does, so that the items add up to the total to the cent.
	cur, digits := s.ledger.Currency()
	total := int64(math.Round(sp.Total * math.Pow10(digits)))
	items, err := s.usageItems(ctx, g, by, sp, total)
	if err != nil {
		return fmt.Errorf("api usage of %s by %s: %w", g.Slug, by, err)
	}
	out := apiUsage{Group: g.Slug, GroupName: g.Name, From: s.apiTime(win.From), To: s.apiTime(win.To), By: by,
		Currency: cur, Total: ledger.PlainMinor(total, digits), Items: items}
	if format == "csv" {
		return s.writeUsageCSV(w, out)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// usageItems is the breakdown by one dimension, total (minor units) shared out over
// its items, in the dashboard tables' order: largest amount first (ties by key),
// and days in order.
func (s *Server) usageItems(ctx context.Context, g ledger.Group, by string, sp ledger.Spend, total int64) ([]apiUsageItem, error) {
	type row struct {
		item  apiUsageItem
		minor int64
	}
	var (
		rows    []row
		amounts []float64
	)
	add := func(it apiUsageItem, amount float64) {
		rows, amounts = append(rows, row{item: it}), append(amounts, amount)
	}
	switch by {
	case "resource", "day":
		src := sp.ByResource
		if by == "day" {
			src = sp.ByDay
		}
		for _, x := range src {
			unit, _ := ledger.PricedUnit(x.Resource)
			it := apiUsageItem{Key: x.Key, Name: x.Key, Resource: x.Resource, Quantity: quantity(x.Quantity), Unit: unit}
			if by == "resource" {
				it.Name = resourceName(x.Resource)
			}
			add(it, x.Amount)
		}
	case "cluster", "partition":
		src := sp.ByCluster
		if by == "partition" {
			src = sp.ByPart
		}
		for _, x := range src {
			// A source without partitions has "cluster/": named by its cluster.
			add(apiUsageItem{Key: x.Key, Name: strings.TrimSuffix(x.Key, "/")}, x.Amount)
		}
	case "subgroup":
		children, err := s.childNames(ctx, g)
		if err != nil {
			return nil, err
		}
		for _, x := range sp.BySubgroup {
			c, ok := children[x.GroupID]
			switch {
			case x.GroupID == 0:
				c = g // the group's own usage, not a child's
			case !ok:
				// Usage rated while the group was a child, moved since.
				if c, err = s.ledger.GroupByID(ctx, x.GroupID); err != nil {
					return nil, fmt.Errorf("subgroup %d: %w", x.GroupID, err)
				}
			}
			add(apiUsageItem{Key: c.Slug, Name: c.Name}, x.Amount)
		}
	case "user":
		names, err := s.ledger.UserNames(ctx, userIDs(sp.ByUser))
		if err != nil {
			return nil, err
		}
		for _, x := range sp.ByUser {
			it := apiUsageItem{Name: noUser}
			if u, ok := names[x.UserID]; ok {
				it.Key, it.Name = u.Login, displayName(u)
			}
			add(it, x.Amount)
		}
	}
	_, digits := s.ledger.Currency()
	parts, err := ledger.SplitMinor(total, amounts, digits)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		rows[i].minor = parts[i]
		rows[i].item.Amount = ledger.PlainMinor(parts[i], digits)
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if by == "day" {
			if a.item.Key != b.item.Key {
				return a.item.Key < b.item.Key
			}
			return a.item.Resource < b.item.Resource
		}
		if a.minor != b.minor {
			return a.minor > b.minor
		}
		return a.item.Key < b.item.Key
	})
	items := make([]apiUsageItem, 0, len(rows))
	for _, x := range rows {
		items = append(items, x.item)
	}
	return items, nil
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
