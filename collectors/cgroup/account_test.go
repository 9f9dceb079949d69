package cgroup

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// t0 is on a window boundary (hourly windows are aligned to the epoch).
var t0 = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// reading is a user's cgroup with cpuSecs of CPU used since creation.
func reading(path string, inode uint64, cpuSecs float64) Reading {
	return Reading{Path: path, Inode: inode, UID: 1000, User: "ada", Group: "chem",
		CPUUsageUsec: uint64(math.Round(cpuSecs * 1e6))}
}

func snap(d time.Duration, rs ...Reading) Snapshot { return Snapshot{At: at(d), Cgroups: rs} }

// ledgerKey is a record's natural key, as a test reads it.
func ledgerKey(r ledger.Record) string {
	return fmt.Sprintf("%s %s %s", r.ExternalID, r.Resource, r.Start.Sub(t0))
}

// latest keeps the last version of each natural key, as the ledger does.
func latest(into map[string]ledger.Record, recs []ledger.Record) map[string]ledger.Record {
	if into == nil {
		into = map[string]ledger.Record{}
	}
	for _, r := range recs {
		into[ledgerKey(r)] = r
	}
	return into
}

// run adds the snapshots in order and returns the ledger's view of what was sent.
func run(t testing.TB, a *Accountant, snaps ...Snapshot) map[string]ledger.Record {
	t.Helper()
	got := map[string]ledger.Record{}
	for _, s := range snaps {
		latest(got, checkRecords(t, a.Add(s)))
	}
	return got
}

// checkRecords holds what every batch of records must be: valid for the
// ledger, sorted, no key twice.
func checkRecords(t testing.TB, recs []ledger.Record) []ledger.Record {
	t.Helper()
	seen := map[string]bool{}
	for i, r := range recs {
		k := ledgerKey(r)
		if seen[k] {
			t.Fatalf("key %s twice in one batch", k)
		}
		seen[k] = true
		if r.Source != ledger.SourceCgroup || r.Cluster == "" || r.ExternalID == "" || r.Quantity < 0 || r.Allocated < 0 || r.Used < 0 ||
			r.End.Before(r.Start) || r.Start.UnixMicro()%int64(time.Hour/time.Microsecond) != 0 && r.Start.Sub(t0)%time.Minute != 0 {
			t.Fatalf("bad record %+v", r)
		}
		if i > 0 {
			p := recs[i-1]
			if p.ExternalID > r.ExternalID || p.ExternalID == r.ExternalID && (p.Start.After(r.Start) || p.Start.Equal(r.Start) && p.Resource > r.Resource) {
				t.Fatalf("records out of order: %s before %s", ledgerKey(p), k)
			}
		}
	}
	return recs
}

func cfg() AccountConfig { return AccountConfig{Host: "ws-01"} }

// closeAll is a snapshot far enough on to close every window.
func closeAll() Snapshot { return snap(1000 * time.Hour) }

// want is one record expected after the run; -1 skips a figure.
type want struct {
	key                   string
	quantity, alloc, used int64
	attrs                 map[string]string
}

