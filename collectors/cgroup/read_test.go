package cgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

var testTime = time.Date(2026, 3, 2, 10, 0, 30, 0, time.UTC)

// fakeNSS is a passwd and group database: UIDs 1000 (alice, group chem),
// 1001 (bob, GID 1500 that has no group entry) and 2000 (carol, physics).
func fakeNSS() (func(string) (*user.User, error), func(string) (*user.Group, error)) {
	users := map[string]*user.User{
		"0":    {Uid: "0", Gid: "0", Username: "root"},
		"1000": {Uid: "1000", Gid: "3000", Username: "alice"},
		"1001": {Uid: "1001", Gid: "1500", Username: "bob"},
		"2000": {Uid: "2000", Gid: "3001", Username: "carol"},
	}
	groups := map[string]*user.Group{
		"0":    {Gid: "0", Name: "root"},
		"3000": {Gid: "3000", Name: "chem"},
		"3001": {Gid: "3001", Name: "physics"},
	}
	lookupUser := func(uid string) (*user.User, error) {
		if u, ok := users[uid]; ok {
			return u, nil
		}
		var n int
		fmt.Sscan(uid, &n)
		return nil, user.UnknownUserIdError(n)
	}
	lookupGroup := func(gid string) (*user.Group, error) {
		if g, ok := groups[gid]; ok {
			return g, nil
		}
		return nil, user.UnknownGroupIdError(gid)
	}
	return lookupUser, lookupGroup
}

func testConfig(proc string, roots ...string) ReaderConfig {
	lu, lg := fakeNSS()
	return ReaderConfig{Roots: roots, NoGPU: true, LookupUserID: lu, LookupGroupID: lg, Proc: proc}
}

func u64(v uint64) *uint64 { return &v }

// byPath indexes a snapshot's readings, with inodes zeroed for comparison
// (a checkout's inodes are its own).
func byPath(t *testing.T, snap Snapshot) map[string]Reading {
	t.Helper()
	out := map[string]Reading{}
	for _, rd := range snap.Cgroups {
		if rd.Inode == 0 {
			t.Errorf("%s: inode 0", rd.Path)
		}
		rd.Inode = 0
		if _, dup := out[rd.Path]; dup {
			t.Errorf("%s read twice", rd.Path)
		}
		out[rd.Path] = rd
	}
	return out
}

func TestReadV2Fixture(t *testing.T) {
	h := fixtureHierarchy(t, "v2")
	proc, _ := filepath.Abs("testdata/v2/proc")
	r := NewReader(h, testConfig(proc,
		"user.slice/user-*.slice",
		"user.slice/*/user@*.service", // below an accounted slice: skipped
		"system.slice/jupyter-*.service",
		"machine.slice/*",
		"nosuch.slice/*", // absent: no match, no error
	))
	snap, err := r.Read(context.Background(), testTime)
	if err != nil {
		t.Fatal(err)
	}
	if !snap.At.Equal(testTime) {
		t.Errorf("At = %v", snap.At)
	}
	if len(snap.Errors) != 1 || !strings.Contains(snap.Errors[0].Error(), "/user.slice/user-1002.slice: cpu.stat") {
		t.Errorf("Errors = %v, want the garbage cpu.stat of user-1002 only", snap.Errors)
	}
	want := map[string]Reading{
		"/user.slice/user-1000.slice": {
			Path: "/user.slice/user-1000.slice", UID: 1000, User: "alice", Group: "chem",
			CPUUsageUsec: 123456789, MemoryBytes: u64(1 << 30), MemoryPeak: u64(2 << 30),
			IO:            map[string]IOBytes{"8:0": {Read: 1459200, Write: 314773504}, "259:0": {Read: 4096, Write: 8192}},
			CPULimitCores: 2, MemoryLimitBytes: 8 << 30,
		},
		"/user.slice/user-1001.slice": { // no memory.peak, no io.stat, "max" limits
			Path: "/user.slice/user-1001.slice", UID: 1001, User: "bob", Group: "1500",
			CPUUsageUsec: 1000000, MemoryBytes: u64(50 << 20),
		},
		"/user.slice/user-4242.slice": { // no passwd entry; cpu.stat only
			Path: "/user.slice/user-4242.slice", UID: 4242, User: "4242", CPUUsageUsec: 7000,
		},
		"/system.slice/jupyter-alice.service": { // owner from its process
			Path: "/system.slice/jupyter-alice.service", UID: 1000, User: "alice", Group: "chem",
			CPUUsageUsec: 3000000, MemoryBytes: u64(100 << 20),
		},
		"/machine.slice/libpod-abc123.scope": { // owner from a process one level down
			Path: "/machine.slice/libpod-abc123.scope", UID: 2000, User: "carol", Group: "physics",
			CPUUsageUsec: 2500000,
		},
	}
	got := byPath(t, snap)
	if !reflect.DeepEqual(got, want) {
		for p := range union(got, want) {
			if !reflect.DeepEqual(got[p], want[p]) {
				t.Errorf("%s:\n got %+v\nwant %+v", p, got[p], want[p])
			}
		}
	}
}

