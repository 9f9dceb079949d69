// Package statementdoctest holds the statements the statement renderers (the PDF
// in statementdoc, the HTML in views) are tested with, so both test the same thing.
package statementdoctest

import (
	"math/big"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Amount is quantity × price rounded to cents, as the ledger rounds a line.
func Amount(quantity, price string) int64 {
	q, _ := new(big.Rat).SetString(quantity)
	p, _ := new(big.Rat).SetString(price)
	return ledger.RoundMinor(new(big.Rat).Mul(q, p), 2)
}

// Sample builds a realistic statement by hand. With long set it has
// over 60 usage lines, enough for several PDF pages.
func Sample(long bool) ledger.Statement {
	st := ledger.Statement{
		Number:      "DRAFT-202610-smith-lab",
		Status:      "draft",
		Period:      "2026-10",
		Currency:    "EUR",
		MinorDigits: 2,
		GroupID:     42,
		GroupSlug:   "smith-lab",
		GroupName:   "Smith Lab — Functional Genomics",
		GroupPath:   "medicine/genomics/smith-lab",
		CostCentre:  "CC-4711-GEN",
		PI:          "Zoë Smith (zsmith)",
		PILogin:     "zsmith",
		GeneratedAt: time.Date(2026, 10, 21, 14, 5, 9, 0, time.UTC),
		ContentHash: "9f2c4e1ab07d53c8e6f19a2b4c7d0e3f5a6b8c9d0e1f2a3b4c5d6e7f8a9b0c1d",
	}
	type res struct{ resource, title, unit, price, qty string }
	resources := []res{
		{ledger.ResourceCPU, "CPU", "core-hour", "0.0123456", "18234.512345"},
		{ledger.ResourceGPU, "GPU", "GPU-hour", "0.85", "412.250000"},
		{ledger.ResourceMemory, "Memory", "GB-hour", "0.00042", "1250833.000000"},
		{ledger.ResourceStorage, "Storage", "TB-month", "12", "3.141593"},
		{ledger.ResourceBilling, "Billing TRES", "billing-hour", "0.0105", "9876.000001"},
	}
	clusters := []string{"hpc-west"}
	if long {
		clusters = []string{"hpc-west", "hpc-east", "gpu-farm", "bigmem", "archive", "cloud-burst",
			"teaching", "legacy-opteron", "edge", "quantum-sim", "vis", "sandbox"}
	}
	for ci, c := range clusters {
		for _, r := range resources {
			qty := r.qty
			if ci > 0 { // vary the quantities a little from cluster to cluster
				q, _ := new(big.Rat).SetString(r.qty)
				q.Mul(q, big.NewRat(int64(ci+3), int64(ci+2)))
				qty = ledger.DecimalString(q, 6)
			}
			st.Lines = append(st.Lines, ledger.Line{Kind: ledger.LineUsage, Resource: r.resource, Cluster: c,
				Description: r.title + " on " + c, Quantity: qty, Unit: r.unit, UnitPrice: r.price,
				AmountMinor: Amount(qty, r.price)})
		}
	}
	st.Lines = append(st.Lines,
		ledger.Line{Kind: ledger.LineUnpriced, Resource: ledger.ResourceGPU, Cluster: "sandbox", Unit: "GPU-hour",
			Description: "GPU on sandbox (no rate: not charged)", Quantity: "3.500000"},
		ledger.Line{Kind: ledger.LineLate, Resource: ledger.ResourceCPU, Cluster: "hpc-west", UsageMonth: "2026-09",
			Description: "Late usage for September 2026: CPU on hpc-west", Quantity: "1200.000000", Unit: "core-hour",
			UnitPrice: "0.0123456", AmountMinor: Amount("1200", "0.0123456")},
		ledger.Line{Kind: ledger.LineLate, Resource: ledger.ResourceMemory, Cluster: "bigmem", UsageMonth: "2026-08",
			Description: "Late usage for August 2026: Memory on bigmem (no rate: not charged)", Quantity: "0.004000",
			Unit: "GB-hour"},
	)
	for _, ln := range st.Lines {
		st.UsageMinor += ln.AmountMinor
	}
	subsidies := []ledger.Line{
		{Kind: ledger.LineSubsidy, Resource: ledger.ResourceCPU, Unit: "core-hour",
			Description: "Free allowance: 1,000.00 core-hours of CPU a month", Quantity: "-1000.000000",
			AmountMinor: -Amount("1000", "0.0123456")},
		{Kind: ledger.LineSubsidy, Resource: ledger.ResourceGPU, Description: "Discount: 12.5% of GPU", AmountMinor: -4381},
	}
	adjustments := []ledger.Line{
		{Kind: ledger.LineAdjustment, Description: `Credit for <outage> on 3 & 4 October ("planned" maintenance)`, AmountMinor: -2500},
		{Kind: ledger.LineAdjustment, Description: "Dedicated node, one-off set-up fee", AmountMinor: 15000},
	}
	for _, ln := range subsidies {
		st.SubsidyMinor += ln.AmountMinor
	}
	for _, ln := range adjustments {
		st.AdjustMinor += ln.AmountMinor
	}
	st.Lines = append(append(st.Lines, subsidies...), adjustments...)
	st.TotalMinor = st.UsageMinor + st.SubsidyMinor + st.AdjustMinor

	// Shares of the usage: own amounts per group, subtree sums as subtotals.
	u := st.UsageMinor
	sequencingOwn, nanopore, imaging := u*30/100, u*15/100, u*20/100
	st.Subgroups = []ledger.Subtotal{
		{ID: 42, Depth: 0, Slug: "smith-lab", Name: "Smith Lab — Functional Genomics", AmountMinor: u},
		{ID: 43, ParentID: 42, Depth: 1, Slug: "sequencing", Name: "Sequencing core", AmountMinor: sequencingOwn + nanopore},
		{ID: 44, ParentID: 43, Depth: 2, Slug: "nanopore", Name: "Nanopore pilot (Müller)", AmountMinor: nanopore},
		{ID: 45, ParentID: 42, Depth: 1, Slug: "imaging", Name: "Imaging & microscopy", AmountMinor: imaging},
	}
	users := []ledger.Subtotal{
		{ID: 7, Slug: "jmueller", Name: "Jürgen Müller", AmountMinor: u * 41 / 100},
		{ID: 3, Slug: "zsmith", Name: "Zoë Smith", AmountMinor: u * 27 / 100},
		{ID: 9, Slug: "sobrien", Name: "Siobhán O'Brien", AmountMinor: u * 19 / 100},
	}
	rest := u
	for _, x := range users {
		rest -= x.AmountMinor
	}
	st.Users = append(users, ledger.Subtotal{ID: 12, Slug: "lnowak", Name: "Łukasz Nowak", AmountMinor: rest})
	return st
}