func TestAccountant(t *testing.T) {
	t.Parallel()
	h, m, s := time.Hour, time.Minute, time.Second
	const u = "/user.slice/user-1000.slice"
	withMem := func(r Reading, cur uint64, peak *uint64) Reading {
		r.MemoryBytes, r.MemoryPeak = u64(cur), peak
		return r
	}
	withIO := func(r Reading, io map[string]IOBytes) Reading { r.IO = io; return r }
	withLimits := func(r Reading, cores float64, mem uint64) Reading {
		r.CPULimitCores, r.MemoryLimitBytes = cores, mem
		return r
	}
	withGPU := func(r Reading, g ...GPUUse) Reading { r.GPUs = g; return r }
	host := func(cpu float64) Reading {
		r := reading("/", 1, cpu)
		r.UID, r.User, r.Group = -1, "", ""
		return r
	}
	cases := []struct {
		name  string
		cfg   func(c *AccountConfig)
		snaps []Snapshot
		want  []want
		none  []string // keys that must not exist
	}{
		{
			name:  "first sight is a baseline, then deltas",
			snaps: []Snapshot{snap(0, reading(u, 7, 5000)), snap(30*s, reading(u, 7, 5012))},
			want:  []want{{key: u + " cpu 0s", quantity: 12, alloc: 12, used: 12}},
		},
		{
			name: "a cgroup new to a running agent counts whole",
			snaps: []Snapshot{snap(0, reading(u, 7, 100)),
				snap(30*s, reading(u, 7, 100), reading("/user.slice/user-1001.slice", 9, 4))},
			want: []want{{key: u + " cpu 0s", quantity: 0, alloc: 0, used: 0},
				{key: "/user.slice/user-1001.slice cpu 0s", quantity: 4, alloc: 4, used: 4}},
		},
		{
			name: "re-created cgroup: the old inode's interval stays, the new one counts from zero",
			snaps: []Snapshot{snap(0, reading(u, 7, 100)), snap(30*s, reading(u, 7, 110)),
				snap(60*s, reading(u, 8, 3)), snap(90*s, reading(u, 8, 5))},
			want: []want{{key: u + " cpu 0s", quantity: 15, alloc: 15, used: 15}},
		},
		{
			name: "a decreasing counter is a reset, never negative",
			snaps: []Snapshot{snap(0, reading(u, 7, 100)), snap(30*s, reading(u, 7, 110)),
				snap(60*s, reading(u, 7, 2)), snap(90*s, reading(u, 7, 6))},
			want: []want{{key: u + " cpu 0s", quantity: 16, alloc: 16, used: 16}},
		},
		{
			name: "a vanished cgroup keeps what was read of it",
			snaps: []Snapshot{snap(0, reading(u, 7, 100)), snap(30*s, reading(u, 7, 130)),
				snap(60 * s), snap(2 * h)},
			want: []want{{key: u + " cpu 0s", quantity: 30, alloc: 30, used: 30}},
		},
		{
			name: "a cgroup missing from one snapshot (unreadable) and back goes on from its last reading",
			snaps: []Snapshot{snap(0, reading(u, 7, 100)), snap(30*s, reading(u, 7, 130)),
				snap(60 * s), snap(90*s, reading(u, 7, 190))},
			want: []want{{key: u + " cpu 0s", quantity: 90, alloc: 90, used: 90}},
		},
		{
			name: "missing from the snapshot that closed its window: the delta goes to the open window, the closed record stays",
			snaps: []Snapshot{snap(50*m, reading(u, 7, 0)), snap(58*m, reading(u, 7, 80)),
				snap(61 * m), snap(64*m, reading(u, 7, 140))},
			want: []want{{key: u + " cpu 0s", quantity: 80, alloc: 80, used: 80},
				{key: u + " cpu 1h0m0s", quantity: 60, alloc: 60, used: 60}},
		},
		{
			name: "an interval across a boundary is split by time, IO too",
			snaps: []Snapshot{
				snap(59*m, withIO(reading(u, 7, 0), map[string]IOBytes{"8:0": {Read: 1000, Write: 0}})),
				snap(61*m, withIO(reading(u, 7, 120), map[string]IOBytes{"8:0": {Read: 1000 + 4000, Write: 1}}))},
			want: []want{
				{key: u + " cpu 0s", quantity: 60, alloc: 60, used: 60, attrs: map[string]string{"io_read_bytes": "2000", "io_write_bytes": "0"}},
				{key: u + " cpu 1h0m0s", quantity: 60, alloc: 60, used: 60, attrs: map[string]string{"io_read_bytes": "2000", "io_write_bytes": "1"}}},
		},
		{
			name: "a long gap: cpu split over the windows it crosses, memory not integrated",
			snaps: []Snapshot{
				snap(30*m, withMem(reading(u, 7, 0), 1<<30, nil)), snap(31*m, withMem(reading(u, 7, 60), 1<<30, nil)),
				snap(3*h+30*m, withMem(reading(u, 7, 60+179*60), 1<<30, nil))},
			want: []want{
				{key: u + " cpu 0s", quantity: 60 + 1740, alloc: -1, used: -1},
				{key: u + " cpu 1h0m0s", quantity: 3600, alloc: -1, used: -1},
				{key: u + " cpu 2h0m0s", quantity: 3600, alloc: -1, used: -1},
				{key: u + " cpu 3h0m0s", quantity: 1800, alloc: -1, used: -1},
				{key: u + " memory 0s", quantity: 60 << 30, alloc: 60 << 30, used: 60 << 30, attrs: map[string]string{"memory_peak_bytes": "1073741824"}}},
			none: []string{u + " memory 3h0m0s", u + " memory 1h0m0s"},
		},
		{
			name: "memory is a trapezoid; peak from memory.peak, or the largest sample",
			snaps: []Snapshot{
				snap(0, withMem(reading(u, 7, 0), 1000, nil)), snap(10*s, withMem(reading(u, 7, 0), 3000, u64(9000))),
				snap(20*s, withMem(reading("/b", 1, 0), 5, nil)), snap(30*s, withMem(reading("/b", 1, 0), 7, nil))},
			want: []want{{key: u + " memory 0s", quantity: 20000, alloc: 20000, used: 20000, attrs: map[string]string{"memory_peak_bytes": "9000"}},
				{key: "/b memory 0s", quantity: 60, alloc: 60, used: 60, attrs: map[string]string{"memory_peak_bytes": "7"}}},
		},
		{
			name:  "missing memory.current and io.stat: cpu only",
			snaps: []Snapshot{snap(0, reading(u, 7, 0)), snap(30*s, reading(u, 7, 3))},
			want:  []want{{key: u + " cpu 0s", quantity: 3, alloc: 3, used: 3, attrs: map[string]string{}}},
			none:  []string{u + " memory 0s", u + " gpu 0s"},
		},
		{
			name: "limits are what was allocated",
			snaps: []Snapshot{snap(0, withLimits(withMem(reading(u, 7, 0), 100, nil), 2, 1000)),
				snap(100*s, withLimits(withMem(reading(u, 7, 50), 100, nil), 2, 1000))},
			want: []want{{key: u + " cpu 0s", quantity: 50, alloc: 200, used: 50},
				{key: u + " memory 0s", quantity: 10000, alloc: 100000, used: 10000}},
		},
		{
			name: "a configured share is what a user without limits was allocated",
			cfg:  func(c *AccountConfig) { c.AllowedCores, c.AllowedMemoryBytes = 4, 1<<20 },
			snaps: []Snapshot{snap(0, withMem(reading(u, 7, 0), 1, nil), host(0)),
				snap(10*s, withMem(reading(u, 7, 1), 1, nil), host(5))},
			want: []want{{key: u + " cpu 0s", quantity: 1, alloc: 40, used: 1},
				{key: u + " memory 0s", quantity: 10, alloc: 10 << 20, used: 10},
				{key: "/ cpu 0s", quantity: 5, alloc: 5, used: 5}}, // the host's own gets no share
		},
		{
			name: "a limit below usage: allocated is never under used",
			snaps: []Snapshot{snap(0, withLimits(reading(u, 7, 0), 0.5, 0)),
				snap(10*s, withLimits(reading(u, 7, 8), 0.5, 0))},
			want: []want{{key: u + " cpu 0s", quantity: 8, alloc: 8, used: 8}},
		},
		{
			name: "GPUs: each cgroup on a shared GPU has its seconds; utilisation where known",
			snaps: []Snapshot{
				snap(0, withGPU(reading(u, 7, 0)), withGPU(reading("/b", 1, 0))),
				snap(60*s, withGPU(reading(u, 7, 0), GPUUse{"GPU-a", 0.5, 1 << 30}, GPUUse{"GPU-b", 1, 2 << 30}),
					withGPU(reading("/b", 1, 0), GPUUse{"GPU-a", -1, 5})),
				snap(90*s, withGPU(reading(u, 7, 0)), withGPU(reading("/b", 1, 0), GPUUse{"GPU-a", 0.25, 7}))},
			want: []want{{key: u + " gpu 0s", quantity: 120, alloc: 120, used: 90, attrs: map[string]string{"gpu_memory_peak_bytes": "3221225472"}},
				{key: "/b gpu 0s", quantity: 90, alloc: 90, used: 8, attrs: map[string]string{"gpu_utilization_unknown_seconds": "60", "gpu_memory_peak_bytes": "7"}}},
		},
		{
			name: "an IO device that disappears adds nothing; back, it goes on from its last value",
			snaps: []Snapshot{
				snap(0, withIO(reading(u, 7, 0), map[string]IOBytes{"8:0": {100, 100}, "8:16": {50, 50}})),
				snap(30*s, withIO(reading(u, 7, 0), map[string]IOBytes{"8:0": {110, 100}})),
				snap(60*s, withIO(reading(u, 7, 0), map[string]IOBytes{"8:0": {120, 100}, "8:16": {55, 60}, "259:0": {1, 2}})),
			},
			want: []want{{key: u + " cpu 0s", attrs: map[string]string{"io_read_bytes": "26", "io_write_bytes": "12"}}},
		},
		{
			name:  "the host's own remainder going down is a new baseline (the reader restarted), not usage from zero",
			snaps: []Snapshot{snap(0, host(1000)), snap(30*s, host(1010)), snap(60*s, host(400)), snap(90*s, host(405))},
			want:  []want{{key: "/ cpu 0s", quantity: 15, alloc: 15, used: 15}},
		},
		{
			name:  "a snapshot not later than the last is ignored",
			snaps: []Snapshot{snap(60*s, reading(u, 7, 0)), snap(30*s, reading(u, 7, 999)), snap(90*s, reading(u, 7, 10))},
			want:  []want{{key: u + " cpu 0s", quantity: 10, alloc: 10, used: 10}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			conf := cfg()
			if c.cfg != nil {
				c.cfg(&conf)
			}
			got := run(t, NewAccountant(conf), append(c.snaps, closeAll())...)
			for _, w := range c.want {
				r, ok := got[w.key]
				if !ok {
					t.Errorf("no record %s; have %v", w.key, keys(got))
					continue
				}
				if w.quantity >= 0 && r.Quantity != w.quantity || w.alloc >= 0 && r.Allocated != w.alloc || w.used >= 0 && r.Used != w.used {
					t.Errorf("%s: quantity %d allocated %d used %d, want %d %d %d", w.key, r.Quantity, r.Allocated, r.Used, w.quantity, w.alloc, w.used)
				}
				if w.attrs != nil && fmt.Sprint(r.Attrs) != fmt.Sprint(w.attrs) && !(len(w.attrs) == 0 && len(r.Attrs) == 0) {
					t.Errorf("%s: attrs %v, want %v", w.key, r.Attrs, w.attrs)
				}
				if r.Start.Add(time.Hour) != r.End {
					t.Errorf("%s: closed window ends %s, want its end", w.key, r.End)
				}
				if r.Cluster != "ws-01" {
					t.Errorf("%s: cluster %q", w.key, r.Cluster)
				}
			}
			for _, k := range c.none {
				if _, ok := got[k]; ok {
					t.Errorf("unexpected record %s: %+v", k, got[k])
				}
			}
		})
	}
}