func union(a, b map[string]Reading) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func TestReadV1Fixture(t *testing.T) {
	h := fixtureHierarchy(t, "v1")
	if h.Version != 1 || h.CPU != h.CPUAcct || !strings.HasSuffix(h.Memory.Point, "/memory") {
		t.Fatalf("hierarchy %+v", h)
	}
	r := NewReader(h, testConfig(t.TempDir()))
	r.cfg.Host = true
	snap, err := r.Read(context.Background(), testTime)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Errors) != 0 {
		t.Errorf("Errors = %v", snap.Errors)
	}
	got := byPath(t, snap)
	want := map[string]Reading{
		"/user.slice/user-1000.slice": { // unlimited quota (-1) and the page-counter max
			Path: "/user.slice/user-1000.slice", UID: 1000, User: "alice", Group: "chem",
			CPUUsageUsec: 123456789, MemoryBytes: u64(1 << 30), MemoryPeak: u64(2 << 30),
		},
		"/user.slice/user-1001.slice": {
			Path: "/user.slice/user-1001.slice", UID: 1001, User: "bob", Group: "1500",
			CPUUsageUsec: 1000000, MemoryBytes: u64(50 << 20), MemoryPeak: u64(60 << 20),
			CPULimitCores: 1.5, MemoryLimitBytes: 4 << 30,
		},
		"/user.slice/user-1003.slice": { // no memory cgroup for it
			Path: "/user.slice/user-1003.slice", UID: 1003, User: "1003", CPUUsageUsec: 5,
		},
		"/": {Path: "/", UID: -1, CPUUsageUsec: 950000000 - 123456789 - 1000000 - 5},
	}
	if !reflect.DeepEqual(got, want) {
		for p := range union(got, want) {
			if !reflect.DeepEqual(got[p], want[p]) {
				t.Errorf("%s:\n got %+v\nwant %+v", p, got[p], want[p])
			}
		}
	}
}

// tree is a cgroupfs look-alike built at test time in a temporary directory,
// so cgroups can be removed and re-created (with new inodes) between reads.
type tree struct {
	t    *testing.T
	root string
}

func newTree(t *testing.T) (*tree, Hierarchy) {
	tr := &tree{t: t, root: t.TempDir()}
	tr.write("/", "cpu.stat", "usage_usec 1000000000\n")
	return tr, Hierarchy{Version: 2, Unified: Mount{Point: tr.root, Root: "/"}}
}

func (tr *tree) write(cg, file, content string) {
	tr.t.Helper()
	dir := filepath.Join(tr.root, cg)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *tree) remove(cg string) {
	tr.t.Helper()
	if err := os.RemoveAll(filepath.Join(tr.root, cg)); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr *tree) slice(uid int, usec uint64) string {
	cg := fmt.Sprintf("/user.slice/user-%d.slice", uid)
	tr.write(cg, "cpu.stat", fmt.Sprintf("usage_usec %d\nuser_usec %d\nsystem_usec 0\n", usec, usec))
	return cg
}

