// Package seed makes a realistic demo or benchmark institution: a university with
// departments, labs and projects, its people, three Slurm clusters, shared
// workstations, a JupyterHub on Kubernetes and two file systems, and months of their
// usage. Everything is written through the ledger's own API (groups, users,
// memberships, mappings, Ingest), never with SQL of its own, so seeding exercises the
// same path as the collectors. The same RandomSeed and Now give the same data.
//
// Usage is generated day by day in one goroutine and ingested in batches of about
// 32k records by two others, through a small channel: memory stays bounded however
// long the history, and generation overlaps the database work.
package seed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Scales.
const (
	ScaleDemo  = "demo"  // about 6 months, tens of thousands of jobs: seconds to seed
	ScaleBench = "bench" // 12 months, 10 million Slurm jobs
)

// Options say what to seed.
type Options struct {
	Scale      string    // ScaleDemo (default) or ScaleBench
	Months     int       // full calendar months of history before Now's month (default: demo 6, bench 12)
	RandomSeed uint64    // same seed + same Now → same data
	Now        time.Time // end of the history (collection time); default time.Now()
	Logger     *slog.Logger
	// Progress, if set, is called after each ingested batch with the Slurm jobs
	// stored so far and the total to come (one call at a time, from the ingesting
	// goroutines).
	Progress func(done, total int64)
	// Jobs overrides the scale's number of Slurm jobs (demo: 6,000 a month of history,
	// bench: 10,000,000); 0 keeps it.
	Jobs int64
}

// Summary says what a run made.
type Summary struct {
	// Groups and users created (ingest adds a few visitors' users of its own), and
	// Slurm jobs ingested.
	Groups, Users, Jobs int64
	Counts              ledger.Counts
	Elapsed             time.Duration
}

// Actor is the name seeding writes in the audit log.
const Actor = "seed"

// batchSize is the number of records per Ingest call.
const batchSize = 32768

// ingesters is how many batches are ingested at once. Ingest serialises its
// database writes, but with two in flight one batch's preparation (validation, day
// splitting, encoding) overlaps the other's transaction: about a quarter faster on
// two cores than one at a time; three gain nothing more.
const ingesters = 2

// Run seeds l. It creates the institution (or finds it, when run again over the same
// database), then streams the usage history into the ledger.
func Run(ctx context.Context, l *ledger.Ledger, opts Options) (Summary, error) {
	began := time.Now()
	cfg, err := configure(opts, l.Location())
	if err != nil {
		return Summary{}, err
	}
	log := cfg.log
	p := newPlan(opts.RandomSeed, l.Location(), cfg.start, cfg.now)
	log.Info("seeding", "scale", cfg.scale, "from", cfg.start.Format(time.DateOnly), "to", cfg.now.Format(time.RFC3339),
		"jobs", cfg.jobs, "seed", opts.RandomSeed)

	sum := Summary{}
	if sum.Groups, sum.Users, err = p.write(ctx, l); err != nil {
		return Summary{}, fmt.Errorf("seed institution: %w", err)
	}
	log.Info("institution created", "groups", sum.Groups, "users", sum.Users, "mappings", len(p.mappings),
		"took", time.Since(began).Round(time.Millisecond))

	g := newGenerator(p, opts.RandomSeed, cfg.jobs, batchSize)
	counts, jobs, err := stream(ctx, l, g, cfg.jobs, opts.Progress)
	sum.Counts, sum.Jobs = counts, jobs
	sum.Elapsed = time.Since(began)
	if err != nil {
		return sum, fmt.Errorf("seed usage: %w", err)
	}
	log.Info("seeded", "jobs", sum.Jobs, "records", counts.Read, "unassigned", counts.Unmapped,
		"quarantined", counts.Quarantined, "took", sum.Elapsed.Round(time.Millisecond))
	// Prices for every scale; the demo's past months are closed too (the benchmark
	// leaves closing to the benchmark that times it).
	billingStart := time.Now()
	if err := Billing(ctx, l, BillingOptions{From: cfg.start, Now: cfg.now, Close: cfg.scale == ScaleDemo, RandomSeed: opts.RandomSeed}); err != nil {
		return sum, fmt.Errorf("seed billing: %w", err)
	}
	sum.Elapsed = time.Since(began)
	log.Info("billing set up", "closed_months", cfg.scale == ScaleDemo, "took", time.Since(billingStart).Round(time.Millisecond))
	return sum, nil
}

type config struct {
	scale      string
	start, now time.Time
	jobs       int64
	log        *slog.Logger
}