func keys(m map[string]ledger.Record) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Steady use over many windows: the windows' rounded quantities add up to the
// counter's delta, rounded, to the core-second; every window's record is
// revised while it fills (End = the latest sample), then closed at its end.
func TestAccountantSteadyUse(t *testing.T) {
	t.Parallel()
	a := NewAccountant(cfg())
	rng := rand.New(rand.NewPCG(1, 2))
	const path = "/user.slice/user-1000.slice"
	var usec uint64 = 123_456_789
	first := usec
	got := map[string]ledger.Record{}
	for i := 0; i <= 4*120+7; i++ {
		when := 17*time.Second + time.Duration(i)*30*time.Second
		recs := checkRecords(t, a.Add(Snapshot{At: at(when), Cgroups: []Reading{{Path: path, Inode: 3, UID: 1000, CPUUsageUsec: usec}}}))
		if i > 0 {
			var open int
			for _, r := range recs {
				if r.End.Before(r.Start.Add(time.Hour)) {
					open++
					if !r.End.Equal(at(when)) {
						t.Fatalf("open record ends %s, want the sample %s", r.End, at(when))
					}
				}
			}
			if open != 1 {
				t.Fatalf("snapshot %d: %d open records, want 1: %v", i, open, recs)
			}
		}
		latest(got, recs)
		usec += uint64(rng.IntN(60_000_000)) // up to 2 cores
	}
	recs := checkRecords(t, a.Add(Snapshot{At: at(1000 * time.Hour)}))
	latest(got, recs)
	var sum int64
	for _, r := range got {
		if r.Resource == ledger.ResourceCPU {
			sum += r.Quantity
			if !r.End.Equal(r.Start.Add(time.Hour)) {
				t.Errorf("record %s not closed: ends %s", ledgerKey(r), r.End)
			}
		}
	}
	if len(got) != 5 {
		t.Errorf("%d records, want 5 windows: %v", len(got), keys(got))
	}
	// The last sample read was the one before the last increment.
	var lastRead uint64
	rng = rand.New(rand.NewPCG(1, 2))
	lastRead = first
	for i := 0; i < 4*120+7; i++ {
		lastRead += uint64(rng.IntN(60_000_000))
	}
	wantSum := int64((lastRead - first + 500_000) / 1_000_000)
	if sum != wantSum {
		t.Errorf("windows add up to %d core-seconds, want the counter's delta %d", sum, wantSum)
	}
	if n := len(a.windows); n != 0 {
		t.Errorf("%d windows left open after closing all", n)
	}
}

