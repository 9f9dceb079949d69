package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parsimony-hpc/parsimony/config"
	"github.com/parsimony-hpc/parsimony/export"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/ratefile"
	"github.com/parsimony-hpc/parsimony/statementdoc"
	"github.com/parsimony-hpc/parsimony/views"
)

// cliActor is who the audit log names for a change made on the command line: the
// Unix user running it, as "cli:alice".
func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

// parsePeriod reads a billing period written as 2026-10.
func parsePeriod(s string) (time.Time, error) {
	t, err := time.Parse("2006-01", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a period like 2026-10", s)
	}
	return t, nil
}

func runRates(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "rates", "import FILE | list [--at DATE]")
	return runSubcommand(ctx, e, fs, args, "subcommand", map[string]commandFunc{
		"import": runRatesImport,
		"list":   runRatesList,
	})
}

func runRatesImport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "rates import", "FILE.csv|FILE.toml [--config FILE]   (formats: docs/billing.md)")
	cfgPath := configFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(e, fs, "one price list file is required")
	}
	name := fs.Arg(0)
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	list, err := ratefile.Read(name, f)
	if err != nil {
		return fmt.Errorf("%s:\n%w", name, err)
	}
	return withLedger(ctx, e, *cfgPath, func(l *ledger.Ledger, _ config.Config) error {
		sum, err := ratefile.Apply(ctx, l, cliActor(), list)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(e.stdout, "%s: %d rates set, %d already in force, %d subsidies, %d budgets\n",
			name, sum.RatesChanged, sum.RatesUnchanged, sum.Subsidies, sum.Budgets)
		return nil
	})
}

func runRatesList(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "rates list", "[--at DATE] [--config FILE]")
	cfgPath := configFlag(fs)
	atS := fs.String("at", "", "only the rates in force on this `date` (2026-10-15)")
	if err := parseFlagsOnly(e, fs, args); err != nil {
		return err
	}
	var at time.Time
	if *atS != "" {
		var err error
		if at, err = time.Parse(time.DateOnly, *atS); err != nil {
			return usageError(e, fs, "--at: %q is not a date like 2026-10-15", *atS)
		}
	}
	return withLedger(ctx, e, *cfgPath, func(l *ledger.Ledger, _ config.Config) error {
		rates, err := l.Rates(ctx, at)
		if err != nil {
			return err
		}
		cur, _ := l.Currency()
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "id\tresource\tcluster\tpartition\tqos\tgroup\tprice (%s)\tper\tfrom\tuntil\tnote\t\n", cur)
		for _, r := range rates {
			unit, _ := ledger.PricedUnit(r.Resource)
			group, until := "*", ""
			if r.GroupSlug != "" {
				group = r.GroupSlug
			}
			if r.ValidTo.Before(ledger.Forever) {
				until = r.ValidTo.Format(time.DateOnly)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.ID, r.Resource, r.Cluster, r.Partition, r.QoS,
				group, priceText(r.Price), unit, r.ValidFrom.Format(time.DateOnly), until, r.Note)
		}
		if len(rates) == 0 {
			fmt.Fprintln(tw, "(no rates: every usage row is unpriced until rates are imported)")
		}
		return tw.Flush()
	})
}

// priceText writes a price with at least two decimals and no trailing zeros beyond.
func priceText(p *big.Rat) string {
	s := p.FloatString(12)
	s = strings.TrimRight(s, "0")
	if i := strings.IndexByte(s, '.'); i < 0 {
		s += ".00"
	} else if len(s)-i-1 < 2 {
		s += strings.Repeat("0", 2-(len(s)-i-1))
	}
	return s
}

func runRate(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "rate", "--period 2026-10 [--config FILE]")
	cfgPath := configFlag(fs)
	periodS := fs.String("period", "", "the open `period` to (re)rate, e.g. 2026-10 (default: this month)")
	if err := parseFlagsOnly(e, fs, args); err != nil {
		return err
	}
	return withLedger(ctx, e, *cfgPath, func(l *ledger.Ledger, _ config.Config) error {
		month := time.Now().In(l.Location())
		if *periodS != "" {
			var err error
			if month, err = parsePeriod(*periodS); err != nil {
				return usageError(e, fs, "--period: %v", err)
			}
		}
		res, err := l.RatePeriod(ctx, cliActor(), month)
		if err != nil {
			return err
		}
		late := ""
		if len(res.LateMonths) > 0 {
			var ms []string
			for _, m := range res.LateMonths {
				ms = append(ms, m.Format("2006-01"))
			}
			late = " (late usage of " + strings.Join(ms, ", ") + ")"
		}
		fmt.Fprintf(e.stdout, "rated %s: %d charge rows, %d late-usage rows%s, %d unpriced rows, in %s\n",
			res.Period.Format("2006-01"), res.UsageRows, res.LateRows, late, res.UnpricedRow, res.Took.Round(time.Millisecond))
		return nil
	})
}

