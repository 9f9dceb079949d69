package server

import (
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// The dashboard's view model from what the loader read, table by table, without
// HTTP or a database.

var (
	nov     = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	novWin  = window{Key: "month", Label: "November 2026, to date", From: nov, To: nov.AddDate(0, 0, 15), MonthToDate: true}
	last30  = window{Key: "last30", Label: "the last 30 days", From: nov.AddDate(0, 0, -15), To: nov.AddDate(0, 0, 15)}
	labA    = ledger.Group{ID: 1, Slug: "lab-a", Name: "Lab A", Path: "1", Billable: true}
	projA   = ledger.Group{ID: 2, Slug: "proj-a", Name: "Project A", Path: "1.2", ParentID: 1}
	deptD   = ledger.Group{ID: 9, Slug: "dept", Name: "Dept", Path: "9"}
	someone = ledger.User{ID: 5, Login: "alice", DisplayName: "Alice A"}
)

// walkData is Lab A's November: usage 15.00 (10.00 CPU on hpc, 5.00 GPU on hpc2,
// unpriced billing), 0.30 of late CPU, −2.00 subsidies, 120.00 of adjustments.
func walkData(final bool) dashboardData {
	st := ledger.Statement{Period: "2026-11", Currency: "EUR", MinorDigits: 2, GroupID: 1, GroupSlug: "lab-a",
		Lines: []ledger.Line{
			{Kind: ledger.LineUsage, Resource: "cpu", Cluster: "hpc", Quantity: "1000.000000", AmountMinor: 1000},
			{Kind: ledger.LineUsage, Resource: "gpu", Cluster: "hpc2", Quantity: "5.500000", AmountMinor: 500},
			{Kind: ledger.LineUnpriced, Resource: "billing", Cluster: "hpc", Quantity: "12.000000"},
			{Kind: ledger.LineLate, Resource: "cpu", Cluster: "hpc", UsageMonth: "2026-10", Quantity: "30.000000", AmountMinor: 30},
			{Kind: ledger.LineSubsidy, Resource: "cpu", AmountMinor: -200},
			{Kind: ledger.LineAdjustment, Description: "tape", AmountMinor: 12000},
		},
		Subgroups: []ledger.Subtotal{
			{ID: 1, Slug: "lab-a", Name: "Lab A", AmountMinor: 1530},
			{ID: 2, ParentID: 1, Depth: 1, Slug: "proj-a", Name: "Project A", AmountMinor: 400},
			{ID: 3, ParentID: 2, Depth: 2, Slug: "proj-a-x", Name: "X", AmountMinor: 100},
		},
		Users:      []ledger.Subtotal{{ID: 0, Name: "(no person)", AmountMinor: 1000}, {ID: 5, Slug: "alice", Name: "Alice A", AmountMinor: 530}},
		UsageMinor: 1530, SubsidyMinor: -200, AdjustMinor: 12000, TotalMinor: 13330}
	w := ledger.Walk{Statement: st, Final: final, UsageMinor: 1500, LateMinor: 30,
		ByResource:  []ledger.WalkRow{{Key: "cpu", Quantity: 1030, AmountMinor: 1030}, {Key: "gpu", Quantity: 5.5, AmountMinor: 500}, {Key: "billing", Quantity: 12}},
		ByCluster:   []ledger.WalkRow{{Key: "hpc", AmountMinor: 1030}, {Key: "hpc2", AmountMinor: 500}},
		ByPartition: []ledger.WalkRow{{Key: "hpc/cpu", AmountMinor: 1030}, {Key: "hpc2/gpu", AmountMinor: 500}, {Key: "jhub/", AmountMinor: 0}},
		ByDay:       []ledger.WalkDay{{Day: nov.AddDate(0, 0, 2), Resource: "cpu", Cluster: "hpc", Amount: 10}},
	}
	return dashboardData{Group: labA, Win: novWin, Detail: true, CanManage: true, Currency: "EUR", Digits: 2,
		Walk: &w, Separately: []views.Crumb{{Slug: "lab-b", Name: "Lab B", Link: true}},
		StorageTable: views.Table{ID: "storage", Title: "Storage against quota"}}
}

// spendData is Dept's last 30 days from the summaries: 6.012 in all.
func spendData() dashboardData {
	sp := ledger.Spend{
		ByResource: []ledger.SpendRow{{Resource: "cpu", Amount: 1.004, Quantity: 100.4}, {Resource: "gpu", Amount: 2.003, Quantity: 2},
			{Resource: "memory", Amount: 3.005, Quantity: 9000}},
		BySubgroup: []ledger.SpendRow{{GroupID: 0, Amount: 2.004}, {GroupID: 2, Amount: 4.008}},
		ByCluster:  []ledger.SpendRow{{Key: "hpc", Amount: 3.006}, {Key: "hpc2", Amount: 3.006}},
		ByPart:     []ledger.SpendRow{{Key: "hpc/cpu", Amount: 3.006}, {Key: "hpc2/gpu", Amount: 3.006}},
		ByUser:     []ledger.SpendRow{{UserID: 0, Amount: 1.002}, {UserID: 5, Amount: 5.01}},
	}
	return dashboardData{Group: deptD, Win: last30, Detail: true, Currency: "EUR", Digits: 2, Spend: sp,
		Children: map[int64]ledger.Group{2: projA}, Users: map[int64]ledger.User{5: someone},
		StorageTable: views.Table{ID: "storage", Title: "Storage against quota"}}
}

func tableByID(t *testing.T, ts []views.Table, id string) views.Table {
	t.Helper()
	for _, x := range ts {
		if x.ID == id {
			return x
		}
	}
	t.Fatalf("no table %s", id)
	return views.Table{}
}

// rowsText writes a table's rows as "cell|cell ; data,data" lines.
func rowsText(t views.Table) []string {
	var out []string
	for _, r := range t.Rows {
		out = append(out, strings.Join(r.Cells, "|")+" ; "+strings.Join(r.Data, ","))
	}
	return out
}

func TestDashboardModelTables(t *testing.T) {
	for _, c := range []struct {
		name, id string
		data     dashboardData
		head     string
		rows     []string
	}{
		{"walk", "by-subgroup", walkData(false), "group_slug,group_name,amount", []string{
			"Lab A (itself)|€11.30|74% ; lab-a,Lab A,11.30",
			"Project A|€4.00|26% ; proj-a,Project A,4.00"}},
		{"walk", "by-resource", walkData(false), "resource,quantity,unit,amount", []string{
			"CPU|1,030 core-hours|€10.30 ; cpu,1030.000000,core-hour,10.30",
			"GPU|5.5 GPU-hours|€5.00 ; gpu,5.500000,GPU-hour,5.00",
			"Billing TRES|12.0 billing-hours|€0.00 ; billing,12.000000,billing-hour,0.00"}},
		{"walk", "by-cluster", walkData(false), "cluster,amount", []string{
			"hpc|€10.30|67% ; hpc,10.30", "hpc2|€5.00|33% ; hpc2,5.00"}},
		{"walk", "by-partition", walkData(false), "cluster,partition,amount", []string{
			"hpc/cpu|€10.30 ; hpc,cpu,10.30", "hpc2/gpu|€5.00 ; hpc2,gpu,5.00", "jhub|€0.00 ; jhub,,0.00"}},
		{"walk", "by-user", walkData(false), "user_login,user_name,amount", []string{
			noUser + "|€10.00|65% ; ," + noUser + ",10.00", "Alice A|€5.30|35% ; alice,Alice A,5.30"}},
		// The summaries: 6.012 rounds to 6.01 once, and every table shares out 6.01.
		{"spend", "by-subgroup", spendData(), "group_slug,group_name,amount", []string{
			"Project A|€4.01|67% ; proj-a,Project A,4.01", "Dept (itself)|€2.00|33% ; dept,Dept,2.00"}},
		{"spend", "by-resource", spendData(), "resource,quantity,unit,amount", []string{
			"Memory|9,000 GB-hours|€3.01 ; memory,9000.000000,GB-hour,3.01",
			"GPU|2.0 GPU-hours|€2.00 ; gpu,2.000000,GPU-hour,2.00",
			"CPU|100.4 core-hours|€1.00 ; cpu,100.400000,core-hour,1.00"}},
		{"spend", "by-cluster", spendData(), "cluster,amount", []string{
			"hpc|€3.01|50% ; hpc,3.01", "hpc2|€3.00|50% ; hpc2,3.00"}},
		{"spend", "by-partition", spendData(), "cluster,partition,amount", []string{
			"hpc/cpu|€3.01 ; hpc,cpu,3.01", "hpc2/gpu|€3.00 ; hpc2,gpu,3.00"}},
		{"spend", "by-user", spendData(), "user_login,user_name,amount", []string{
			"Alice A|€5.01|83% ; alice,Alice A,5.01", noUser + "|€1.00|17% ; ," + noUser + ",1.00"}},
	} {
		t.Run(c.name+"/"+c.id, func(t *testing.T) {
			page, downloads := buildDashboard(c.data)
			full := tableByID(t, downloads, c.id)
			if got := strings.Join(full.DataHead, ","); got != c.head {
				t.Errorf("head %s, want %s", got, c.head)
			}
			if len(full.DataNumeric) != len(full.DataHead) || !full.DataNumeric[len(full.DataNumeric)-1] {
				t.Errorf("numeric columns %v", full.DataNumeric)
			}
			if got := rowsText(full); strings.Join(got, "\n") != strings.Join(c.rows, "\n") {
				t.Errorf("rows\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.rows, "\n"))
			}
			if shown := tableByID(t, page.Tables, c.id); len(shown.Rows) != len(full.Rows) || shown.More != 0 {
				t.Errorf("the page shows %d rows (%d more) of %d", len(shown.Rows), shown.More, len(full.Rows))
			}
		})
	}
}

// The spend card: a billable group's month walks to its statement's total; other
// groups and windows show the subtree's spend.
func TestDashboardModelSpendCard(t *testing.T) {
	for _, c := range []struct {
		name         string
		data         dashboardData
		label, total string
		walk         []string
		statement    string
		separately   int
	}{
		{"draft", walkData(false), "To be billed", "€133.30",
			[]string{"Usage €15.00", "Subsidies −€2.00", "Late usage €0.30", "Adjustments €120.00", "To be billed €133.30 (total)"},
			"/groups/lab-a/statements/2026-11", 1},
		{"final", walkData(true), "Billed", "€133.30",
			[]string{"Usage €15.00", "Subsidies −€2.00", "Late usage €0.30", "Adjustments €120.00", "Billed €133.30 (total)"},
			"/groups/lab-a/statements/2026-11", 1},
		{"member", func() dashboardData { d := walkData(false); d.CanManage = false; return d }(), "To be billed", "€133.30",
			[]string{"Usage €15.00", "Subsidies −€2.00", "Late usage €0.30", "Adjustments €120.00", "To be billed €133.30 (total)"}, "", 1},
		{"summaries", spendData(), "Spend", "€6.01", nil, "", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			page, _ := buildDashboard(c.data)
			var walk []string
			for _, st := range page.Walk {
				s := st.Label + " " + st.Amount
				if st.Total {
					s += " (total)"
				}
				walk = append(walk, s)
			}
			if page.TotalLabel != c.label || page.Total != c.total || strings.Join(walk, "; ") != strings.Join(c.walk, "; ") {
				t.Errorf("%s %s, walk %q", page.TotalLabel, page.Total, walk)
			}
			if page.Statement != c.statement || len(page.Separately) != c.separately || page.TotalNote == "" {
				t.Errorf("statement link %q, %d billed separately, note %q", page.Statement, len(page.Separately), page.TotalNote)
			}
			if page.Chart == nil {
				t.Error("no chart")
			}
		})
	}
}

// The page shows the top rows of a table; its download has them all, in the same
// order.
func TestDashboardModelDownloadsHaveEveryRow(t *testing.T) {
	d := spendData()
	d.Spend.ByUser = nil
	d.Users = map[int64]ledger.User{}
	for i := range 30 {
		id := int64(100 + i)
		d.Users[id] = ledger.User{ID: id, Login: fmt.Sprintf("u%02d", i)}
		d.Spend.ByUser = append(d.Spend.ByUser, ledger.SpendRow{UserID: id, Amount: 6.012 / 30})
	}
	page, downloads := buildDashboard(d)
	shown, full := tableByID(t, page.Tables, "by-user"), tableByID(t, downloads, "by-user")
	if len(shown.Rows) != tableRows || shown.More != 30-tableRows || len(full.Rows) != 30 {
		t.Fatalf("shown %d (+%d), download %d", len(shown.Rows), shown.More, len(full.Rows))
	}
	var sum int64
	for i, r := range full.Rows {
		if i < tableRows && strings.Join(r.Data, ",") != strings.Join(shown.Rows[i].Data, ",") {
			t.Errorf("row %d: page %v, download %v", i, shown.Rows[i].Data, r.Data)
		}
		v, _ := new(big.Rat).SetString(r.Data[2])
		sum += new(big.Rat).Mul(v, big.NewRat(100, 1)).Num().Int64()
	}
	if sum != 601 {
		t.Errorf("the rows add up to %d, the total is 601", sum)
	}
}

// A money budget's figures as the page writes them; a quantity's in its unit.
func TestDashboardModelBudgets(t *testing.T) {
	d := walkData(false)
	d.Budgets = []ledger.BudgetStatus{
		{Budget: ledger.Budget{Span: ledger.SpanMonth, Amount: big.NewRat(2750, 1)},
			Spent: big.NewRat(14439, 100), Projected: big.NewRat(40209, 100), Remaining: big.NewRat(260561, 100), Unit: "EUR"},
		{Budget: ledger.Budget{Span: ledger.SpanFiscalYear, Resource: "gpu", Amount: big.NewRat(100, 1)},
			Spent: big.NewRat(80, 1), Projected: big.NewRat(160, 1), Remaining: big.NewRat(20, 1), Unit: "GPU-hour"},
	}
	page, _ := buildDashboard(d)
	want := []views.BudgetView{
		{Label: "Monthly budget", Spent: "€144.39", Amount: "€2,750.00", Projected: "€402.09", Remaining: "€2,605.61"},
		{Label: "Fiscal-year budget (GPU)", Spent: "80.0 GPU-hours", Amount: "100.0 GPU-hours", Projected: "160.0 GPU-hours",
			Remaining: "20.0 GPU-hours", Over: true},
	}
	for i, b := range page.Budgets {
		b.Fraction, b.ProjectedFraction = 0, 0
		if b != want[i] {
			t.Errorf("budget %d: %+v, want %+v", i, b, want[i])
		}
	}
}
