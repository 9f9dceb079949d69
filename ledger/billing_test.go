package ledger_test

import (
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("bad rational " + s)
	}
	return r
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func setRate(t *testing.T, s setup, r ledger.Rate) ledger.Rate {
	t.Helper()
	out, _, err := s.l.SetRate(s.ctx, "test", r)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func group(t *testing.T, s setup, parent int64, slug string, billable bool) ledger.Group {
	t.Helper()
	g, err := s.l.CreateGroup(s.ctx, "test", ledger.NewGroup{ParentID: parent, Kind: "lab", Slug: slug, Name: strings.ToUpper(slug),
		Billable: billable, CostCentre: "CC-" + slug})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.l.SetGroupMapping(s.ctx, "test", ledger.Mapping{Kind: ledger.KindSlurm, Scope: "c1", Identity: slug, GroupID: g.ID}); err != nil {
		t.Fatal(err)
	}
	return g
}

// job is one hour of cpu usage: cores core-hours.
func job(id, account, partition, qos string, start time.Time, cores int64) ledger.Record {
	q := cores * 3600
	return ledger.Record{Source: ledger.SourceSlurm, Cluster: "c1", ExternalID: id, Resource: ledger.ResourceCPU,
		Start: start, End: start.Add(time.Hour), Quantity: q, Allocated: q, Used: q / 2,
		Account: account, User: "alice", Partition: partition, QoS: qos}
}

// chargedPrice returns the price that rated the charge of the job's day, group and
// selector — the rate a usage row got.
func chargedPrices(t *testing.T, s setup, period time.Time) map[string]string {
	t.Helper()
	rows, err := s.pool.Query(s.ctx, `
		SELECT g.slug || '/' || c.partition || '/' || c.qos, coalesce(c.price::text, 'none')
		FROM charges c JOIN groups g ON g.id = c.group_id WHERE c.period = $1`, period)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, p string
		if err := rows.Scan(&k, &p); err != nil {
			t.Fatal(err)
		}
		out[k] = p
	}
	return out
}

func TestRateSpecificity(t *testing.T) {
	s := newSetup(t, "UTC")
	dept := group(t, s, 0, "dept", false)
	lab := group(t, s, dept.ID, "lab", true)
	group(t, s, 0, "other", true)
	from := day("2026-10-01")
	setRate(t, s, ledger.Rate{Resource: "cpu", Price: rat("0.01"), ValidFrom: from})
	setRate(t, s, ledger.Rate{Resource: "cpu", Cluster: "c1", Price: rat("0.02"), ValidFrom: from})
	setRate(t, s, ledger.Rate{Resource: "cpu", Partition: "big", Price: rat("0.03"), ValidFrom: from})
	setRate(t, s, ledger.Rate{Resource: "cpu", QoS: "scavenger", Price: rat("0.002"), ValidFrom: from})
	setRate(t, s, ledger.Rate{Resource: "cpu", GroupID: dept.ID, Price: rat("0.008"), ValidFrom: from})
	setRate(t, s, ledger.Rate{Resource: "cpu", GroupID: lab.ID, Partition: "big", Price: rat("0.025"), ValidFrom: from})
	at := time.Date(2026, 10, 5, 10, 0, 0, 0, time.UTC)
	ingest(t, s, []ledger.Record{
		job("1", "lab", "std", "normal", at, 4),
		job("2", "lab", "big", "normal", at, 4),
		job("3", "lab", "big", "scavenger", at, 4),
		job("4", "other", "std", "normal", at, 4),
		job("5", "other", "big", "normal", at, 4),
		job("6", "other", "std", "scavenger", at, 4),
	})
	if _, err := s.l.RatePeriod(s.ctx, "test", from); err != nil {
		t.Fatal(err)
	}
	got := chargedPrices(t, s, from)
	want := map[string]string{
		"lab/std/normal":      "0.008", // the department override beats the cluster rate
		"lab/big/normal":      "0.025", // the lab's partition rate beats the partition rate
		"lab/big/scavenger":   "0.002", // QoS first
		"other/std/normal":    "0.02",  // cluster rate over the default
		"other/big/normal":    "0.03",  // partition over cluster
		"other/std/scavenger": "0.002",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s priced at %s, want %s", k, got[k], w)
		}
	}
}

