package server

import (
	"fmt"
	"math/big"
	"net/http"
	"sort"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// overview shows the month to date by top-level group, from the rollups.
func (s *Server) overview(w http.ResponseWriter, r *http.Request) error {
	loc := s.ledger.Location()
	now := s.now().In(loc)
	from := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc)
	to := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, loc)
	groups, err := s.ledger.Groups(r.Context())
	if err != nil {
		return err
	}
	// One institution at the top says little: show its departments instead.
	depth, tops := 1, 0
	for _, g := range groups {
		if g.ParentID == 0 {
			tops++
		}
	}
	if tops == 1 {
		depth = 2
	}
	rows, err := s.ledger.Report(r.Context(), ledger.ReportQuery{From: from, To: to, By: []string{ledger.ByGroup}, Depth: depth})
	if err != nil {
		return err
	}
	names := map[string]string{ledger.UnassignedGroup: "Unassigned (no mapping yet)"}
	for _, g := range groups {
		names[g.Slug] = g.Name
	}
	page := views.OverviewPage{
		Layout: s.layout(r, "Overview"),
		Period: fmt.Sprintf("%s %d, month to date", now.Month(), now.Year()),
		Level:  map[int]string{1: "top-level group", 2: "department"}[depth],
	}
	col := map[string]int{}
	for _, res := range ledger.Resources() {
		for _, row := range rows {
			if row.Resource == res {
				col[res] = len(page.Columns)
				page.Columns = append(page.Columns, views.OverviewColumn{Resource: res, Unit: ledger.HumanUnitOf(res).Name})
				break
			}
		}
	}
	byGroup := map[string][]*big.Int{}
	var order []string
	for _, row := range rows {
		slug := row.Keys[0]
		if byGroup[slug] == nil {
			byGroup[slug] = make([]*big.Int, len(page.Columns))
			order = append(order, slug)
		}
		byGroup[slug][col[row.Resource]] = row.Quantity
	}
	// Groups by name, the unassigned bucket last, then the total.
	sort.SliceStable(order, func(i, j int) bool {
		ui, uj := order[i] == ledger.UnassignedGroup, order[j] == ledger.UnassignedGroup
		if ui != uj {
			return uj
		}
		return names[order[i]] < names[order[j]]
	})
	total := make([]*big.Int, len(page.Columns))
	for i := range total {
		total[i] = new(big.Int)
	}
	for _, slug := range order {
		vr := views.OverviewRow{Slug: slug, Name: names[slug], Unassigned: slug == ledger.UnassignedGroup}
		for i, q := range byGroup[slug] {
			if q == nil {
				q = new(big.Int)
			}
			total[i].Add(total[i], q)
			vr.Cells = append(vr.Cells, ledger.FormatHuman(page.Columns[i].Resource, q))
		}
		page.Rows = append(page.Rows, vr)
	}
	if len(order) > 0 {
		for i, q := range total {
			page.Total = append(page.Total, ledger.FormatHuman(page.Columns[i].Resource, q))
		}
	}
	return s.render(w, r, views.Overview(page))
}
