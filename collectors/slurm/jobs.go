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
	// Now is the collection time: running jobs are charged up to it. Zero (a dump
	// read without --as-of) charges them up to the latest time the dump contains,
	// which is known only at its end: running jobs are then held until Finish.
	Now time.Time
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

	Running      int64     // running jobs, charged up to AsOf
	AsOf         time.Time // what running jobs were charged up to
	AsOfFromDump bool      // AsOf is the latest time in the dump, not a given time
	PastLimit    int64     // running jobs charged past their time limit
	PastLimitJob string    // the first of them
	ReqFallback  int64     // jobs without AllocTRES, billed from ReqTRES / ReqMem
	GPUMeasured  int64     // GPU jobs whose use came from gres/gpuutil
}

// Output collects what a batch of rows became.
type Output struct {
	Records []ledger.Record
	Rejects []ledger.Reject
}

// Converter assembles rows into jobs. sacct prints each allocation followed by its
// steps; a job is complete when the next allocation (or the end) arrives. Usage is
// billed from the allocation line (AllocCPUS × ElapsedRaw, AllocTRES), as sreport
// does; steps give what was used (TotalCPU, memory, GPU utilisation) for efficiency.
type Converter struct {
	opts    Options
	cur     *job
	Stats   Stats
	held    []*job     // running jobs waiting for the dump's latest time
	latest  latestTime // the latest Submit/Start/End seen, while jobs are held
	holding bool
}

type job struct {
	alloc    Row
	steps    int
	totalCPU time.Duration
	maxRSS   int64 // the largest step's peak memory, over all its tasks
	gpuUsed  int64 // GPU-seconds busy by gres/gpuutil, summed over steps
	gpuMeas  bool  // some step recorded gres/gpuutil
	gpuMem   int64 // the largest step's gres/gpumem
}

// NewConverter starts a conversion.
func NewConverter(opts Options) *Converter {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	return &Converter{opts: opts, holding: opts.Now.IsZero()}
}

// Add takes the next row. Records and rejects of any job the row completes go to out.
func (c *Converter) Add(row Row, out *Output) {
	c.Stats.Lines++
	if c.holding {
		c.latest.note(row.f[fSubmit])
		// A pending job's Start, where sacct shows one, is the scheduler's
		// expectation, not a time that has passed.
		if !strings.HasPrefix(row.f[fState], "PENDING") {
			c.latest.note(row.f[fStart])
			c.latest.note(row.f[fEnd])
		}
	}
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
	if reason := c.cur.addStep(&row); reason != "" {
		c.reject(out, row, reason)
	}
}

// addStep adds what a step used to its job, or says why it cannot.
func (j *job) addStep(row *Row) string {
	var cpu time.Duration
	if v := row.f[fTotalCPU]; v != "" {
		d, err := ParseDuration(v)
		if err != nil && !errors.Is(err, errNoValue) {
			return "TotalCPU: " + err.Error()
		}
		if d != Unlimited {
			cpu = d
		}
	}
	u, err := parseUsage(row.f[fTRESUsageInTot])
	if err != nil {
		return "TRESUsageInTot: " + err.Error()
	}
	// A step's peak memory: TRESUsageInTot's mem (summed over the step's tasks) when
	// present, else MaxRSS — one task's peak — times the step's tasks.
	peak := u.mem
	if v := row.f[fMaxRSS]; v != "" && peak == 0 {
		b, _, err := ParseSize(v)
		if err != nil && !errors.Is(err, errNoValue) {
			return "MaxRSS: " + err.Error()
		}
		tasks := int64(1)
		if n, err := strconv.ParseInt(row.f[fNTasks], 10, 64); err == nil && n > 1 {
			tasks = n
		}
		var ok bool
		if peak, ok = mul(b, tasks); !ok {
			return fmt.Sprintf("MaxRSS %s × NTasks %d overflows", v, tasks)
		}
	}
	// GPU busy time: gres/gpuutil is the step's GPU utilisation in percent (summed
	// over its GPUs), recorded where the site tracks it (see docs/slurm.md).
	var gpuBusy int64
	if u.hasGPUUtil {
		secs, err := row.elapsed()
		if err != nil {
			return err.Error()
		}
		gpuBusy = int64(float64(secs) * u.gpuUtil / 100)
	}
	j.totalCPU += cpu
	j.maxRSS = max(j.maxRSS, peak)
	j.gpuUsed += gpuBusy
	j.gpuMeas = j.gpuMeas || u.hasGPUUtil
	j.gpuMem = max(j.gpuMem, u.gpuMem)
	j.steps++
	return ""
}

// elapsed is a row's ElapsedRaw, or where the dump has none its Elapsed.
func (r *Row) elapsed() (int64, error) {
	if v := r.f[fElapsedRaw]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("ElapsedRaw %q is not a number of seconds", v)
		}
		return n, nil
	}
	v := r.f[fElapsed]
	d, err := ParseDuration(v)
	if err != nil || d == Unlimited {
		return 0, fmt.Errorf("ElapsedRaw %q / Elapsed %q is not a number of seconds", r.f[fElapsedRaw], v)
	}
	return int64(d / time.Second), nil
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

