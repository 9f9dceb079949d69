package seed

import (
	"context"
	"encoding/json"
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/usagebatch"
)

// The shared machines' history in these tests: a month and a bit in Zurich,
// ending on a Tuesday afternoon (people logged in) at an instant that is no
// whole second, with a clock change at the end of October inside it.
var (
	hostsNow  = time.Date(2025, 11, 4, 15, 7, 41, 250_000_000, time.UTC)
	hostsOpts = Options{Months: 1, RandomSeed: 11, Now: hostsNow, Jobs: 2000}
)

func hostsGenerator(t *testing.T) (*generator, config) {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := configure(hostsOpts, loc)
	if err != nil {
		t.Fatal(err)
	}
	p := newPlan(hostsOpts.RandomSeed, loc, cfg.start, cfg.now)
	return newGenerator(p, hostsOpts.RandomSeed, cfg.jobs, batchSize), cfg
}

// The shared machines' records are what the agent would send, read as the
// ingest API reads them, and add up to the cgroups' counters.
func TestSharedMachinesThroughAgent(t *testing.T) {
	g, cfg := hostsGenerator(t)
	var recs []ledger.Record
	buf := make([]ledger.Record, 0, batchSize+64)
	g.fresh = func() []ledger.Record { return buf[:0] }
	g.emit = func(_ context.Context, batch []ledger.Record, _ int64) error {
		for _, r := range batch {
			if r.Source == ledger.SourceCgroup {
				recs = append(recs, r)
			}
		}
		return nil
	}
	if err := g.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || g.cgroupCPUUsec == 0 {
		t.Fatalf("%d shared-machine records, %d µs of CPU", len(recs), g.cgroupCPUUsec)
	}

	type key struct {
		host, path, resource string
		start                time.Time
	}
	seen := map[key]bool{}
	var cpu int64
	var cpuRecords, memory, atNow int
	hosts := map[string]bool{}
	type pathDay struct{ path, day string }
	pathDays := map[string]map[pathDay]bool{}
	for _, r := range recs {
		// The JSON the agent sends for the record, as the API received it.
		want, err := json.Marshal(usagebatch.FromLedger(r))
		if err != nil {
			t.Fatal(err)
		}
		if r.Raw != string(want) {
			t.Fatalf("record's raw JSON\n%s\nis not what the agent sends\n%s", r.Raw, want)
		}
		k := key{r.Cluster, r.ExternalID, r.Resource, r.Start}
		if seen[k] {
			t.Errorf("record %v sent twice: the seed sends each window's last version only", k)
		}
		seen[k] = true
		if r.Start.Unix()%3600 != 0 || r.End.Sub(r.Start) > time.Hour || !r.End.After(r.Start) || r.End.After(cfg.now) {
			t.Errorf("record %v ends at %s: want an hour's window, within the history", k, r.End)
		}
		if r.End.Equal(cfg.now.Truncate(time.Microsecond)) {
			atNow++
		}
		if r.User == "" || r.Account == "" {
			t.Errorf("record %v has user %q, account %q", k, r.User, r.Account)
		}
		hosts[r.Cluster] = true
		if pathDays[r.Cluster] == nil {
			pathDays[r.Cluster] = map[pathDay]bool{}
		}
		pathDays[r.Cluster][pathDay{r.ExternalID, r.Start.In(g.p.loc).Format(time.DateOnly)}] = true
		switch r.Resource {
		case ledger.ResourceCPU:
			cpu += r.Quantity
			cpuRecords++
			if r.Allocated != r.Quantity || r.Used != r.Quantity {
				t.Errorf("cpu record %v: allocated %d, used %d, quantity %d; no limits, so all equal", k, r.Allocated, r.Used, r.Quantity)
			}
		case ledger.ResourceMemory:
			memory++
			if r.Attrs["memory_peak_bytes"] == "" {
				t.Errorf("memory record %v has no peak", k)
			}
		default:
			t.Errorf("record %v: a resource the shared machines do not report", k)
		}
	}
	if len(hosts) != len(g.p.hosts) || memory == 0 || atNow == 0 {
		t.Errorf("records from %d hosts of %d, %d memory records, %d ending at Now", len(hosts), len(g.p.hosts), memory, atNow)
	}
	// On a machine where people come and go by the hour, some log in again the
	// same day: more logins (cgroups, each with its inode) than user-days.
	for _, a := range g.hosts {
		logins := int(a.nextInode - firstInode)
		if a.h.hourly && logins <= len(pathDays[a.h.name]) {
			t.Errorf("%s: %d logins over %d user-days; want some users back the same day, in a new cgroup", a.h.name, logins, len(pathDays[a.h.name]))
		}
		t.Logf("%s: %d logins over %d user-days", a.h.name, logins, len(pathDays[a.h.name]))
	}
	generated := float64(g.cgroupCPUUsec) / 1e6
	t.Logf("%d records (%d cpu) from %d hosts; cpu %d core-seconds, the counters grew by %.1f", len(recs), cpuRecords, len(hosts), cpu, generated)
	if math.Abs(float64(cpu)-generated) > float64(cpuRecords) {
		t.Errorf("records hold %d core-seconds, the counters grew by %.1f", cpu, generated)
	}
}

// In the ledger, the shared machines' CPU is what their cgroups' counters grew
// by: nothing lost or doubled between the counters and the usage rows.
func TestSharedMachinesInLedger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g, cfg := hostsGenerator(t)
	l, err := ledger.Open(ctx, pgtest.NewPool(t), ledger.Options{Location: g.p.loc})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.p.write(ctx, l); err != nil {
		t.Fatal(err)
	}
	counts, _, err := stream(ctx, l, g, cfg.jobs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if counts.Revised != 0 || counts.Quarantined != 0 || counts.Read != counts.Ingested {
		t.Errorf("counts %v: want every record new, none revised or quarantined", counts)
	}
	y, m, d := cfg.now.Date()
	rows, err := l.Report(ctx, ledger.ReportQuery{From: cfg.start, To: time.Date(y, m, d+1, 0, 0, 0, 0, g.p.loc),
		By: []string{ledger.BySource}, Resource: ledger.ResourceCPU})
	if err != nil {
		t.Fatal(err)
	}
	var cpu float64
	for _, r := range rows {
		if r.Keys[0] == ledger.SourceCgroup {
			cpu, _ = new(big.Float).SetInt(r.Quantity).Float64()
		}
	}
	var windows int64
	if err := l.Pool().QueryRow(ctx, `
		SELECT count(*) FROM usage
		WHERE source = 'cgroup' AND resource = 'cpu' AND start_time = record_start`).Scan(&windows); err != nil {
		t.Fatal(err)
	}
	generated := float64(g.cgroupCPUUsec) / 1e6
	t.Logf("the ledger holds %.0f core-seconds in %d cpu records; the counters grew by %.1f", cpu, windows, generated)
	if windows == 0 || math.Abs(cpu-generated) > float64(windows) {
		t.Errorf("the ledger holds %.0f core-seconds in %d records, the counters grew by %.1f", cpu, windows, generated)
	}
}