func readOK(t *testing.T, r *Reader) map[string]Reading {
	t.Helper()
	snap, err := r.Read(context.Background(), testTime)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Errors) != 0 {
		t.Fatalf("Errors = %v", snap.Errors)
	}
	out := map[string]Reading{}
	for _, rd := range snap.Cgroups {
		out[rd.Path] = rd
	}
	return out
}

func TestReadRecreatedCgroupHasNewInode(t *testing.T) {
	tr, h := newTree(t)
	cg := tr.slice(1000, 5000000)
	// Keep the old directory's inode in use (moved aside), so the file
	// system cannot hand the same number to the new one.
	r := NewReader(h, testConfig(t.TempDir()))
	first := readOK(t, r)[cg]
	if err := os.Rename(filepath.Join(tr.root, cg), filepath.Join(tr.root, "old")); err != nil {
		t.Fatal(err)
	}
	tr.slice(1000, 30)
	second := readOK(t, r)[cg]
	if first.Inode == second.Inode || first.Inode == 0 || second.Inode == 0 {
		t.Errorf("inodes %d then %d: a re-created cgroup must differ", first.Inode, second.Inode)
	}
	if second.CPUUsageUsec != 30 {
		t.Errorf("usage %d after re-creation, want 30", second.CPUUsageUsec)
	}
}

func TestReadDecreasingCounterIsReportedAsRead(t *testing.T) {
	// The reader reports what the kernel says; the accounting half decides
	// that a counter going down is a reset.
	tr, h := newTree(t)
	cg := tr.slice(1000, 5000000)
	r := NewReader(h, testConfig(t.TempDir()))
	readOK(t, r)
	tr.slice(1000, 400)
	if got := readOK(t, r)[cg].CPUUsageUsec; got != 400 {
		t.Errorf("usage %d, want 400", got)
	}
}

func TestReadDeviceLineDisappears(t *testing.T) {
	tr, h := newTree(t)
	cg := tr.slice(1000, 1)
	tr.write(cg, "io.stat", "8:0 rbytes=100 wbytes=200 rios=1 wios=1 dbytes=0 dios=0\n8:16 rbytes=300 wbytes=400 rios=1 wios=1 dbytes=0 dios=0\n")
	r := NewReader(h, testConfig(t.TempDir()))
	if got, want := readOK(t, r)[cg].IO, map[string]IOBytes{"8:0": {100, 200}, "8:16": {300, 400}}; !reflect.DeepEqual(got, want) {
		t.Errorf("IO = %v, want %v", got, want)
	}
	tr.write(cg, "io.stat", "8:0 rbytes=150 wbytes=250 rios=2 wios=2 dbytes=0 dios=0\n")
	if got, want := readOK(t, r)[cg].IO, map[string]IOBytes{"8:0": {150, 250}}; !reflect.DeepEqual(got, want) {
		t.Errorf("IO = %v, want %v", got, want)
	}
	tr.write(cg, "io.stat", "")
	if got := readOK(t, r)[cg].IO; got == nil || len(got) != 0 {
		t.Errorf("IO = %#v, want empty (io controller on, no devices)", got)
	}
}

func TestReadCgroupVanishesBetweenListingAndReading(t *testing.T) {
	tr, h := newTree(t)
	gone := tr.slice(1000, 10)
	kept := tr.slice(1001, 20)
	r := NewReader(h, testConfig(t.TempDir()))
	r.afterList = func() { tr.remove(gone) }
	got := readOK(t, r) // no error for the vanished one
	if _, ok := got[gone]; ok {
		t.Errorf("%s read after it was removed", gone)
	}
	if got[kept].CPUUsageUsec != 20 {
		t.Errorf("%s: %+v", kept, got[kept])
	}
}

