package cgroup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// DefaultRoots are the cgroups accounted when ReaderConfig.Roots is empty:
// systemd's one slice per logged-in user.
var DefaultRoots = []string{"user.slice/user-*.slice"}

// ReaderConfig says which cgroups a Reader accounts and how it finds their owners.
type ReaderConfig struct {
	// Roots are glob patterns (path.Match syntax, one pattern per path
	// component) relative to the hierarchy's root, each naming cgroups to
	// account whole: "user.slice/user-*.slice", "system.slice/*",
	// "machine.slice/*", "system.slice/jupyter-*.service". A cgroup matched
	// below another matched one is skipped, so a parent and its child are never
	// both counted. Only the directories a pattern names are listed, never the
	// whole tree.
	Roots []string

	// Host adds a Reading of the host's own CPU time (UID -1, path "/"): the
	// root cgroup's total (v2 cpu.stat, v1 cpuacct.usage) less every accounted
	// cgroup's, counting a vanished cgroup's last reading as accounted so its
	// usage is not handed to the host when it goes. It is exact to a sample: the
	// root and the children are not read at one instant, so the total is kept
	// from going down, and it includes what no cgroup is charged for (interrupt
	// time, on v2). The host has no memory figure: the root cgroup has none, and
	// /proc/meminfo's counts the page cache of everyone.
	Host bool

	// NvidiaSMI is the path to nvidia-smi; "" looks it up on PATH, and a
	// machine without it has no GPUs and no error. NoGPU never runs it.
	NvidiaSMI string
	NoGPU     bool

	// LookupUserID and LookupGroupID resolve UIDs and GIDs through NSS; nil
	// means os/user's LookupId and LookupGroupId. Answers are cached for an
	// hour, and the cache is emptied when it grows past a few thousand entries.
	LookupUserID  func(uid string) (*user.User, error)
	LookupGroupID func(gid string) (*user.Group, error)

	// Proc is where procfs is mounted, "/proc" when empty: the owner of a
	// cgroup that is not a user-UID.slice is read from its first process's
	// /proc/PID/status, and a GPU process's cgroup from /proc/PID/cgroup.
	Proc string
}

// Reader reads a hierarchy's accounted cgroups. It keeps a little state between
// reads (owners found, the host's running remainder), so one Reader serves one
// agent and is not safe for concurrent use.
type Reader struct {
	h   Hierarchy
	cfg ReaderConfig
	ids *identities

	buf []byte // reused for every file read, so a read allocates little

	// owners caches the UID found for a cgroup that is not a user slice.
	owners map[cgroupKey]int
	// lastCPU is each accounted cgroup's usage at the last read; goneUsec the
	// sum of the last usage of cgroups since vanished; hostUsec the host's
	// remainder last reported (never allowed to go down).
	lastCPU  map[cgroupKey]uint64
	goneUsec uint64
	hostUsec uint64

	nvidiaSMI string // resolved path; "" when there is none

	// afterList, when set (by tests), runs between listing and reading, where a
	// cgroup can vanish.
	afterList func()
}

type cgroupKey struct {
	path  string
	inode uint64
}

// NewReader returns a Reader of h configured by cfg, with its defaults filled in.
func NewReader(h Hierarchy, cfg ReaderConfig) *Reader {
	if len(cfg.Roots) == 0 {
		cfg.Roots = DefaultRoots
	}
	if cfg.Proc == "" {
		cfg.Proc = "/proc"
	}
	if cfg.LookupUserID == nil {
		cfg.LookupUserID = user.LookupId
	}
	if cfg.LookupGroupID == nil {
		cfg.LookupGroupID = user.LookupGroupId
	}
	r := &Reader{
		h:       h,
		cfg:     cfg,
		ids:     newIdentities(cfg.LookupUserID, cfg.LookupGroupID),
		buf:     make([]byte, 4096),
		owners:  map[cgroupKey]int{},
		lastCPU: map[cgroupKey]uint64{},
	}
	if !cfg.NoGPU {
		r.nvidiaSMI = findNvidiaSMI(cfg.NvidiaSMI)
	}
	return r
}

