package seed

import (
	"cmp"
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/usagebatch"
)

// generator walks the history day by day and hour by hour, making up the usage of
// every source, and hands it on in batches. It keeps nothing of the past but the
// state of the file systems, so its memory does not grow with the history.
type generator struct {
	p      *plan
	cal    *calendar
	r      *rand.Rand
	nowSec int64

	batchSize int
	buf       []ledger.Record
	jobs      int64 // Slurm jobs made so far
	emitted   int64 // … and handed on
	// emit takes a full batch and the number of jobs in it (a batch holds whole jobs);
	// fresh gives an empty buffer for the next one.
	emit  func(ctx context.Context, recs []ledger.Record, jobs int64) error
	fresh func() []ledger.Record

	subs []submission
	id   []byte // scratch for external ids

	// The shared machines: each one's agent, a random stream of their own (so that
	// what happens on them moves no other source's numbers), the CPU their
	// cgroups' counters grew by in all (microseconds, for the tests), and scratch
	// for the agents' batches.
	hosts         []*hostAgent
	hostRand      *rand.Rand
	cgroupCPUUsec uint64
	wire          []usagebatch.Record
}

type submission struct {
	at    int64 // submit time, seconds from the start of the history
	assoc int
	tasks int // 1, or the size of an array
}

func newGenerator(p *plan, seed uint64, totalJobs int64, batchSize int) *generator {
	r := rand.New(rand.NewPCG(seed, 0x5eed0002))
	g := &generator{
		p: p, cal: newCalendar(r, p, totalJobs), r: r, nowSec: p.historySeconds(), batchSize: batchSize,
		hostRand: rand.New(rand.NewPCG(seed, 0x5eed0003)),
	}
	for _, h := range p.hosts {
		g.hosts = append(g.hosts, newHostAgent(h, p.people, p.start))
	}
	return g
}

func (g *generator) at(sec int64) time.Time { return g.p.start.Add(time.Duration(sec) * time.Second) }

func (g *generator) add(rec ledger.Record) { g.buf = append(g.buf, rec) }

// maybeFlush hands on the batch once it is full; called between jobs, so a job's
// records travel together.
func (g *generator) maybeFlush(ctx context.Context) error {
	if len(g.buf) < g.batchSize {
		return nil
	}
	return g.flush(ctx)
}

func (g *generator) flush(ctx context.Context) error {
	if len(g.buf) == 0 {
		return nil
	}
	if err := g.emit(ctx, g.buf, g.jobs-g.emitted); err != nil {
		return err
	}
	g.emitted = g.jobs
	g.buf = g.fresh()
	return nil
}

// run makes the whole history.
func (g *generator) run(ctx context.Context) error {
	if g.buf == nil {
		g.buf = g.fresh()
	}
	for _, d := range g.cal.days {
		if err := ctx.Err(); err != nil {
			return err
		}
		for s := d.firstSlot; s < d.firstSlot+d.slots; s++ {
			for ci, c := range g.p.clusters {
				if err := g.slurmSlot(ctx, c, g.cal.slots[s], int64(g.cal.jobs[ci][s])); err != nil {
					return err
				}
			}
		}
		if err := g.cgroupDay(d); err != nil {
			return err
		}
		g.jhubDay(d)
		g.storageDay(d)
		if err := g.maybeFlush(ctx); err != nil {
			return err
		}
	}
	return g.flush(ctx)
}

// active reports whether someone was around at sec.
func (g *generator) active(x int, sec int64) bool {
	px := g.p.people[x]
	return sec >= px.activeFrom && sec < px.activeTo
}

