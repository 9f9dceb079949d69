package seed

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

const (
	kib = int64(1) << 10
	mib = kib << 10
	gib = mib << 10
	tib = gib << 10
)

// partition is a Slurm partition: its node type and limits.
type partition struct {
	name         string
	coresPerNode int
	memPerNode   int64 // bytes
	gpusPerNode  int
	memPerCore   int64 // default memory per allocated core
	maxTime      int64 // seconds
	maxNodes     int
}

// cluster is a Slurm cluster, with its billing weights (TRESBillingWeights) and who
// computes on it.
type cluster struct {
	name       string
	share      float64 // of all jobs
	flatter    float64 // 0: office-hours rhythm … 1: busy around the clock
	partitions []partition
	billCPU    float64 // per core
	billMemGiB float64 // per GiB
	billGPU    float64 // per GPU
	nextJobID  int64

	assocs []assoc // (person, account) pairs allowed here
	cum    []float64
}

type assoc struct {
	person  int
	account string
}

func (c *cluster) partition(name string) *partition {
	for i := range c.partitions {
		if c.partitions[i].name == name {
			return &c.partitions[i]
		}
	}
	return nil
}

const day = 24 * 3600

// planClusters describes the three Slurm clusters, which accounts each knows and maps.
func (p *plan) planClusters(r *rand.Rand) {
	p.clusters = []*cluster{
		{
			name: "hpc1", share: 0.32, flatter: 0.2, billCPU: 1, billMemGiB: 0.25, billGPU: 24,
			nextJobID: 3_100_000 + int64(r.IntN(400_000)),
			partitions: []partition{
				{name: "cpu", coresPerNode: 36, memPerNode: 192 * gib, memPerCore: 5 * gib, maxTime: 7 * day, maxNodes: 32},
				{name: "highmem", coresPerNode: 48, memPerNode: 1536 * gib, memPerCore: 32 * gib, maxTime: 7 * day, maxNodes: 1},
				{name: "gpu", coresPerNode: 32, memPerNode: 384 * gib, gpusPerNode: 4, memPerCore: 12 * gib, maxTime: 2 * day, maxNodes: 2},
			},
		},
		{
			name: "hpc2", share: 0.53, flatter: 0.3, billCPU: 1, billMemGiB: 0.125, billGPU: 48,
			nextJobID: 800_000 + int64(r.IntN(200_000)),
			partitions: []partition{
				{name: "cpu", coresPerNode: 128, memPerNode: 512 * gib, memPerCore: 4 * gib, maxTime: 7 * day, maxNodes: 16},
				{name: "highmem", coresPerNode: 128, memPerNode: 2048 * gib, memPerCore: 16 * gib, maxTime: 7 * day, maxNodes: 1},
				{name: "gpu", coresPerNode: 64, memPerNode: 1024 * gib, gpusPerNode: 4, memPerCore: 16 * gib, maxTime: 3 * day, maxNodes: 4},
			},
		},
		{
			name: "gpu1", share: 0.15, flatter: 0.7, billCPU: 1, billMemGiB: 0.1, billGPU: 128,
			nextJobID: 150_000 + int64(r.IntN(50_000)),
			partitions: []partition{
				{name: "gpu", coresPerNode: 96, memPerNode: 2048 * gib, gpusPerNode: 8, memPerCore: 20 * gib, maxTime: 3 * day, maxNodes: 4},
				{name: "cpu", coresPerNode: 64, memPerNode: 256 * gib, memPerCore: 4 * gib, maxTime: 2 * day, maxNodes: 2},
			},
		},
	}
	// Every lab has an association on the CPU clusters, labs with GPU access on gpu1;
	// each lab's projects are accounts where the lab is. All of them are mapped.
	for _, c := range p.clusters {
		gpuOnly := c.name == "gpu1"
		for _, lab := range p.labs {
			if gpuOnly && !lab.gpu {
				continue
			}
			for _, g := range append([]int{lab.group}, lab.projects...) {
				p.mappings = append(p.mappings, mappingPlan{kind: "slurm", scope: c.name, identity: p.groups[g].slug, group: g})
			}
		}
		for x, px := range p.people {
			pref := 0.0
			switch c.name {
			case "hpc1":
				pref = 0.3 + 0.7*r.Float64()
			case "hpc2":
				pref = 0.6 + 0.9*r.Float64()
			case "gpu1":
				if px.gpuUser {
					pref = 1 + r.Float64()
				}
			}
			if px.accounts == nil {
				pref = 0
			}
			px.clusterPref = append(px.clusterPref, pref)
			if pref == 0 {
				continue
			}
			for _, a := range px.accounts {
				switch {
				case a.lab >= 0 && gpuOnly && !p.labs[a.lab].gpu:
					continue
				case a.lab < 0 && !unmappedOn(a.account, c.name):
					continue
				}
				c.assocs = append(c.assocs, assoc{person: x, account: a.account})
				c.cum = append(c.cum, px.activity*pref*a.weight)
			}
		}
		c.cum = cumulative(c.cum)
	}
}