func TestRatesRefuseOverlapAndEditsOfUsedRates(t *testing.T) {
	s := newSetup(t, "UTC")
	g := group(t, s, 0, "lab", true)
	r := setRate(t, s, ledger.Rate{Resource: "cpu", Price: rat("0.01"), ValidFrom: day("2026-10-01")})
	// The database refuses an overlapping rate with the same selector, whatever the app does.
	_, err := s.pool.Exec(s.ctx, `INSERT INTO rates (resource, price, valid_from) VALUES ('cpu', 0.5, '2026-11-01')`)
	if err == nil || !strings.Contains(err.Error(), "rates_no_overlap") {
		t.Fatalf("overlapping rate: %v, want the exclusion constraint", err)
	}
	// The same price again changes nothing.
	if _, changed, err := s.l.SetRate(s.ctx, "test", ledger.Rate{Resource: "cpu", Price: rat("0.010"), ValidFrom: day("2026-10-15")}); err != nil || changed {
		t.Fatalf("same price again: changed %v, %v", changed, err)
	}
	ingest(t, s, []ledger.Record{job("1", "lab", "std", "normal", time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC), 2)})
	if _, err := s.l.RatePeriod(s.ctx, "test", day("2026-10-01")); err != nil {
		t.Fatal(err)
	}
	// A used rate cannot be edited, nor deleted, nor ended before a day it priced.
	for _, sql := range []string{
		`UPDATE rates SET price = 0.02 WHERE id = $1`,
		`DELETE FROM rates WHERE id = $1`,
		`UPDATE rates SET valid_to = '2026-10-02' WHERE id = $1`,
	} {
		if _, err := s.pool.Exec(s.ctx, sql, r.ID); err == nil {
			t.Errorf("%s succeeded on a used rate", sql)
		}
	}
	// A price change ends the old rate and starts a new one.
	n, changed, err := s.l.SetRate(s.ctx, "test", ledger.Rate{Resource: "cpu", Price: rat("0.012"), ValidFrom: day("2026-10-20")})
	if err != nil || !changed {
		t.Fatalf("price change: %v %v", changed, err)
	}
	rates, err := s.l.Rates(s.ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rates) != 2 || !rates[0].ValidTo.Equal(day("2026-10-20")) || rates[1].ID != n.ID {
		t.Fatalf("rates after a price change: %+v", rates)
	}
	// Starting a price before a day the old one priced is refused.
	if _, _, err := s.l.SetRate(s.ctx, "test", ledger.Rate{Resource: "cpu", Price: rat("0.5"), ValidFrom: day("2026-10-02")}); err == nil {
		t.Fatal("a new price over usage already priced was accepted")
	}
	_ = g
}

