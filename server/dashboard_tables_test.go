package server

import (
	"slices"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

func TestEfficiencyTable(t *testing.T) {
	rows := []ledger.UsageRow{
		{UserID: 1, CoreHours: 100, CoreHoursUsed: 25, MemGBHours: 400, MemGBUsed: 100, Jobs: 1234, Waste: 80.5},
		{UserID: 2, CoreHours: 300, CoreHoursUsed: 270, GPUHours: 4, Jobs: 3, Waste: 1.25},
		{UserID: 0, StorageTBMonths: 2}, // storage alone: nothing ran
		{UserID: 3, CoreHours: 100, CoreHoursUsed: 100, Jobs: 1},
	}
	names := rowNames{1: {"Alice Adams", "alice"}, 2: {"bob", "bob"}, 3: {"Carol", "carol"}, 0: {noUser, ""}}
	for _, c := range []struct {
		name  string
		limit int
		order []string
		more  int
	}{
		// The most core-hours first; Alice and Carol tie and go by name.
		{"all", 10, []string{"bob", "Alice Adams", "Carol"}, 0},
		{"the busiest two", 2, []string{"bob", "Alice Adams"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			tb := buildEfficiencyTable(rows, names, true, c.limit, testMoney)
			if got := column(tb, 0); !slices.Equal(got, c.order) || tb.More != c.more {
				t.Errorf("rows %q (%d more), want %q (%d more)", got, tb.More, c.order, c.more)
			}
		})
	}
	tb := buildEfficiencyTable(rows, names, true, 10, testMoney)
	if tb.Head[0] != "Person" || !slices.Equal(tb.DataHead,
		[]string{"login", "name", "core_hours", "cpu_efficiency", "gpu_hours", "memory_efficiency", "jobs", "waste"}) {
		t.Errorf("head %q, data head %q", tb.Head, tb.DataHead)
	}
	alice := tb.Rows[1]
	if want := []string{"Alice Adams", "100.0", "25%", "0.0", "25%", "1,234", "€80.50"}; !slices.Equal(alice.Cells, want) {
		t.Errorf("Alice's cells %q, want %q", alice.Cells, want)
	}
	if want := []string{"alice", "Alice Adams", "100.0000", "0.2500", "0.0000", "0.2500", "1234", "80.50"}; !slices.Equal(alice.Data, want) {
		t.Errorf("Alice's data %q, want %q", alice.Data, want)
	}
	if bob := tb.Rows[0].Data; bob[5] != "" || bob[7] != "1.25" { // no memory recorded: no memory efficiency
		t.Errorf("Bob's data %q", bob)
	}
	groups := buildEfficiencyTable([]ledger.UsageRow{{GroupID: 7, CoreHours: 1, CoreHoursUsed: 1}}, rowNames{7: {"Project", "proj"}}, false, 10, testMoney)
	if groups.Head[0] != "Group" || groups.DataHead[0] != "group" || !slices.Equal(groups.Rows[0].Data[:2], []string{"proj", "Project"}) {
		t.Errorf("by subgroup: head %q data head %q row %q", groups.Head, groups.DataHead, groups.Rows[0].Data)
	}
}

func TestTopJobsTable(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	half, quarter := 0.5, 0.25
	start := time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC)
	jobs := []ledger.TopJob{
		{Source: "slurm", Cluster: "hpc", ExternalID: "123_4", UserID: 1, JobName: "align", Partition: "gpu", State: "COMPLETED",
			Start: start, End: start.Add(90 * time.Minute), Cost: 1234.5, Waste: 600, CPUEff: &half, MemEff: &quarter},
		{Source: "slurm", Cluster: "hpc", ExternalID: "99", UserID: 2, Partition: "cpu", State: "FAILED",
			Start: start, End: start.Add(time.Hour), Cost: 10, Waste: 0.004},
	}
	users := map[int64]ledger.User{1: {ID: 1, Login: "alice", DisplayName: "Alice Adams"}, 2: {ID: 2, Login: "bob"}}
	for _, c := range []struct {
		name   string
		detail bool
		who    []string
	}{{"with member detail", true, []string{"alice", "bob"}}, {"without: only the viewer's own", false, []string{"—", "bob"}}} {
		t.Run(c.name, func(t *testing.T) {
			tb := buildTopJobsTable(jobs, users, 2, true, c.detail, berlin, testMoney)
			if got := column(tb, 1); !slices.Equal(got, c.who) {
				t.Errorf("who %q, want %q", got, c.who)
			}
			if !c.detail && (tb.Rows[0].Data[4] != "" || tb.Rows[0].Data[5] != "") {
				t.Errorf("another's job names them in the data: %q", tb.Rows[0].Data)
			}
		})
	}
	tb := buildTopJobsTable(jobs, users, 2, true, true, berlin, testMoney)
	if tb.ID != "top-waste" || !slices.Equal(tb.DataHead, []string{"job_id", "job_name", "cluster", "partition", "login", "name",
		"start", "end", "state", "cost", "waste", "cpu_efficiency", "memory_efficiency"}) {
		t.Errorf("id %q data head %q", tb.ID, tb.DataHead)
	}
	row := tb.Rows[0]
	if want := []string{"123_4 · align", "alice", "hpc/gpu", "3 Nov 09:00 – 3 Nov 10:30", "completed", "€1234.50", "€600.00", "50%", "25%"}; !slices.Equal(row.Cells, want) {
		t.Errorf("cells %q, want %q", row.Cells, want)
	}
	if want := []string{"123_4", "align", "hpc", "gpu", "alice", "Alice Adams", "2026-11-03T09:00:00+01:00",
		"2026-11-03T10:30:00+01:00", "COMPLETED", "1234.50", "600.00", "0.5000", "0.2500"}; !slices.Equal(row.Data, want) {
		t.Errorf("data %q, want %q", row.Data, want)
	}
	if d := tb.Rows[1].Data; d[1] != "" || d[10] != "0.00" || d[11] != "" {
		t.Errorf("a job without a name or efficiencies: %q", d)
	}
	byCost := buildTopJobsTable(jobs, users, 2, false, true, berlin, testMoney)
	if byCost.ID != "top-cost" || len(byCost.DataHead) != 11 || len(byCost.Rows[0].Data) != 11 || len(byCost.Rows[0].Cells) != 7 {
		t.Errorf("by cost: %q, %d data columns", byCost.ID, len(byCost.DataHead))
	}
}

