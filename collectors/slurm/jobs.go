package slurm

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Options say how to turn sacct rows into ledger records.
type Options struct {
	Cluster  string         // Parsimony's name of the cluster: every record's Cluster
	Location *time.Location // zone of sacct's local times; epoch times need none
	Now      time.Time      // collection time: running jobs are charged up to it
	// Reserved, when set, collects the jobs that ran in a reservation, for charging
	// the reservation's idle time (IdleRecords).
	Reserved *[]ReservedJob
}

// Stats count what the conversion saw.
type Stats struct {
	Lines   int64 // rows read (a row may span physical lines)
	Jobs    int64 // allocations (including requeued runs)
	Steps   int64
	NoUsage int64 // pending, cancelled before start, zero length: nothing to charge
	Records int64 // ledger records made
	Rejects int64 // rows refused, with their reason
}

// Output collects what a batch of rows became.
type Output struct {
	Records []ledger.Record
	Rejects []ledger.Reject
}

// Converter assembles rows into jobs. sacct prints each allocation followed by its
// steps; a job is complete when the next allocation (or the end) arrives. Usage is
// billed from the allocation line (AllocCPUS × ElapsedRaw, AllocTRES), as sreport
// does; steps give what was used (TotalCPU, MaxRSS) for efficiency.
type Converter struct {
	opts  Options
	cur   *job
	Stats Stats
}

type job struct {
	alloc    Row
	steps    int
	totalCPU time.Duration
	maxRSS   int64
}

// NewConverter starts a conversion.
func NewConverter(opts Options) *Converter {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	return &Converter{opts: opts}
}

// Add takes the next row. Records and rejects of any job the row completes go to out.
func (c *Converter) Add(row Row, out *Output) {
	c.Stats.Lines++
	if !row.isStep() {
		c.Flush(out)
		c.cur = &job{alloc: row}
		c.Stats.Jobs++
		return
	}
	c.Stats.Steps++
	raw := row.f[fJobIDRaw]
	parent := raw[:strings.IndexByte(raw, '.')]
	if c.cur == nil || c.cur.alloc.f[fJobIDRaw] != parent {
		c.reject(out, row, fmt.Sprintf("step %s does not follow its job's allocation line", row.f[fJobID]))
		return
	}
	if v := row.f[fTotalCPU]; v != "" {
		d, err := ParseDuration(v)
		if err != nil && !errors.Is(err, errNoValue) {
			c.reject(out, row, "TotalCPU: "+err.Error())
			return
		}
		if d != Unlimited {
			c.cur.totalCPU += d
		}
	}
	// A step's peak memory: TRESUsageInTot's mem (summed over the step's tasks) when
	// present, else MaxRSS (the largest single task).
	peak := int64(0)
	if v := row.f[fTRESUsageInTot]; v != "" {
		m, err := usageMem(v)
		if err != nil {
			c.reject(out, row, "TRESUsageInTot: "+err.Error())
			return
		}
		peak = m
	}
	if v := row.f[fMaxRSS]; v != "" && peak == 0 {
		b, _, err := ParseSize(v)
		if err != nil && !errors.Is(err, errNoValue) {
			c.reject(out, row, "MaxRSS: "+err.Error())
			return
		}
		peak = b
	}
	c.cur.maxRSS = max(c.cur.maxRSS, peak)
	c.cur.steps++
}

// BadLine quarantines a line the reader could not split.
func (c *Converter) BadLine(b *BadLine, out *Output) {
	c.Stats.Lines++
	c.Stats.Rejects++
	out.Rejects = append(out.Rejects, ledger.Reject{Source: ledger.SourceSlurm, Cluster: c.opts.Cluster, Raw: b.Raw, Reason: b.Reason})
}

func (c *Converter) reject(out *Output, row Row, reason string) {
	c.Stats.Rejects++
	out.Rejects = append(out.Rejects, ledger.Reject{Source: ledger.SourceSlurm, Cluster: c.opts.Cluster, Raw: row.Raw,
		Reason: fmt.Sprintf("line %d (job %s): %s", row.Line, row.f[fJobID], reason)})
}

// Flush completes the job in progress.
func (c *Converter) Flush(out *Output) {
	if c.cur == nil {
		return
	}
	j := c.cur
	c.cur = nil
	n := len(out.Records)
	if reason := c.records(j, out); reason != "" {
		out.Records = out.Records[:n]
		c.reject(out, j.alloc, reason)
		return
	}
	c.Stats.Records += int64(len(out.Records) - n)
}

