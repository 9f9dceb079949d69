package cgroup

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sort"
	"time"
)

// stateVersion is the version of the Accountant's saved state. A state of
// another version is refused rather than guessed at: the agent then starts
// afresh, which costs one interval, never a double count.
const stateVersion = 1

// instanceKey is one cgroup instance: a re-created cgroup has the same path and
// a new inode.
type instanceKey struct {
	path  string
	inode uint64
}

// cgroupState is one cgroup instance as it was last read.
type cgroupState struct {
	Path      string             `json:"path"`
	Inode     uint64             `json:"inode"`
	At        int64              `json:"at_us"` // Unix microseconds of the last reading
	CPUUsec   uint64             `json:"cpu_usec"`
	HasMemory bool               `json:"has_memory,omitempty"`
	Memory    uint64             `json:"memory_bytes,omitempty"`
	IO        map[string]IOBytes `json:"io,omitempty"` // every device ever seen, so a line that comes back continues from its last value
	// Vanished marks a cgroup absent from the latest snapshot. It is kept (until
	// MaxGap after its last reading) because a cgroup that failed to read once
	// is also absent: when it comes back with the same inode its usage
	// continues from the last reading instead of being counted whole again.
	Vanished bool `json:"vanished,omitempty"`

	seen uint64 // the generation of the snapshot that last listed it; not saved
}

// windowKey is one cgroup path's window: records are per path, so an old and
// a re-created inode of the same path add to the same records.
type windowKey struct {
	path  string
	index int64 // the window's start is index × Window from the Unix epoch
}

// windowTotals is one path's usage in one window so far, exact: rounding to
// whole base units happens only when a record is made.
type windowTotals struct {
	Path    string `json:"path"`
	Index   int64  `json:"index"`
	User    string `json:"user,omitempty"`
	Account string `json:"account,omitempty"`
	LastAt  int64  `json:"last_at_us"` // the latest sample time inside the window

	CPUUsec        u128    `json:"cpu_usec"`
	CPUAllowedUsec float64 `json:"cpu_allowed_core_usec,omitempty"` // allowed cores × microseconds present
	HasIO          bool    `json:"has_io,omitempty"`
	IORead         uint64  `json:"io_read_bytes,omitempty"`
	IOWrite        uint64  `json:"io_write_bytes,omitempty"`

	// Memory in half byte-microseconds: the trapezoid Σ (m0 + m1) × dt, exact
	// in integers, needs no division until the record is made.
	MemoryHalfByteUsec        u128   `json:"memory_half_byte_usec"`
	MemoryAllowedHalfByteUsec u128   `json:"memory_allowed_half_byte_usec"`
	MemoryPeak                uint64 `json:"memory_peak_bytes,omitempty"`

	GPUUsec        u128    `json:"gpu_usec"`
	GPUUsedUsec    float64 `json:"gpu_used_usec,omitempty"`    // Σ utilisation × microseconds, where known
	GPUUnknownUsec uint64  `json:"gpu_unknown_usec,omitempty"` // GPU-microseconds of unknown utilisation
	GPUMemoryPeak  uint64  `json:"gpu_memory_peak_bytes,omitempty"`

	touched bool // changed by the snapshot being added; not saved
}

// rounding is a path's rounding remainder, in the exact units, carried from
// its closed windows into the next one so that the sum of its records'
// integer quantities stays the rounded sum of its exact usage.
type rounding struct {
	Path   string `json:"path"`
	CPU    int64  `json:"cpu_usec,omitempty"`
	Memory int64  `json:"memory_half_byte_usec,omitempty"`
	GPU    int64  `json:"gpu_usec,omitempty"`
}

// savedState is the Accountant's state as JSON. Lists, sorted, rather than
// maps: JSON object keys would have to be strings, and a sorted list makes the
// same state marshal to the same bytes.
type savedState struct {
	Version    int             `json:"version"`
	Host       string          `json:"host"`
	WindowUsec int64           `json:"window_us"`
	Started    bool            `json:"started"`
	LastAt     int64           `json:"last_at_us"`
	Cgroups    []*cgroupState  `json:"cgroups"`
	Windows    []*windowTotals `json:"windows"`
	Roundings  []*rounding     `json:"roundings,omitempty"`
}

// MarshalState is everything the Accountant needs to go on after a restart.
// The agent writes it atomically after it has spooled the records of each
// snapshot. If the agent dies between the two, it restores the older state:
// the next snapshot's deltas are then taken from the older readings, so they
// cover the lost snapshot's interval too, and the records it makes carry the
// same keys as the spooled ones and replace them; nothing is counted twice.
func (a *Accountant) MarshalState() ([]byte, error) {
	s := savedState{Version: stateVersion, Host: a.cfg.Host, WindowUsec: a.window, Started: a.started, LastAt: a.lastAt}
	for _, c := range a.cgroups {
		s.Cgroups = append(s.Cgroups, c)
	}
	sort.Slice(s.Cgroups, func(i, j int) bool {
		if s.Cgroups[i].Path != s.Cgroups[j].Path {
			return s.Cgroups[i].Path < s.Cgroups[j].Path
		}
		return s.Cgroups[i].Inode < s.Cgroups[j].Inode
	})
	for _, w := range a.windows {
		s.Windows = append(s.Windows, w)
	}
	sort.Slice(s.Windows, func(i, j int) bool { return lessWindow(s.Windows[i], s.Windows[j]) })
	for _, r := range a.roundings {
		s.Roundings = append(s.Roundings, r)
	}
	sort.Slice(s.Roundings, func(i, j int) bool { return s.Roundings[i].Path < s.Roundings[j].Path })
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("marshal cgroup accounting state: %w", err)
	}
	return b, nil
}