// Read lists the accounted cgroups and reads each one's counters and limits.
// A cgroup that vanishes while it is read is left out; one that cannot be read
// for another reason goes into Snapshot.Errors. The returned error is for what
// stops the whole read: a bad root pattern, an unreadable hierarchy, ctx done.
func (r *Reader) Read(ctx context.Context, at time.Time) (Snapshot, error) {
	snap := Snapshot{At: at}
	paths, err := r.list()
	if err != nil {
		return snap, err
	}
	if r.afterList != nil {
		r.afterList()
	}

	current := make(map[cgroupKey]uint64, len(paths))
	owners := make(map[cgroupKey]int, len(r.owners))
	var failed []string
	for _, rel := range paths {
		if err := ctx.Err(); err != nil {
			return snap, fmt.Errorf("cgroup: reading: %w", err)
		}
		rd, ok, err := r.readCgroup(rel)
		if err != nil {
			snap.Errors = append(snap.Errors, err)
			failed = append(failed, rel)
			continue
		}
		if !ok {
			continue // vanished: normal at logout
		}
		key := cgroupKey{rd.Path, rd.Inode}
		rd.UID = r.ownerUID(key, owners)
		if rd.UID >= 0 {
			rd.User, rd.Group, err = r.ids.lookup(rd.UID, at)
			if err != nil {
				snap.Errors = append(snap.Errors, fmt.Errorf("cgroup %s: %w", rel, err))
			}
		}
		current[key] = rd.CPUUsageUsec
		snap.Cgroups = append(snap.Cgroups, rd)
	}
	r.owners = owners
	r.carryFailed(current, failed)

	if r.cfg.Host {
		host, err := r.readHost(current)
		if err != nil {
			snap.Errors = append(snap.Errors, err)
		} else {
			snap.Cgroups = append(snap.Cgroups, host)
		}
	}
	r.lastCPU = current

	if r.nvidiaSMI != "" {
		if err := r.attachGPUs(ctx, &snap); err != nil {
			snap.Errors = append(snap.Errors, err)
		}
	}
	return snap, nil
}

// carryFailed keeps the last usage of cgroups that could not be read this time
// in current, so that an unreadable cgroup is not taken for a vanished one and
// its usage handed to the host.
func (r *Reader) carryFailed(current map[cgroupKey]uint64, failed []string) {
	if len(failed) == 0 {
		return
	}
	set := make(map[string]bool, len(failed))
	for _, p := range failed {
		set[p] = true
	}
	for k, v := range r.lastCPU {
		if set[k.path] {
			current[k] = v
		}
	}
}

// readHost makes the host's own Reading: the root's usage less the accounted
// cgroups' (present and vanished), never lower than last time.
func (r *Reader) readHost(current map[cgroupKey]uint64) (Reading, error) {
	for k, v := range r.lastCPU {
		if _, ok := current[k]; !ok {
			r.goneUsec += v
		}
	}
	total, inode, err := r.readRootCPU()
	if err != nil {
		return Reading{}, err
	}
	var accounted uint64
	for _, v := range current {
		accounted += v
	}
	accounted += r.goneUsec
	if total > accounted && total-accounted > r.hostUsec {
		r.hostUsec = total - accounted
	}
	return Reading{Path: "/", Inode: inode, UID: -1, CPUUsageUsec: r.hostUsec}, nil
}

