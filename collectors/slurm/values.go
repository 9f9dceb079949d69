package slurm

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// errNoValue marks a field Slurm left empty or "None"/"Unknown": not an error, just
// nothing to read.
var errNoValue = errors.New("no value")

// Unlimited is what ParseDuration returns for UNLIMITED / Partition_Limit / INVALID.
const Unlimited = time.Duration(math.MaxInt64)

// ParseDuration reads Slurm's durations: [DD-[HH:]]MM:SS[.mmm] as in Elapsed,
// Timelimit and TotalCPU — "1-02:03:04", "02:03:04", "03:04", "03:04.567",
// "1-02" (days-hours), "1-02:03" (days-hours:minutes) — and UNLIMITED or
// Partition_Limit for no limit. Seconds may carry a fraction (TotalCPU).
func ParseDuration(s string) (time.Duration, error) {
	switch s {
	case "", "None", "Unknown":
		return 0, errNoValue
	case "UNLIMITED", "Partition_Limit", "INVALID":
		return Unlimited, nil
	}
	days := int64(0)
	rest := s
	hasDays := false
	if i := strings.IndexByte(s, '-'); i >= 0 {
		d, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || d < 0 || i == 0 {
			return 0, fmt.Errorf("duration %q: bad days", s)
		}
		days, rest, hasDays = d, s[i+1:], true
	}
	parts := strings.Split(rest, ":")
	if len(parts) > 3 || rest == "" {
		return 0, fmt.Errorf("duration %q: want [DD-[HH:]]MM:SS", s)
	}
	// With days, the fields count from hours: D-HH, D-HH:MM, D-HH:MM:SS. Without,
	// from seconds: SS (rare), MM:SS, HH:MM:SS.
	var h, m int64
	var sec float64
	num := func(p string) (int64, error) {
		if p == "" || len(p) > 12 {
			return 0, fmt.Errorf("duration %q: bad field %q", s, p)
		}
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("duration %q: bad field %q", s, p)
		}
		return v, nil
	}
	secs := func(p string) (float64, error) {
		if p == "" || len(p) > 16 || p[0] == '+' || p[0] == '-' {
			return 0, fmt.Errorf("duration %q: bad seconds %q", s, p)
		}
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return 0, fmt.Errorf("duration %q: bad seconds %q", s, p)
		}
		return v, nil
	}
	var err error
	switch {
	case hasDays && len(parts) == 1:
		h, err = num(parts[0])
	case hasDays && len(parts) == 2:
		if h, err = num(parts[0]); err == nil {
			m, err = num(parts[1])
		}
	case len(parts) == 3:
		if h, err = num(parts[0]); err == nil {
			if m, err = num(parts[1]); err == nil {
				sec, err = secs(parts[2])
			}
		}
	case len(parts) == 2:
		if m, err = num(parts[0]); err == nil {
			sec, err = secs(parts[1])
		}
	default:
		sec, err = secs(parts[0])
	}
	if err != nil {
		return 0, err
	}
	total := float64(days)*86400 + float64(h)*3600 + float64(m)*60 + sec
	if total > float64(math.MaxInt64/int64(time.Second))/2 {
		return 0, fmt.Errorf("duration %q: too long", s)
	}
	return time.Duration(math.Round(total*1e6)) * time.Microsecond, nil
}

// ParseSize reads a byte count as Slurm writes memory: a number with an optional
// K/M/G/T/P suffix in powers of 1024 (as Slurm means them), "1.5G", "4000M",
// "123456" (bytes, with --noconvert), and ReqMem's old per-node/per-CPU markers
// ("4Gn", "4Gc"), which are reported in perCPU.
func ParseSize(s string) (bytes int64, perCPU bool, err error) {
	switch s {
	case "", "None", "Unknown", "0":
		if s == "0" {
			return 0, false, nil
		}
		return 0, false, errNoValue
	}
	body := s
	if n := len(body); n > 1 && (body[n-1] == 'n' || body[n-1] == 'c') {
		perCPU = body[n-1] == 'c'
		body = body[:n-1]
	}
	mult := 1.0
	if n := len(body); n > 0 {
		switch body[n-1] {
		case 'K', 'k':
			mult = 1 << 10
		case 'M', 'm':
			mult = 1 << 20
		case 'G', 'g':
			mult = 1 << 30
		case 'T', 't':
			mult = 1 << 40
		case 'P', 'p':
			mult = 1 << 50
		}
		if mult != 1 {
			body = body[:n-1]
		}
	}
	if body == "" || len(body) > 24 || body[0] == '+' || body[0] == '-' {
		return 0, false, fmt.Errorf("size %q: not a number with K/M/G/T suffix", s)
	}
	v, err := strconv.ParseFloat(body, 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false, fmt.Errorf("size %q: not a number with K/M/G/T suffix", s)
	}
	b := v * mult
	if b >= math.MaxInt64/2 {
		return 0, false, fmt.Errorf("size %q: too large", s)
	}
	return int64(math.Round(b)), perCPU, nil
}