// Flush completes the job in progress (a running one is held when the dump's own
// latest time is what it is charged up to).
func (c *Converter) Flush(out *Output) {
	if c.cur == nil {
		return
	}
	j := c.cur
	c.cur = nil
	if c.holding && j.running() {
		c.held = append(c.held, j)
		return
	}
	c.emit(j, c.opts.Now, out)
}

// Finish completes the conversion: the job in progress, then the held running
// jobs, charged up to the latest time the dump contains — its latest Submit,
// Start or End, or a running job's Start + Elapsed, which is sacct's own clock
// when it printed the line. A file's mtime is no guide: cp and git reset it.
func (c *Converter) Finish(out *Output) {
	c.Flush(out)
	asOf := c.opts.Now
	if c.holding {
		asOf = c.latest.time(c.opts.Location)
		for _, j := range c.held {
			start, err := parseTime(j.alloc.f[fStart], c.opts.Location)
			secs, err2 := j.alloc.elapsed()
			if err == nil && err2 == nil {
				asOf = maxTime(asOf, start.Add(time.Duration(secs)*time.Second))
			}
		}
		c.Stats.AsOfFromDump = true
	}
	c.Stats.AsOf = asOf
	for _, j := range c.held {
		c.emit(j, asOf, out)
	}
	c.held = nil
}

// running says whether a job had started and not ended when sacct printed it.
func (j *job) running() bool {
	a := &j.alloc
	return noValue(a.f[fEnd]) && !noValue(a.f[fStart]) && baseState(a.f[fState]) != "PENDING"
}

func noValue(s string) bool { return s == "" || s == "None" || s == "Unknown" }

// emit appends a job's records, or its rejection.
func (c *Converter) emit(j *job, now time.Time, out *Output) {
	n := len(out.Records)
	if reason := c.records(j, now, out); reason != "" {
		out.Records = out.Records[:n]
		c.reject(out, j.alloc, reason)
		return
	}
	c.Stats.Records += int64(len(out.Records) - n)
}

// latestTime keeps the latest time seen without parsing each one: epoch seconds
// compare by length then digits, ISO local times as strings.
type latestTime struct{ epoch, iso string }

func (lt *latestTime) note(s string) {
	switch {
	case s == "" || s[0] < '0' || s[0] > '9':
	case len(s) == 19 && s[4] == '-':
		if s > lt.iso {
			lt.iso = s
		}
	case len(s) > len(lt.epoch) || (len(s) == len(lt.epoch) && s > lt.epoch):
		if digits(s) {
			lt.epoch = s
		}
	}
}

func (lt *latestTime) time(loc *time.Location) time.Time {
	var t time.Time
	for _, s := range []string{lt.epoch, lt.iso} {
		if v, err := parseTime(s, loc); err == nil {
			t = maxTime(t, v)
		}
	}
	return t
}

// span reads a job's start, end and elapsed seconds, or says why it cannot;
// started is false for a job that has nothing to charge yet.
func (c *Converter) span(a *Row, now time.Time) (start, end time.Time, elapsed int64, started bool, reason string) {
	state := baseState(a.f[fState])
	start, err := parseTime(a.f[fStart], c.opts.Location)
	if errors.Is(err, errNoValue) || state == "PENDING" {
		return start, end, 0, false, ""
	}
	if err != nil {
		return start, end, 0, false, "Start: " + err.Error()
	}
	if elapsed, err = a.elapsed(); err != nil {
		return start, end, 0, false, err.Error()
	}
	end, err = parseTime(a.f[fEnd], c.opts.Location)
	switch {
	case errors.Is(err, errNoValue):
		// Still running: charge up to the collection time; a later run revises it.
		end = now
		if end.Before(start) {
			end = start
		}
		elapsed = int64(end.Sub(start) / time.Second)
		c.Stats.Running++
		c.checkLimit(a, elapsed)
	case err != nil:
		return start, end, 0, false, "End: " + err.Error()
	case end.Before(start):
		return start, end, 0, false, fmt.Sprintf("End %s is before Start %s", a.f[fEnd], a.f[fStart])
	case absDuration(end.Sub(start)-time.Duration(elapsed)*time.Second) == time.Hour && nearDSTChange(a, start, end):
		// Local times an hour off from ElapsedRaw: one of them fell in the hour a
		// DST change repeats, which wall-clock times cannot tell apart. ElapsedRaw is
		// authoritative; End is taken as read (a job rarely ends in that hour).
		start = end.Add(-time.Duration(elapsed) * time.Second)
	case time.Duration(elapsed)*time.Second > end.Sub(start):
		// A job cannot run longer than it held its allocation (suspension makes it
		// shorter, never longer): one of the three is wrong, and billing either
		// would guess.
		return start, end, 0, false, fmt.Sprintf("ElapsedRaw %d s is longer than End − Start (%s − %s = %d s)",
			elapsed, a.f[fEnd], a.f[fStart], int64(end.Sub(start)/time.Second))
	}
	return start, end, elapsed, elapsed > 0, ""
}