func TestStorageTable(t *testing.T) {
	s := &Server{}
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	tb := s.storageTable([]ledger.StorageUse{
		{Filesystem: "projects", Day: day, Bytes: 1.8e12, Quota: 2e12, Owners: 3, OverQuota: 1},
		{Filesystem: "scratch", Day: day, Bytes: 5e11, Owners: 1},
	})
	if want := []string{"projects", "1.8 TB", "2.0 TB", "90%"}; !slices.Equal(tb.Rows[0].Cells, want) || tb.Rows[0].Hint == "" {
		t.Errorf("cells %q (hint %q), want %q", tb.Rows[0].Cells, tb.Rows[0].Hint, want)
	}
	if want := []string{"filesystem", "day", "used_bytes", "quota_bytes", "use", "owners", "owners_at_90_percent"}; !slices.Equal(tb.DataHead, want) {
		t.Errorf("data head %q", tb.DataHead)
	}
	if want := []string{"projects", "2026-11-30", "1800000000000", "2000000000000", "0.9000", "3", "1"}; !slices.Equal(tb.Rows[0].Data, want) {
		t.Errorf("data %q, want %q", tb.Rows[0].Data, want)
	}
	if want := []string{"scratch", "2026-11-30", "500000000000", "", "", "1", "0"}; !slices.Equal(tb.Rows[1].Data, want) {
		t.Errorf("no quota: data %q, want %q", tb.Rows[1].Data, want)
	}
}