func (r *Reader) readRootCPU() (usec, inode uint64, err error) {
	if r.h.Version == 2 {
		dir := r.h.Unified.Point
		inode, err = dirInode(dir)
		if err != nil {
			return 0, 0, fmt.Errorf("cgroup /: %w", err)
		}
		data, err := r.readFile(filepath.Join(dir, "cpu.stat"))
		if err != nil {
			return 0, 0, fmt.Errorf("cgroup /: cpu.stat: %w", err)
		}
		usec, err = parseCPUStat(data)
		if err != nil {
			return 0, 0, fmt.Errorf("cgroup /: cpu.stat: %w", err)
		}
		return usec, inode, nil
	}
	dir := r.h.CPUAcct.Point
	inode, err = dirInode(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("cgroup /: %w", err)
	}
	data, err := r.readFile(filepath.Join(dir, "cpuacct.usage"))
	if err != nil {
		return 0, 0, fmt.Errorf("cgroup /: cpuacct.usage: %w", err)
	}
	ns, _, err := parseValue(data)
	if err != nil {
		return 0, 0, fmt.Errorf("cgroup /: cpuacct.usage: %w", err)
	}
	return ns / 1000, inode, nil
}

// list returns the accounted cgroups' paths ("/user.slice/user-1000.slice"),
// sorted, without any that lies below another.
func (r *Reader) list() ([]string, error) {
	base := r.h.Unified.Point
	if r.h.Version == 1 {
		base = r.h.CPUAcct.Point
	}
	seen := map[string]bool{}
	var all []string
	for _, pattern := range r.cfg.Roots {
		parts := strings.Split(strings.Trim(path.Clean("/"+pattern), "/"), "/")
		for _, p := range parts {
			if _, err := path.Match(p, ""); err != nil {
				return nil, fmt.Errorf("cgroup: root pattern %q: %w", pattern, err)
			}
		}
		if len(parts) == 1 && parts[0] == "" {
			return nil, fmt.Errorf("cgroup: root pattern %q names the root itself (use Host for the host's own usage)", pattern)
		}
		if err := matchDirs(base, "", parts, func(rel string) {
			if !seen[rel] {
				seen[rel] = true
				all = append(all, rel)
			}
		}); err != nil {
			return nil, err
		}
	}
	sort.Strings(all)
	kept := all[:0]
	for _, p := range all {
		if !hasAncestorIn(p, seen) {
			kept = append(kept, p)
		}
	}
	return kept, nil
}

// hasAncestorIn reports whether a proper ancestor of p is in set.
func hasAncestorIn(p string, set map[string]bool) bool {
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		if set[d] {
			return true
		}
	}
	return false
}