// unmappedOn says on which cluster each deliberately unmapped account lives.
func unmappedOn(account, cluster string) bool {
	switch {
	case account == "oldproj":
		return cluster == "hpc1"
	case account == "training":
		return cluster == "gpu1"
	default: // visitor-YYYY
		return cluster == "hpc2"
	}
}

// host is a shared machine whose per-user cgroups an agent reads.
type host struct {
	name   string
	cores  int
	hourly bool // users come and go by the hour in working hours (else one login a day)
	users  []hostUser
}

type hostUser struct {
	person int
	group  string  // unix group: the account the agent reports
	prob   float64 // chance of being on the machine on a weekday
	cores  float64 // mean busy cores while there
	memGiB float64 // mean resident memory while there
}

// planHosts picks the shared workstations and who logs in to them.
func (p *plan) planHosts(r *rand.Rand) {
	specs := []struct {
		name   string
		dept   int
		cores  int
		hourly bool
		users  int
	}{
		{"ws-phy-01", 0, 64, false, 14},
		{"ws-chem-01", 1, 48, false, 12},
		{"ws-bio-01", 2, 96, true, 16},
		{"ws-bio-02", 2, 64, false, 12},
		{"ws-cs-01", 3, 128, false, 18},
		{"ws-earth-01", 4, 64, false, 10},
	}
	for _, s := range specs {
		h := &host{name: s.name, cores: s.cores, hourly: s.hourly}
		var cands []int
		for x, px := range p.people {
			if px.dept == s.dept && len(px.labs) > 0 && !px.visitor {
				cands = append(cands, x)
			}
		}
		order := r.Perm(len(cands))
		for _, i := range order[:min(s.users, len(order))] {
			x := cands[i]
			u := hostUser{person: x, group: p.groups[p.labs[p.people[x].labs[0]].group].slug,
				prob: 0.2 + 0.6*r.Float64(), cores: math.Exp(r.NormFloat64()) * 1.5, memGiB: math.Exp(r.NormFloat64()) * 6}
			switch {
			case s.name == "ws-cs-01" && r.IntN(3) == 0:
				u.group = "students"
			case s.name == "ws-phy-01" && r.IntN(6) == 0:
				u.group = "staff" // nobody maps it: unassigned
			}
			h.users = append(h.users, u)
		}
		p.hosts = append(p.hosts, h)
	}
	// Unix groups are lab slugs everywhere; "students" only on the CS machine, where it
	// means the department's teaching.
	for _, lab := range p.labs {
		p.mappings = append(p.mappings, mappingPlan{kind: "unix-group", scope: "*", identity: p.groups[lab.group].slug, group: lab.group})
	}
	p.mappings = append(p.mappings, mappingPlan{kind: "unix-group", scope: "ws-cs-01", identity: "students", group: p.deptGroups[3]})
}

// jhubProfile is a JupyterHub server size.
type jhubProfile struct {
	name   string
	cpu    float64 // requested cores
	memory int64   // requested bytes
}

var jhubProfiles = []jhubProfile{
	{"small", 0.5, 2 * gib},
	{"medium", 2, 8 * gib},
	{"large", 4, 16 * gib},
	{"xlarge", 8, 64 * gib},
}

type jhubUser struct {
	person    int
	namespace string
	profile   int
	prob      float64 // chance of a session on a weekday
	busy      float64 // mean share of the requested CPU actually used
}