// The agent dies after spooling a snapshot's records and before saving its
// state: it restores the older state, skips the lost snapshot and goes on.
// The records it sends replace the spooled ones by key, and the ledger ends
// with the same CPU totals as an agent that never crashed.
func TestAccountantCrashBetweenSpoolAndState(t *testing.T) {
	t.Parallel()
	const u = "/user.slice/user-1000.slice"
	snaps := []Snapshot{}
	cpu := 0.0
	for i := 0; i <= 200; i++ {
		cpu += 0.7 * 30
		rs := []Reading{reading(u, 1, cpu), reading("/user.slice/user-1001.slice", 2, cpu/3)}
		if i >= 60 { // a third user logs in at ten past
			rs = append(rs, reading("/user.slice/user-1002.slice", 3, float64(i-60)*5))
		}
		snaps = append(snaps, snap(time.Duration(i)*30*time.Second, rs...))
	}
	snaps = append(snaps, closeAll())
	want := run(t, NewAccountant(cfg()), snaps...)

	for _, crashAt := range []int{1, 2, 60, 61, 119, 120, 121, 150, 199} {
		t.Run(strconv.Itoa(crashAt), func(t *testing.T) {
			a := NewAccountant(cfg())
			ledgerView := run(t, a, snaps[:crashAt]...)
			saved, err := a.MarshalState()
			if err != nil {
				t.Fatal(err)
			}
			latest(ledgerView, checkRecords(t, a.Add(snaps[crashAt]))) // spooled, then kill -9
			b, err := RestoreAccountant(cfg(), saved)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range snaps[crashAt+1:] {
				latest(ledgerView, checkRecords(t, b.Add(s)))
			}
			var wantSum, gotSum int64
			for k, w := range want {
				g, ok := ledgerView[k]
				if w.Resource != ledger.ResourceCPU {
					continue
				}
				wantSum += w.Quantity
				gotSum += g.Quantity
				// Within a window the deltas are the same; across the boundary
				// the lost sample moves a little usage between windows.
				sameWindow := snaps[crashAt-1].At.Truncate(time.Hour).Equal(snaps[crashAt+1].At.Add(-time.Microsecond).Truncate(time.Hour))
				if !ok || sameWindow && g.Quantity != w.Quantity {
					t.Errorf("%s: %d after the crash, want %d", k, g.Quantity, w.Quantity)
				}
			}
			if d := gotSum - wantSum; d < -1 || d > 1 {
				t.Errorf("cpu total %d after the crash, want %d", gotSum, wantSum)
			}
			for k := range ledgerView {
				if _, ok := want[k]; !ok {
					t.Errorf("record %s only after the crash", k)
				}
			}
		})
	}
}

