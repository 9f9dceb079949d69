package seed

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
	"unicode"
)

// A plan is the whole demo institution decided up front from the seed, before anything
// is written: groups, people, memberships, mappings, the machines and who uses them.
// Planning touches no database, so the generator can be measured on its own and the
// same seed always plans the same institution.
type plan struct {
	loc        *time.Location
	start, now time.Time // history: [start, now)

	groups      []groupPlan
	deptGroups  []int // indices into groups, per department
	labs        []labPlan
	people      []*person
	memberships []membershipPlan
	globalRoles []globalRolePlan
	mappings    []mappingPlan
	userMaps    []userMapPlan

	clusters []*cluster
	hosts    []*host
	jhub     []jhubUser
	stores   []*store
}

type groupPlan struct {
	kind, slug, name string
	parent           int // index into plan.groups; -1 at the top
	pi               int // index into plan.people; -1 for none
	costCentre       string
	billable         bool
}

type labPlan struct {
	group    int // index into plan.groups
	dept     int
	pi       int   // index into plan.people
	projects []int // indices into plan.groups
	gpu      bool  // has an association on the GPU cluster
	jhub     bool  // has a JupyterHub namespace
}

// person is someone whose usage the generator makes up, with the habits that shape it.
type person struct {
	login, display, email string
	uid                   int
	visitor               bool // no user record: ingest creates one on first sight
	dept                  int
	labs                  []int // indices into plan.labs; the first is the primary
	projects              []int // indices into plan.groups

	// When they were around, in seconds from the start of the history.
	activeFrom, activeTo int64

	activity    float64 // relative amount of work; heavy-tailed across people
	wasteful    bool
	gpuUser     bool
	highmemUser bool
	coreExp     int     // typical job is 2^coreExp cores
	medianLen   float64 // typical job length, seconds
	cpuEff      float64 // mean CPU efficiency
	memFrac     float64 // mean peak memory / requested memory
	memOver     float64 // how many times the default memory they ask for
	gpuUtil     float64 // mean GPU utilisation
	arrayProb   float64
	failProb    float64
	scavProb    float64
	jobNames    []string
	clusterPref []float64 // per plan.clusters
	accounts    []accountUse
}

type accountUse struct {
	account string
	lab     int // the lab whose cluster access applies; -1 for an unmapped account
	weight  float64
}

type membershipPlan struct {
	person, group int
	role          string
	from, to      time.Time // zero: open
}

type globalRolePlan struct {
	person int
	role   string
}

type mappingPlan struct {
	kind, scope, identity string
	group                 int
}

type userMapPlan struct {
	kind, scope, identity string
	person                int
}

// Shares of the history's jobs per scale.
const (
	demoJobsPerMonth = 6000
	benchJobs        = 10_000_000
)

// newPlan decides the institution for a seed. start and now bound the history.
func newPlan(seed uint64, loc *time.Location, start, now time.Time) *plan {
	r := rand.New(rand.NewPCG(seed, 0x5eed0001))
	p := &plan{loc: loc, start: start, now: now}
	p.planPeople(r)
	p.planClusters(r)
	p.planHosts(r)
	p.planJupyterHub(r)
	p.planStorage(r)
	return p
}

func (p *plan) addGroup(g groupPlan) int {
	p.groups = append(p.groups, g)
	return len(p.groups) - 1
}

func (p *plan) historySeconds() int64 { return int64(p.now.Sub(p.start) / time.Second) }

// names hands out unique logins and e-mail addresses.
type names struct {
	logins, emails map[string]bool
}

func asciiLower(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if c < unicode.MaxASCII && (unicode.IsLetter(c) || unicode.IsDigit(c)) {
			b.WriteRune(c)
		}
	}
	return b.String()
}

func (n *names) person(r *rand.Rand, uid int) *person {
	first := firstNames[r.IntN(len(firstNames))]
	last := surnames[r.IntN(len(surnames))]
	f, l := asciiLower(first), asciiLower(last)
	login := f[:1] + l
	for i := 2; n.logins[login]; i++ {
		login = fmt.Sprintf("%s%s%d", f[:1], l, i)
	}
	n.logins[login] = true
	email := f + "." + l
	for i := 2; n.emails[email]; i++ {
		email = fmt.Sprintf("%s.%s%d", f, l, i)
	}
	n.emails[email] = true
	return &person{login: login, display: first + " " + last, email: email + "@example.edu", uid: uid}
}