// configure fills in the defaults. The history starts at local midnight on the first
// of the month Months months before Now's month, so it holds Months whole months and
// Now's month to date.
func configure(opts Options, loc *time.Location) (config, error) {
	c := config{scale: opts.Scale, now: opts.Now, log: opts.Logger}
	if c.scale == "" {
		c.scale = ScaleDemo
	}
	months := opts.Months
	switch c.scale {
	case ScaleDemo:
		if months == 0 {
			months = 6
		}
	case ScaleBench:
		if months == 0 {
			months = 12
		}
	default:
		return config{}, fmt.Errorf("seed: unknown scale %q (use %s or %s)", opts.Scale, ScaleDemo, ScaleBench)
	}
	if months < 0 || months > 120 {
		return config{}, fmt.Errorf("seed: months must be between 0 and 120, not %d", months)
	}
	if c.now.IsZero() {
		c.now = time.Now()
	}
	c.now = c.now.In(loc)
	y, m, _ := c.now.Date()
	c.start = time.Date(y, m-time.Month(months), 1, 0, 0, 0, 0, loc)
	if c.now.Sub(c.start) < time.Hour {
		return config{}, fmt.Errorf("seed: the history from %s to %s is shorter than an hour", c.start, c.now)
	}
	switch {
	case opts.Jobs > 0:
		c.jobs = opts.Jobs
	case opts.Jobs < 0:
		return config{}, fmt.Errorf("seed: negative job count %d", opts.Jobs)
	case c.scale == ScaleBench:
		c.jobs = benchJobs
	default:
		c.jobs = int64(demoJobsPerMonth * c.now.Sub(c.start).Hours() / (24 * 30))
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	return c, nil
}

// batch is a generator's output: records, and how many Slurm jobs they make up (a
// batch holds whole jobs).
type batch struct {
	recs []ledger.Record
	jobs int64
}

// stream runs the generator in a goroutine of its own and ingests its batches as they
// come. Every record's natural key is unique, so the order in which batches land
// changes no total. At most a few batches exist at once (the channel's two, one per
// ingester, the one being filled), and ingested buffers go back to the generator for
// reuse, so memory does not grow with the history.
func stream(ctx context.Context, l *ledger.Ledger, g *generator, total int64, progress func(done, total int64)) (ledger.Counts, int64, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	batches := make(chan batch, 2)
	free := make(chan []ledger.Record, 4)
	g.fresh = func() []ledger.Record {
		select {
		case b := <-free:
			return b[:0]
		default:
			return make([]ledger.Record, 0, g.batchSize+64)
		}
	}
	g.emit = func(ctx context.Context, recs []ledger.Record, jobs int64) error {
		select {
		case batches <- batch{recs: recs, jobs: jobs}:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	genDone := make(chan error, 1)
	go func() {
		defer close(batches)
		genDone <- g.run(ctx)
	}()

	var (
		mu        sync.Mutex
		counts    ledger.Counts
		done      int64
		ingestErr error
		wg        sync.WaitGroup
	)
	for w := 0; w < ingesters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				if ctx.Err() != nil {
					continue // drain, so the generator can finish
				}
				c, err := l.Ingest(ctx, ledger.Batch{Records: b.recs})
				mu.Lock()
				if err != nil {
					if ingestErr == nil {
						ingestErr = err
					}
					cancel(err)
				} else {
					counts.Add(c)
					done += b.jobs
					if progress != nil {
						progress(done, total)
					}
				}
				mu.Unlock()
				select {
				case free <- b.recs:
				default:
				}
			}
		}()
	}
	wg.Wait()
	genErr := <-genDone
	if ingestErr != nil {
		return counts, done, ingestErr
	}
	if genErr != nil {
		return counts, done, genErr
	}
	if done != total {
		return counts, done, fmt.Errorf("made %d jobs, meant %d", done, total)
	}
	return counts, done, nil
}

// write creates the institution through the ledger's API: groups, users, memberships,
// global roles, mappings. Run again over the same database, it finds the groups
// already there and changes nothing.
func (p *plan) write(ctx context.Context, l *ledger.Ledger) (groups, users int64, err error) {
	userID := make([]int64, len(p.people))
	for x, px := range p.people {
		if px.visitor {
			continue
		}
		u, err := l.UpsertUser(ctx, Actor, ledger.User{Login: px.login, DisplayName: px.display, Email: px.email})
		if err != nil {
			return 0, 0, err
		}
		userID[x] = u.ID
		users++
	}
	groupID := make([]int64, len(p.groups))
	for i, gp := range p.groups {
		n := ledger.NewGroup{Kind: gp.kind, Slug: gp.slug, Name: gp.name, CostCentre: gp.costCentre, Billable: gp.billable}
		if gp.parent >= 0 {
			n.ParentID = groupID[gp.parent]
		}
		if gp.pi >= 0 {
			n.PIUserID = userID[gp.pi]
		}
		g, err := l.CreateGroup(ctx, Actor, n)
		if errors.Is(err, ledger.ErrConflict) {
			g, err = l.GroupBySlug(ctx, gp.slug)
		}
		if err != nil {
			return 0, 0, err
		}
		groupID[i] = g.ID
		groups++
	}
	for _, m := range p.memberships {
		if err := l.AddMembership(ctx, Actor, ledger.Membership{
			UserID: userID[m.person], GroupID: groupID[m.group], Role: m.role, From: m.from, To: m.to,
		}); err != nil {
			return 0, 0, err
		}
	}
	for _, gr := range p.globalRoles {
		if err := l.GrantGlobalRole(ctx, Actor, userID[gr.person], gr.role); err != nil {
			return 0, 0, err
		}
	}
	for _, m := range p.mappings {
		if _, err := l.SetGroupMapping(ctx, Actor, ledger.Mapping{Kind: m.kind, Scope: m.scope, Identity: m.identity, GroupID: groupID[m.group]}); err != nil {
			return 0, 0, err
		}
	}
	for _, m := range p.userMaps {
		if err := l.SetUserMapping(ctx, Actor, m.kind, m.scope, m.identity, userID[m.person]); err != nil {
			return 0, 0, err
		}
	}
	return groups, users, nil
}