// records appends a job's usage records, or says why it cannot.
func (c *Converter) records(j *job, out *Output) string {
	a := &j.alloc
	state := baseState(a.f[fState])
	start, err := parseTime(a.f[fStart], c.opts.Location)
	if errors.Is(err, errNoValue) || state == "PENDING" {
		c.Stats.NoUsage++
		return ""
	}
	if err != nil {
		return "Start: " + err.Error()
	}
	elapsed, err := strconv.ParseInt(a.f[fElapsedRaw], 10, 64)
	if err != nil || elapsed < 0 {
		return fmt.Sprintf("ElapsedRaw %q is not a number of seconds", a.f[fElapsedRaw])
	}
	end, err := parseTime(a.f[fEnd], c.opts.Location)
	switch {
	case errors.Is(err, errNoValue):
		// Still running: charge up to the collection time; a later run revises it.
		end = c.opts.Now
		if end.Before(start) {
			end = start
		}
		elapsed = int64(end.Sub(start) / time.Second)
	case err != nil:
		return "End: " + err.Error()
	case end.Before(start):
		return fmt.Sprintf("End %s is before Start %s", a.f[fEnd], a.f[fStart])
	case absDuration(end.Sub(start)-time.Duration(elapsed)*time.Second) == time.Hour:
		// Local times an hour off from ElapsedRaw: one of them fell in the hour a
		// DST change repeats, which wall-clock times cannot tell apart. ElapsedRaw is
		// authoritative; End is taken as read (a job rarely ends in that hour).
		start = end.Add(-time.Duration(elapsed) * time.Second)
	}
	if elapsed == 0 {
		c.Stats.NoUsage++ // cancelled before it started, or no time at all
		return ""
	}
	cpus, err := strconv.ParseInt(a.f[fAllocCPUS], 10, 64)
	if err != nil || cpus < 0 {
		return fmt.Sprintf("AllocCPUS %q is not a count", a.f[fAllocCPUS])
	}
	tres, err := ParseTRES(a.f[fAllocTRES])
	if err != nil {
		return "AllocTRES: " + err.Error()
	}
	nodes := tres.Nodes
	if v := a.f[fNNodes]; v != "" {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil && n >= 0 {
			nodes = n
		}
	}
	used := j.totalCPU
	if j.steps == 0 && a.f[fTotalCPU] != "" {
		if d, err := ParseDuration(a.f[fTotalCPU]); err == nil && d != Unlimited {
			used = d
		}
	}
	attrs := map[string]string{}
	if a.f[fJobID] != a.f[fJobIDRaw] {
		attrs["job_id"] = a.f[fJobID]
	}
	if v := a.f[fExitCode]; v != "" && v != "0:0" {
		attrs["exit_code"] = v
	}
	if t, err := parseTime(a.f[fSubmit], c.opts.Location); err == nil {
		attrs["submit"] = t.UTC().Format(time.RFC3339)
	}
	// The time asked for, beside the time used: "UNLIMITED" or seconds.
	if v := a.f[fTimelimit]; v != "" {
		if d, err := ParseDuration(v); err == nil {
			if d == Unlimited {
				attrs["timelimit"] = "UNLIMITED"
			} else {
				attrs["timelimit"] = strconv.FormatInt(int64(d/time.Second), 10)
			}
		}
	}
	if v := a.f[fReservation]; v != "" {
		attrs["reservation"] = v
	}
	// Slurm 22.05 leaves the Reservation name empty in sacct; the id is reliable.
	if v := a.f[fReservationID]; v != "" && v != "0" {
		attrs["reservation_id"] = v
		if c.opts.Reserved != nil {
			*c.opts.Reserved = append(*c.opts.Reserved, ReservedJob{ReservationID: v, Start: start, End: end})
		}
	}
	if len(attrs) == 0 {
		attrs = nil
	}
	base := ledger.Record{
		Source: ledger.SourceSlurm, Cluster: c.opts.Cluster, ExternalID: a.f[fJobIDRaw],
		Start: start, End: end, Account: a.f[fAccount], User: a.f[fUser],
		Partition: a.f[fPartition], QoS: a.f[fQOS], Nodes: int32(min(nodes, math.MaxInt32)),
		JobName: a.f[fJobName], State: state, Attrs: attrs, Raw: a.Raw,
	}
	add := func(resource string, per, usedQ int64) string {
		q, ok := mul(per, elapsed)
		if !ok {
			return fmt.Sprintf("%s: %d × %d s overflows", resource, per, elapsed)
		}
		r := base
		r.Resource, r.Quantity, r.Allocated, r.Used = resource, q, q, usedQ
		out.Records = append(out.Records, r)
		return ""
	}
	cpuUsed := int64(used / time.Second)
	if reason := add(ledger.ResourceCPU, cpus, cpuUsed); reason != "" {
		return reason
	}
	if tres.MemB > 0 {
		peak, ok := mul(j.maxRSS, elapsed)
		if !ok {
			return "memory: peak × elapsed overflows"
		}
		if reason := add(ledger.ResourceMemory, tres.MemB, peak); reason != "" {
			return reason
		}
	}
	if tres.GPUs > 0 {
		// Slurm does not measure GPU use here: used is what was allocated, so GPU
		// waste shows only where a site measures it.
		q, _ := mul(tres.GPUs, elapsed)
		if reason := add(ledger.ResourceGPU, tres.GPUs, q); reason != "" {
			return reason
		}
	}
	if tres.Billing > 0 {
		q, _ := mul(tres.Billing, elapsed)
		if reason := add(ledger.ResourceBilling, tres.Billing, q); reason != "" {
			return reason
		}
	}
	return ""
}

// mul multiplies non-negative int64s, reporting overflow.
func mul(a, b int64) (int64, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, false
	}
	return int64(lo), true
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
