package ledger_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/ledger"
)

// A month can be closed only once it has ended in the site's time zone, whoever
// asks; drafts exist only from the first month with usage to the current one.
func TestCloseOnlyEndedMonths(t *testing.T) {
	t.Parallel()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// 31 December 2026, 23:30 in Berlin: 22:30 UTC, still December there.
	now := time.Date(2026, 12, 31, 23, 30, 0, 0, loc)
	pool := pgtest.NewPool(t)
	l, err := ledger.Open(t.Context(), pool, ledger.Options{Location: loc, Logger: testLogger(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	s := setup{ctx: t.Context(), pool: pool, l: l}
	g := group(t, s, 0, "lab", true)
	setRate(t, s, ledger.Rate{Resource: ledger.ResourceCPU, Cluster: "*", Partition: "*", QoS: "*",
		Price: rat("0.02"), ValidFrom: day("2026-01-01")})
	ingest(t, s, []ledger.Record{
		job("1", "lab", "cpu", "normal", time.Date(2026, 11, 10, 9, 0, 0, 0, loc), 4),
		job("2", "lab", "cpu", "normal", time.Date(2026, 12, 10, 9, 0, 0, 0, loc), 4),
	})
	if _, _, err := l.Close(s.ctx, "test", day("2026-11-01")); err != nil {
		t.Fatalf("close November on 31 December: %v", err)
	}
	for _, month := range []string{"2026-12-01", "2027-01-01", "2030-06-01"} {
		_, _, err := l.Close(s.ctx, "test", day(month))
		if !errors.Is(err, ledger.ErrConflict) || !strings.Contains(err.Error(), "has not ended") {
			t.Errorf("close %s on %s: got %v, want a conflict saying it has not ended", month, now, err)
		}
	}
	_, _, err = l.Close(s.ctx, "test", day("2026-12-01"))
	if want := "it can be closed from Fri 1 January 2027 00:00 CET (Europe/Berlin)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("close December: %v, want it to say %q", err, want)
	}
	if closed, err := l.PeriodClosed(s.ctx, day("2026-12-01")); err != nil || closed {
		t.Fatalf("December closed = %v (%v) after a refused close", closed, err)
	}
	// December is still open and can be rated, and has a draft.
	if _, err := l.RatePeriod(s.ctx, "test", day("2026-12-01")); err != nil {
		t.Fatalf("rate December after a refused close: %v", err)
	}
	sts, _, err := l.Statements(s.ctx, day("2026-12-01"))
	if err != nil || len(sts) != 1 || sts[0].GroupID != g.ID || sts[0].Status != "draft" || sts[0].TotalMinor != 8 {
		t.Fatalf("December's draft: %+v, %v; want one draft of 0.08 (4 core-hours at 0.02)", sts, err)
	}
	// A future month cannot be rated or drafted.
	if _, err := l.RatePeriod(s.ctx, "test", day("2027-01-01")); !errors.Is(err, ledger.ErrConflict) {
		t.Errorf("rate January 2027 in December: %v, want a conflict", err)
	}
	for _, month := range []string{"2027-01-01", "2026-10-01", "2025-12-01", "0001-01-01"} {
		if sts, _, err := l.Statements(s.ctx, day(month)); !errors.Is(err, ledger.ErrNotFound) {
			t.Errorf("statements of %s: %d statements, %v; want not found", month, len(sts), err)
		}
	}
	// One hour later it is January in Berlin: December can close.
	now = now.Add(time.Hour)
	if _, _, err := l.Close(s.ctx, "test", day("2026-12-01")); err != nil {
		t.Fatalf("close December on 1 January 00:30 in Berlin: %v", err)
	}
}

// A job whose server died (no heartbeat) reads abandoned, and the next job of its
// kind and subject marks it so and starts; a live one is followed, not doubled.
func TestJobsAbandonedWhenTheirServerStops(t *testing.T) {
	s := newSetup(t, "UTC")
	first, started, err := s.l.StartJob(s.ctx, "close", "2026-10", "web:fin")
	if err != nil || !started {
		t.Fatalf("start: %v, %v", started, err)
	}
	again, started, err := s.l.StartJob(s.ctx, "close", "2026-10", "web:other")
	if err != nil || started || again.ID != first.ID {
		t.Fatalf("second start while the first runs: job %d started=%v (%v), want job %d followed", again.ID, started, err, first.ID)
	}
	// The first job's server is killed: its heartbeat stops.
	if _, err := s.pool.Exec(s.ctx, `UPDATE jobs SET heartbeat_at = now() - interval '10 minutes' WHERE id = $1`, first.ID); err != nil {
		t.Fatal(err)
	}
	j, err := s.l.JobByID(s.ctx, first.ID)
	if err != nil || j.State != ledger.JobAbandoned || j.Error == "" {
		t.Fatalf("silent job reads %q (%q), %v; want abandoned with the reason", j.State, j.Error, err)
	}
	next, started, err := s.l.StartJob(s.ctx, "close", "2026-10", "web:fin")
	if err != nil || !started || next.ID == first.ID {
		t.Fatalf("start after the first was abandoned: job %d started=%v, %v", next.ID, started, err)
	}
	var state string
	var finished *time.Time
	if err := s.pool.QueryRow(s.ctx, `SELECT state, finished_at FROM jobs WHERE id = $1`, first.ID).Scan(&state, &finished); err != nil {
		t.Fatal(err)
	}
	if state != ledger.JobAbandoned || finished == nil {
		t.Errorf("abandoned job's row: %q, finished %v", state, finished)
	}
	if err := s.l.FinishJob(s.ctx, next.ID, "", "closing failed: reason"); err != nil {
		t.Fatal(err)
	}
	if j, _ := s.l.JobByID(s.ctx, next.ID); j.State != ledger.JobFailed || j.Error != "closing failed: reason" {
		t.Errorf("failed job reads %+v", j)
	}
	if err := s.l.FinishJob(s.ctx, next.ID, "again", ""); !errors.Is(err, ledger.ErrConflict) {
		t.Errorf("finishing a finished job: %v, want a conflict", err)
	}
}

// One absurd record cannot block an import or litter the database with partitions:
// a record longer than the configured maximum is quarantined with the reason, and
// partitions are made only for months that hold usage.
func TestRecordSpanIsBounded(t *testing.T) {
	t.Parallel()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	pool := pgtest.NewPool(t)
	l, err := ledger.Open(t.Context(), pool, ledger.Options{Location: loc, Logger: testLogger(), MaxRecordSpan: 40 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s := setup{ctx: t.Context(), pool: pool, l: l}
	at := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, loc) }
	rec := func(id string, start, end time.Time) ledger.Record {
		return ledger.Record{Source: ledger.SourceSlurm, Cluster: "c1", ExternalID: id, Resource: ledger.ResourceCPU,
			Start: start, End: end, Quantity: 3600, Allocated: 3600, Used: 1800, Account: "lab", User: "alice"}
	}
	c := ingest(t, s, []ledger.Record{
		rec("to-9999", at(1990, 1, 1, 0), at(9999, 12, 31, 0)),
		rec("36-years", at(1990, 1, 1, 0), at(2026, 1, 1, 0)),
		rec("41-days", at(2026, 6, 1, 0), at(2026, 7, 12, 0)),
		// Good ones: 40 days exactly, across a month (no clock change on the way);
		// and one ending at midnight on the 1st of December, which holds nothing in
		// December.
		rec("40-days", at(2026, 6, 1, 0), at(2026, 7, 11, 0)),
		rec("to-midnight", at(2026, 11, 30, 20), at(2026, 12, 1, 0)),
	})
	if c.Quarantined != 3 || c.Ingested != 2 {
		t.Fatalf("counts %+v: want 3 quarantined, 2 ingested", c)
	}
	q, err := l.Quarantined(s.ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]bool{}
	for _, x := range q {
		if !strings.Contains(x.Reason, "longer than the most one record may cover (40 days; site.max_record_days)") {
			t.Errorf("quarantine reason %q does not say the record is too long", x.Reason)
		}
		for _, id := range []string{"to-9999", "36-years", "41-days"} {
			if strings.Contains(x.Raw, id) {
				reasons[id] = true
			}
		}
	}
	if len(reasons) != 3 {
		t.Errorf("quarantined raw records %v: want the three long ones with their raw text", reasons)
	}
	var parts []string
	rows, err := pool.Query(s.ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'usage'::regclass ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := "usage_y2026m06 usage_y2026m07 usage_y2026m11"; strings.Join(parts, " ") != want {
		t.Errorf("usage partitions %v, want %s", parts, want)
	}
	// A rerun (the same file again) goes the same way.
	if c := ingest(t, s, []ledger.Record{rec("to-9999", at(1990, 1, 1, 0), at(9999, 12, 31, 0))}); c.Quarantined != 1 {
		t.Errorf("rerun of the absurd record: %+v", c)
	}
}

// LastRated is when an open month was last rated, and not ok before any was.
func TestLastRated(t *testing.T) {
	s := newSetup(t, "UTC")
	group(t, s, 0, "lab", true)
	if _, ok, err := s.l.LastRated(s.ctx); err != nil || ok {
		t.Fatalf("before rating: ok %v, %v", ok, err)
	}
	ingest(t, s, []ledger.Record{job("1", "lab", "cpu", "normal", time.Date(2026, 10, 3, 9, 0, 0, 0, time.UTC), 4)})
	before := time.Now()
	if _, err := s.l.RatePeriod(s.ctx, "test", day("2026-10-01")); err != nil {
		t.Fatal(err)
	}
	at, ok, err := s.l.LastRated(s.ctx)
	if err != nil || !ok || at.Before(before.Add(-time.Minute)) {
		t.Errorf("after rating: %v, %v, %v", at, ok, err)
	}
}