// The state survives a round trip byte for byte, and an accountant restored
// from it goes on exactly as the original.
func TestAccountantStateRoundTrip(t *testing.T) {
	t.Parallel()
	c := cfg()
	c.AllowedCores = 1.5
	a := NewAccountant(c)
	mk := func(i int) Snapshot {
		r := reading("/user.slice/user-1000.slice", 4, float64(i)*10)
		r.MemoryBytes, r.IO = u64(uint64(1000+i)), map[string]IOBytes{"8:0": {uint64(i), 2 * uint64(i)}}
		r.GPUs = []GPUUse{{"GPU-x", 0.3, 100}}
		return snap(50*time.Minute+time.Duration(i)*30*time.Second, r, reading("/system.slice/cron.service", 9, float64(i)))
	}
	for i := 0; i < 30; i++ {
		a.Add(mk(i))
	}
	state, err := a.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	b, err := RestoreAccountant(c, state)
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(state, again) {
		t.Fatalf("state changed on a round trip:\n%s\n%s", state, again)
	}
	for i := 30; i < 60; i++ {
		x, y := a.Add(mk(i)), b.Add(mk(i))
		if fmt.Sprint(x) != fmt.Sprint(y) {
			t.Fatalf("snapshot %d: restored accountant made\n%v\nwant\n%v", i, y, x)
		}
	}
}