// matchDirs calls found with every directory under base/rel matching parts,
// one pattern per path component. A literal component is not listed, only
// checked; a directory that vanishes while listed is no match.
func matchDirs(base, rel string, parts []string, found func(rel string)) error {
	if len(parts) == 0 {
		found(rel)
		return nil
	}
	p := parts[0]
	if !hasMeta(p) {
		next := rel + "/" + p
		fi, err := os.Stat(base + next)
		if err != nil {
			if isGone(err) {
				return nil
			}
			return fmt.Errorf("cgroup: listing %s: %w", next, err)
		}
		if !fi.IsDir() {
			return nil
		}
		return matchDirs(base, next, parts[1:], found)
	}
	entries, err := os.ReadDir(base + rel)
	if err != nil {
		if isGone(err) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return fmt.Errorf("cgroup: listing %s: %w", rel+"/", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if ok, _ := path.Match(p, e.Name()); ok {
			if err := matchDirs(base, rel+"/"+e.Name(), parts[1:], found); err != nil {
				return err
			}
		}
	}
	return nil
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// readCgroup reads one cgroup. ok is false when it vanished while being read.
func (r *Reader) readCgroup(rel string) (rd Reading, ok bool, err error) {
	if r.h.Version == 2 {
		return r.readV2(rel)
	}
	return r.readV1(rel)
}

// readV2 reads cgroup-v2.rst's files: cpu.stat (always there) and, where their
// controllers are enabled, memory.current, memory.peak (Linux 5.19+),
// io.stat, cpu.max and memory.max.
func (r *Reader) readV2(rel string) (Reading, bool, error) {
	dir := r.h.Unified.Point + rel
	rd := Reading{Path: rel}
	var err error
	if rd.Inode, err = dirInode(dir); err != nil {
		return gone(rel, "", err)
	}
	data, err := r.readFile(dir + "/cpu.stat")
	if err != nil {
		return gone(rel, "cpu.stat", err)
	}
	if rd.CPUUsageUsec, err = parseCPUStat(data); err != nil {
		return Reading{}, false, fmt.Errorf("cgroup %s: cpu.stat: %w", rel, err)
	}

	var ok bool
	for _, f := range []struct {
		name string
		into **uint64
	}{{"memory.current", &rd.MemoryBytes}, {"memory.peak", &rd.MemoryPeak}} {
		data, ok, err = r.readOptional(dir, f.name)
		if err != nil {
			return gone(rel, f.name, err)
		}
		if !ok {
			continue
		}
		v, _, err := parseValue(data)
		if err != nil {
			return Reading{}, false, fmt.Errorf("cgroup %s: %s: %w", rel, f.name, err)
		}
		*f.into = &v
	}

	if data, ok, err = r.readOptional(dir, "io.stat"); err != nil {
		return gone(rel, "io.stat", err)
	} else if ok {
		if rd.IO, err = parseIOStat(data); err != nil {
			return Reading{}, false, fmt.Errorf("cgroup %s: io.stat: %w", rel, err)
		}
	}

	if data, ok, err = r.readOptional(dir, "cpu.max"); err != nil {
		return gone(rel, "cpu.max", err)
	} else if ok {
		if rd.CPULimitCores, err = parseCPUMax(data); err != nil {
			return Reading{}, false, fmt.Errorf("cgroup %s: cpu.max: %w", rel, err)
		}
	}

	if data, ok, err = r.readOptional(dir, "memory.max"); err != nil {
		return gone(rel, "memory.max", err)
	} else if ok {
		v, unlimited, err := parseValue(data)
		if err != nil {
			return Reading{}, false, fmt.Errorf("cgroup %s: memory.max: %w", rel, err)
		}
		if !unlimited {
			rd.MemoryLimitBytes = v
		}
	}
	return rd, true, nil
}

// v1PageCounterMax: a v1 memory limit at or above this is the kernel's
// "unlimited" (PAGE_COUNTER_MAX pages, 9223372036854771712 with 4 KiB pages,
// a little less with larger ones).
const v1PageCounterMax = 1 << 62

// readV1 reads cgroup v1's cpuacct.usage (ns), memory.usage_in_bytes,
// memory.max_usage_in_bytes, memory.limit_in_bytes and the cpu controller's
// cpu.cfs_quota_us / cpu.cfs_period_us, each in its own hierarchy under the
// same path. v1 block I/O (blkio) is not read.
func (r *Reader) readV1(rel string) (Reading, bool, error) {
	dir := r.h.CPUAcct.Point + rel
	rd := Reading{Path: rel}
	var err error
	if rd.Inode, err = dirInode(dir); err != nil {
		return gone(rel, "", err)
	}
	data, err := r.readFile(dir + "/cpuacct.usage")
	if err != nil {
		return gone(rel, "cpuacct.usage", err)
	}
	ns, _, err := parseValue(data)
	if err != nil {
		return Reading{}, false, fmt.Errorf("cgroup %s: cpuacct.usage: %w", rel, err)
	}
	rd.CPUUsageUsec = ns / 1000

	if r.h.Memory.Point != "" {
		mdir := r.h.Memory.Point + rel
		for _, f := range []struct {
			name string
			into **uint64
		}{{"memory.usage_in_bytes", &rd.MemoryBytes}, {"memory.max_usage_in_bytes", &rd.MemoryPeak}} {
			data, ok, err := r.readOptional(mdir, f.name)
			if err != nil {
				return gone(rel, f.name, err)
			}
			if !ok {
				continue
			}
			v, _, err := parseValue(data)
			if err != nil {
				return Reading{}, false, fmt.Errorf("cgroup %s: %s: %w", rel, f.name, err)
			}
			*f.into = &v
		}
		data, ok, err := r.readOptional(mdir, "memory.limit_in_bytes")
		if err != nil {
			return gone(rel, "memory.limit_in_bytes", err)
		}
		if ok {
			v, unlimited, err := parseValue(data)
			if err != nil {
				return Reading{}, false, fmt.Errorf("cgroup %s: memory.limit_in_bytes: %w", rel, err)
			}
			if !unlimited && v < v1PageCounterMax {
				rd.MemoryLimitBytes = v
			}
		}
	}

	if r.h.CPU.Point != "" {
		cdir := r.h.CPU.Point + rel
		quota, okQ, err := r.readOptional(cdir, "cpu.cfs_quota_us")
		if err != nil {
			return gone(rel, "cpu.cfs_quota_us", err)
		}
		var q int64
		if okQ {
			if q, err = parseInt(quota); err != nil {
				return Reading{}, false, fmt.Errorf("cgroup %s: cpu.cfs_quota_us: %w", rel, err)
			}
		}
		if q > 0 {
			period, okP, err := r.readOptional(cdir, "cpu.cfs_period_us")
			if err != nil {
				return gone(rel, "cpu.cfs_period_us", err)
			}
			if okP {
				p, err := parseInt(period)
				if err != nil {
					return Reading{}, false, fmt.Errorf("cgroup %s: cpu.cfs_period_us: %w", rel, err)
				}
				if p > 0 {
					rd.CPULimitCores = float64(q) / float64(p)
				}
			}
		}
	}
	return rd, true, nil
}

// readOptional reads a file a cgroup may not have (its controller is off, the
// kernel is older): ok is false when it is absent. ENODEV, the answer of a
// removed cgroup's open files, is returned for gone to judge.
func (r *Reader) readOptional(dir, name string) (data []byte, ok bool, err error) {
	data, err = r.readFile(dir + "/" + name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return data, true, nil
}

// gone turns a read error into Read's answer: a cgroup removed since it was
// listed (ENOENT on the directory or its files, ENODEV from a removed cgroup's
// files) is dropped without an error; anything else is the cgroup's error.
func gone(rel, file string, err error) (Reading, bool, error) {
	if isGone(err) {
		return Reading{}, false, nil
	}
	if file == "" {
		return Reading{}, false, fmt.Errorf("cgroup %s: %w", rel, err)
	}
	return Reading{}, false, fmt.Errorf("cgroup %s: %s: %w", rel, file, err)
}

func isGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENODEV)
}

// dirInode stats a cgroup directory for its inode, through syscall.Stat so a
// read of hundreds of cgroups does not allocate an os.FileInfo for each.
func dirInode(dir string) (uint64, error) {
	var st syscall.Stat_t
	for {
		err := syscall.Stat(dir, &st)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, &fs.PathError{Op: "stat", Path: dir, Err: err}
		}
		return st.Ino, nil
	}
}

// maxFileSize bounds what readFile reads: cgroup files are a few lines; a
// larger one (io.stat of a machine with thousands of devices aside) is wrong.
const maxFileSize = 1 << 20

// readFile reads a small file into the Reader's buffer; the result is valid
// until the next read. It uses the system calls directly: os.Open's *File
// (and its registration with the runtime's poller, useless for cgroupfs and
// procfs) was most of a read's allocations.
func (r *Reader) readFile(name string) ([]byte, error) {
	fd, err := openRetry(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	// Closing a read-only descriptor has nothing to report that the read did not.
	defer syscall.Close(fd)
	n := 0
	for {
		if n == len(r.buf) {
			if len(r.buf) >= maxFileSize {
				return nil, fmt.Errorf("%s: larger than %d bytes", name, maxFileSize)
			}
			r.buf = append(r.buf, make([]byte, len(r.buf))...)
		}
		m, err := syscall.Read(fd, r.buf[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: name, Err: err}
		}
		if m <= 0 {
			return r.buf[:n], nil
		}
		n += m
	}
}

func openRetry(name string) (int, error) {
	for {
		fd, err := syscall.Open(name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}