func TestReadFileVanishesMidRead(t *testing.T) {
	// A cgroup removed after its cpu.stat was read but before memory.current:
	// its files are gone (ENOENT) or answer ENODEV; either way it is dropped.
	tr, h := newTree(t)
	cg := tr.slice(1000, 10)
	r := NewReader(h, testConfig(t.TempDir()))
	r.afterList = func() {
		if err := os.Remove(filepath.Join(tr.root, cg, "cpu.stat")); err != nil {
			t.Fatal(err)
		}
	}
	if got := readOK(t, r); len(got) != 0 {
		t.Errorf("read %v", got)
	}
}

func TestReadUnreadableFileIsAnError(t *testing.T) {
	tr, h := newTree(t)
	cg := tr.slice(1000, 10)
	// A directory where a file should be: read fails with EISDIR, not gone.
	if err := os.Mkdir(filepath.Join(tr.root, cg, "memory.current"), 0o755); err != nil {
		t.Fatal(err)
	}
	ok := tr.slice(1001, 20)
	r := NewReader(h, testConfig(t.TempDir()))
	snap, err := r.Read(context.Background(), testTime)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Errors) != 1 || !strings.Contains(snap.Errors[0].Error(), cg+": memory.current") {
		t.Errorf("Errors = %v", snap.Errors)
	}
	if len(snap.Cgroups) != 1 || snap.Cgroups[0].Path != ok {
		t.Errorf("Cgroups = %+v", snap.Cgroups)
	}
}

func TestReadLimits(t *testing.T) {
	tests := []struct {
		cpuMax, memoryMax string
		cores             float64
		bytes             uint64
		wantErr           string
	}{
		{"max 100000", "max", 0, 0, ""},
		{"max", "max\n", 0, 0, ""},
		{"50000 100000", "1048576", 0.5, 1 << 20, ""},
		{"400000 100000\n", "0", 4, 0, ""},
		{"100000 0", "max", 0, 0, "cpu.max"},
		{"max 100000", "lots", 0, 0, "memory.max"},
	}
	for _, tt := range tests {
		t.Run(tt.cpuMax+"/"+tt.memoryMax, func(t *testing.T) {
			tr, h := newTree(t)
			cg := tr.slice(1000, 1)
			tr.write(cg, "cpu.max", tt.cpuMax)
			tr.write(cg, "memory.max", tt.memoryMax)
			snap, err := NewReader(h, testConfig(t.TempDir())).Read(context.Background(), testTime)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" {
				if len(snap.Errors) != 1 || !strings.Contains(snap.Errors[0].Error(), tt.wantErr) {
					t.Errorf("Errors = %v, want one about %s", snap.Errors, tt.wantErr)
				}
				return
			}
			if len(snap.Errors) != 0 || len(snap.Cgroups) != 1 {
				t.Fatalf("snap = %+v", snap)
			}
			if rd := snap.Cgroups[0]; rd.CPULimitCores != tt.cores || rd.MemoryLimitBytes != tt.bytes {
				t.Errorf("limits %v cores, %d bytes; want %v, %d", rd.CPULimitCores, rd.MemoryLimitBytes, tt.cores, tt.bytes)
			}
		})
	}
}

func TestReadHostRemainder(t *testing.T) {
	tr, h := newTree(t) // root: 1000 s
	a := tr.slice(1000, 100_000000)
	b := tr.slice(1001, 200_000000)
	tr.write("/system.slice/sshd.service", "cpu.stat", "usage_usec 5000000\n") // not accounted: the host's
	r := NewReader(h, testConfig(t.TempDir()))
	r.cfg.Host = true

	host := func() uint64 {
		t.Helper()
		rd, ok := readOK(t, r)["/"]
		if !ok || rd.UID != -1 || rd.User != "" {
			t.Fatalf("host reading %+v", rd)
		}
		return rd.CPUUsageUsec
	}
	if got := host(); got != 700_000000 {
		t.Errorf("host = %d, want 700 s", got)
	}
	// a logs out: its 100 s stay accounted, not handed to the host.
	tr.remove(a)
	tr.write("/", "cpu.stat", "usage_usec 1010000000\n")
	if got := host(); got != 710_000000 {
		t.Errorf("host after a logout = %d, want 710 s", got)
	}
	// Children read after the root ran ahead: never below the last figure.
	tr.slice(1001, 250_000000)
	if got := host(); got != 710_000000 {
		t.Errorf("host = %d, want it held at 710 s", got)
	}
	_ = b
}