// A state written by this version is read by it (testdata/account holds one,
// so that a change of format is noticed); a state of another version, host or
// window length, or no state at all, is refused with a reason.
func TestRestoreAccountant(t *testing.T) {
	t.Parallel()
	golden := filepath.Join("testdata", "account", "state-v1.json")
	data, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	a, err := RestoreAccountant(cfg(), data)
	if err != nil {
		t.Fatalf("restore %s: %v", golden, err)
	}
	recs := checkRecords(t, a.Add(snap(2*time.Hour)))
	if len(recs) == 0 {
		t.Errorf("the golden state's open windows were not closed")
	}
	bad := []struct {
		name  string
		cfg   AccountConfig
		state string
	}{
		{"empty", cfg(), ""},
		{"not json", cfg(), "{"},
		{"another version", cfg(), `{"version": 2, "host": "ws-01", "window_us": 3600000000}`},
		{"no version", cfg(), `{"host": "ws-01", "window_us": 3600000000}`},
		{"another host", AccountConfig{Host: "ws-02"}, string(data)},
		{"another window", AccountConfig{Host: "ws-01", Window: time.Minute}, string(data)},
		{"null cgroup", cfg(), `{"version": 1, "host": "ws-01", "window_us": 3600000000, "cgroups": [null]}`},
	}
	for _, c := range bad {
		if _, err := RestoreAccountant(c.cfg, []byte(c.state)); err == nil {
			t.Errorf("%s: restored", c.name)
		}
	}
}

// Users coming and going for weeks: closed windows, vanished cgroups and
// their rounding remainders are forgotten, so the state stays small.
func TestAccountantStateStaysBounded(t *testing.T) {
	t.Parallel()
	a := NewAccountant(cfg())
	var maxState int
	for i := 0; i < 24*30*4; i++ { // 30 days, every 15 minutes
		var rs []Reading
		for u := 0; u < 20; u++ {
			// each user logs in again (new inode) every few hours
			rs = append(rs, reading(fmt.Sprintf("/user.slice/user-%d.slice", 1000+u+20*(i/96%5)), uint64(i/(8+u)), float64(i%(8+u))*7.3))
		}
		a.Add(snap(time.Duration(i)*15*time.Minute, rs...))
		state, err := a.MarshalState()
		if err != nil {
			t.Fatal(err)
		}
		maxState = max(maxState, len(state))
	}
	if len(a.windows) > 40 || len(a.cgroups) > 40 || len(a.roundings) > 60 {
		t.Errorf("state grew: %d windows, %d cgroups, %d roundings", len(a.windows), len(a.cgroups), len(a.roundings))
	}
	if maxState > 40<<10 {
		t.Errorf("state reached %d bytes", maxState)
	}
}

// A gap of years (a clock gone wrong) is spread over maxSplitWindows windows,
// all of it kept, not over every window of the gap.
func TestAccountantHugeGap(t *testing.T) {
	t.Parallel()
	a := NewAccountant(cfg())
	a.Add(snap(0, reading("/a", 1, 0)))
	recs := checkRecords(t, a.Add(snap(5*365*24*time.Hour, reading("/a", 1, 1e6))))
	var sum int64
	for _, r := range recs {
		sum += r.Quantity
	}
	if len(recs) != maxSplitWindows || sum != 1e6 {
		t.Errorf("%d records, %d core-seconds; want %d and 1000000", len(recs), sum, maxSplitWindows)
	}
}

