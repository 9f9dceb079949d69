package ledger_test

import (
	"errors"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Ingesting the same batch twice equals ingesting it once.
func TestIngestTwiceEqualsOnce(t *testing.T) {
	s := newSetup(t, "Europe/Berlin")
	seed := seedFromEnv(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	tr := randomTree(t, s, rng, 12)
	recs := randomRecords(rng, tr, 3000)

	first := ingest(t, s, recs)
	if first.Ingested != int64(len(recs)) || first.Read != int64(len(recs)) {
		t.Fatalf("seed %d: first ingest %v, want all %d ingested", seed, first, len(recs))
	}
	once := reportByResource(t, s, ledger.ReportQuery{From: everythingFrom, To: everythingTo})
	var rowsOnce int
	s.pool.QueryRow(s.ctx, `SELECT count(*) FROM usage`).Scan(&rowsOnce)

	second := ingest(t, s, recs)
	if second.Unchanged != int64(len(recs)) || second.Ingested != 0 || second.Revised != 0 {
		t.Fatalf("seed %d: second ingest %v, want all unchanged", seed, second)
	}
	twice := reportByResource(t, s, ledger.ReportQuery{From: everythingFrom, To: everythingTo})
	var rowsTwice int
	s.pool.QueryRow(s.ctx, `SELECT count(*) FROM usage`).Scan(&rowsTwice)
	if !equalTotals(once, twice) || rowsOnce != rowsTwice {
		t.Fatalf("seed %d: totals changed on re-ingest: %v → %v (rows %d → %d)", seed, once, twice, rowsOnce, rowsTwice)
	}
	if !equalTotals(once, totals(recs)) {
		t.Fatalf("seed %d: ledger totals %v, records sum to %v", seed, once, totals(recs))
	}
	checkRollups(t, s)
}

// A revised record (a running job seen again later) replaces its earlier version.
func TestIngestRevisionReplaces(t *testing.T) {
	s := newSetup(t, "America/New_York")
	start := time.Date(2026, 10, 30, 20, 0, 0, 0, time.UTC)
	running := ledger.Record{
		Source: ledger.SourceSlurm, Cluster: "c1", ExternalID: "42", Resource: ledger.ResourceCPU,
		Start: start, End: start.Add(2 * time.Hour), Quantity: 7200 * 4, Allocated: 7200 * 4, Used: 100,
		Account: "physics", User: "alice", State: "RUNNING",
	}
	if c := ingest(t, s, []ledger.Record{running}); c.Ingested != 1 || c.Unmapped != 1 {
		t.Fatalf("first ingest: %v", c)
	}
	// Later the job has run for three days, crossing a month boundary.
	done := running
	done.End = start.Add(72 * time.Hour)
	done.Quantity, done.Allocated, done.Used, done.State = 72*3600*4, 72*3600*4, 5000, "COMPLETED"
	if c := ingest(t, s, []ledger.Record{done}); c.Revised != 1 || c.Ingested != 0 {
		t.Fatalf("revision: %v", c)
	}
	got := reportByResource(t, s, ledger.ReportQuery{From: everythingFrom, To: everythingTo})
	if got["cpu"].Cmp(big.NewInt(done.Quantity)) != 0 {
		t.Fatalf("cpu total %v, want %d", got["cpu"], done.Quantity)
	}
	checkRollups(t, s)
	// And the job shrinks again (a corrected record): old parts beyond the new end go.
	corrected := running
	corrected.End = start.Add(30 * time.Minute)
	corrected.Quantity, corrected.Allocated = 1800*4, 1800*4
	if c := ingest(t, s, []ledger.Record{corrected}); c.Revised != 1 {
		t.Fatalf("correction: %v", c)
	}
	var parts int
	s.pool.QueryRow(s.ctx, `SELECT count(*) FROM usage`).Scan(&parts)
	if parts != 1 {
		t.Fatalf("%d usage rows after shrinking to one day, want 1", parts)
	}
	checkRollups(t, s)
}

// Conservation: every group's subtree total is its own usage plus its children's
// subtree totals, and the top-level groups plus the unassigned bucket hold everything.
func TestConservation(t *testing.T) {
	s := newSetup(t, "Europe/Berlin")
	seed := seedFromEnv(t)
	rng := rand.New(rand.NewPCG(seed, 2))
	tr := randomTree(t, s, rng, 25)
	recs := randomRecords(rng, tr, 4000)
	ingest(t, s, recs)

	own := map[int64]map[string]*big.Int{}
	for _, g := range tr.groups {
		// Own usage: the group's subtree minus each child's subtree is checked below;
		// here, own usage is read by group without descendants.
		rows, err := s.l.Report(s.ctx, ledger.ReportQuery{From: everythingFrom, To: everythingTo, By: []string{ledger.ByGroup}, GroupID: g.ID})
		if err != nil {
			t.Fatal(err)
		}
		own[g.ID] = map[string]*big.Int{}
		for _, r := range rows {
			if r.Keys[0] == g.Slug {
				own[g.ID][r.Resource] = r.Quantity
			}
		}
	}
	subtree := map[int64]map[string]*big.Int{}
	for _, g := range tr.groups {
		subtree[g.ID] = reportByResource(t, s, ledger.ReportQuery{From: everythingFrom, To: everythingTo, GroupID: g.ID})
	}
	for _, g := range tr.groups {
		want := map[string]*big.Int{}
		add := func(m map[string]*big.Int) {
			for k, v := range m {
				if want[k] == nil {
					want[k] = new(big.Int)
				}
				want[k].Add(want[k], v)
			}
		}
		add(own[g.ID])
		for _, c := range tr.groups {
			if c.ParentID == g.ID {
				add(subtree[c.ID])
			}
		}
		if !equalTotals(subtree[g.ID], want) {
			t.Fatalf("seed %d: group %s subtree %v ≠ own + children %v", seed, g.Slug, subtree[g.ID], want)
		}
	}
	all := map[string]*big.Int{}
	for _, g := range tr.groups {
		if g.ParentID == 0 {
			for k, v := range subtree[g.ID] {
				if all[k] == nil {
					all[k] = new(big.Int)
				}
				all[k].Add(all[k], v)
			}
		}
	}
	unassigned, err := s.l.Report(s.ctx, ledger.ReportQuery{From: everythingFrom, To: everythingTo, By: []string{ledger.ByGroup}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range unassigned {
		if r.Keys[0] == ledger.UnassignedGroup {
			if all[r.Resource] == nil {
				all[r.Resource] = new(big.Int)
			}
			all[r.Resource].Add(all[r.Resource], r.Quantity)
		}
	}
	if !equalTotals(all, totals(recs)) {
		t.Fatalf("seed %d: top-level + unassigned = %v, ingested %v", seed, all, totals(recs))
	}
	checkRollups(t, s)
}

// Moving a group and mapping unassigned usage move usage without changing any total.
func TestMoveAndRemapPreserveTotals(t *testing.T) {
	s := newSetup(t, "UTC")
	seed := seedFromEnv(t)
	rng := rand.New(rand.NewPCG(seed, 3))
	tr := randomTree(t, s, rng, 15)
	recs := randomRecords(rng, tr, 3000)
	ingest(t, s, recs)
	before := reportByResource(t, s, ledger.ReportQuery{From: everythingFrom, To: everythingTo})

	// Move a random non-root group under a random group outside its subtree.
	var moved ledger.Group
	for _, g := range tr.groups {
		if g.ParentID != 0 {
			moved = g
			break
		}
	}
	if err := s.l.MoveGroup(s.ctx, "test", moved.ParentID, moved.ID); !errors.Is(err, ledger.ErrConflict) {
		t.Fatalf("moving a group under its own child: err = %v, want a conflict", err)
	}
	movedBefore := reportByResource(t, s, ledger.ReportQuery{From: everythingFrom, To: everythingTo, GroupID: moved.ID})
	target := tr.groups[0]
	if strings.HasPrefix(target.Path+".", moved.Path+".") {
		target = ledger.Group{} // to the top
	}
	if err := s.l.MoveGroup(s.ctx, "test", moved.ID, target.ID); err != nil {
		t.Fatal(err)
	}
	movedAfter := reportByResource(t, s, ledger.ReportQuery{From: everythingFrom, To: everythingTo, GroupID: moved.ID})
	if !equalTotals(movedBefore, movedAfter) {
		t.Fatalf("seed %d: moved subtree total changed: %v → %v", seed, movedBefore, movedAfter)
	}

	// Map every unmapped account; the unassigned bucket empties, totals stay.
	mapped := map[string]bool{}
	ms, _ := s.l.Mappings(s.ctx)
	for _, m := range ms {
		mapped[m.Identity] = true
	}
	var movedRows, unassignedBefore int64
	if err := s.pool.QueryRow(s.ctx, `SELECT count(*) FROM usage WHERE group_id IS NULL`).Scan(&unassignedBefore); err != nil {
		t.Fatal(err)
	}
	for i, acct := range tr.accounts {
		if mapped[acct] {
			continue
		}
		n, err := s.l.SetGroupMapping(s.ctx, "test", ledger.Mapping{Kind: ledger.KindSlurm, Scope: "*", Identity: acct, GroupID: tr.groups[i%len(tr.groups)].ID})
		if err != nil {
			t.Fatal(err)
		}
		movedRows += n
	}
	if movedRows == 0 || movedRows != unassignedBefore {
		t.Fatalf("seed %d: re-mapping says it moved %d usage rows of %d unassigned", seed, movedRows, unassignedBefore)
	}
	after := reportByResource(t, s, ledger.ReportQuery{From: everythingFrom, To: everythingTo})
	if !equalTotals(before, after) {
		t.Fatalf("seed %d: totals changed: %v → %v", seed, before, after)
	}
	var unassigned int
	s.pool.QueryRow(s.ctx, `SELECT count(*) FROM usage WHERE group_id IS NULL`).Scan(&unassigned)
	if unassigned != 0 {
		t.Fatalf("seed %d: %d usage rows still unassigned", seed, unassigned)
	}
	checkRollups(t, s)
	var audited int
	s.pool.QueryRow(s.ctx, `SELECT count(*) FROM audit_log WHERE action IN ('move', 'set')`).Scan(&audited)
	if audited == 0 {
		t.Fatal("moves and mappings left no audit entries")
	}
}

// Days are split in the site's zone: a job across the autumn DST change in Berlin puts
// 25 hours into the long day, and day-aligned reports per day add up to the job.
func TestDaySplitRespectsTimeZone(t *testing.T) {
	s := newSetup(t, "Europe/Berlin")
	berlin := s.l.Location()
	start := time.Date(2026, 10, 24, 12, 0, 0, 0, berlin)
	end := time.Date(2026, 10, 26, 12, 0, 0, 0, berlin) // 49 hours
	rec := ledger.Record{
		Source: ledger.SourceSlurm, Cluster: "c1", ExternalID: "7", Resource: ledger.ResourceCPU,
		Start: start, End: end, Quantity: 49 * 3600, Allocated: 49 * 3600, Account: "a", User: "u",
	}
	ingest(t, s, []ledger.Record{rec})
	want := map[string]int64{"2026-10-24": 12 * 3600, "2026-10-25": 25 * 3600, "2026-10-26": 12 * 3600}
	for day, q := range want {
		d, _ := time.ParseInLocation(time.DateOnly, day, berlin)
		got := reportByResource(t, s, ledger.ReportQuery{From: d, To: d.AddDate(0, 0, 1)})
		if got["cpu"] == nil || got["cpu"].Int64() != q {
			t.Errorf("%s: cpu %v, want %d", day, got["cpu"], q)
		}
	}
	// An hour-aligned window inside the long day, computed pro rata from the rows:
	// 02:00–03:00 CEST and 02:00–03:00 CET are both inside [00:00, 04:00) local,
	// which lasts five hours that day.
	from := time.Date(2026, 10, 25, 0, 0, 0, 0, berlin)
	to := from.Add(5 * time.Hour)
	got := reportByResource(t, s, ledger.ReportQuery{From: from.Add(time.Hour), To: to})
	if got["cpu"].Int64() != 4*3600 {
		t.Errorf("pro-rata 4-hour window: %v, want %d", got["cpu"], 4*3600)
	}
	checkRollups(t, s)
}

// Bad records are quarantined with a reason and counted; nothing is dropped.
func TestIngestQuarantinesBadRecords(t *testing.T) {
	s := newSetup(t, "UTC")
	t0 := time.Date(2026, 10, 1, 10, 0, 0, 0, time.UTC)
	good := ledger.Record{Source: "slurm", Cluster: "c1", ExternalID: "1", Resource: "cpu", Start: t0, End: t0.Add(time.Hour), Quantity: 3600, Account: "a", User: "u"}
	neg := good
	neg.ExternalID, neg.Quantity = "2", -5
	backwards := good
	backwards.ExternalID, backwards.End = "3", t0.Add(-time.Hour)
	unknown := good
	unknown.ExternalID, unknown.Resource = "4", "unobtainium"
	binary := good
	binary.ExternalID, binary.JobName, binary.Raw = "5", "bad\x00name\xff", "5|bad\x00name\xff|raw"
	c, err := s.l.Ingest(s.ctx, ledger.Batch{
		Records: []ledger.Record{good, neg, backwards, unknown, binary},
		Rejects: []ledger.Reject{{Source: "slurm", Cluster: "c1", Raw: "garbage|line", Reason: "11 fields, want 30"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Read != 6 || c.Ingested != 1 || c.Quarantined != 5 {
		t.Fatalf("counts %v, want read 6, ingested 1, quarantined 5", c)
	}
	q, err := s.l.Quarantined(s.ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	for _, e := range q {
		reasons[e.Reason] = true
		if e.Raw == "" {
			t.Errorf("quarantined %q without raw text", e.Reason)
		}
	}
	for _, want := range []string{"negative quantity", "before start", "unknown resource", "not valid UTF-8", "11 fields"} {
		found := false
		for r := range reasons {
			if strings.Contains(r, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("no quarantine reason mentions %q; have %v", want, reasons)
		}
	}
	// Reading the same bad input again adds no rows.
	if _, err := s.l.Ingest(s.ctx, ledger.Batch{Records: []ledger.Record{neg}}); err != nil {
		t.Fatal(err)
	}
	var rows int
	s.pool.QueryRow(s.ctx, `SELECT count(*) FROM quarantine`).Scan(&rows)
	if rows != 5 {
		t.Fatalf("%d quarantine rows after re-reading, want 5", rows)
	}
}

// A database recorded with one zone refuses a ledger configured with another.
func TestOpenRefusesOtherTimeZone(t *testing.T) {
	s := newSetup(t, "Europe/Berlin")
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	if _, err := ledger.Open(s.ctx, s.pool, ledger.Options{Location: tokyo}); err == nil {
		t.Fatal("opened a Europe/Berlin ledger as Asia/Tokyo")
	}
}
