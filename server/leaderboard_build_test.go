package server

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// testMoney writes money as a page would, in euros, and as data with cents.
var testMoney = tableMoney{text: func(v float64) string { return fmt.Sprintf("€%.2f", v) }, digits: 2}

// boardFixture is a lab's leaderboard data: Alice (10 this window, 5 before, half
// her cores idle, €3 of waste), Bob (5, all cores busy, two GPU-hours), usage no
// person ran (2), and Carol, who used nothing this window; a child project and
// the lab's own usage. Bob is looking.
func boardFixture(names bool) boardInput {
	lab := ledger.Group{ID: 1, Slug: "lab", Name: "Lab"}
	return boardInput{Group: lab, Viewer: 2, Names: names, Period: "November 2026", Query: "period=prev",
		Crumbs: []views.Crumb{{Slug: "uni", Name: "Uni", Link: false}, {Slug: "lab", Name: "Lab", Link: true}},
		Figures: boardData{
			cur: ledger.Spend{
				ByUser:     []ledger.SpendRow{{UserID: 1, Amount: 10}, {UserID: 2, Amount: 5}, {UserID: 0, Amount: 2}},
				BySubgroup: []ledger.SpendRow{{GroupID: 0, Amount: 1}, {GroupID: 10, Amount: 16}},
			},
			prev: ledger.Spend{ByUser: []ledger.SpendRow{{UserID: 1, Amount: 5}, {UserID: 3, Amount: 4}}},
			userUsage: []ledger.UsageRow{{UserID: 1, CoreHours: 100, CoreHoursUsed: 50, Jobs: 4, Waste: 3},
				{UserID: 2, CoreHours: 10, CoreHoursUsed: 10, GPUHours: 2, Jobs: 1}},
			childUsage: []ledger.UsageRow{{GroupID: 10, CoreHours: 110, CoreHoursUsed: 60, GPUHours: 2, Waste: 3}},
		},
		Users: map[int64]ledger.User{1: {ID: 1, Login: "alice", DisplayName: "Alice Adams"}, 2: {ID: 2, Login: "bob"},
			3: {ID: 3, Login: "carol", DisplayName: "Carol"}},
		Children: map[int64]ledger.Group{10: {ID: 10, Slug: "proj", Name: "Project"}},
		Money:    testMoney,
	}
}

func column(t views.Table, col int) []string {
	out := []string{}
	for _, r := range t.Rows {
		out = append(out, r.Cells[col])
	}
	return out
}

func TestBoardTables(t *testing.T) {
	for _, c := range []struct {
		name      string
		names     bool
		sort      string
		members   []string // the name column, in order
		subgroups []string
		mine      int // the viewer's row
	}{
		{"by spend", true, "spend", []string{"Alice Adams", "You (bob)", noUser}, []string{"Project", "Lab (itself)"}, 1},
		{"by waste", true, "waste", []string{"Alice Adams", noUser, "You (bob)"}, []string{"Project", "Lab (itself)"}, 2},
		{"by CPU efficiency", true, "efficiency", []string{"You (bob)", "Alice Adams", noUser}, []string{"Project", "Lab (itself)"}, 0},
		// Ties (no GPU-hours) go by name: "(no person…" sorts before "Alice".
		{"by GPU-hours", true, "gpu", []string{"You (bob)", noUser, "Alice Adams"}, []string{"Project", "Lab (itself)"}, 0},
		{"names hidden", false, "spend", []string{"—", "You (bob)", noUser}, []string{"Project", "Lab (itself)"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			page := buildLeaderboard(boardFixture(c.names), c.sort)
			if got := column(page.Members, 1); !slices.Equal(got, c.members) {
				t.Errorf("members %q, want %q", got, c.members)
			}
			if got := column(page.Subgroups, 1); !slices.Equal(got, c.subgroups) {
				t.Errorf("subgroups %q, want %q", got, c.subgroups)
			}
			for i, r := range page.Members.Rows {
				if r.Mine != (i == c.mine) {
					t.Errorf("row %d (%s) mine=%v", i, r.Cells[1], r.Mine)
				}
				if len(r.Data) != len(page.Members.DataHead) {
					t.Errorf("row %d has %d data columns for %d", i, len(r.Data), len(page.Members.DataHead))
				}
			}
			if page.NamesHidden == c.names || len(page.Crumbs) != 1 || page.Crumbs[0].Slug != "lab" {
				t.Errorf("names hidden %v, crumbs %+v", page.NamesHidden, page.Crumbs)
			}
		})
	}
}