// planPeople builds the group tree and the people in it.
func (p *plan) planPeople(r *rand.Rand) {
	nm := &names{logins: map[string]bool{"admin": true, "finance": true}, emails: map[string]bool{}}
	for _, v := range visitorLogins {
		nm.logins[v] = true
	}
	newPerson := func(dept int) int {
		x := nm.person(r, 20000+len(p.people))
		x.dept = dept
		x.activeTo = math.MaxInt64
		p.people = append(p.people, x)
		return len(p.people) - 1
	}
	history := p.historySeconds()
	date := func(sec int64) time.Time {
		y, m, d := p.start.Add(time.Duration(sec) * time.Second).In(p.loc).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, p.loc)
	}
	dayOffset := func(t time.Time) int64 { return int64(t.Sub(p.start) / time.Second) }

	uni := p.addGroup(groupPlan{kind: "institution", slug: "uni", name: "University of Examplia", parent: -1, pi: -1, costCentre: "CC-1000-UNI"})

	// Departments and their labs, each lab with a PI.
	usedCC := map[int]bool{1000: true} // the institution's own
	costCentre := func(suffix string) string {
		n := 1000 + r.IntN(9000)
		for usedCC[n] {
			n = 1000 + r.IntN(9000)
		}
		usedCC[n] = true
		return fmt.Sprintf("CC-%04d-%s", n, suffix)
	}
	slugs := map[string]bool{"uni": true}
	uniqueSlug := func(s string) string {
		out := s
		for i := 2; slugs[out]; i++ {
			out = fmt.Sprintf("%s%d", s, i)
		}
		slugs[out] = true
		return out
	}
	deptGroup := make([]int, len(departments))
	p.deptGroups = deptGroup
	for d, dep := range departments {
		deptGroup[d] = p.addGroup(groupPlan{kind: "department", slug: uniqueSlug(dep.slug), name: dep.name, parent: uni, pi: -1, costCentre: costCentre(dep.cc)})
		areas := slices.Clone(dep.areas)
		r.Shuffle(len(areas), func(i, j int) { areas[i], areas[j] = areas[j], areas[i] })
		for i := 0; i < dep.labs; i++ {
			pi := newPerson(d)
			piP := p.people[pi]
			last := piP.display[strings.LastIndex(piP.display, " ")+1:]
			g := p.addGroup(groupPlan{
				kind: "lab", slug: uniqueSlug(dep.short + "-" + asciiLower(last)),
				name:   fmt.Sprintf("%s Lab (%s)", last, areas[i%len(areas)]),
				parent: deptGroup[d], pi: pi, costCentre: costCentre(dep.cc), billable: true,
			})
			p.labs = append(p.labs, labPlan{group: g, dept: d, pi: pi,
				gpu: r.Float64() < dep.gpuAffinity, jhub: r.Float64() < 0.6})
			piP.labs = []int{len(p.labs) - 1}
			p.memberships = append(p.memberships, membershipPlan{person: pi, group: g, role: "pi"})
		}
	}

	// Projects: 120 over the labs, 1–5 each.
	perLab := make([]int, len(p.labs))
	for i := range perLab {
		perLab[i] = 3
	}
	for moves := 0; moves < 60; moves++ {
		a, b := r.IntN(len(perLab)), r.IntN(len(perLab))
		if a != b && perLab[a] > 1 && perLab[b] < 5 {
			perLab[a]--
			perLab[b]++
		}
	}
	for li := range p.labs {
		lab := &p.labs[li]
		dep := departments[lab.dept]
		topics := slices.Clone(dep.topics)
		r.Shuffle(len(topics), func(i, j int) { topics[i], topics[j] = topics[j], topics[i] })
		for k := 0; k < perLab[li]; k++ {
			t := topics[k%len(topics)]
			g := groupPlan{kind: "project", slug: uniqueSlug(p.groups[lab.group].slug + "-" + t.slug),
				name: t.name, parent: lab.group, pi: lab.pi}
			if r.IntN(3) == 0 { // grant-funded: billed to its own grant code
				g.billable = true
				g.costCentre = fmt.Sprintf("GR-%d-%03d", p.now.In(p.loc).Year()-r.IntN(4), 1+r.IntN(999))
			}
			lab.projects = append(lab.projects, p.addGroup(g))
		}
	}

	// Lab members: 357 people over 40 labs, lab sizes heavy-tailed.
	const members = 357
	labWeight := make([]float64, len(p.labs))
	for i := range labWeight {
		labWeight[i] = math.Exp(0.6 * r.NormFloat64())
	}
	labOf := make([]int, 0, members)
	for li := range p.labs {
		labOf = append(labOf, li, li)
	}
	cum := cumulative(labWeight)
	for len(labOf) < members {
		labOf = append(labOf, pick(r, cum))
	}
	slices.Sort(labOf)
	for _, li := range labOf {
		lab := &p.labs[li]
		x := newPerson(lab.dept)
		px := p.people[x]
		px.labs = []int{li}
		m := membershipPlan{person: x, group: lab.group, role: "member"}
		// People come and go: some joined during the history, some left.
		switch v := r.Float64(); {
		case v < 0.15:
			m.from = date(r.Int64N(history*3/4 + 1))
			px.activeFrom = dayOffset(m.from)
		case v < 0.23:
			m.to = date(history/4 + r.Int64N(history*3/4+1))
			if px.activeTo = dayOffset(m.to); px.activeTo <= 0 {
				m.to, px.activeTo = time.Time{}, math.MaxInt64
			}
		}
		p.memberships = append(p.memberships, m)
		// Projects of their lab they work on.
		k := []int{0, 1, 1, 1, 1, 2, 2, 3}[r.IntN(8)]
		order := r.Perm(len(lab.projects))
		for _, j := range order[:min(k, len(order))] {
			px.projects = append(px.projects, lab.projects[j])
			p.memberships = append(p.memberships, membershipPlan{person: x, group: lab.projects[j], role: "member", from: m.from, to: m.to})
		}
	}
	// A manager in about a third of the labs.
	for li := range p.labs {
		if r.IntN(3) != 0 {
			continue
		}
		var cands []int
		for i := range p.memberships {
			m := &p.memberships[i]
			if m.group == p.labs[li].group && m.role == "member" && m.from.IsZero() && m.to.IsZero() {
				cands = append(cands, i)
			}
		}
		if len(cands) >= 3 {
			p.memberships[cands[r.IntN(len(cands))]].role = "manager"
		}
	}
	// Some people work in a second lab, mostly in the same department.
	for x := range p.people {
		px := p.people[x]
		if len(px.labs) != 1 || p.labs[px.labs[0]].pi == x || r.Float64() >= 0.09 {
			continue
		}
		var li int
		for {
			li = r.IntN(len(p.labs))
			if li != px.labs[0] && (p.labs[li].dept == px.dept || r.IntN(4) == 0) {
				break
			}
		}
		px.labs = append(px.labs, li)
		p.memberships = append(p.memberships, membershipPlan{person: x, group: p.labs[li].group, role: "member"})
		if projs := p.labs[li].projects; r.IntN(2) == 0 {
			g := projs[r.IntN(len(projs))]
			px.projects = append(px.projects, g)
			p.memberships = append(p.memberships, membershipPlan{person: x, group: g, role: "member"})
		}
	}
	// Department administrators and a grant officer see but do not compute.
	for _, d := range []int{0, 2} {
		x := newPerson(d)
		p.memberships = append(p.memberships, membershipPlan{person: x, group: deptGroup[d], role: "viewer"})
	}
	officer := newPerson(3)
	p.memberships = append(p.memberships, membershipPlan{person: officer, group: p.labs[r.IntN(len(p.labs))].group, role: "viewer"})

	// Research computing staff.
	admin := &person{login: "admin", display: "Research Computing Admin", email: "rc-admin@example.edu", uid: 1000, dept: -1, activeTo: math.MaxInt64}
	finance := &person{login: "finance", display: "Finance Office", email: "finance@example.edu", uid: 1001, dept: -1, activeTo: math.MaxInt64}
	p.people = append(p.people, admin, finance)
	p.globalRoles = append(p.globalRoles,
		globalRolePlan{person: len(p.people) - 2, role: "admin"},
		globalRolePlan{person: len(p.people) - 1, role: "finance"})

	// Visitors: they compute under an account nobody mapped, and have no user record.
	for i, v := range visitorLogins {
		p.people = append(p.people, &person{login: v, visitor: true, uid: 30000 + i, dept: 3, activeTo: math.MaxInt64})
	}

	p.planHabits(r)
}