// nearDSTChange says whether a row's local Start or End lies within two hours of
// a change of its zone's offset, where a wall-clock time can be an hour off. Epoch
// times never are.
func nearDSTChange(a *Row, start, end time.Time) bool {
	if digits(a.f[fStart]) && digits(a.f[fEnd]) {
		return false
	}
	for _, t := range []time.Time{start, end} {
		_, before := t.Add(-2 * time.Hour).Zone()
		_, after := t.Add(2 * time.Hour).Zone()
		if before != after {
			return true
		}
	}
	return false
}

// checkLimit counts a running job charged past its time limit: the dump's time is
// later than the job could have run, so the dump or the as-of time is suspect.
func (c *Converter) checkLimit(a *Row, elapsed int64) {
	d, err := ParseDuration(a.f[fTimelimit])
	if err != nil || d == Unlimited || elapsed <= int64(d/time.Second) {
		return
	}
	if c.Stats.PastLimit == 0 {
		c.Stats.PastLimitJob = a.f[fJobID]
	}
	c.Stats.PastLimit++
}

// billedTRES is what the allocation holds: AllocTRES, or for a dump without it the
// request — ReqTRES, and ReqMem (per CPU with c, per node with n) for memory.
func (c *Converter) billedTRES(a *Row, cpus, nodes int64) (TRES, string) {
	if v := a.f[fAllocTRES]; v != "" && v != "None" {
		t, err := ParseTRES(v)
		if err != nil {
			return t, "AllocTRES: " + err.Error()
		}
		return t, ""
	}
	c.Stats.ReqFallback++
	t, err := ParseTRES(a.f[fReqTRES])
	if err != nil {
		return t, "ReqTRES: " + err.Error()
	}
	if v := a.f[fReqMem]; t.MemB == 0 && v != "" {
		b, perCPU, err := ParseSize(v)
		if err != nil && !errors.Is(err, errNoValue) {
			return t, "ReqMem: " + err.Error()
		}
		per := int64(1)
		switch {
		case perCPU:
			per = cpus
		case strings.HasSuffix(v, "n"):
			per = max(nodes, 1)
		}
		var ok bool
		if t.MemB, ok = mul(b, per); !ok {
			return t, fmt.Sprintf("ReqMem %s × %d overflows", v, per)
		}
	}
	return t, ""
}

// records appends a job's usage records, or says why it cannot.
func (c *Converter) records(j *job, now time.Time, out *Output) string {
	a := &j.alloc
	start, end, elapsed, started, reason := c.span(a, now)
	if reason != "" {
		return reason
	}
	if !started {
		c.Stats.NoUsage++ // pending, cancelled before it started, or no time at all
		return ""
	}
	if strings.IndexByte(a.f[fJobIDRaw], '[') >= 0 {
		// Only a dump keyed by JobID gets here: one line for a range of array tasks
		// cannot be charged to any one of them.
		return fmt.Sprintf("JobID %s is a range of array tasks and the dump has no JobIDRaw to key it", a.f[fJobID])
	}
	cpus, err := strconv.ParseInt(a.f[fAllocCPUS], 10, 64)
	if err != nil || cpus < 0 {
		return fmt.Sprintf("AllocCPUS %q is not a count", a.f[fAllocCPUS])
	}
	nodes := int64(-1)
	if v := a.f[fNNodes]; v != "" {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil && n >= 0 {
			nodes = n
		}
	}
	tres, reason := c.billedTRES(a, cpus, nodes)
	if reason != "" {
		return reason
	}
	if nodes < 0 {
		nodes = tres.Nodes
	}
	used := j.totalCPU
	if j.steps == 0 && a.f[fTotalCPU] != "" {
		if d, err := ParseDuration(a.f[fTotalCPU]); err == nil && d != Unlimited {
			used = d
		}
	}
	attrs := c.attrs(j, start, end)
	base := ledger.Record{
		Source: ledger.SourceSlurm, Cluster: c.opts.Cluster, ExternalID: a.f[fJobIDRaw],
		Start: start, End: end, Account: a.f[fAccount], User: a.f[fUser],
		Partition: a.f[fPartition], QoS: a.f[fQOS], Nodes: int32(min(nodes, math.MaxInt32)),
		JobName: a.f[fJobName], State: baseState(a.f[fState]), Attrs: attrs, Raw: a.Raw,
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
		// GPU use is measured only where Slurm records gres/gpuutil; elsewhere used
		// is what was allocated, so GPU waste shows only where the data exists.
		q, _ := mul(tres.GPUs, elapsed)
		if j.gpuMeas {
			q = min(j.gpuUsed, q) // utilisation summed over GPUs cannot exceed them all busy
			c.Stats.GPUMeasured++
		}
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

// attrs keeps what rating, filters and the dashboards use beside the usage.
func (c *Converter) attrs(j *job, start, end time.Time) map[string]string {
	a := &j.alloc
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
	if j.gpuMem > 0 {
		attrs["gpu_mem_peak"] = strconv.FormatInt(j.gpuMem, 10) // bytes, the largest step's gres/gpumem
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
		return nil
	}
	return attrs
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