// randomBilling builds a random institution with billable groups at several depths,
// rates (with group overrides and a QoS price), subsidies and usage over three
// months, some of it unassigned and some without any rate.
func randomBilling(t *testing.T, s setup, rng *rand.Rand) (tr tree, recs []ledger.Record) {
	t.Helper()
	tr = randomTree(t, s, rng, 25)
	for i, g := range tr.groups {
		if rng.IntN(3) == 0 || i == 0 {
			if _, err := s.pool.Exec(s.ctx, `UPDATE groups SET billable = true, cost_centre = $2 WHERE id = $1`, g.ID, fmt.Sprintf("CC%03d", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	from := day("2026-09-01")
	setRate(t, s, ledger.Rate{Resource: "cpu", Price: rat("0.0123456"), ValidFrom: from})
	setRate(t, s, ledger.Rate{Resource: "cpu", QoS: "scavenger", Price: rat("0.001"), ValidFrom: from})
	setRate(t, s, ledger.Rate{Resource: "gpu", Price: rat("0.75"), ValidFrom: from})
	setRate(t, s, ledger.Rate{Resource: "gpu", Price: rat("0.9"), ValidFrom: day("2026-10-11")})
	setRate(t, s, ledger.Rate{Resource: "memory", Price: rat("0.000333"), ValidFrom: from})
	setRate(t, s, ledger.Rate{Resource: "cpu", GroupID: tr.groups[1].ID, Price: rat("0.007"), ValidFrom: from})
	setRate(t, s, ledger.Rate{Resource: "storage", Cluster: "c2", Price: rat("12"), ValidFrom: from}) // c1 storage: unpriced
	if _, err := s.l.SetSubsidy(s.ctx, "test", ledger.Subsidy{GroupID: tr.groups[0].ID, Resource: "cpu",
		FreeQuantity: big.NewInt(50 * 3600), DiscountPercent: rat("12.5"), ValidFrom: from}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.l.SetSubsidy(s.ctx, "test", ledger.Subsidy{GroupID: tr.groups[2].ID, Resource: "*",
		DiscountPercent: rat("33.3"), ValidFrom: from}); err != nil {
		t.Fatal(err)
	}
	recs = randomRecords(rng, tr, 3000)
	for i := range recs {
		if rng.IntN(4) == 0 {
			recs[i].QoS = "scavenger"
		}
	}
	return tr, recs
}

// checkStatement asserts a statement's arithmetic: lines add up to the total, the
// subtotals add up to the usage lines, and the hash matches.
func checkStatement(t *testing.T, st ledger.Statement) {
	t.Helper()
	var sum, usage int64
	for _, ln := range st.Lines {
		sum += ln.AmountMinor
		if ln.Kind == ledger.LineUsage || ln.Kind == ledger.LineLate || ln.Kind == ledger.LineUnpriced {
			usage += ln.AmountMinor
		}
		if ln.Kind == ledger.LineUnpriced && ln.AmountMinor != 0 {
			t.Errorf("%s: unpriced line with an amount: %+v", st.Number, ln)
		}
	}
	if sum != st.TotalMinor || usage != st.UsageMinor {
		t.Errorf("%s: lines add up to %d (usage %d), statement says %d (usage %d)", st.Number, sum, usage, st.TotalMinor, st.UsageMinor)
	}
	if len(st.Subgroups) == 0 || st.Subgroups[0].AmountMinor != st.UsageMinor {
		t.Errorf("%s: the group's subtotal %+v is not its usage %d", st.Number, st.Subgroups, st.UsageMinor)
	}
	kids := map[int64]int64{}
	for _, sg := range st.Subgroups[1:] {
		kids[sg.ParentID] += sg.AmountMinor
	}
	var users int64
	for _, u := range st.Users {
		users += u.AmountMinor
	}
	if len(st.Users) > 0 && users != st.UsageMinor {
		t.Errorf("%s: user subtotals add up to %d, usage is %d", st.Number, users, st.UsageMinor)
	}
	for _, sg := range st.Subgroups {
		if k, ok := kids[sg.ID]; ok && k > sg.AmountMinor+int64(len(st.Subgroups)) && sg.AmountMinor >= 0 {
			// a parent's subtree includes its children: never much less than they are
			t.Errorf("%s: subgroup %s (%d) is less than its children (%d)", st.Number, sg.Slug, sg.AmountMinor, k)
		}
	}
}

func chargesSnapshot(t *testing.T, s setup, period time.Time) string {
	t.Helper()
	var snap string
	err := s.pool.QueryRow(s.ctx, `
		SELECT coalesce(string_agg(x, ';' ORDER BY x), '') FROM (
			SELECT concat_ws(',', kind, usage_month, day, group_id, user_id, cluster, partition, qos, resource, rate_id, quantity, value) AS x
			FROM charges WHERE period = $1) c`, period).Scan(&snap)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func usageTotals(t *testing.T, s setup, from, to time.Time) map[string]*big.Int {
	t.Helper()
	rows, err := s.pool.Query(s.ctx, `SELECT resource, sum(quantity)::text FROM usage WHERE start_time >= $1 AND start_time < $2 GROUP BY 1`, from, to)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]*big.Int{}
	for rows.Next() {
		var r, q string
		if err := rows.Scan(&r, &q); err != nil {
			t.Fatal(err)
		}
		out[r], _ = new(big.Int).SetString(q, 10)
	}
	return out
}

func TestCloseReconcilesAndFreezes(t *testing.T) {
	s := newSetup(t, "Europe/Berlin")
	rng := rand.New(rand.NewPCG(seedFromEnv(t), 2))
	tr, recs := randomBilling(t, s, rng)
	ingest(t, s, recs)
	loc := s.l.Location()
	sep, oct := day("2026-09-01"), day("2026-10-01")

	// Closing out of order is refused.
	if _, _, err := s.l.Close(s.ctx, "finance", oct); err == nil {
		t.Fatal("closing October before September was accepted")
	}
	// Re-rating an open period twice gives the same charges.
	if _, err := s.l.RatePeriod(s.ctx, "test", sep); err != nil {
		t.Fatal(err)
	}
	first := chargesSnapshot(t, s, sep)
	if _, err := s.l.RatePeriod(s.ctx, "test", sep); err != nil {
		t.Fatal(err)
	}
	if again := chargesSnapshot(t, s, sep); again != first || first == "" {
		t.Fatal("re-rating an open period changed its charges")
	}
	billable := tr.groups[0]
	if _, err := s.l.AddAdjustment(s.ctx, "finance", ledger.Adjustment{Period: sep, GroupID: billable.ID, AmountMinor: -1234, Reason: "credit for the outage of 12 September"}); err != nil {
		t.Fatal(err)
	}
	drafts, _, err := s.l.Statements(s.ctx, sep)
	if err != nil {
		t.Fatal(err)
	}
	sts, rec, err := s.l.Close(s.ctx, "finance", sep)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) == 0 || len(sts) != len(drafts) {
		t.Fatalf("%d statements, %d drafts", len(sts), len(drafts))
	}
	for i, st := range sts {
		checkStatement(t, st)
		if st.Status != "final" || st.TotalMinor != drafts[i].TotalMinor {
			t.Errorf("final %s total %d, draft %d", st.Number, st.TotalMinor, drafts[i].TotalMinor)
		}
	}
	// Every charge is accounted for: billed + unassigned + not billable = rated.
	sum := new(big.Rat).Add(rec.Billed, rec.Unassigned)
	sum.Add(sum, rec.NotBillable)
	if sum.Cmp(rec.Rated) != 0 || rec.Unassigned.Sign() == 0 {
		t.Errorf("billed %s + unassigned %s + not billable %s ≠ rated %s", rec.Billed.FloatString(6), rec.Unassigned.FloatString(6),
			rec.NotBillable.FloatString(6), rec.Rated.FloatString(6))
	}
	// The charges' quantities are the month's usage, and unpriced usage is counted.
	want := usageTotals(t, s, time.Date(2026, 9, 1, 0, 0, 0, 0, loc), time.Date(2026, 10, 1, 0, 0, 0, 0, loc))
	for r, q := range want {
		if rec.Quantity[r] == nil || rec.Quantity[r].Cmp(q) != 0 {
			t.Errorf("%s charged %v, usage %v", r, rec.Quantity[r], q)
		}
	}
	if rec.Unpriced["storage"] == nil || rec.Unpriced["storage"].Sign() == 0 {
		t.Errorf("unpriced storage on c1 not counted: %v", rec.Unpriced)
	}
	// The statements' usage lines are the billed charges, each rounded once.
	var lines int64
	for _, st := range sts {
		for _, ln := range st.Lines {
			if ln.Kind == ledger.LineUsage || ln.Kind == ledger.LineLate {
				lines++
			}
		}
	}
	diff := new(big.Rat).Sub(rec.Billed, new(big.Rat).SetFrac64(rec.UsageLinesMinor, 100))
	if diff.Abs(diff).Cmp(new(big.Rat).SetFrac64(lines, 200)) > 0 {
		t.Errorf("usage lines %d minor differ from billed %s by more than half a cent a line", rec.UsageLinesMinor, rec.Billed.FloatString(4))
	}

	// Closing again changes nothing.
	again, _, err := s.l.Close(s.ctx, "finance", sep)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(sts) || again[0].ContentHash != sts[0].ContentHash {
		t.Fatal("closing a closed period again changed its statements")
	}

	// No write to a closed period succeeds, whatever the SQL.
	for _, sql := range []string{
		`INSERT INTO charges (period, usage_month, kind, day, cluster, partition, qos, resource, quantity, value) VALUES ('2026-09-01', '2026-09-01', 'usage', '2026-09-02', 'c1', '', '', 'cpu', 1, 0)`,
		`UPDATE charges SET value = value + 1 WHERE period = '2026-09-01'`,
		`DELETE FROM charges WHERE period = '2026-09-01'`,
		`TRUNCATE charges CASCADE`,
		`UPDATE statements SET total_minor = 0 WHERE period = '2026-09-01'`,
		`DELETE FROM statements WHERE period = '2026-09-01'`,
		`INSERT INTO statements (period, group_id, number, currency, total_minor, content_hash, doc) VALUES ('2026-09-01', 1, 'X', 'USD', 0, '', '{}')`,
		`UPDATE statement_lines SET amount_minor = 0`,
		`DELETE FROM statement_lines`,
		`INSERT INTO statement_lines (statement_id, line_no, kind, description, amount_minor) SELECT id, 999, 'adjustment', 'x', 1 FROM statements LIMIT 1`,
		`INSERT INTO adjustments (period, group_id, amount_minor, reason, created_by) VALUES ('2026-09-01', 1, 100, 'x', 'x')`,
		`UPDATE adjustments SET amount_minor = 1`,
		`DELETE FROM adjustments`,
		`UPDATE periods SET closed_at = NULL WHERE month = '2026-09-01'`,
		`DELETE FROM periods WHERE month = '2026-09-01'`,
	} {
		if _, err := s.pool.Exec(s.ctx, sql); err == nil {
			t.Errorf("a write to a closed period succeeded: %s", sql)
		}
	}
	if _, err := s.l.AddAdjustment(s.ctx, "finance", ledger.Adjustment{Period: sep, GroupID: billable.ID, AmountMinor: 1, Reason: "late"}); !errors.Is(err, ledger.ErrConflict) {
		t.Errorf("adjustment to a closed period: %v", err)
	}
	if _, _, err := s.l.SetRate(s.ctx, "test", ledger.Rate{Resource: "cpu", Price: rat("1"), ValidFrom: day("2026-09-15")}); err == nil {
		t.Error("a rate starting in a closed period was accepted")
	}
	stored, _, err := s.l.Statements(s.ctx, sep)
	if err != nil {
		t.Fatal(err)
	}
	for i := range stored {
		if stored[i].ContentHash != sts[i].ContentHash || stored[i].TotalMinor != sts[i].TotalMinor {
			t.Fatalf("stored statement %s differs from the one written", stored[i].Number)
		}
	}

	// October closes next; then November's rating carries no late usage (nothing changed).
	if _, _, err := s.l.Close(s.ctx, "finance", oct); err != nil {
		t.Fatal(err)
	}
	res, err := s.l.RatePeriod(s.ctx, "test", day("2026-11-01"))
	if err != nil {
		t.Fatal(err)
	}
	if res.LateRows != 0 {
		t.Fatalf("late rows without any change: %d", res.LateRows)
	}
	_ = oct
}

func TestLateUsageIsChargedInTheNextOpenPeriod(t *testing.T) {
	s := newSetup(t, "UTC")
	lab := group(t, s, 0, "lab", true)
	sep, oct := day("2026-09-01"), day("2026-10-01")
	setRate(t, s, ledger.Rate{Resource: "cpu", Price: rat("0.01"), ValidFrom: sep})
	ingest(t, s, []ledger.Record{
		job("1", "lab", "std", "normal", time.Date(2026, 9, 10, 0, 0, 0, 0, time.UTC), 100),
		job("2", "unknown-acct", "std", "normal", time.Date(2026, 9, 11, 0, 0, 0, 0, time.UTC), 50),
		job("3", "lab", "std", "normal", time.Date(2026, 10, 2, 0, 0, 0, 0, time.UTC), 10),
	})
	sts, _, err := s.l.Close(s.ctx, "finance", sep)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 1 || sts[0].TotalMinor != 100 { // 100 core-hours × 0.01
		t.Fatalf("September: %+v", sts)
	}
	// A late job for September, a revision that makes job 1 shorter, and the
	// unassigned account mapped to the lab.
	late := job("4", "lab", "std", "normal", time.Date(2026, 9, 20, 0, 0, 0, 0, time.UTC), 30)
	shorter := job("1", "lab", "std", "normal", time.Date(2026, 9, 10, 0, 0, 0, 0, time.UTC), 100)
	shorter.End = shorter.Start.Add(30 * time.Minute)
	shorter.Quantity, shorter.Allocated, shorter.Used = 50*3600, 50*3600, 0
	ingest(t, s, []ledger.Record{late, shorter})
	if _, err := s.l.SetGroupMapping(s.ctx, "test", ledger.Mapping{Kind: ledger.KindSlurm, Scope: "c1", Identity: "unknown-acct", GroupID: lab.ID}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // rating twice is the same
		if _, err := s.l.RatePeriod(s.ctx, "test", oct); err != nil {
			t.Fatal(err)
		}
	}
	drafts, _, err := s.l.Statements(s.ctx, oct)
	if err != nil {
		t.Fatal(err)
	}
	st := drafts[0]
	checkStatement(t, st)
	var lateMinor int64
	for _, ln := range st.Lines {
		if ln.Kind == ledger.LineLate {
			if ln.UsageMonth != "2026-09" || !strings.Contains(ln.Description, "September 2026") {
				t.Errorf("late line does not name its month: %+v", ln)
			}
			lateMinor += ln.AmountMinor
		}
	}
	// +30 (late job) −50 (job 1 shortened) +50 (mapped) core-hours at 0.01 = 0.30
	if lateMinor != 30 || st.TotalMinor != 40 {
		t.Fatalf("late lines %d, total %d; want 30 and 40: %+v", lateMinor, st.TotalMinor, st.Lines)
	}
	// Once October closes, its late lines are final and November starts clean.
	if _, _, err := s.l.Close(s.ctx, "finance", oct); err != nil {
		t.Fatal(err)
	}
	res, err := s.l.RatePeriod(s.ctx, "test", day("2026-11-01"))
	if err != nil || res.LateRows != 0 {
		t.Fatalf("November after October closed: %+v, %v", res, err)
	}
}

func TestSubsidiesAndRounding(t *testing.T) {
	s := newSetup(t, "UTC")
	dept := group(t, s, 0, "dept", false)
	lab := group(t, s, dept.ID, "lab", true)
	group(t, s, lab.ID, "sub", false)
	oct := day("2026-10-01")
	setRate(t, s, ledger.Rate{Resource: "cpu", Price: rat("0.0333333"), ValidFrom: oct})
	if _, err := s.l.SetSubsidy(s.ctx, "test", ledger.Subsidy{GroupID: dept.ID, Resource: "cpu", FreeQuantity: big.NewInt(10 * 3600), ValidFrom: oct}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.l.SetSubsidy(s.ctx, "test", ledger.Subsidy{GroupID: dept.ID, Resource: "*", DiscountPercent: rat("10"), ValidFrom: oct}); err != nil {
		t.Fatal(err)
	}
	ingest(t, s, []ledger.Record{
		job("1", "lab", "std", "normal", time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC), 40),
		job("2", "sub", "std", "normal", time.Date(2026, 10, 4, 0, 0, 0, 0, time.UTC), 60),
	})
	if _, err := s.l.RatePeriod(s.ctx, "test", oct); err != nil {
		t.Fatal(err)
	}
	sts, _, err := s.l.Statements(s.ctx, oct)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 1 {
		t.Fatalf("%d statements", len(sts))
	}
	st := sts[0]
	checkStatement(t, st)
	// 100 core-hours × 0.0333333 = 3.33333 → 3.33; allowance 10 × 0.0333333 = 0.333333 → −0.33;
	// discount 10% of (3.33333 − 0.333333) = 0.3 → −0.30; total 2.70.
	var got []string
	for _, ln := range st.Lines {
		got = append(got, fmt.Sprintf("%s:%d", ln.Kind, ln.AmountMinor))
	}
	if strings.Join(got, " ") != "usage:333 subsidy:-33 subsidy:-30" || st.TotalMinor != 270 {
		t.Fatalf("lines %v, total %d", got, st.TotalMinor)
	}
	if len(st.Subgroups) != 2 || st.Subgroups[1].Slug != "sub" || st.Subgroups[1].AmountMinor != 200 || st.Subgroups[0].AmountMinor != 333 {
		t.Fatalf("subgroups %+v", st.Subgroups)
	}
}

func TestBudgetStatus(t *testing.T) {
	s := newSetup(t, "UTC")
	lab := group(t, s, 0, "lab", true)
	kid := group(t, s, lab.ID, "kid", false)
	oct := day("2026-10-01")
	setRate(t, s, ledger.Rate{Resource: "cpu", Price: rat("0.01"), ValidFrom: oct})
	ingest(t, s, []ledger.Record{
		job("1", "lab", "std", "normal", time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC), 1000),
		job("2", "kid", "std", "normal", time.Date(2026, 10, 4, 0, 0, 0, 0, time.UTC), 500),
	})
	if _, err := s.l.RatePeriod(s.ctx, "test", oct); err != nil {
		t.Fatal(err)
	}
	if _, err := s.l.SetBudget(s.ctx, "test", ledger.Budget{GroupID: lab.ID, Span: ledger.SpanMonth, Amount: rat("60"), ValidFrom: oct}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.l.SetBudget(s.ctx, "test", ledger.Budget{GroupID: lab.ID, Span: ledger.SpanFiscalYear, Resource: "cpu", Amount: rat("100000"), ValidFrom: oct}); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 10, 11, 0, 0, 0, 0, time.UTC) // 10 of 31 days
	bs, err := s.l.BudgetStatuses(s.ctx, lab.ID, at)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 2 {
		t.Fatalf("%d budgets", len(bs))
	}
	for _, b := range bs {
		switch b.Resource {
		case "":
			if b.Spent.Cmp(rat("15")) != 0 || b.Remaining.Cmp(rat("45")) != 0 || b.Projected.Cmp(rat("46.5")) != 0 {
				t.Errorf("money budget: spent %s remaining %s projected %s", b.Spent.FloatString(2), b.Remaining.FloatString(2), b.Projected.FloatString(2))
			}
		case "cpu":
			if b.Spent.Cmp(rat("1500")) != 0 || !b.From.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("cpu budget: spent %s from %s", b.Spent.FloatString(2), b.From)
			}
		}
	}
	_ = kid
}

// The dashboards' figures come from the summaries rating writes, through a cache
// that a new rating invalidates at once.
func TestGroupSpendFollowsRating(t *testing.T) {
	s := newSetup(t, "UTC")
	dept := group(t, s, 0, "dept", false)
	lab := group(t, s, dept.ID, "lab", true)
	oct := day("2026-10-01")
	setRate(t, s, ledger.Rate{Resource: "cpu", Price: rat("0.01"), ValidFrom: oct})
	ingest(t, s, []ledger.Record{job("1", "lab", "std", "normal", time.Date(2026, 10, 3, 0, 0, 0, 0, time.UTC), 100)})
	if _, err := s.l.RatePeriod(s.ctx, "test", oct); err != nil {
		t.Fatal(err)
	}
	spend := func() ledger.Spend {
		sp, err := s.l.GroupSpend(s.ctx, dept.ID, oct, day("2026-11-01"))
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	if sp := spend(); sp.Total != 1 || len(sp.BySubgroup) != 1 || sp.BySubgroup[0].GroupID != lab.ID {
		t.Fatalf("after rating: %+v", sp)
	}
	// 2 TB held on 4 October (a day's snapshot), with a 2.5 TB quota.
	if _, err := s.l.SetGroupMapping(s.ctx, "test", ledger.Mapping{Kind: "storage", Scope: "projects", Identity: "lab", GroupID: lab.ID}); err != nil {
		t.Fatal(err)
	}
	ingest(t, s, []ledger.Record{job("2", "lab", "std", "normal", time.Date(2026, 10, 4, 0, 0, 0, 0, time.UTC), 50),
		{Source: ledger.SourceStorage, Cluster: "projects", ExternalID: "/projects/lab", Resource: ledger.ResourceStorage,
			Start: time.Date(2026, 10, 4, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC),
			Quantity: 2e12 * 86400, Allocated: 2e12 * 86400, Used: 2e12 * 86400, Account: "lab", User: "",
			Attrs: map[string]string{"quota_bytes": "2500000000000"}}})
	if sp := spend(); sp.Total != 1 {
		t.Fatalf("before rating again the summaries still say %v", sp.Total)
	}
	if _, err := s.l.RatePeriod(s.ctx, "test", oct); err != nil {
		t.Fatal(err)
	}
	if sp := spend(); sp.Total != 1.5 {
		t.Fatalf("after rating again: %v, want 1.5", sp.Total)
	}
	top, err := s.l.TopJobs(s.ctx, dept.ID, oct, day("2026-11-01"), false, 5)
	if err != nil || len(top) != 2 || top[0].ExternalID != "1" || top[0].Cost != 1 || top[1].Cost != 0.5 {
		t.Fatalf("top jobs by cost: %+v, %v", top, err)
	}
	wasteful, err := s.l.TopJobs(s.ctx, dept.ID, oct, day("2026-11-01"), true, 5)
	if err != nil || len(wasteful) != 2 || wasteful[0].Waste != 0.5 || *wasteful[0].CPUEff != 0.5 {
		t.Fatalf("top jobs by waste: %+v, %v", wasteful, err)
	}
	st, err := s.l.GroupStorage(s.ctx, dept.ID, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
	if err != nil || len(st) != 1 || st[0].Filesystem != "projects" || st[0].Bytes != 2e12 || st[0].Quota != 2.5e12 || st[0].OverQuota != 0 {
		t.Fatalf("storage %+v, %v", st, err)
	}
	usage, err := s.l.GroupUsage(s.ctx, dept.ID, oct, day("2026-11-01"), true)
	var person ledger.UsageRow
	for _, u := range usage {
		if u.UserID != 0 {
			person = u
		}
	}
	if err != nil || len(usage) != 2 || person.CoreHours != 150 || person.Jobs != 2 {
		t.Fatalf("usage %+v, %v", usage, err)
	}
}