// planHabits gives everyone who computes their habits and Slurm accounts.
func (p *plan) planHabits(r *rand.Rand) {
	var candidates []int
	for x, px := range p.people {
		if len(px.labs) > 0 && p.labs[px.labs[0]].pi != x {
			candidates = append(candidates, x)
		}
	}
	wasteful := map[int]bool{}
	for len(wasteful) < 10 {
		wasteful[candidates[r.IntN(len(candidates))]] = true
	}
	for x, px := range p.people {
		if len(px.labs) == 0 && !px.visitor {
			continue // staff, viewers
		}
		dep := departments[max(px.dept, 0)]
		isPI := len(px.labs) > 0 && p.labs[px.labs[0]].pi == x
		// Pareto(1.2): a few people do most of the work.
		px.activity = math.Min(math.Pow(1-r.Float64(), -1/1.2), 150)
		if isPI {
			px.activity *= 0.25
		}
		px.wasteful = wasteful[x]
		hasGPU := len(px.labs) > 0 && p.labs[px.labs[0]].gpu
		px.gpuUser = r.Float64() < 0.15+0.6*dep.gpuAffinity*b2f(hasGPU) || px.wasteful && r.IntN(2) == 0
		px.highmemUser = r.Float64() < dep.highmemAffinity
		px.coreExp = []int{0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 4}[r.IntN(12)]
		if r.Float64() < 0.04 {
			px.coreExp = 6 + r.IntN(2) // the few who run 64–128+ core jobs
		}
		px.medianLen = math.Exp(math.Log(300) + r.Float64()*(math.Log(6*3600)-math.Log(300)))
		px.cpuEff = 0.55 + 0.4*r.Float64()
		px.memFrac = 0.15 + 0.55*r.Float64()
		px.memOver = 1
		px.gpuUtil = 0.35 + 0.55*r.Float64()
		if px.wasteful {
			px.cpuEff = 0.03 + 0.17*r.Float64()
			px.memFrac = 0.01 + 0.07*r.Float64()
			px.memOver = float64(4 + r.IntN(5))
			px.gpuUtil = 0.02 + 0.13*r.Float64()
			px.coreExp += 2
			px.activity = math.Max(px.activity, 3)
		}
		px.arrayProb = 0.02
		if r.Float64() < 0.2 {
			px.arrayProb = 0.15 + 0.15*r.Float64()
		}
		px.failProb = 0.02 + 0.1*r.Float64()
		px.scavProb = 0.03
		if r.Float64() < 0.1 {
			px.scavProb = 0.5
		}
		for k := 2 + r.IntN(2); k > 0; k-- {
			px.jobNames = append(px.jobNames, dep.jobNames[r.IntN(len(dep.jobNames))])
		}
		px.jobNames = append(px.jobNames, genericJobNames[r.IntN(len(genericJobNames))])

		// Accounts: the primary lab, its projects, a second lab.
		for i, li := range px.labs {
			w := 1.0
			if i > 0 {
				w = 0.4
			}
			px.accounts = append(px.accounts, accountUse{account: p.groups[p.labs[li].group].slug, lab: li, weight: w})
		}
		for _, g := range px.projects {
			px.accounts = append(px.accounts, accountUse{account: p.groups[g].slug, lab: p.labOfGroup(g), weight: 0.5 + 1.5*r.Float64()})
		}
	}
	// An old project nobody cleaned up, still used by a few.
	year := p.now.In(p.loc).Year()
	for i := 0; i < 4; i++ {
		x := candidates[r.IntN(len(candidates))]
		p.people[x].accounts = append(p.people[x].accounts, accountUse{account: "oldproj", lab: -1, weight: 0.3})
	}
	for x, px := range p.people {
		if px.visitor {
			px.accounts = []accountUse{{account: fmt.Sprintf("visitor-%d", year), lab: -1, weight: 1}}
			px.activity = 0.5 + r.Float64()
			if x%2 == 0 {
				px.accounts = append(px.accounts, accountUse{account: "training", lab: -1, weight: 0.5})
			}
		}
	}
}

func (p *plan) labOfGroup(g int) int {
	for li, lab := range p.labs {
		if lab.group == g || slices.Contains(lab.projects, g) {
			return li
		}
	}
	return -1
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// cumulative returns the running sums of w, for pick.
func cumulative(w []float64) []float64 {
	out := make([]float64, len(w))
	s := 0.0
	for i, v := range w {
		s += v
		out[i] = s
	}
	return out
}

// pick draws an index with probability proportional to its weight, from the
// running sums of the weights.
func pick(r *rand.Rand, cum []float64) int {
	x := r.Float64() * cum[len(cum)-1]
	i, _ := slices.BinarySearch(cum, x)
	if i >= len(cum) {
		i = len(cum) - 1
	}
	return i
}
