package ledger_test

import (
	"math"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Waste has one definition (waste.go): idle cores, memory above its peak and idle
// GPUs where their use is measured, each priced at the rate that priced the job's
// usage; never storage. The expectations are worked out by hand from the rates.
func TestWasteIsPricedAtEachJobsOwnRates(t *testing.T) {
	s := newSetup(t, "UTC")
	dept := group(t, s, 0, "dept", false)
	labA := group(t, s, dept.ID, "laba", true)
	labB := group(t, s, dept.ID, "labb", true)
	oct, nov := day("2026-10-01"), day("2026-11-01")
	setRate(t, s, ledger.Rate{Resource: ledger.ResourceCPU, Price: rat("0.01"), ValidFrom: oct})                   // per core-hour
	setRate(t, s, ledger.Rate{Resource: ledger.ResourceCPU, Price: rat("0.02"), ValidFrom: oct, GroupID: labB.ID}) // lab B pays double
	setRate(t, s, ledger.Rate{Resource: ledger.ResourceMemory, Price: rat("0.001"), ValidFrom: oct})               // per GB-hour
	setRate(t, s, ledger.Rate{Resource: ledger.ResourceGPU, Price: rat("1"), ValidFrom: oct})                      // per GPU-hour
	setRate(t, s, ledger.Rate{Resource: ledger.ResourceStorage, Price: rat("10"), ValidFrom: oct})                 // per TB-month
	if _, err := s.l.SetGroupMapping(s.ctx, "test", ledger.Mapping{Kind: ledger.KindStorage, Scope: "projects", Identity: "laba", GroupID: labA.ID}); err != nil {
		t.Fatal(err)
	}

	at := time.Date(2026, 10, 3, 8, 0, 0, 0, time.UTC)
	hour := func(id, account, user, resource string, allocated, used int64) ledger.Record {
		return ledger.Record{Source: ledger.SourceSlurm, Cluster: "c1", ExternalID: id, Resource: resource,
			Start: at, End: at.Add(time.Hour), Quantity: allocated, Allocated: allocated, Used: used,
			Account: account, User: user, Partition: "std", QoS: "normal"}
	}
	const coreHour, gbHour, gpuHour = 3600, 3600e9, 3600
	ingest(t, s, []ledger.Record{
		// 1. 100 cores for an hour at 50% CPU efficiency: 50 idle core-hours × 0.01 = 0.50.
		hour("1", "laba", "alice", ledger.ResourceCPU, 100*coreHour, 50*coreHour),
		// 2. 100 GB reserved, 25 GB peak: 75 GB-hours × 0.001 = 0.075; its cores used more
		//    than they reserved, which wastes nothing (never a negative waste).
		hour("2", "laba", "alice", ledger.ResourceMemory, 100*gbHour, 25*gbHour),
		hour("2", "laba", "alice", ledger.ResourceCPU, 10*coreHour, 12*coreHour),
		// 3. Two GPUs, one quarter busy (utilisation measured): 1.5 idle GPU-hours × 1 = 1.50.
		hour("3", "laba", "bob", ledger.ResourceGPU, 2*gpuHour, gpuHour/2),
		// 4. Four GPUs whose use nobody measured (used = allocated): no waste, though it
		//    costs 4.00.
		hour("4", "laba", "bob", ledger.ResourceGPU, 4*gpuHour, 4*gpuHour),
		// 5. Lab B's 100 cores at 50%, at lab B's own rate: 50 × 0.02 = 1.00.
		hour("5", "labb", "carol", ledger.ResourceCPU, 100*coreHour, 50*coreHour),
		// Storage is never waste, even with nothing "used": 30 TB-days (1 TB-month,
		// costs 10) held for the lab.
		{Source: ledger.SourceStorage, Cluster: "projects", ExternalID: "/projects/laba", Resource: ledger.ResourceStorage,
			Start: time.Date(2026, 10, 4, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC),
			Quantity: 30e12 * 86400, Allocated: 30e12 * 86400, Used: 0, Account: "laba"},
	})
	if _, err := s.l.RatePeriod(s.ctx, "test", oct); err != nil {
		t.Fatal(err)
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }

	// The month (monthly summaries) and a window of days (daily summaries) agree.
	for _, win := range []struct{ from, to time.Time }{{oct, nov}, {day("2026-10-03"), day("2026-10-05")}} {
		users, err := s.l.GroupUsage(s.ctx, dept.ID, win.from, win.to, true)
		if err != nil {
			t.Fatal(err)
		}
		ids := []int64{}
		for _, u := range users {
			ids = append(ids, u.UserID)
		}
		names, err := s.l.UserNames(s.ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, u := range users {
			got[names[u.UserID].Login] += u.Waste // "" is the storage no person holds
		}
		want := map[string]float64{"alice": 0.575, "bob": 1.5, "carol": 1, "": 0}
		if len(got) != len(want) {
			t.Errorf("%s–%s: waste by person %v, want %v", win.from.Format(time.DateOnly), win.to.Format(time.DateOnly), got, want)
		}
		for who, w := range want {
			if !near(got[who], w) {
				t.Errorf("%s–%s: %q wasted %v, want %v", win.from.Format(time.DateOnly), win.to.Format(time.DateOnly), who, got[who], w)
			}
		}
		children, err := s.l.GroupUsage(s.ctx, dept.ID, win.from, win.to, false)
		if err != nil {
			t.Fatal(err)
		}
		byChild := map[int64]float64{}
		for _, u := range children {
			byChild[u.GroupID] += u.Waste
		}
		if len(byChild) != 2 || !near(byChild[labA.ID], 2.075) || !near(byChild[labB.ID], 1) {
			t.Errorf("waste by subgroup %v, want lab A 2.075, lab B 1", byChild)
		}
	}

	// The top jobs by waste: the same figures per job, and the unmeasured GPU job is
	// not among them.
	top, err := s.l.TopJobs(s.ctx, dept.ID, oct, nov, true, 10)
	if err != nil {
		t.Fatal(err)
	}
	wantJobs := []struct {
		id    string
		waste float64
	}{{"3", 1.5}, {"5", 1}, {"1", 0.5}, {"2", 0.075}}
	if len(top) != len(wantJobs) {
		t.Fatalf("top jobs by waste: %+v, want %v", top, wantJobs)
	}
	for i, w := range wantJobs {
		if top[i].ExternalID != w.id || !near(top[i].Waste, w.waste) {
			t.Errorf("top job %d by waste: %s wasting %v, want %s wasting %v", i+1, top[i].ExternalID, top[i].Waste, w.id, w.waste)
		}
	}
	byCost, err := s.l.TopJobs(s.ctx, dept.ID, oct, nov, false, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range byCost {
		if j.ExternalID == "4" && (!near(j.Cost, 4) || j.Waste != 0) {
			t.Errorf("the unmeasured GPU job costs %v and wastes %v, want 4 and 0", j.Cost, j.Waste)
		}
	}

	// Usage that comes after its month closed is billed by a late charge in the
	// next open month, and wastes at that charge's rate: Dave's 10 cores at 50% in
	// October, at lab B's 0.02, waste 0.10.
	if _, _, err := s.l.Close(s.ctx, "finance", oct); err != nil {
		t.Fatal(err)
	}
	late := hour("6", "labb", "dave", ledger.ResourceCPU, 10*coreHour, 5*coreHour)
	late.Start, late.End = late.Start.AddDate(0, 0, 17), late.End.AddDate(0, 0, 17)
	ingest(t, s, []ledger.Record{late})
	if _, err := s.l.RatePeriod(s.ctx, "test", nov); err != nil {
		t.Fatal(err)
	}
	users, err := s.l.GroupUsage(s.ctx, labB.ID, oct, nov, true)
	if err != nil {
		t.Fatal(err)
	}
	wasted := 0.0
	for _, u := range users {
		wasted += u.Waste
	}
	if !near(wasted, 1.1) { // Carol's 1.00 and Dave's 0.10
		t.Errorf("lab B wasted %v in October with the late job, want 1.10", wasted)
	}
	top, err = s.l.TopJobs(s.ctx, labB.ID, oct, nov, true, 10)
	if err != nil || len(top) != 2 || top[1].ExternalID != "6" || !near(top[1].Waste, 0.1) {
		t.Errorf("lab B's top jobs by waste with the late one: %+v, %v", top, err)
	}
}
