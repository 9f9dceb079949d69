package main

import (
	"context"
	"fmt"

	"github.com/parsimony-hpc/parsimony/config"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/report"
)

func runReport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "report", "--from T --to T [--by group,user,cluster,resource] [--group SLUG] [--resource R] [--format table|csv]")
	cfgPath := configFlag(fs)
	fromS := fs.String("from", "", "window start: a date (local midnight) or an RFC 3339 time")
	toS := fs.String("to", "", "window end (exclusive): a date or an RFC 3339 time")
	byS := fs.String("by", "", "comma-separated dimensions: group, user, cluster, resource, source, partition")
	groupSlug := fs.String("group", "", "only this group's subtree (its `slug`)")
	depth := fs.Int("depth", 0, "with --by group: report each group as its ancestor at this depth (1 = top level)")
	resource := fs.String("resource", "", "only this resource: cpu, gpu, memory, storage, billing")
	format := fs.String("format", "table", "table (human units) or csv (base units)")
	if err := parseFlagsOnly(e, fs, args); err != nil {
		return err
	}
	if *fromS == "" || *toS == "" {
		return usageError(e, fs, "--from and --to are required")
	}
	if *format != "table" && *format != "csv" {
		return usageError(e, fs, "--format is table or csv")
	}
	by, err := report.ParseBy(*byS)
	if err != nil {
		return usageError(e, fs, "%v", err)
	}
	if *resource != "" && ledger.Unit(*resource) == "" {
		return usageError(e, fs, "unknown resource %q", *resource)
	}
	return withLedger(ctx, e, *cfgPath, func(l *ledger.Ledger, _ config.Config) error {
		from, err := report.ParseTime(*fromS, l.Location())
		if err != nil {
			return usageError(e, fs, "--from: %v", err)
		}
		to, err := report.ParseTime(*toS, l.Location())
		if err != nil {
			return usageError(e, fs, "--to: %v", err)
		}
		q := ledger.ReportQuery{From: from, To: to, By: by, Depth: *depth, Resource: *resource}
		if *groupSlug != "" {
			g, err := l.GroupBySlug(ctx, *groupSlug)
			if err != nil {
				return err
			}
			q.GroupID = g.ID
		}
		rows, err := l.Report(ctx, q)
		if err != nil {
			return err
		}
		if *format == "csv" {
			return report.WriteCSV(e.stdout, by, rows)
		}
		source := "daily rollups"
		if !l.DayAligned(from, to) {
			source = "usage rows, pro rata"
		}
		fmt.Fprintf(e.stdout, "Usage %s – %s (%s, from %s)\n\n", from.In(l.Location()).Format("2006-01-02 15:04 MST"),
			to.In(l.Location()).Format("2006-01-02 15:04 MST"), l.Location(), source)
		return report.WriteTable(e.stdout, by, rows)
	})
}