// Random runs of users logging in and out, counters reset, cgroups vanishing
// and coming back, agent restarts from saved state: the CPU the ledger ends
// with is the sum of the true deltas, within a core-second per record.
func TestAccountantCPUConservation(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 40; seed++ {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 99))
			// The model: what an accountant can see of each cgroup instance.
			type cg struct {
				inode   uint64
				usec    uint64 // the kernel's counter
				known   bool   // the accountant holds a reading of it
				lastRd  uint64 // that reading
				lastAt  time.Duration
				created bool // since the first snapshot
			}
			paths := []string{"/a", "/b", "/c", "/d", "/e"}
			live := map[string]*cg{}
			nextInode := uint64(1)
			var trueUsec uint64 // the positive deltas between readings, and new cgroups whole
			a := NewAccountant(cfg())
			ledgerView := map[string]ledger.Record{}
			now := time.Duration(rng.IntN(3600)) * time.Second
			for step := 0; step < 400; step++ {
				now += time.Duration(1+rng.IntN(1200)) * time.Second
				var rs []Reading
				for _, p := range paths {
					c := live[p]
					switch x := rng.IntN(100); {
					case c == nil && x < 30, c != nil && x < 3: // login, or re-creation
						c = &cg{inode: nextInode, created: step > 0}
						nextInode++
						live[p] = c
					case c != nil && x < 6: // logout
						delete(live, p)
						continue
					case c == nil:
						continue
					}
					c.usec += uint64(rng.IntN(120_000_000))
					if rng.IntN(100) < 2 { // a reset
						c.usec = uint64(rng.IntN(1_000_000))
					}
					if rng.IntN(100) < 5 { // unreadable this time
						continue
					}
					switch {
					case c.known:
						trueUsec += counterDelta(c.lastRd, c.usec)
					case step > 0:
						trueUsec += c.usec
					}
					c.known, c.lastRd, c.lastAt = true, c.usec, now
					rs = append(rs, reading(p, c.inode, float64(c.usec)/1e6))
				}
				for _, c := range live {
					if c.known && c.lastAt != now && now-c.lastAt > DefaultMaxGap {
						c.known = false // forgotten: when it is back, it counts whole
					}
				}
				latest(ledgerView, checkRecords(t, a.Add(snap(now, rs...))))
				if rng.IntN(50) == 0 { // a clean restart
					state, err := a.MarshalState()
					if err != nil {
						t.Fatal(err)
					}
					if a, err = RestoreAccountant(cfg(), state); err != nil {
						t.Fatal(err)
					}
				}
			}
			latest(ledgerView, checkRecords(t, a.Add(snap(now+10000*time.Hour))))
			var sum, n int64
			for _, r := range ledgerView {
				if r.Resource == ledger.ResourceCPU {
					sum += r.Quantity
					n++
				}
			}
			exact := float64(trueUsec) / 1e6
			if d := math.Abs(float64(sum) - exact); d > float64(n) {
				t.Errorf("cpu %d core-seconds over %d records, true usage %.6f", sum, n, exact)
			}
		})
	}
}

func FuzzRestoreAccountant(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("testdata", "account", "state-v1.json")); err == nil {
		f.Add(data, int64(3600))
	}
	f.Add([]byte(`{"version":1,"host":"ws-01","window_us":3600000000,"started":true,"last_at_us":-9223372036854775808,"windows":[{"path":"/","index":9223372036854775807}]}`), int64(1))
	f.Fuzz(func(t *testing.T, state []byte, secs int64) {
		a, err := RestoreAccountant(cfg(), state)
		if err != nil {
			return
		}
		r := reading("/user.slice/user-1000.slice", 1, 5)
		r.MemoryBytes, r.GPUs, r.IO = u64(7), []GPUUse{{"g", math.NaN(), 1}}, map[string]IOBytes{"8:0": {1, 1}}
		checkRecords(t, a.Add(Snapshot{At: time.Unix(secs, 0), Cgroups: []Reading{r}}))
		if _, err := a.MarshalState(); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkAdd500 is one sample of a machine with 500 cgroups, every 30 s.
func BenchmarkAdd500(b *testing.B) {
	a := NewAccountant(AccountConfig{Host: "ws-01", AllowedCores: 2, AllowedMemoryBytes: 8 << 30})
	rs := make([]Reading, 500)
	for i := range rs {
		rs[i] = reading(fmt.Sprintf("/user.slice/user-%d.slice", 1000+i), uint64(i), 0)
		rs[i].MemoryBytes, rs[i].MemoryPeak = u64(1<<30), u64(2<<30)
		rs[i].IO = map[string]IOBytes{"8:0": {1, 1}, "259:0": {1, 1}}
	}
	now := t0
	a.Add(Snapshot{At: now, Cgroups: rs})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now = now.Add(30 * time.Second)
		for j := range rs {
			rs[j].CPUUsageUsec += 1_000_000 + uint64(j)
			*rs[j].MemoryBytes += 4096
		}
		a.Add(Snapshot{At: now, Cgroups: rs})
	}
	b.StopTimer()
	state, err := a.MarshalState()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(state)), "state-bytes")
}