// slurmSlot makes the n jobs submitted to c in one hour, in submission order, so job
// ids grow with time as Slurm's do.
func (g *generator) slurmSlot(ctx context.Context, c *cluster, s slotPlan, n int64) error {
	g.subs = g.subs[:0]
	for left := n; left > 0; {
		sub := submission{at: s.at + g.r.Int64N(s.length), tasks: 1}
		sub.assoc = pick(g.r, c.cum)
		for try := 0; try < 8 && !g.active(c.assocs[sub.assoc].person, sub.at); try++ {
			sub.assoc = pick(g.r, c.cum)
		}
		px := g.p.people[c.assocs[sub.assoc].person]
		if g.r.Float64() < px.arrayProb {
			// Heavy-tailed array sizes: mostly tens, sometimes hundreds.
			sub.tasks = int(math.Min(2+math.Pow(1-g.r.Float64(), -1/0.9)*4, 1000))
		}
		sub.tasks = int(min(int64(sub.tasks), left))
		left -= int64(sub.tasks)
		g.subs = append(g.subs, sub)
	}
	slices.SortFunc(g.subs, func(a, b submission) int { return cmp.Compare(a.at, b.at) })
	for _, sub := range g.subs {
		g.submit(c, sub)
		if err := g.maybeFlush(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Time limits users pick from, in seconds.
var timeLimits = []int64{900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 12 * 3600, day, 2 * day, 3 * day, 5 * day, 7 * day}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// submit makes one submission: a job, or the tasks of an array.
func (g *generator) submit(c *cluster, sub submission) {
	r := g.r
	a := c.assocs[sub.assoc]
	px := g.p.people[a.person]

	// Where and how big.
	part := c.partition("cpu")
	switch {
	case c.name == "gpu1":
		if px.gpuUser && r.Float64() < 0.92 {
			part = c.partition("gpu")
		}
	case px.gpuUser && r.Float64() < 0.3:
		part = c.partition("gpu")
	case px.highmemUser && r.Float64() < 0.35:
		part = c.partition("highmem")
	}
	qos := "normal"
	if r.Float64() < px.scavProb {
		qos = "scavenger"
	}
	var cores, gpus, nodes int
	var mem int64
	switch part.name {
	case "gpu":
		gpus = []int{1, 1, 1, 1, 1, 1, 2, 2, 4, 8}[r.IntN(10)]
		if px.wasteful && r.IntN(2) == 0 {
			gpus *= 2
		}
		if r.Float64() < 0.01 {
			gpus = 2 * part.gpusPerNode // multi-node training
		}
		nodes = (gpus + part.gpusPerNode - 1) / part.gpusPerNode
		perGPU := part.coresPerNode / part.gpusPerNode
		cores = max(1, gpus*perGPU/[]int{1, 2, 4}[r.IntN(3)])
		mem = int64(float64(cores) * float64(part.memPerCore) * px.memOver * (0.5 + r.Float64()))
	case "highmem":
		cores = 1 << min(px.coreExp+r.IntN(3), 6)
		cores = min(cores, part.coresPerNode)
		nodes = 1
		mem = int64(float64(part.memPerNode) * (0.08 + 0.92*r.Float64()*r.Float64()))
	default:
		e := px.coreExp + int(math.Round(1.1*r.NormFloat64()))
		e = max(0, min(e, 11))
		cores = 1 << e
		if cores >= 4 && r.IntN(4) == 0 {
			cores = cores * 3 / 4 // 6, 12, 24, 48…
		}
		cores = min(cores, part.maxNodes*part.coresPerNode)
		nodes = (cores + part.coresPerNode - 1) / part.coresPerNode
		mem = int64(float64(cores) * float64(part.memPerCore) * px.memOver * (0.25 + 1.25*r.Float64()))
	}
	mem = min(mem, int64(nodes)*part.memPerNode, 4*tib)
	mem = max(mem/mib, 100) * mib

	// How long: the user's typical length, spread wide; the limit they ask for covers
	// most of their runs, but not all.
	median := px.medianLen * math.Exp(0.5*r.NormFloat64())
	if part.name == "gpu" {
		median *= 2
	}
	if sub.tasks > 1 {
		median *= 0.4
	}
	maxTime := part.maxTime
	if cores >= 512 {
		maxTime = 2 * day
	}
	limit := maxTime
	want := median * (2 + 10*r.Float64())
	for _, l := range timeLimits {
		if float64(l) >= want {
			limit = min(l, maxTime)
			break
		}
	}
	name := px.jobNames[r.IntN(len(px.jobNames))]
	billing := max(1, int64(float64(cores)*c.billCPU+float64(mem)/float64(gib)*c.billMemGiB+float64(gpus)*c.billGPU))
	submitted := g.at(sub.at).Format(time.RFC3339)
	timeLimit := strconv.FormatInt(limit/60, 10)

	baseID := c.nextJobID
	c.nextJobID += int64(sub.tasks)
	meanWait := 120 * (1 + float64(cores)/32)
	switch part.name {
	case "highmem":
		meanWait *= 2
	case "gpu":
		meanWait *= 4
	}
	if qos == "scavenger" {
		meanWait *= 3
	}
	wait := min(int64(r.ExpFloat64()*meanWait), 3*day)
	gap := median * (0.05 + 0.25*r.Float64())

	for task := 0; task < sub.tasks; task++ {
		start := sub.at + wait + int64(float64(task)*gap)
		if start >= g.nowSec {
			// It would still be waiting at Now; it started shortly after submission instead.
			start = sub.at + r.Int64N(g.nowSec-sub.at)
		}
		elapsed := int64(clamp(median*math.Exp(r.NormFloat64()), 15, float64(maxTime)))
		state, exit := "COMPLETED", ""
		cpuEff := clamp(px.cpuEff+0.12*r.NormFloat64()-0.04*math.Log2(float64(cores)), 0.002, 0.995)
		memFrac := clamp(px.memFrac*math.Exp(0.35*r.NormFloat64()), 0.002, 0.99)
		oomP := 0.01
		if part.name == "highmem" || px.memOver < 1 {
			oomP = 0.04
		}
		switch u := r.Float64(); {
		case u < px.failProb:
			state, exit = "FAILED", []string{"1:0", "1:0", "2:0", "127:0", "0:11", "139:0"}[r.IntN(6)]
			elapsed = int64(float64(elapsed) * (0.001 + 0.6*r.Float64()))
			cpuEff *= 0.5
		case u < px.failProb+0.04:
			state, exit = "CANCELLED", "0:15"
			elapsed = int64(float64(elapsed) * r.Float64())
		case u < px.failProb+0.04+oomP:
			state, exit = "OUT_OF_MEMORY", "0:125"
			elapsed = int64(float64(elapsed) * (0.05 + 0.85*r.Float64()))
			memFrac = 1
		case u < px.failProb+0.04+oomP+0.001:
			state, exit = "NODE_FAIL", "0:0"
			elapsed = int64(float64(elapsed) * r.Float64())
		case qos == "scavenger" && r.Float64() < 0.25:
			state, exit = "PREEMPTED", "0:0"
			elapsed = int64(float64(elapsed) * (0.05 + 0.95*r.Float64()))
		case elapsed >= limit:
			state, exit = "TIMEOUT", "0:0"
			elapsed = limit + r.Int64N(60)
		}
		elapsed = max(elapsed, 1)
		startT := g.at(start)
		endT := g.at(start + elapsed)
		if endT.After(g.p.now) {
			state, exit = "RUNNING", ""
			endT = g.p.now
		}
		secs := endT.Sub(startT).Seconds()

		g.id = g.id[:0]
		g.id = strconv.AppendInt(g.id, baseID, 10)
		attrs := map[string]string{"submit": submitted, "timelimit": timeLimit}
		if sub.tasks > 1 {
			attrs["array_job_id"] = string(g.id)
			g.id = append(g.id, '_')
			g.id = strconv.AppendInt(g.id, int64(task), 10)
		}
		if exit != "" && exit != "0:0" {
			attrs["exit_code"] = exit
		}
		rec := ledger.Record{
			Source: ledger.SourceSlurm, Cluster: c.name, ExternalID: string(g.id),
			Start: startT, End: endT, Account: a.account, User: px.login,
			Partition: part.name, QoS: qos, Nodes: int32(nodes), JobName: name, State: state, Attrs: attrs,
		}

		cpu := rec
		cpu.Resource = ledger.ResourceCPU
		cpu.Allocated = int64(float64(cores) * secs)
		cpu.Quantity = cpu.Allocated
		cpu.Used = int64(float64(cpu.Allocated) * cpuEff)
		g.add(cpu)

		memory := rec
		memory.Resource = ledger.ResourceMemory
		memory.Allocated = int64(float64(mem) * secs)
		memory.Quantity = memory.Allocated
		memory.Used = int64(float64(memory.Allocated) * memFrac)
		g.add(memory)

		if gpus > 0 {
			util := clamp(px.gpuUtil+0.15*r.NormFloat64(), 0, 1)
			if state == "FAILED" {
				util *= 0.3
			}
			gpu := rec
			gpu.Resource = ledger.ResourceGPU
			gpu.Allocated = int64(float64(gpus) * secs)
			gpu.Quantity = gpu.Allocated
			gpu.Used = int64(float64(gpu.Allocated) * util)
			g.add(gpu)
		}

		// Billing is charged on what was reserved; there is no "used" billing.
		bill := rec
		bill.Resource = ledger.ResourceBilling
		bill.Allocated = int64(float64(billing) * secs)
		bill.Quantity, bill.Used = bill.Allocated, bill.Allocated
		g.add(bill)

		g.jobs++
	}
}

// cgroupDay makes what happens on the shared machines in one day: who logs in,
// when and for how long, and how busy they are while there; each machine's
// agent samples it and sends its records (hosts_agent.go). On most machines
// people log in once, some time in the working day, for a few busy hours; on
// "hourly" ones they come and go by the hour in working hours, each return a
// new login. Weekends are quiet.
func (g *generator) cgroupDay(d dayPlan) error {
	r := g.hostRand
	weekend := d.weekday == time.Saturday || d.weekday == time.Sunday
	base := g.p.start.Unix()
	endAt := d.end
	for hi, h := range g.p.hosts {
		a := g.hosts[hi]
		for ui, u := range h.users {
			prob := u.prob
			if weekend {
				prob *= 0.15
			}
			if !g.active(u.person, d.startSec) || r.Float64() >= prob {
				continue
			}
			load := func(busy float64) (cores, memory float64) {
				cores = math.Min(u.cores*math.Exp(0.5*r.NormFloat64()), float64(h.cores)) * busy
				return cores, u.memGiB * float64(gib) * math.Exp(0.3*r.NormFloat64())
			}
			if !h.hourly {
				login := base + d.startSec + 7*3600 + r.Int64N(8*3600)
				login -= login % agentInterval
				stay := clamp(3*3600*math.Exp(0.8*r.NormFloat64()), agentInterval, day)
				logout := min(login+int64(stay), base+d.endSec)
				cores, memory := load(1)
				a.login(ui, login, logout, cores, memory)
				continue
			}
			for s := d.firstSlot; s < d.firstSlot+d.slots; s++ {
				sl := g.cal.slots[s]
				hour := g.at(sl.at).Hour()
				if hour < 8 || hour >= 19 || r.Float64() >= 0.6 {
					continue
				}
				cores, memory := load(0.2 + 0.8*r.Float64())
				a.login(ui, base+sl.at, base+sl.at+sl.length, cores, memory)
			}
		}
		if err := g.sendAgentRecords(h.name, g.sampleDay(a, endAt)); err != nil {
			return err
		}
	}
	return nil
}

// jhubDay makes the JupyterHub sessions that start on one day: a pod each, billed at
// the larger of what it requested and what it used.
func (g *generator) jhubDay(d dayPlan) {
	r := g.r
	weekend := d.weekday == time.Saturday || d.weekday == time.Sunday
	for _, u := range g.p.jhub {
		prob := u.prob
		if weekend {
			prob *= 0.15
		}
		if !g.active(u.person, d.startSec) || r.Float64() >= prob {
			continue
		}
		px := g.p.people[u.person]
		prof := jhubProfiles[u.profile]
		sessions := 1
		if r.IntN(5) == 0 {
			sessions = 2
		}
		for i := 0; i < sessions; i++ {
			start := d.startSec + 8*3600 + r.Int64N(12*3600)
			if start >= g.nowSec || start >= d.endSec {
				continue
			}
			length := int64(clamp(5400*math.Exp(0.8*r.NormFloat64()), 300, 12*3600))
			state := "Succeeded"
			startT, endT := g.at(start), g.at(start+length)
			if endT.After(g.p.now) {
				state, endT = "Running", g.p.now
			}
			secs := endT.Sub(startT).Seconds()
			pod := "jupyter-" + px.login
			rec := ledger.Record{
				Source: ledger.SourceK8s, Cluster: "jhub", ExternalID: newUUID(r),
				Start: startT, End: endT, Account: u.namespace, User: pod,
				JobName: pod, State: state,
				Attrs: map[string]string{"pod": pod, "profile": prof.name, "node": "jhub-node-" + strconv.Itoa(1+r.IntN(12))},
			}
			cpu := rec
			cpu.Resource = ledger.ResourceCPU
			cpu.Allocated = int64(prof.cpu * secs)
			cpu.Used = int64(prof.cpu * secs * clamp(u.busy*math.Exp(0.7*r.NormFloat64()), 0.001, 2))
			cpu.Quantity = max(cpu.Allocated, cpu.Used)
			g.add(cpu)
			mem := rec
			mem.Resource = ledger.ResourceMemory
			mem.Allocated = int64(float64(prof.memory) * secs)
			mem.Used = int64(float64(prof.memory) * secs * (0.15 + 1.1*r.Float64()))
			mem.Quantity = max(mem.Allocated, mem.Used)
			g.add(mem)
		}
	}
}

// storageDay makes one record per file-system owner for the day: the bytes held,
// times the seconds of the day (23 or 25 hours on a clock change, to Now on the last).
func (g *generator) storageDay(d dayPlan) {
	secs := float64(d.endSec - d.startSec)
	for _, s := range g.p.stores {
		if d.startSec > 0 {
			s.advance(g.r)
		}
		q := int64(s.bytes * secs)
		g.add(ledger.Record{
			Source: ledger.SourceStorage, Cluster: s.fs, ExternalID: s.owner, Resource: ledger.ResourceStorage,
			Start: d.start, End: d.end, Quantity: q, Allocated: q, Used: q, Account: s.owner,
			Attrs: map[string]string{"quota_bytes": strconv.FormatInt(s.quota, 10)},
		})
	}
}
