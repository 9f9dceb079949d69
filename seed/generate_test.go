package seed

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// generate runs the generator without a database, handing each batch to fn.
func generate(tb testing.TB, opts Options, loc *time.Location, fn func([]ledger.Record)) (*plan, int64) {
	tb.Helper()
	cfg, err := configure(opts, loc)
	if err != nil {
		tb.Fatal(err)
	}
	p := newPlan(opts.RandomSeed, loc, cfg.start, cfg.now)
	g := newGenerator(p, opts.RandomSeed, cfg.jobs, batchSize)
	buf := make([]ledger.Record, 0, batchSize+64)
	g.fresh = func() []ledger.Record { return buf[:0] }
	var last int64
	g.emit = func(_ context.Context, recs []ledger.Record, jobs int64) error {
		fn(recs)
		last += jobs
		return nil
	}
	if err := g.run(context.Background()); err != nil {
		tb.Fatal(err)
	}
	if last != cfg.jobs {
		tb.Fatalf("made %d jobs, want %d", last, cfg.jobs)
	}
	return p, last
}

func TestGenerateShapes(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	// Now just after a month end, in the evening: running jobs, month crossings.
	now := time.Date(2025, 11, 3, 17, 42, 13, 500, loc)
	opts := Options{Scale: ScaleDemo, Months: 3, RandomSeed: 42, Now: now}
	jobIDs := map[string]bool{}
	perSource := map[string]int{}
	states := map[string]int{}
	parts := map[string]int{}
	var arrays, big, multiDay, running, monthCross int
	var cpuAlloc, cpuUsed float64
	p, jobs := generate(t, opts, loc, func(recs []ledger.Record) {
		for _, r := range recs {
			perSource[r.Source]++
			if r.End.After(now) {
				t.Fatalf("record after now: %+v", r)
			}
			if !r.Start.Before(r.End) {
				t.Fatalf("record does not run forward: %+v", r)
			}
			if r.Quantity < 0 || r.Used < 0 || r.Allocated < 0 {
				t.Fatalf("negative record: %+v", r)
			}
			if r.Source != ledger.SourceSlurm || r.Resource != ledger.ResourceCPU {
				continue
			}
			key := r.Cluster + "/" + r.ExternalID
			if jobIDs[key] {
				t.Fatalf("job %s twice", key)
			}
			jobIDs[key] = true
			states[r.State]++
			parts[r.Partition]++
			if strings.Contains(r.ExternalID, "_") {
				arrays++
			}
			cores := float64(r.Allocated) / r.End.Sub(r.Start).Seconds()
			if cores >= 127.5 {
				big++
			}
			if r.End.Sub(r.Start) > 24*time.Hour {
				multiDay++
			}
			if r.State == "RUNNING" {
				running++
				if !r.End.Equal(now) {
					t.Errorf("running job %s ends at %s, not now", key, r.End)
				}
			}
			if r.Start.In(loc).Month() != r.End.In(loc).Month() {
				monthCross++
			}
			if r.Used > r.Allocated {
				t.Errorf("job %s used more CPU than allocated", key)
			}
			cpuAlloc += float64(r.Allocated)
			cpuUsed += float64(r.Used)
		}
	})
	if int64(len(jobIDs)) != jobs {
		t.Errorf("%d distinct jobs, counted %d", len(jobIDs), jobs)
	}
	t.Logf("jobs %d, records per source %v", jobs, perSource)
	t.Logf("states %v", states)
	t.Logf("partitions %v; array tasks %d, ≥128 cores %d, >1 day %d, running %d, across a month end %d, CPU efficiency %.2f",
		parts, arrays, big, multiDay, running, monthCross, cpuUsed/cpuAlloc)
	t.Logf("groups %d, people %d, memberships %d, mappings %d, user mappings %d",
		len(p.groups), len(p.people), len(p.memberships), len(p.mappings), len(p.userMaps))
	for _, s := range []string{ledger.SourceSlurm, ledger.SourceCgroup, ledger.SourceK8s, ledger.SourceStorage} {
		if perSource[s] == 0 {
			t.Errorf("no %s records", s)
		}
	}
	for _, s := range []string{"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "OUT_OF_MEMORY", "RUNNING"} {
		if states[s] == 0 {
			t.Errorf("no %s jobs", s)
		}
	}
	if arrays == 0 || big == 0 || multiDay == 0 || monthCross == 0 {
		t.Errorf("missing shapes: arrays %d, big %d, multi-day %d, month crossings %d", arrays, big, multiDay, monthCross)
	}
	if len(p.groups) < 150 {
		t.Errorf("%d groups", len(p.groups))
	}
	for _, g := range p.groups {
		if !ledger.ValidSlug(g.slug) || strings.ContainsAny(g.slug, "_.") {
			t.Errorf("slug %q", g.slug)
		}
	}
	logins := map[string]bool{}
	for _, px := range p.people {
		if logins[px.login] {
			t.Errorf("login %q twice", px.login)
		}
		logins[px.login] = true
	}
}

func TestGenerateDeterministic(t *testing.T) {
	now := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	sums := func(seed uint64) [2]int64 {
		var s [2]int64
		generate(t, Options{Months: 1, RandomSeed: seed, Now: now, Jobs: 3000}, time.UTC, func(recs []ledger.Record) {
			for _, r := range recs {
				s[0] += int64(len(r.ExternalID)) + r.Start.Unix()%1000
				s[1] += r.Quantity % 1_000_003
			}
		})
		return s
	}
	a, b, c := sums(7), sums(7), sums(8)
	if a != b {
		t.Errorf("same seed, different data: %v, %v", a, b)
	}
	if a == c {
		t.Errorf("different seeds, same data: %v", a)
	}
}

// BenchmarkGenerate measures generation alone, without a database; it reports jobs
// and records per second.
func BenchmarkGenerate(b *testing.B) {
	now := time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)
	var jobs, records int64
	start := time.Now()
	for i := 0; i < b.N; i++ {
		_, n := generate(b, Options{Scale: ScaleBench, Months: 12, RandomSeed: uint64(i), Now: now, Jobs: 500_000}, time.UTC,
			func(recs []ledger.Record) { records += int64(len(recs)) })
		jobs += n
	}
	secs := time.Since(start).Seconds()
	b.ReportMetric(float64(jobs)/secs, "jobs/s")
	b.ReportMetric(float64(records)/secs, "records/s")
}
