package server

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// The dashboard's efficiency, top-jobs and storage tables: each a read (a method
// the dashboard's loader calls) and a pure builder from the ledger's rows, whose
// rows carry both the page's text and the download's data.

// wasteNote says what waste is, wherever a table shows it (ledger/waste.go has the
// definition, docs/billing.md the words).
const wasteNote = "Waste is what jobs reserved and did not use — idle cores, memory above its peak, and idle GPUs where their use " +
	"is measured — priced at each job's own rates. Storage is never waste."

// tableMoney writes money in a table: as the page shows it, and as its download
// has it (a plain number with the currency's minor digits).
type tableMoney struct {
	text   func(float64) string
	digits int
}

func (m tableMoney) data(v float64) string { return decimalFloat(v, m.digits) }

func (s *Server) tableMoney() tableMoney {
	_, digits := s.ledger.Currency()
	return tableMoney{text: s.money, digits: digits}
}

// rowNames names the rows of a table by person or by subgroup: the page's name,
// and the download's id (login or slug) and name.
type rowNames map[int64]struct{ name, id string }

// efficiencyTable explains CPU and memory efficiency, and waste, per subgroup (or
// per person for those who may see member detail): the busiest limit rows.
func (s *Server) efficiencyTable(ctx context.Context, g ledger.Group, win window, byUser bool, limit int) (views.Table, error) {
	all, err := s.ledger.GroupUsage(ctx, g.ID, win.From, win.To, byUser)
	if err != nil {
		return views.Table{}, fmt.Errorf("efficiency of %s: %w", g.Slug, err)
	}
	names := rowNames{}
	if byUser {
		ids := make([]int64, 0, len(all))
		for _, u := range all {
			ids = append(ids, u.UserID)
		}
		users, err := s.ledger.UserNames(ctx, ids)
		if err != nil {
			return views.Table{}, fmt.Errorf("efficiency of %s: %w", g.Slug, err)
		}
		for id, u := range users {
			names[id] = struct{ name, id string }{displayName(u), u.Login}
		}
		names[0] = struct{ name, id string }{noUser, ""}
	} else {
		children, err := s.childNames(ctx, g)
		if err != nil {
			return views.Table{}, fmt.Errorf("efficiency of %s: %w", g.Slug, err)
		}
		for id, c := range children {
			names[id] = struct{ name, id string }{c.Name, c.Slug}
		}
		names[0] = struct{ name, id string }{g.Name + " (itself)", g.Slug}
	}
	return buildEfficiencyTable(all, names, byUser, limit, s.tableMoney()), nil
}

// buildEfficiencyTable is the efficiency table of usage rows: those that ran
// anything, the most core-hours first, limit of them (the rest counted in More).
func buildEfficiencyTable(all []ledger.UsageRow, names rowNames, byUser bool, limit int, money tableMoney) views.Table {
	t := views.Table{ID: "efficiency", Title: "Efficiency",
		Note: "CPU efficiency is CPU time used ÷ cores reserved × time: 50% means half the reserved cores sat idle. " +
			"Memory efficiency is the peak memory used ÷ memory requested. GPU-hours are GPUs reserved × time. " + wasteNote,
		Head:    []string{"Group", "Core-hours", "CPU efficiency", "GPU-hours", "Memory efficiency", "Jobs", "Waste"},
		Numeric: []bool{false, true, true, true, true, true, true},
		Empty:   "Nothing ran in this period.",
		DataHead: []string{"group", "group_name", "core_hours", "cpu_efficiency", "gpu_hours", "memory_efficiency", "jobs",
			"waste"},
		DataNumeric: []bool{false, false, true, true, true, true, true, true}}
	if byUser {
		t.Head[0], t.DataHead[0], t.DataHead[1] = "Person", "login", "name"
	}
	rows := make([]ledger.UsageRow, 0, len(all))
	for _, u := range all {
		if u.CoreHours != 0 || u.GPUHours != 0 {
			rows = append(rows, u)
		}
	}
	key := func(u ledger.UsageRow) int64 {
		if byUser {
			return u.UserID
		}
		return u.GroupID
	}
	// The busiest first; ties by name, then id, so the page and its download agree.
	sort.Slice(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.CoreHours != b.CoreHours {
			return a.CoreHours > b.CoreHours
		}
		if na, nb := names[key(a)].name, names[key(b)].name; na != nb {
			return na < nb
		}
		return key(a) < key(b)
	})
	if len(rows) > limit {
		t.More, rows = len(rows)-limit, rows[:limit]
	}
	// An efficiency with nothing reserved is no figure: an empty cell.
	effData := func(v float64, of float64) string {
		if of == 0 {
			return ""
		}
		return decimalFloat(v, 4)
	}
	for _, u := range rows {
		n := names[key(u)]
		t.Rows = append(t.Rows, views.Row{
			Cells: []string{n.name, number(u.CoreHours), percent(u.CPUEfficiency()), number(u.GPUHours),
				percent(u.MemEfficiency()), ledger.GroupThousands(strconv.FormatInt(u.Jobs, 10)), money.text(u.Waste)},
			Hint: hint(u),
			Data: []string{n.id, n.name, quantity(u.CoreHours), effData(u.CPUEfficiency(), u.CoreHours), quantity(u.GPUHours),
				effData(u.MemEfficiency(), u.MemGBHours), strconv.FormatInt(u.Jobs, 10), money.data(u.Waste)}})
	}
	return t
}