// RestoreAccountant is an Accountant that goes on from a state MarshalState
// wrote. A state from another version, host or window length is refused: its
// windows would not line up with the records already sent.
func RestoreAccountant(cfg AccountConfig, state []byte) (*Accountant, error) {
	var s savedState
	if err := json.Unmarshal(state, &s); err != nil {
		return nil, fmt.Errorf("read cgroup accounting state: %w", err)
	}
	a := NewAccountant(cfg)
	switch {
	case s.Version != stateVersion:
		return nil, fmt.Errorf("cgroup accounting state has version %d, this agent reads version %d", s.Version, stateVersion)
	case s.Host != a.cfg.Host:
		return nil, fmt.Errorf("cgroup accounting state is for host %q, not %q", s.Host, a.cfg.Host)
	case s.WindowUsec != a.window:
		return nil, fmt.Errorf("cgroup accounting state has %s windows, the configuration %s",
			time.Duration(s.WindowUsec)*time.Microsecond, time.Duration(a.window)*time.Microsecond)
	}
	if !inLedgerYears(s.LastAt) {
		return nil, fmt.Errorf("read cgroup accounting state: last snapshot at %d µs, outside the years 1970–9999", s.LastAt)
	}
	a.started, a.lastAt = s.Started, s.LastAt
	for _, c := range s.Cgroups {
		if c == nil {
			return nil, errors.New("read cgroup accounting state: a null cgroup")
		}
		if c.Path == "" || !inLedgerYears(c.At) {
			return nil, fmt.Errorf("read cgroup accounting state: cgroup %q read at %d µs", c.Path, c.At)
		}
		a.cgroups[instanceKey{c.Path, c.Inode}] = c
	}
	for _, w := range s.Windows {
		if w == nil {
			return nil, errors.New("read cgroup accounting state: a null window")
		}
		if w.Path == "" || w.Index < 0 || w.Index > maxMicros/a.window-1 || !inLedgerYears(w.LastAt) {
			return nil, fmt.Errorf("read cgroup accounting state: window %d of %q", w.Index, w.Path)
		}
		if !finite(w.CPUAllowedUsec) || !finite(w.GPUUsedUsec) {
			return nil, fmt.Errorf("read cgroup accounting state: window %d of %s has a non-finite total", w.Index, w.Path)
		}
		a.windows[windowKey{w.Path, w.Index}] = w
	}
	for _, r := range s.Roundings {
		if r == nil {
			return nil, errors.New("read cgroup accounting state: a null rounding")
		}
		a.roundings[r.Path] = r
	}
	return a, nil
}

// maxMicros is the end of the ledger's last year, 9999, in Unix microseconds
// (time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()).
const maxMicros = 253_402_300_800_000_000

func inLedgerYears(us int64) bool { return us >= 0 && us < maxMicros }

func lessWindow(x, y *windowTotals) bool {
	if x.Path != y.Path {
		return x.Path < y.Path
	}
	return x.Index < y.Index
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// u128 is an unsigned 128-bit integer: a window's memory in byte-microseconds
// passes 2^64 at 5 TiB-hours, so 64 bits are not enough to keep it exact.
type u128 struct {
	Hi uint64 `json:"hi,omitempty"`
	Lo uint64 `json:"lo"`
}

// mul64 is a × b, exactly.
func mul64(a, b uint64) u128 {
	hi, lo := bits.Mul64(a, b)
	return u128{hi, lo}
}

// add is x + y, saturating at the largest u128 (only nonsense input gets there).
func (x u128) add(y u128) u128 {
	lo, c := bits.Add64(x.Lo, y.Lo, 0)
	hi, c := bits.Add64(x.Hi, y.Hi, c)
	if c != 0 {
		return u128{math.MaxUint64, math.MaxUint64}
	}
	return u128{hi, lo}
}

func (x u128) isZero() bool { return x.Hi == 0 && x.Lo == 0 }

// roundCarry rounds x + carry (x in units of 1/unit of the base unit, carry
// the remainder of the path's earlier windows) to the nearest whole base unit,
// and returns the remainder to carry into the next window. The remainder stays
// within ±unit/2, so the sum of the rounded windows never strays from the
// rounded sum by more than one half. The result saturates at MaxInt64.
func roundCarry(x u128, carry int64, unit uint64) (q int64, next int64) {
	half := unit / 2
	if carry < 0 {
		neg := uint64(-carry)
		if x.Hi == 0 && x.Lo < neg {
			// Less than the debt carried: rounds to 0, and the rest of the debt
			// goes on (its size only shrinks).
			return 0, carry + int64(x.Lo)
		}
		lo, b := bits.Sub64(x.Lo, neg, 0)
		x = u128{x.Hi - b, lo}
	} else {
		x = x.add(u128{0, uint64(carry)})
	}
	x = x.add(u128{0, half})
	if x.Hi >= unit {
		return math.MaxInt64, 0
	}
	quo, rem := bits.Div64(x.Hi, x.Lo, unit)
	if quo > math.MaxInt64 {
		return math.MaxInt64, 0
	}
	return int64(quo), int64(rem) - int64(half)
}

// toUnits is x / unit rounded to the nearest, saturating at MaxInt64 (for
// allocations, which carry no remainder).
func toUnits(x u128, unit uint64) int64 {
	q, _ := roundCarry(x, 0, unit)
	return q
}