// planJupyterHub picks who uses JupyterHub and in which namespace.
func (p *plan) planJupyterHub(r *rand.Rand) {
	for _, lab := range p.labs {
		if lab.jhub {
			p.mappings = append(p.mappings, mappingPlan{kind: "k8s", scope: "jhub", identity: "jhub-" + p.groups[lab.group].slug, group: lab.group})
		}
	}
	for x, px := range p.people {
		if len(px.labs) == 0 || px.visitor || !p.labs[px.labs[0]].jhub || r.Float64() >= 0.5 {
			continue
		}
		u := jhubUser{person: x, namespace: "jhub-" + p.groups[p.labs[px.labs[0]].group].slug,
			profile: []int{0, 0, 1, 1, 1, 2, 2, 3}[r.IntN(8)], prob: 0.1 + 0.5*r.Float64(), busy: 0.02 + 0.5*r.Float64()*r.Float64()}
		if r.IntN(12) == 0 {
			u.namespace = "jhub-default" // spawned before their lab's profile existed: unassigned
		}
		p.jhub = append(p.jhub, u)
		p.userMaps = append(p.userMaps, userMapPlan{kind: "k8s", scope: "jhub", identity: "jupyter-" + px.login, person: x})
	}
}

// store is one owner's directory or quota on a file system, with how it grows.
type store struct {
	fs, owner string
	bytes     float64
	quota     int64
	growth    float64 // mean relative growth a day
}

// Storage limits keep a day's byte-seconds well inside int64.
const maxStoreBytes = 60e12

// planStorage gives each lab a home quota and a project directory, a few projects
// directories of their own, and one forgotten directory nobody maps.
func (p *plan) planStorage(r *rand.Rand) {
	logn := func(median, sigma, hi float64) float64 { return math.Min(median*math.Exp(sigma*r.NormFloat64()), hi) }
	for _, lab := range p.labs {
		slug := p.groups[lab.group].slug
		home := &store{fs: "home", owner: slug, bytes: logn(400e9, 0.8, 4e12), quota: 5e12, growth: 0.001 * r.Float64()}
		p.stores = append(p.stores, home)
		p.mappings = append(p.mappings, mappingPlan{kind: "storage", scope: "home", identity: slug, group: lab.group})
		proj := &store{fs: "projects", owner: "/projects/" + slug, bytes: logn(8e12, 1, 40e12), growth: 0.004 * r.Float64()}
		proj.quota = int64(math.Ceil(proj.bytes*1.5/10e12)) * 10e12
		p.stores = append(p.stores, proj)
		p.mappings = append(p.mappings, mappingPlan{kind: "storage", scope: "projects", identity: proj.owner, group: lab.group})
		if r.IntN(4) == 0 {
			g := lab.projects[r.IntN(len(lab.projects))]
			s := &store{fs: "projects", owner: "/projects/" + p.groups[g].slug, bytes: logn(15e12, 0.7, 40e12), growth: 0.006 * r.Float64()}
			s.quota = int64(math.Ceil(s.bytes*1.5/10e12)) * 10e12
			p.stores = append(p.stores, s)
			p.mappings = append(p.mappings, mappingPlan{kind: "storage", scope: "projects", identity: s.owner, group: g})
		}
	}
	p.stores = append(p.stores, &store{fs: "projects", owner: "/projects/oldproj", bytes: 12e12, quota: 20e12, growth: -0.0005})
}

// advance moves a store to the next day: steady growth, the odd data dump, the rare
// clean-up.
func (s *store) advance(r *rand.Rand) {
	f := 1 + s.growth*(0.5+r.Float64())
	switch v := r.Float64(); {
	case v < 0.01:
		f *= 1.05 + 0.1*r.Float64()
	case v < 0.015:
		f *= 0.7 + 0.2*r.Float64()
	}
	s.bytes = math.Min(math.Max(s.bytes*f, 1e9), maxStoreBytes)
}

// newUUID is a random (version 4) UUID, as Kubernetes gives pods.
func newUUID(r *rand.Rand) string {
	a, b := r.Uint64(), r.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, (b>>48)&0x3fff|0x8000, b&0xffffffffffff)
}

// hoursOf lists the starts of a local day's hours (23, 24 or 25 of them), from
// midnight to the next.
func hoursOf(dayStart, next time.Time) []time.Time {
	var out []time.Time
	for t := dayStart; t.Before(next); t = t.Add(time.Hour) {
		out = append(out, t)
	}
	return out
}