// A row's page text and its download's data, each column.
func TestBoardRowsFiguresAndData(t *testing.T) {
	page := buildLeaderboard(boardFixture(true), "spend")
	m := page.Members
	alice := m.Rows[0]
	wantCells := []string{"1", "Alice Adams", "€10.00", "+100%", "100.0", "0.0", "0.0", "50%", "€3.00"}
	if !slices.Equal(alice.Cells, wantCells) || alice.Hint != "" {
		t.Errorf("Alice's cells %q, want %q", alice.Cells, wantCells)
	}
	wantHead := []string{"rank", "login", "name", "spend", "previous_spend", "change", "core_hours", "gpu_hours",
		"storage_tb_months", "cpu_efficiency", "waste"}
	if !slices.Equal(m.DataHead, wantHead) || len(m.DataNumeric) != len(wantHead) {
		t.Fatalf("members' data head %q", m.DataHead)
	}
	wantData := []string{"1", "alice", "Alice Adams", "10.00", "5.00", "1.0000", "100.0000", "0.0000", "0.0000", "0.5000", "3.00"}
	if !slices.Equal(alice.Data, wantData) {
		t.Errorf("Alice's data %q, want %q", alice.Data, wantData)
	}
	// The viewer's own row names them by name in the data; a row without usage or
	// previous spend has no change or efficiency to write.
	if bob := m.Rows[1].Data; bob[1] != "bob" || bob[2] != "bob" || bob[5] != "" || bob[9] != "1.0000" {
		t.Errorf("Bob's data %q", bob)
	}
	if none := m.Rows[2]; none.Cells[3] != "new" || none.Data[1] != "" || none.Data[2] != noUser || none.Data[9] != "" {
		t.Errorf("the no-person row: cells %q data %q", none.Cells, none.Data)
	}
	proj := page.Subgroups.Rows[0]
	if proj.Link != "/groups/proj/leaderboard?period=prev" || !slices.Equal(proj.Data[:3], []string{"1", "proj", "Project"}) ||
		proj.Data[10] != "3.00" || page.Subgroups.DataHead[1] != "group" {
		t.Errorf("the project's row: link %q data %q", proj.Link, proj.Data)
	}
	// Hidden names stay hidden in the download too.
	hidden := buildLeaderboard(boardFixture(false), "spend").Members.Rows[0]
	if hidden.Data[1] != "" || hidden.Data[2] != "" || hidden.Data[3] != "10.00" {
		t.Errorf("a hidden member's data %q", hidden.Data)
	}
}

func TestBoardSorts(t *testing.T) {
	for _, c := range []struct{ in, want string }{{"", "spend"}, {"waste", "waste"}, {"core", "core"}} {
		opts, key, err := boardSorts(c.in)
		if err != nil || key != c.want {
			t.Errorf("sort %q: %q, %v", c.in, key, err)
			continue
		}
		for _, o := range opts {
			if o.Selected != (o.Value == c.want) {
				t.Errorf("sort %q: option %q selected %v", c.in, o.Value, o.Selected)
			}
		}
	}
	var bad *badInput
	if _, _, err := boardSorts("cost"); !errors.As(err, &bad) {
		t.Errorf("an unknown sort: %v, want a bad input", err)
	}
}
