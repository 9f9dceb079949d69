package seed

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// BillingOptions say how to set up billing over a seeded history.
type BillingOptions struct {
	From, Now  time.Time // the history: rates start at From's month
	Close      bool      // close every month before Now's, leaving Now's open
	RandomSeed uint64
}

// Billing gives a seeded institution realistic prices, subsidies and budgets —
// a price list a research-computing centre might publish — and, with Close, closes
// every past month (with a manual credit and a late job along the way) and rates the
// current one, so statements, adjustments and exports exist from the first start.
// It reads the groups from the ledger, so it also prices an institution seeded
// before billing existed.
func Billing(ctx context.Context, l *ledger.Ledger, opts BillingOptions) error {
	loc := l.Location()
	from := time.Date(opts.From.In(loc).Year(), opts.From.In(loc).Month(), 1, 0, 0, 0, 0, time.UTC)
	now := opts.Now.In(loc)
	current := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	r := rand.New(rand.NewPCG(opts.RandomSeed, 7))
	groups, err := l.Groups(ctx)
	if err != nil {
		return err
	}
	var top, firstDept, secondDept int64
	var labs []ledger.Group
	for _, g := range groups {
		switch {
		case g.Kind == "institution" && top == 0:
			top = g.ID
		case g.Kind == "department" && firstDept == 0:
			firstDept = g.ID
		case g.Kind == "department" && secondDept == 0:
			secondDept = g.ID
		case g.Kind == "lab" && g.Billable:
			labs = append(labs, g)
		}
	}
	// A price change three months before now: CPU went up by a tenth.
	change := current.AddDate(0, -3, 0)
	if !change.After(from) {
		change = from.AddDate(0, 1, 0)
	}
	rates := []ledger.Rate{
		{Resource: "cpu", Price: dec("0.010"), ValidFrom: from, ValidTo: change, Note: "list price"},
		{Resource: "cpu", Price: dec("0.011"), ValidFrom: change, Note: "list price from the new power contract"},
		{Resource: "cpu", Cluster: "hpc2", Price: dec("0.008"), ValidFrom: from, Note: "newer, more efficient nodes"},
		{Resource: "cpu", QoS: "scavenger", Price: dec("0.002"), ValidFrom: from, Note: "preemptible"},
		{Resource: "cpu", Cluster: "jhub", Price: dec("0.015"), ValidFrom: from, Note: "interactive notebooks"},
		{Resource: "gpu", Price: dec("0.45"), ValidFrom: from, Note: "A100"},
		{Resource: "gpu", Cluster: "gpu1", Price: dec("0.85"), ValidFrom: from, Note: "H100"},
		{Resource: "gpu", QoS: "scavenger", Price: dec("0.10"), ValidFrom: from, Note: "preemptible"},
		{Resource: "memory", Price: dec("0.0004"), ValidFrom: from},
		{Resource: "memory", QoS: "scavenger", Price: dec("0"), ValidFrom: from, Note: "included in the scavenger price"},
		{Resource: "storage", Cluster: "projects", Price: dec("9.50"), ValidFrom: from, Note: "project space, per TB-month"},
		{Resource: "storage", Cluster: "home", Price: dec("0"), ValidFrom: from, Note: "home directories are free"},
		{Resource: "billing", Price: dec("0"), ValidFrom: from, Note: "not charged: cores, GPUs and memory are priced instead"},
	}
	if firstDept != 0 {
		rates = append(rates, ledger.Rate{Resource: "cpu", GroupID: firstDept, Price: dec("0.007"), ValidFrom: from,
			Note: "department co-invested in hpc1"})
	}
	for _, rt := range rates {
		if _, _, err := l.SetRate(ctx, Actor, rt); err != nil {
			return fmt.Errorf("seed rates: %w", err)
		}
	}
	if top != 0 {
		if _, err := l.SetSubsidy(ctx, Actor, ledger.Subsidy{GroupID: top, Resource: "cpu",
			FreeQuantity: big.NewInt(1000 * 3600), ValidFrom: from, Note: "every lab's first 1,000 core-hours a month are free"}); err != nil {
			return fmt.Errorf("seed subsidies: %w", err)
		}
	}
	if secondDept != 0 {
		if _, err := l.SetSubsidy(ctx, Actor, ledger.Subsidy{GroupID: secondDept, Resource: ledger.Any,
			DiscountPercent: dec("25"), ValidFrom: from, Note: "dean's subsidy"}); err != nil {
			return fmt.Errorf("seed subsidies: %w", err)
		}
	}
	for i, lab := range labs {
		amount := dec(fmt.Sprint(250 * (2 + r.IntN(19)))) // 500 … 5,000 a month
		if _, err := l.SetBudget(ctx, Actor, ledger.Budget{GroupID: lab.ID, Span: ledger.SpanMonth, Amount: amount, ValidFrom: from}); err != nil {
			return fmt.Errorf("seed budgets: %w", err)
		}
		if i%3 == 0 {
			hours := dec(fmt.Sprint(1000 * (1 + r.IntN(10))))
			if _, err := l.SetBudget(ctx, Actor, ledger.Budget{GroupID: lab.ID, Span: ledger.SpanFiscalYear, Resource: "gpu",
				Amount: hours, ValidFrom: from}); err != nil {
				return fmt.Errorf("seed budgets: %w", err)
			}
		}
	}
	if !opts.Close {
		return nil
	}
	for m := from; m.Before(current); m = m.AddDate(0, 1, 0) {
		if closed, err := l.PeriodClosed(ctx, m); err != nil {
			return err
		} else if closed {
			continue
		}
		if len(labs) > 0 && m.Equal(current.AddDate(0, -1, 0)) {
			lab := labs[r.IntN(len(labs))]
			if _, err := l.AddAdjustment(ctx, Actor, ledger.Adjustment{Period: m, GroupID: lab.ID, AmountMinor: -2500,
				Reason: "Credit: jobs lost in the hpc2 file-system outage"}); err != nil {
				return err
			}
		}
		if _, _, err := l.Close(ctx, Actor, m); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	// A late job for last month, found after it closed: it is charged this month as
	// late usage that names its month.
	if len(labs) > 0 && current.After(from) {
		last := current.AddDate(0, -1, 0)
		start := time.Date(last.Year(), last.Month(), 27, 9, 0, 0, 0, loc)
		cores := int64(64)
		lab := labs[0]
		login := "visitor"
		if pi, err := l.UserByID(ctx, lab.PIUserID); err == nil {
			login = pi.Login
		} else if !errors.Is(err, ledger.ErrNotFound) {
			return err
		}
		rec := ledger.Record{Source: ledger.SourceSlurm, Cluster: "hpc1", ExternalID: "late-" + start.Format("200601"),
			Resource: ledger.ResourceCPU, Start: start, End: start.Add(20 * time.Hour),
			Quantity: cores * 20 * 3600, Allocated: cores * 20 * 3600, Used: cores * 17 * 3600,
			Account: lab.Slug, User: login, Partition: "cpu", QoS: "normal", Nodes: 1, JobName: "late_reprocessing", State: "COMPLETED"}
		if _, err := l.Ingest(ctx, ledger.Batch{Records: []ledger.Record{rec}}); err != nil {
			return fmt.Errorf("seed late job: %w", err)
		}
		adjusted, err := l.HasAdjustments(ctx, current)
		if err != nil {
			return err
		}
		if len(labs) > 1 && !adjusted {
			if _, err := l.AddAdjustment(ctx, Actor, ledger.Adjustment{Period: current, GroupID: labs[1].ID, AmountMinor: 12000,
				Reason: "Debit: 2 TB tape archive retrieval"}); err != nil {
				return err
			}
		}
	}
	if _, err := l.RatePeriod(ctx, Actor, current); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}

func dec(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("seed: bad decimal " + s)
	}
	return r
}