func TestReadNoPasswdEntryAndNSSFailure(t *testing.T) {
	tr, h := newTree(t)
	cg := tr.slice(5000, 1)
	cfg := testConfig(t.TempDir())
	calls := 0
	down := true
	cfg.LookupUserID = func(uid string) (*user.User, error) {
		calls++
		if down {
			return nil, errors.New("ldap: server unreachable")
		}
		return &user.User{Uid: uid, Gid: "3000", Username: "erin"}, nil
	}
	r := NewReader(h, cfg)
	snap, err := r.Read(context.Background(), testTime)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Errors) != 1 || !strings.Contains(snap.Errors[0].Error(), "ldap") {
		t.Errorf("Errors = %v", snap.Errors)
	}
	if len(snap.Cgroups) != 1 || snap.Cgroups[0].User != "5000" || snap.Cgroups[0].Path != cg {
		t.Errorf("Cgroups = %+v", snap.Cgroups)
	}
	down = false
	if got := readOK(t, r)[cg]; got.User != "erin" || got.Group != "chem" {
		t.Errorf("after NSS is back: %+v", got)
	}
	readOK(t, r)
	if calls != 2 {
		t.Errorf("%d NSS calls, want 2 (the failure is not cached, the answer is)", calls)
	}
}

func TestReadBadRootPattern(t *testing.T) {
	_, h := newTree(t)
	for _, p := range []string{"user.slice/[", "/"} {
		if _, err := NewReader(h, testConfig(t.TempDir(), p)).Read(context.Background(), testTime); err == nil {
			t.Errorf("root %q: no error", p)
		}
	}
}

func TestReadCancelled(t *testing.T) {
	tr, h := newTree(t)
	tr.slice(1000, 1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := NewReader(h, testConfig(t.TempDir())).Read(ctx, testTime); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
}

func TestIdentityCacheStaysBounded(t *testing.T) {
	lu, lg := fakeNSS()
	ids := newIdentities(lu, lg)
	for uid := range identityCacheMax * 3 {
		if _, _, err := ids.lookup(uid, testTime); err != nil {
			t.Fatal(err)
		}
	}
	if len(ids.cache) > identityCacheMax {
		t.Errorf("cache holds %d entries", len(ids.cache))
	}
}

func TestUIDFromSlice(t *testing.T) {
	for p, want := range map[string]int{
		"/user.slice/user-1000.slice":                    1000,
		"/user.slice/user-0.slice/session-1.scope":       0,
		"/user.slice/user-x.slice":                       -1,
		"/user.slice/user-99999999999999999999.slice":    -1,
		"/system.slice/user-runtime-dir@1000.service":    -1,
		"/kubepods.slice/user-1000.slice.d/user.service": -1,
	} {
		got, ok := uidFromSlice(p)
		if !ok {
			got = -1
		}
		if got != want {
			t.Errorf("uidFromSlice(%q) = %d, want %d", p, got, want)
		}
	}
}

func TestParseCPUStatIOStat(t *testing.T) {
	for in, want := range map[string]uint64{
		"usage_usec 0\n": 0,
		"user_usec 5\nusage_usec 18446744073709551615\n": 1<<64 - 1,
		"usage_usec  12 \n": 12,
	} {
		if got, err := parseCPUStat([]byte(in)); err != nil || got != want {
			t.Errorf("parseCPUStat(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "usage_usec\n", "usage_usec -1\n", "usage_usec 18446744073709551616\n", "usage_usec 1 2\n"} {
		if _, err := parseCPUStat([]byte(in)); err == nil {
			t.Errorf("parseCPUStat(%q): no error", in)
		}
	}
	for _, in := range []string{"8:0 rbytes\n", "sda rbytes=1\n", "8:0 rbytes=x\n"} {
		if _, err := parseIOStat([]byte(in)); err == nil {
			t.Errorf("parseIOStat(%q): no error", in)
		}
	}
}

// TestRealKernel reads a cgroup made for the test under this machine's real
// cgroup v2 mount, wherever mountinfo says it is.
func TestRealKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("TestRealKernel creates cgroups and needs root (run the package's tests as root)")
	}
	h, err := FindHierarchy("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if h.Version != 2 {
		t.Fatalf("hierarchy %+v: this test needs a cgroup v2 mount", h)
	}
	top := filepath.Join(h.Unified.Point, fmt.Sprintf("parsimony-read-%d", os.Getpid()))
	uid := os.Getuid()
	leaf := filepath.Join(top, "user.slice", fmt.Sprintf("user-%d.slice", uid))
	if err := os.MkdirAll(leaf, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, d := range []string{leaf, filepath.Dir(leaf), top} { // cgroups go leaf first
			if err := os.Remove(d); err != nil {
				t.Error(err)
			}
		}
	})
	cfg := ReaderConfig{Roots: []string{filepath.Base(top) + "/user.slice/user-*.slice"}, NoGPU: true, Host: true}
	snap, err := NewReader(h, cfg).Read(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Errors) != 0 {
		t.Fatalf("Errors = %v", snap.Errors)
	}
	paths := []string{}
	for _, rd := range snap.Cgroups {
		paths = append(paths, rd.Path)
	}
	sort.Strings(paths)
	wantPath := "/" + filepath.Base(top) + fmt.Sprintf("/user.slice/user-%d.slice", uid)
	if !reflect.DeepEqual(paths, []string{"/", wantPath}) {
		t.Fatalf("read %v", paths)
	}
	for _, rd := range snap.Cgroups {
		if rd.Inode == 0 {
			t.Errorf("%s: inode 0", rd.Path)
		}
		if rd.Path == "/" && rd.CPUUsageUsec == 0 {
			t.Error("the host's own usage_usec is 0")
		}
		if rd.Path == wantPath && (rd.UID != uid || rd.User == "") {
			t.Errorf("%s: %+v", rd.Path, rd)
		}
	}
}

