package server

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// The dashboard's efficiency, top-jobs and storage tables.

// efficiencyTable explains CPU and memory efficiency per subgroup (or per person for
// those who may see member detail).
func (s *Server) efficiencyTable(ctx context.Context, g ledger.Group, win window, byUser bool, limit int) (views.Table, error) {
	t := views.Table{ID: "efficiency", Title: "Efficiency",
		Note: "CPU efficiency is CPU time used ÷ cores reserved × time: 50% means half the reserved cores sat idle. " +
			"Memory efficiency is the peak memory used ÷ memory requested. GPU-hours are GPUs reserved × time.",
		Head: []string{"", "Core-hours", "CPU efficiency", "GPU-hours", "Memory efficiency", "Jobs"}, Numeric: []bool{false, true, true, true, true, true},
		Empty: "Nothing ran in this period."}
	all, err := s.ledger.GroupUsage(ctx, g.ID, win.From, win.To, byUser)
	if err != nil {
		return t, err
	}
	// The busiest first, and names only for the rows shown (the CSV has the rest).
	rows := make([]ledger.UsageRow, 0, len(all))
	for _, u := range all {
		if u.CoreHours != 0 || u.GPUHours != 0 {
			rows = append(rows, u)
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].CoreHours > rows[j].CoreHours })
	if len(rows) > limit {
		t.More, rows = len(rows)-limit, rows[:limit]
	}
	names := map[int64]string{}
	if byUser {
		t.Head[0] = "Person"
		ids := make([]int64, 0, len(rows))
		for _, r := range rows {
			ids = append(ids, r.UserID)
		}
		users, err := s.ledger.UserNames(ctx, ids)
		if err != nil {
			return t, err
		}
		names[0] = noUser
		for id, u := range users {
			names[id] = u.DisplayName
			if names[id] == "" {
				names[id] = u.Login
			}
		}
	} else {
		t.Head[0] = "Group"
		children, err := s.childNames(ctx, g)
		if err != nil {
			return t, err
		}
		names[0] = g.Name + " (itself)"
		for id, c := range children {
			names[id] = c.Name
		}
	}
	for _, u := range rows {
		key := names[u.GroupID]
		if byUser {
			key = names[u.UserID]
		}
		t.Rows = append(t.Rows, views.Row{Cells: []string{key, number(u.CoreHours), percent(u.CPUEfficiency()), number(u.GPUHours),
			percent(u.MemEfficiency()), ledger.GroupThousands(fmt.Sprint(u.Jobs))}, Hint: hint(u)})
	}
	return t, nil
}

// topJobsTable lists the subtree's most expensive (or most wasteful) jobs of the
// period's months. Who ran them is member-level detail: others see their own name
// only.
func (s *Server) topJobsTable(ctx context.Context, p *auth.Principal, g ledger.Group, win window, byWaste, detail bool) (views.Table, error) {
	t := views.Table{ID: "top-cost", Title: "Top jobs by cost", Empty: "No priced jobs in this period.",
		Head:    []string{"Job", "Person", "Cluster / partition", "Ran", "State", "Cost", "Waste"},
		Numeric: []bool{false, false, false, false, false, true, true}}
	if byWaste {
		t.ID, t.Title = "top-waste", "Top jobs by waste"
		t.Note = "Waste is what a job reserved and did not use (idle cores, memory above its peak), priced at its rates."
		t.Head = append(t.Head, "CPU efficiency", "Memory efficiency")
		t.Numeric = append(t.Numeric, true, true)
	}
	jobs, err := s.ledger.TopJobs(ctx, g.ID, win.From, win.To, byWaste, 10)
	if err != nil {
		return t, err
	}
	ids := make([]int64, 0, len(jobs))
	for _, j := range jobs {
		ids = append(ids, j.UserID)
	}
	users, err := s.ledger.UserNames(ctx, ids)
	if err != nil {
		return t, err
	}
	loc := s.ledger.Location()
	for _, j := range jobs {
		who := "—"
		if u, ok := users[j.UserID]; ok && (detail || j.UserID == p.UserID) {
			who = u.Login
		}
		name := j.ExternalID
		if j.JobName != "" {
			name += " · " + j.JobName
		}
		ran := j.Start.In(loc).Format("2 Jan 15:04") + " – " + j.End.In(loc).Format("2 Jan 15:04")
		cells := []string{name, who, j.Cluster + "/" + j.Partition, ran, strings.ToLower(j.State), s.money(j.Cost), s.money(j.Waste)}
		if byWaste {
			cells = append(cells, ptrPercent(j.CPUEff), ptrPercent(j.MemEff))
		}
		t.Rows = append(t.Rows, views.Row{Cells: cells})
	}
	return t, nil
}

// storageTable shows what the subtree holds on each file system against its quotas.
func (s *Server) storageTable(rows []ledger.StorageUse) views.Table {
	t := views.Table{ID: "storage", Title: "Storage against quota", Head: []string{"File system", "Used", "Quota", "Use"},
		Numeric: []bool{false, true, true, true}, Empty: "No storage recorded."}
	for _, st := range rows {
		quota, use, hint := "none", "–", ""
		if st.Quota > 0 {
			quota, use = terabytes(st.Quota), percent(st.Bytes/st.Quota)
		}
		if st.OverQuota > 0 {
			hint = fmt.Sprintf("%d of %d directories at 90%% of their quota or more", st.OverQuota, st.Owners)
		}
		t.Rows = append(t.Rows, views.Row{Cells: []string{st.Filesystem, terabytes(st.Bytes), quota, use}, Hint: hint})
	}
	if len(rows) > 0 {
		t.Note = "As of " + rows[0].Day.Format("2 January 2006") + ", the last snapshot in the period."
	}
	return t
}
