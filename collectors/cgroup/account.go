package cgroup

import (
	"math"
	"math/bits"
	"sort"
	"strconv"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Defaults of AccountConfig.
const (
	DefaultWindow = time.Hour
	// DefaultMaxGap is a few sampling intervals of an agent that samples every
	// 30 s to a minute: longer, and the agent was down.
	DefaultMaxGap = 10 * time.Minute
)

// maxSplitWindows bounds the windows one interval is split over. A CPU delta
// over a longer gap (an agent down for more than a week with hourly windows,
// or a clock that jumped years ahead) is spread over the last maxSplitWindows
// windows only: the usage is all kept, but the records of one snapshot stay
// bounded (500 cgroups × 168 windows) instead of growing with the gap.
const maxSplitWindows = 7 * 24

// Units of the exact totals, per base unit.
const (
	usecPerSecond          = 1_000_000
	halfByteUsecPerByteSec = 2 * usecPerSecond
)

// AccountConfig says how an Accountant turns snapshots into records.
type AccountConfig struct {
	// Host is the records' Cluster: the machine's name.
	Host string
	// Window is the records' period (default 1 hour). Windows are aligned to the
	// Unix epoch, so a record's start, part of its natural key, never changes
	// however often it is revised or whenever the agent restarted.
	Window time.Duration
	// AllowedCores and AllowedMemoryBytes are a configured per-user share of
	// the machine, the allocation of a user's cgroup that has no limit of its
	// own (0 = none). The host's own cgroups never get a share.
	AllowedCores       float64
	AllowedMemoryBytes uint64
	// MaxGap (default 10 minutes) is the longest gap between two readings of a
	// cgroup over which memory and GPUs are integrated: memory.current at two
	// instants says nothing of the hours between them. CPU counters are
	// cumulative, so their delta is exact whatever the gap, and it is split
	// over the windows the gap crosses in proportion to time.
	MaxGap time.Duration
}

// Accountant turns successive Snapshots of one host into per-window usage
// records. It is not safe for concurrent use; the agent owns one.
type Accountant struct {
	cfg    AccountConfig
	window int64 // microseconds
	maxGap int64 // microseconds

	started bool  // a snapshot has been added (or restored): later cgroups are new, not a baseline
	lastAt  int64 // the latest snapshot's time, Unix microseconds

	cgroups   map[instanceKey]*cgroupState
	windows   map[windowKey]*windowTotals
	roundings map[string]*rounding

	generation uint64          // counts snapshots, to tell which cgroups a snapshot listed
	touched    []*windowTotals // the windows the snapshot being added changed
	pieces     []piece         // scratch for splitting an interval
}

// NewAccountant is an Accountant with no state: the cgroups of its first
// snapshot are a baseline only (see Add).
func NewAccountant(cfg AccountConfig) *Accountant {
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.MaxGap <= 0 {
		cfg.MaxGap = DefaultMaxGap
	}
	if !finite(cfg.AllowedCores) || cfg.AllowedCores < 0 {
		cfg.AllowedCores = 0
	}
	window := int64(cfg.Window / time.Microsecond)
	if window < 1 {
		window = 1
	}
	return &Accountant{
		cfg: cfg, window: window, maxGap: int64(cfg.MaxGap / time.Microsecond),
		cgroups:   make(map[instanceKey]*cgroupState),
		windows:   make(map[windowKey]*windowTotals),
		roundings: make(map[string]*rounding),
	}
}

// Add accounts one snapshot and returns the current running-total records of
// every (cgroup path, resource, window) it changed, sorted by path, start and
// resource. Each replaces any earlier record with the same natural key, so the
// caller sends them all and never adds them up.
//
//   - Usage between two readings of the same cgroup (path and inode) is the
//     counters' delta, split over the windows the interval crosses in
//     proportion to time. A counter lower than its last reading was reset: its
//     new value is the usage since, never a negative delta.
//   - A cgroup first seen by a running accountant was created since the last
//     snapshot (a login, or a re-created cgroup: same path, new inode): its
//     counters started at 0, so they are its usage since the last snapshot.
//   - The cgroups of the very first snapshot are a baseline only. Their
//     counters hold usage since whenever they were created, possibly weeks
//     before the agent started: it belongs to windows that may be closed, or
//     already accounted by an earlier agent, and cannot be placed in time, so
//     it is not billed.
//   - A cgroup that vanished keeps what was read of it: its windows' records
//     are sent again when the windows close, and nothing more.
//   - A window closes when a snapshot's time reaches its end: its records are
//     sent a last time with End = the window's end, then forgotten.
//
// A snapshot not later than the previous one (a clock stepped back), or dated
// outside the ledger's years, is ignored: the counters are cumulative, so the
// next good snapshot's deltas include its usage.
func (a *Accountant) Add(s Snapshot) []ledger.Record {
	if s.At.Year() < 1970 || s.At.Year() > 9999 {
		return nil
	}
	t := s.At.UnixMicro()
	if a.started && t <= a.lastAt {
		return nil
	}
	a.generation++
	for i := range s.Cgroups {
		r := &s.Cgroups[i]
		if r.Path == "" {
			continue // no path, no record key: the reader never makes one
		}
		if a.started {
			a.account(r, t)
		}
		a.remember(r, t)
	}
	if !a.started {
		a.started, a.lastAt = true, t
		return nil
	}
	a.forgetVanished(t)
	records := a.closeWindows(t)
	for _, w := range a.touched {
		if w.touched {
			records = a.appendRecords(records, w, w.LastAt, false)
			w.touched = false
		}
	}
	a.touched = a.touched[:0]
	a.lastAt = t
	sort.Slice(records, func(i, j int) bool {
		x, y := &records[i], &records[j]
		if x.ExternalID != y.ExternalID {
			return x.ExternalID < y.ExternalID
		}
		if !x.Start.Equal(y.Start) {
			return x.Start.Before(y.Start)
		}
		return x.Resource < y.Resource
	})
	return records
}

// account adds one reading's usage since the cgroup's previous reading (or,
// for a new cgroup, since the previous snapshot) to its path's windows.
func (a *Accountant) account(r *Reading, t int64) {
	prev := a.cgroups[instanceKey{r.Path, r.Inode}]
	if prev != nil && prev.seen == a.generation {
		return // listed twice in one snapshot: the first counted it
	}
	t0, cpu := a.lastAt, r.CPUUsageUsec
	var prevIO map[string]IOBytes
	if prev != nil {
		t0, cpu, prevIO = prev.At, counterDelta(prev.CPUUsec, r.CPUUsageUsec), prev.IO
		if r.Path == "/" && r.CPUUsageUsec < prev.CPUUsec {
			// The host's own reading is no kernel counter but the reader's
			// remainder (the root's usage less the accounted cgroups'), and the
			// root cgroup is never re-created: a decrease means the reader
			// started afresh, so it is a new baseline, not usage from zero.
			cpu = 0
		}
	}
	ioRead, ioWrite := ioDelta(prevIO, r.IO)
	t0, dt := a.split(t0, t)
	if dt <= 0 {
		return
	}

	// Memory and GPUs are samples, not counters: integrated only between two
	// readings of this cgroup close enough together to say something.
	sampled := prev != nil && dt <= a.maxGap
	integrateMemory := sampled && prev.HasMemory && r.MemoryBytes != nil
	var memSum uint64 // m0 + m1, saturating
	if integrateMemory {
		memSum = prev.Memory + *r.MemoryBytes
		if memSum < prev.Memory {
			memSum = math.MaxUint64
		}
	}
	memLimit := r.MemoryLimitBytes
	cores := r.CPULimitCores
	if !finite(cores) || cores < 0 {
		cores = 0
	}
	if r.UID >= 0 {
		if memLimit == 0 {
			memLimit = a.cfg.AllowedMemoryBytes
		}
		if cores == 0 {
			cores = a.cfg.AllowedCores
		}
	}

	var cpuDone, readDone, writeDone uint64 // the shares given to earlier pieces
	for i, p := range a.pieces {
		w := a.windowFor(r, p)
		span := uint64(p.to - p.from)
		elapsed := uint64(p.to - t0)
		cpuTo, readTo, writeTo := share(cpu, elapsed, uint64(dt)), share(ioRead, elapsed, uint64(dt)), share(ioWrite, elapsed, uint64(dt))
		w.CPUUsec = w.CPUUsec.add(u128{0, cpuTo - cpuDone})
		if r.IO != nil || prevIO != nil {
			w.HasIO = true
			w.IORead = addSat(w.IORead, readTo-readDone)
			w.IOWrite = addSat(w.IOWrite, writeTo-writeDone)
		}
		cpuDone, readDone, writeDone = cpuTo, readTo, writeTo
		if prev != nil && cores > 0 {
			// The cgroup was there the whole interval (same inode): it was
			// allowed its cores throughout, agent or no agent.
			w.CPUAllowedUsec += cores * float64(span)
		}
		if integrateMemory {
			w.MemoryHalfByteUsec = w.MemoryHalfByteUsec.add(mul64(memSum, span))
			if memLimit > 0 {
				lim := mul64(memLimit, span)
				w.MemoryAllowedHalfByteUsec = w.MemoryAllowedHalfByteUsec.add(lim).add(lim)
			}
		}
		if sampled {
			for _, g := range r.GPUs {
				w.GPUUsec = w.GPUUsec.add(u128{0, span})
				if u := g.Utilization; u >= 0 && u <= 1 {
					w.GPUUsedUsec += u * float64(span)
				} else if u > 1 && finite(u) {
					w.GPUUsedUsec += float64(span) // a device over 100 % is busy, no more
				} else {
					w.GPUUnknownUsec = addSat(w.GPUUnknownUsec, span)
				}
			}
		}
		if i == len(a.pieces)-1 {
			// The instant t belongs to the last piece's window: its samples too.
			peak := uint64(0)
			if r.MemoryPeak != nil {
				peak = *r.MemoryPeak
			}
			if r.MemoryBytes != nil && *r.MemoryBytes > peak {
				peak = *r.MemoryBytes
			}
			w.MemoryPeak = max(w.MemoryPeak, peak)
			var gpuMem uint64
			for _, g := range r.GPUs {
				gpuMem = addSat(gpuMem, g.MemoryBytes)
			}
			w.GPUMemoryPeak = max(w.GPUMemoryPeak, gpuMem)
		}
	}
}

// remember makes a reading the cgroup's last one.
func (a *Accountant) remember(r *Reading, t int64) {
	key := instanceKey{r.Path, r.Inode}
	c := a.cgroups[key]
	if c == nil {
		c = &cgroupState{Path: r.Path, Inode: r.Inode}
		a.cgroups[key] = c
	} else if c.seen == a.generation {
		return
	}
	c.At, c.CPUUsec, c.Vanished, c.seen = t, r.CPUUsageUsec, false, a.generation
	c.HasMemory = r.MemoryBytes != nil
	c.Memory = 0
	if c.HasMemory {
		c.Memory = *r.MemoryBytes
	}
	if len(r.IO) > 0 && c.IO == nil {
		c.IO = make(map[string]IOBytes, len(r.IO))
	}
	// Devices absent now keep their last values: a line that comes back for
	// the same inode continues from there.
	for dev, v := range r.IO {
		c.IO[dev] = v
	}
}

// forgetVanished marks the cgroups this snapshot did not list, and drops those
// not read for longer than MaxGap: their usage is in their windows already.
func (a *Accountant) forgetVanished(t int64) {
	for key, c := range a.cgroups {
		if c.seen == a.generation {
			continue
		}
		c.Vanished = true
		if t-c.At > a.maxGap {
			delete(a.cgroups, key)
		}
	}
}

// closeWindows makes the last records of the windows that end by t and
// forgets them, carrying each path's rounding remainder into its next window.
func (a *Accountant) closeWindows(t int64) []ledger.Record {
	var closing []*windowTotals
	for _, w := range a.windows {
		if end, ok := a.windowEnd(w.Index); !ok || end <= t {
			closing = append(closing, w)
		}
	}
	if len(closing) == 0 {
		return nil
	}
	sort.Slice(closing, func(i, j int) bool { return lessWindow(closing[i], closing[j]) })
	var records []ledger.Record
	for _, w := range closing {
		end, _ := a.windowEnd(w.Index)
		records = a.appendRecords(records, w, end, true)
		w.touched = false
		delete(a.windows, windowKey{w.Path, w.Index})
	}
	a.forgetRoundings()
	return records
}

// forgetRoundings drops the remainders of paths with neither a cgroup nor an
// open window left, so that the state stays bounded on a host where users
// come and go (what is lost is under half a unit per path).
func (a *Accountant) forgetRoundings() {
	if len(a.roundings) == 0 {
		return
	}
	live := make(map[string]bool, len(a.cgroups)+len(a.windows))
	for k := range a.cgroups {
		live[k.path] = true
	}
	for k := range a.windows {
		live[k.path] = true
	}
	for path := range a.roundings {
		if !live[path] {
			delete(a.roundings, path)
		}
	}
}

// appendRecords appends a window's records, as they stand, ending at end.
// closing makes this their last version: the rounding remainder moves on.
func (a *Accountant) appendRecords(records []ledger.Record, w *windowTotals, end int64, closing bool) []ledger.Record {
	rd := a.roundings[w.Path]
	if rd == nil {
		rd = &rounding{Path: w.Path}
		a.roundings[w.Path] = rd
	}
	base := ledger.Record{
		Source: ledger.SourceCgroup, Cluster: a.cfg.Host, ExternalID: w.Path,
		Start: time.UnixMicro(w.Index * a.window).UTC(), End: time.UnixMicro(end).UTC(),
		User: w.User, Account: w.Account,
	}

	// cpu: every window a cgroup was in has one, idle or not, so a revision
	// always has a record to replace (see MarshalState).
	cpu, cpuNext := roundCarry(w.CPUUsec, rd.CPU, usecPerSecond)
	rec := base
	rec.Resource, rec.Quantity, rec.Used = ledger.ResourceCPU, cpu, cpu
	rec.Allocated = max(cpu, floatUnits(w.CPUAllowedUsec/usecPerSecond))
	if w.HasIO {
		rec.Attrs = map[string]string{
			"io_read_bytes":  strconv.FormatUint(w.IORead, 10),
			"io_write_bytes": strconv.FormatUint(w.IOWrite, 10),
		}
	}
	records = append(records, rec)

	memNext := rd.Memory
	if !w.MemoryHalfByteUsec.isZero() || !w.MemoryAllowedHalfByteUsec.isZero() {
		var mem int64
		mem, memNext = roundCarry(w.MemoryHalfByteUsec, rd.Memory, halfByteUsecPerByteSec)
		rec = base
		rec.Resource, rec.Quantity, rec.Used = ledger.ResourceMemory, mem, mem
		rec.Allocated = max(mem, toUnits(w.MemoryAllowedHalfByteUsec, halfByteUsecPerByteSec))
		if w.MemoryPeak > 0 {
			// memory.peak is the peak since the cgroup was created (or since the
			// largest sampled memory.current where the kernel has no such file).
			rec.Attrs = map[string]string{"memory_peak_bytes": strconv.FormatUint(w.MemoryPeak, 10)}
		}
		records = append(records, rec)
	}

	gpuNext := rd.GPU
	if !w.GPUUsec.isZero() {
		var gpu int64
		gpu, gpuNext = roundCarry(w.GPUUsec, rd.GPU, usecPerSecond)
		rec = base
		rec.Resource, rec.Quantity, rec.Allocated = ledger.ResourceGPU, gpu, gpu
		rec.Used = min(gpu, floatUnits(w.GPUUsedUsec/usecPerSecond))
		if w.GPUUnknownUsec > 0 || w.GPUMemoryPeak > 0 {
			rec.Attrs = make(map[string]string, 2)
		}
		if w.GPUUnknownUsec > 0 {
			// Used counts only the time the utilisation was known.
			rec.Attrs["gpu_utilization_unknown_seconds"] = strconv.FormatUint((w.GPUUnknownUsec+usecPerSecond/2)/usecPerSecond, 10)
		}
		if w.GPUMemoryPeak > 0 {
			rec.Attrs["gpu_memory_peak_bytes"] = strconv.FormatUint(w.GPUMemoryPeak, 10)
		}
		records = append(records, rec)
	}

	if closing {
		rd.CPU, rd.Memory, rd.GPU = cpuNext, memNext, gpuNext
	}
	return records
}

// windowFor is a path's totals for a window, made on first use, marked as
// changed by this snapshot and labelled with the reading's owner.
func (a *Accountant) windowFor(r *Reading, p piece) *windowTotals {
	key := windowKey{r.Path, p.index}
	w := a.windows[key]
	if w == nil {
		w = &windowTotals{Path: r.Path, Index: p.index}
		a.windows[key] = w
	}
	if !w.touched {
		w.touched = true
		a.touched = append(a.touched, w)
	}
	w.User, w.Account = r.User, r.Group
	w.LastAt = max(w.LastAt, p.to)
	return w
}

// piece is the part of an interval inside one window.
type piece struct {
	index    int64
	from, to int64 // microseconds, from < to
}

// split cuts the interval (t0, t1] at window boundaries into a.pieces, and
// returns the interval's start (later than t0 where it began in a closed
// window, or crosses more than maxSplitWindows windows) and length.
func (a *Accountant) split(t0, t1 int64) (start, length int64) {
	a.pieces = a.pieces[:0]
	if t1 <= t0 || t1-t0 <= 0 { // the second catches an overflowing difference
		return t0, 0
	}
	first, last := floorDiv(t0, a.window), floorDiv(t1-1, a.window)
	if open := floorDiv(a.lastAt, a.window); first < open && open <= last {
		// The windows before the last snapshot's are closed and their last
		// records sent; a cgroup read before they closed, missing from the
		// snapshot that closed them (unreadable for a moment) and back now has
		// its whole delta placed in the open windows: moved a little in time,
		// rather than a closed window's record replaced by a part of it.
		first, t0 = open, open*a.window
	}
	if last-first >= maxSplitWindows {
		first = last - maxSplitWindows + 1
		t0 = first * a.window
	}
	for k := first; k <= last; k++ {
		from, to := max(t0, k*a.window), min(t1, (k+1)*a.window)
		a.pieces = append(a.pieces, piece{index: k, from: from, to: to})
	}
	return t0, t1 - t0
}

// windowEnd is a window's end in Unix microseconds; false where it is past
// what an int64 holds (nonsense input, but no overflow).
func (a *Accountant) windowEnd(index int64) (int64, bool) {
	if index >= math.MaxInt64/a.window-1 {
		return 0, false
	}
	return (index + 1) * a.window, true
}

func floorDiv(x, y int64) int64 {
	q := x / y
	if x%y != 0 && x < 0 {
		q--
	}
	return q
}

// share is the part of total that falls in the first elapsed of length
// microseconds, rounded down: the difference of two successive shares is a
// piece's part, and the parts add up to total exactly.
func share(total, elapsed, length uint64) uint64 {
	if elapsed >= length {
		return total
	}
	p := mul64(total, elapsed) // p.Hi < length since elapsed < length
	q, _ := divU128(p, length)
	return q
}

func divU128(x u128, y uint64) (uint64, uint64) {
	if x.Hi >= y {
		return math.MaxUint64, 0
	}
	return bits.Div64(x.Hi, x.Lo, y)
}

// counterDelta is a cumulative counter's increase; a counter lower than its
// last value was reset, and its new value is the usage since.
func counterDelta(prev, cur uint64) uint64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// ioDelta is the bytes read and written since the last reading, over every
// device: a device line new to this cgroup counts from 0, one that went down
// was reset, and one that disappeared adds nothing.
func ioDelta(prev, cur map[string]IOBytes) (read, write uint64) {
	for dev, c := range cur {
		p := prev[dev] // zero for a device new to this cgroup
		read = addSat(read, counterDelta(p.Read, c.Read))
		write = addSat(write, counterDelta(p.Write, c.Write))
	}
	return read, write
}

func addSat(x, y uint64) uint64 {
	if s := x + y; s >= x {
		return s
	}
	return math.MaxUint64
}

// floatUnits rounds a non-negative float to an int64, saturating.
func floatUnits(f float64) int64 {
	switch {
	case !(f > 0): // also NaN
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	}
	return int64(math.Round(f))
}