func runClose(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "close", "PERIOD (e.g. 2026-10) [--config FILE]")
	cfgPath := configFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError(e, fs, "the period to close is required, e.g. parsimony close 2026-10")
	}
	month, err := parsePeriod(fs.Arg(0))
	if err != nil {
		return usageError(e, fs, "%v", err)
	}
	return withLedger(ctx, e, *cfgPath, func(l *ledger.Ledger, _ config.Config) error {
		start := time.Now()
		sts, rec, err := l.Close(ctx, cliActor(), month)
		if err != nil {
			return err
		}
		writeReconciliation(e.stdout, l, rec)
		fmt.Fprintf(e.stdout, "closed %s: %d final statements in %s\n", month.Format("2006-01"), len(sts), time.Since(start).Round(time.Millisecond))
		return nil
	})
}

// writeReconciliation prints where a period's money went.
func writeReconciliation(w io.Writer, l *ledger.Ledger, rec ledger.Reconciliation) {
	cur, digits := l.Currency()
	money := func(r *big.Rat) string { return ledger.FormatAmount(r, digits) }
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\t%s\t\n", "period "+rec.Period, cur)
	fmt.Fprintf(tw, "usage rated (exact)\t%s\t\n", money(rec.Rated))
	fmt.Fprintf(tw, "  on statements\t%s\t\n", money(rec.Billed))
	fmt.Fprintf(tw, "  unassigned (map it to bill it)\t%s\t\n", money(rec.Unassigned))
	fmt.Fprintf(tw, "  groups with no billable group above\t%s\t\n", money(rec.NotBillable))
	fmt.Fprintf(tw, "statements: %d\t%s\t\n", rec.Statements, ledger.FormatMinor(rec.StatementsMinor, digits))
	fmt.Fprintf(tw, "  usage lines (rounded once each)\t%s\t\n", ledger.FormatMinor(rec.UsageLinesMinor, digits))
	fmt.Fprintf(tw, "  subsidies\t%s\t\n", ledger.FormatMinor(rec.SubsidyMinor, digits))
	fmt.Fprintf(tw, "  adjustments\t%s\t\n", ledger.FormatMinor(rec.AdjustMinor, digits))
	tw.Flush()
	var unpriced []string
	for _, r := range ledger.Resources() {
		if q := rec.Unpriced[r]; q != nil && q.Sign() != 0 {
			unpriced = append(unpriced, ledger.FormatHuman(r, q)+" "+ledger.HumanUnitOf(r).Name+" of "+r)
		}
	}
	if len(unpriced) > 0 {
		fmt.Fprintf(w, "unpriced (no rate applies; not charged): %s\n", strings.Join(unpriced, ", "))
	}
}

func runAdjust(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "adjust", "--period 2026-10 --group SLUG --amount -12.50 --reason TEXT [--config FILE]")
	cfgPath := configFlag(fs)
	periodS := fs.String("period", "", "the open `period`, e.g. 2026-10")
	slug := fs.String("group", "", "the billable group's `slug`")
	amountS := fs.String("amount", "", "`money` in the site's currency: negative for a credit, positive for a debit")
	reason := fs.String("reason", "", "why, as the statement line will say")
	if err := parseFlagsOnly(e, fs, args); err != nil {
		return err
	}
	if *periodS == "" || *slug == "" || *amountS == "" || *reason == "" {
		return usageError(e, fs, "--period, --group, --amount and --reason are required")
	}
	month, err := parsePeriod(*periodS)
	if err != nil {
		return usageError(e, fs, "--period: %v", err)
	}
	// The amount's form and size are checked before the database is opened; its
	// decimals once the currency is known.
	if _, err := ledger.ParseDecimal(*amountS, "--amount", ledger.MaxAmountDigits, 6); err != nil {
		return usageError(e, fs, "%v", err)
	}
	return withLedger(ctx, e, *cfgPath, func(l *ledger.Ledger, _ config.Config) error {
		cur, digits := l.Currency()
		minor, err := ledger.ParseAmount(*amountS, "--amount", digits)
		if err != nil {
			return usageError(e, fs, "%v", err)
		}
		g, err := l.GroupBySlug(ctx, *slug)
		if err != nil {
			return err
		}
		id, err := l.AddAdjustment(ctx, cliActor(), ledger.Adjustment{Period: month, GroupID: g.ID,
			AmountMinor: minor, Reason: *reason})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "adjustment %d: %s %s on %s's statement for %s\n", id,
			ledger.FormatMinor(minor, digits), cur, g.Slug, month.Format("2006-01"))
		return nil
	})
}

func runExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "export", "--period 2026-10 --format csv|json|html|pdf|ood [--out FILE|DIR] [--group SLUG] [--config FILE]")
	cfgPath := configFlag(fs)
	periodS := fs.String("period", "", "the `period`, e.g. 2026-10 (ood: default now)")
	format := fs.String("format", "csv", "csv or json (every statement line), html or pdf (one document per statement), ood (Open OnDemand balances)")
	out := fs.String("out", "", "csv/json/ood: output `file` (default stdout); html/pdf: output directory (default .)")
	slug := fs.String("group", "", "html/pdf: only this billable group's statement")
	oodValue := fs.String("ood-value", export.ValueRemaining, "ood: "+export.ValueRemaining+" (of the monthly money budget) or "+export.ValueSpent+" (month to date)")
	if err := parseFlagsOnly(e, fs, args); err != nil {
		return err
	}
	var month time.Time
	if *periodS != "" {
		var err error
		if month, err = parsePeriod(*periodS); err != nil {
			return usageError(e, fs, "--period: %v", err)
		}
	} else if *format != "ood" {
		return usageError(e, fs, "--period is required")
	}
	switch *format {
	case "csv", "json", "html", "pdf", "ood":
	default:
		return usageError(e, fs, "--format is csv, json, html, pdf or ood")
	}
	return withLedger(ctx, e, *cfgPath, func(l *ledger.Ledger, cfg config.Config) error {
		switch *format {
		case "html", "pdf":
			return exportDocuments(ctx, e, l, cfg, month, *format, *out, *slug)
		}
		w, closeOut, err := openOut(e, *out)
		if err != nil {
			return err
		}
		var t export.Totals
		switch *format {
		case "csv":
			t, err = export.CSV(ctx, l, month, w)
		case "json":
			t, err = export.JSON(ctx, l, month, w)
		case "ood":
			at := time.Now()
			if !month.IsZero() {
				at = time.Date(month.Year(), month.Month()+1, 1, 0, 0, 0, 0, l.Location()).Add(-time.Second)
				if at.After(time.Now()) {
					at = time.Now()
				}
			}
			var bal export.OnDemand
			if bal, err = export.OpenOnDemand(ctx, l, at, *oodValue); err == nil {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				err = enc.Encode(bal)
				t.Lines = len(bal.Balances)
			}
		}
		if cerr := closeOut(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if *out != "" {
			cur, digits := l.Currency()
			if *format == "ood" {
				fmt.Fprintf(e.stderr, "wrote %s: %d balances\n", *out, t.Lines)
			} else {
				fmt.Fprintf(e.stderr, "wrote %s: %d statements, %d lines, total %s %s\n", *out, t.Statements, t.Lines,
					ledger.FormatMinor(t.AmountMinor, digits), cur)
			}
		}
		return nil
	})
}

// openOut opens the output file, or stdout for "" or "-". The file is written
// under a temporary name and renamed when complete, so a failed export never
// leaves a half file where a finance import would pick it up.
func openOut(e *env, path string) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		return e.stdout, func() error { return nil }, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, nil, err
	}
	return f, func() error {
		if err := f.Close(); err != nil {
			os.Remove(f.Name())
			return err
		}
		return os.Rename(f.Name(), path)
	}, nil
}

func exportDocuments(ctx context.Context, e *env, l *ledger.Ledger, cfg config.Config, month time.Time, format, dir, slug string) error {
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	all, _, err := l.Statements(ctx, month)
	if err != nil {
		return err
	}
	var sts []ledger.Statement
	for _, st := range all {
		if slug == "" || st.GroupSlug == slug {
			sts = append(sts, st)
		}
	}
	if len(sts) == 0 {
		if slug != "" {
			return fmt.Errorf("%w: no statement for %q in %s (is it billable?)", ledger.ErrNotFound, slug, month.Format("2006-01"))
		}
		return errors.New("no statements in " + month.Format("2006-01"))
	}
	render := func(w io.Writer, st ledger.Statement) error { return views.StatementHTML(w, cfg.Site.Name, st) }
	if format == "pdf" {
		render = func(w io.Writer, st ledger.Statement) error { return statementdoc.PDF(w, cfg.Site.Name, st) }
	}
	// One statement that cannot be rendered is reported, never the end of the
	// export: every other statement is written first, then the command fails
	// naming each one that was not.
	written, err := export.Documents(ctx, dir, format, sts, render)
	fmt.Fprintf(e.stderr, "wrote %d %s statements to %s\n", len(written), strings.ToUpper(format), dir)
	return err
}