// BenchmarkRead500 reads 500 user slices laid out like a v2 machine's (cpu.stat,
// memory.current, memory.peak, io.stat, cpu.max, memory.max) in a temporary tree.
func BenchmarkRead500(b *testing.B) {
	root := b.TempDir()
	write := func(rel, content string) {
		if err := os.WriteFile(filepath.Join(root, rel), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "user.slice"), 0o755); err != nil {
		b.Fatal(err)
	}
	write("cpu.stat", "usage_usec 1000000000000\n")
	for uid := 10000; uid < 10500; uid++ {
		cg := fmt.Sprintf("user.slice/user-%d.slice", uid)
		if err := os.MkdirAll(filepath.Join(root, cg, "session-1.scope"), 0o755); err != nil {
			b.Fatal(err)
		}
		write(cg+"/cpu.stat", "usage_usec 123456789\nuser_usec 100000000\nsystem_usec 23456789\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n")
		write(cg+"/memory.current", "1073741824\n")
		write(cg+"/memory.peak", "2147483648\n")
		write(cg+"/io.stat", "8:0 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n")
		write(cg+"/cpu.max", "max 100000\n")
		write(cg+"/memory.max", "max\n")
	}
	lu := func(uid string) (*user.User, error) {
		return &user.User{Uid: uid, Gid: "100", Username: "u" + uid}, nil
	}
	lg := func(gid string) (*user.Group, error) { return &user.Group{Gid: gid, Name: "users"}, nil }
	r := NewReader(Hierarchy{Version: 2, Unified: Mount{Point: root, Root: "/"}},
		ReaderConfig{NoGPU: true, Host: true, LookupUserID: lu, LookupGroupID: lg})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		snap, err := r.Read(ctx, testTime)
		if err != nil || len(snap.Errors) != 0 || len(snap.Cgroups) != 501 {
			b.Fatalf("%d cgroups, %v, %v", len(snap.Cgroups), err, snap.Errors)
		}
	}
}