// topJobsTable lists the subtree's most expensive (or most wasteful) jobs of the
// period's months. Who ran them is member-level detail: others see their own name
// only.
func (s *Server) topJobsTable(ctx context.Context, p *auth.Principal, g ledger.Group, win window, byWaste, detail bool) (views.Table, error) {
	jobs, err := s.ledger.TopJobs(ctx, g.ID, win.From, win.To, byWaste, 10)
	if err != nil {
		return views.Table{}, fmt.Errorf("top jobs of %s: %w", g.Slug, err)
	}
	ids := make([]int64, 0, len(jobs))
	for _, j := range jobs {
		ids = append(ids, j.UserID)
	}
	users, err := s.ledger.UserNames(ctx, ids)
	if err != nil {
		return views.Table{}, fmt.Errorf("top jobs of %s: %w", g.Slug, err)
	}
	return buildTopJobsTable(jobs, users, p.UserID, byWaste, detail, s.ledger.Location(), s.tableMoney()), nil
}

// buildTopJobsTable is the table of top jobs, in the ledger's order (by cost, or
// by waste). viewer's own jobs are named to them; others' only with detail.
func buildTopJobsTable(jobs []ledger.TopJob, users map[int64]ledger.User, viewer int64, byWaste, detail bool,
	loc *time.Location, money tableMoney) views.Table {
	t := views.Table{ID: "top-cost", Title: "Top jobs by cost", Empty: "No priced jobs in this period.",
		Head:    []string{"Job", "Person", "Cluster / partition", "Ran", "State", "Cost", "Waste"},
		Numeric: []bool{false, false, false, false, false, true, true},
		DataHead: []string{"job_id", "job_name", "cluster", "partition", "login", "name", "start", "end", "state",
			"cost", "waste"},
		DataNumeric: []bool{false, false, false, false, false, false, false, false, false, true, true}}
	if byWaste {
		t.ID, t.Title, t.Note = "top-waste", "Top jobs by waste", wasteNote
		t.Head = append(t.Head, "CPU efficiency", "Memory efficiency")
		t.Numeric = append(t.Numeric, true, true)
		t.DataHead = append(t.DataHead, "cpu_efficiency", "memory_efficiency")
		t.DataNumeric = append(t.DataNumeric, true, true)
	}
	effData := func(f *float64) string {
		if f == nil {
			return ""
		}
		return decimalFloat(*f, 4)
	}
	for _, j := range jobs {
		who, login, name := "—", "", ""
		if u, ok := users[j.UserID]; ok && (detail || j.UserID == viewer) {
			who, login, name = u.Login, u.Login, displayName(u)
		}
		job := j.ExternalID
		if j.JobName != "" {
			job += " · " + j.JobName
		}
		ran := j.Start.In(loc).Format("2 Jan 15:04") + " – " + j.End.In(loc).Format("2 Jan 15:04")
		row := views.Row{
			Cells: []string{job, who, j.Cluster + "/" + j.Partition, ran, strings.ToLower(j.State), money.text(j.Cost), money.text(j.Waste)},
			Data: []string{j.ExternalID, j.JobName, j.Cluster, j.Partition, login, name, j.Start.In(loc).Format(time.RFC3339),
				j.End.In(loc).Format(time.RFC3339), j.State, money.data(j.Cost), money.data(j.Waste)}}
		if byWaste {
			row.Cells = append(row.Cells, ptrPercent(j.CPUEff), ptrPercent(j.MemEff))
			row.Data = append(row.Data, effData(j.CPUEff), effData(j.MemEff))
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}

// storageTable shows what the subtree holds on each file system against its
// quotas, the most held first (the ledger's order).
func (s *Server) storageTable(rows []ledger.StorageUse) views.Table {
	t := views.Table{ID: "storage", Title: "Storage against quota", Head: []string{"File system", "Used", "Quota", "Use"},
		Numeric: []bool{false, true, true, true}, Empty: "No storage recorded.",
		DataHead:    []string{"filesystem", "day", "used_bytes", "quota_bytes", "use", "owners", "owners_at_90_percent"},
		DataNumeric: []bool{false, false, true, true, true, true, true}}
	for _, st := range rows {
		quota, use, hint := "none", "–", ""
		quotaData, useData := "", ""
		if st.Quota > 0 {
			quota, use = terabytes(st.Quota), percent(st.Bytes/st.Quota)
			quotaData, useData = decimalFloat(st.Quota, 0), decimalFloat(st.Bytes/st.Quota, 4)
		}
		if st.OverQuota > 0 {
			hint = fmt.Sprintf("%d of %d directories at 90%% of their quota or more", st.OverQuota, st.Owners)
		}
		t.Rows = append(t.Rows, views.Row{Cells: []string{st.Filesystem, terabytes(st.Bytes), quota, use}, Hint: hint,
			Data: []string{st.Filesystem, st.Day.Format(time.DateOnly), decimalFloat(st.Bytes, 0), quotaData, useData,
				strconv.Itoa(st.Owners), strconv.Itoa(st.OverQuota)}})
	}
	if len(rows) > 0 {
		t.Note = "As of " + rows[0].Day.Format("2 January 2006") + ", the last snapshot in the period."
	}
	return t
}