// TRES is a parsed trackable-resources list like AllocTRES:
// "billing=4,cpu=4,gres/gpu:a100=1,gres/gpu=1,mem=16G,node=1".
type TRES struct {
	CPU     int64
	MemB    int64 // bytes
	Nodes   int64
	Billing int64
	// GPUs counts gres/gpu; when only typed entries (gres/gpu:a100=2) are present
	// it is their sum. GPUTypes keeps the typed counts.
	GPUs     int64
	GPUTypes map[string]int64
}

// ParseTRES reads a TRES list. Unknown TRES names (license/…, fs/disk, energy) are
// ignored; a malformed entry is an error.
func ParseTRES(s string) (TRES, error) {
	var t TRES
	if s == "" || s == "None" {
		return t, nil
	}
	var untyped int64 = -1
	var typed int64
	for rest := s; rest != ""; {
		var item string
		item, rest, _ = strings.Cut(rest, ",")
		if item == "" {
			continue
		}
		eq := strings.IndexByte(item, '=')
		if eq <= 0 {
			return TRES{}, fmt.Errorf("TRES %q: entry %q is not name=value", s, item)
		}
		name, val := item[:eq], item[eq+1:]
		count := func() (int64, error) {
			v, err := strconv.ParseInt(val, 10, 64)
			if err != nil || v < 0 {
				return 0, fmt.Errorf("TRES %q: %s=%q is not a count", s, name, val)
			}
			return v, nil
		}
		var err error
		switch {
		case name == "cpu":
			t.CPU, err = count()
		case name == "node":
			t.Nodes, err = count()
		case name == "billing":
			t.Billing, err = count()
		case name == "mem":
			t.MemB, _, err = ParseSize(val)
			if errors.Is(err, errNoValue) {
				err = nil
			}
		case name == "gres/gpu":
			untyped, err = count()
		case strings.HasPrefix(name, "gres/gpu:"):
			var v int64
			if v, err = count(); err == nil {
				if t.GPUTypes == nil {
					t.GPUTypes = map[string]int64{}
				}
				t.GPUTypes[name[len("gres/gpu:"):]] += v
				typed += v
			}
		}
		if err != nil {
			return TRES{}, err
		}
	}
	if untyped >= 0 {
		t.GPUs = untyped
	} else {
		t.GPUs = typed
	}
	return t, nil
}

// usage is what Parsimony reads from a usage TRES list (TRESUsageInTot:
// "cpu=00:01:30,energy=0,fs/disk=123,mem=2G,pages=0,vmem=3G,gres/gpumem=7954688K,
// gres/gpuutil=54"), whose other entries are durations or counts it does not need.
type usage struct {
	mem        int64   // bytes
	gpuMem     int64   // bytes: gres/gpumem
	gpuUtil    float64 // percent: gres/gpuutil
	hasGPUUtil bool
}

// parseUsage reads a usage TRES list. gres/gpuutil and gres/gpumem are there only
// where the site tracks them (AccountingStorageTRES with gres/gpu, Slurm 21.08 and
// later, and a GPU plugin that measures: AutoDetect=nvml or rsmi).
func parseUsage(s string) (usage, error) {
	var u usage
	for s != "" {
		var item string
		item, s, _ = strings.Cut(s, ",")
		name, val, ok := strings.Cut(item, "=")
		if !ok {
			continue
		}
		var err error
		switch name {
		case "mem":
			u.mem, _, err = ParseSize(val)
		case "gres/gpumem":
			u.gpuMem, _, err = ParseSize(val)
		case "gres/gpuutil":
			u.gpuUtil, err = strconv.ParseFloat(val, 64)
			if err != nil || u.gpuUtil < 0 || math.IsNaN(u.gpuUtil) || math.IsInf(u.gpuUtil, 0) || u.gpuUtil > 1e6 {
				return usage{}, fmt.Errorf("gres/gpuutil=%q is not a percentage", val)
			}
			u.hasGPUUtil = true
		}
		if errors.Is(err, errNoValue) {
			err = nil
		}
		if err != nil {
			return usage{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	return u, nil
}

// usageMem reads the mem entry of a usage TRES list.
func usageMem(s string) (int64, error) {
	u, err := parseUsage(s)
	return u.mem, err
}

// parseTime reads sacct's Submit/Start/End: epoch seconds (SLURM_TIME_FORMAT=%s, how
// Parsimony runs sacct) or ISO 8601 local time without an offset, which is read in
// loc — sacct prints the local time of the zone it ran in.
func parseTime(s string, loc *time.Location) (time.Time, error) {
	switch s {
	case "", "None", "Unknown":
		return time.Time{}, errNoValue
	}
	if s[0] >= '0' && s[0] <= '9' && !strings.ContainsAny(s, "-:T") {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 || v > 1<<40 {
			return time.Time{}, fmt.Errorf("time %q: not epoch seconds", s)
		}
		return time.Unix(v, 0), nil
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05", s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want 2006-01-02T15:04:05 or epoch seconds", s)
	}
	return t, nil
}

// baseState trims sacct's decorations: "CANCELLED by 1001" → "CANCELLED",
// "RUNNING+" → "RUNNING".
func baseState(s string) string {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		s = s[:i]
	}
	return strings.TrimRight(s, "+")
}
