package export_test

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/export"
	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/ledger"
)

// update rewrites the golden files instead of comparing with them:
//
//	go test ./export/ -run TestCSVGolden -update
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenMonth is October 2026 of a small institute, every input fixed so the
// finance CSV is the same on every run: a non-billable department with one
// billable lab (a PI, two clusters, a GPU subsidy) and a billable top-level lab
// (a file system and a credit).
func goldenMonth(t *testing.T) (context.Context, *ledger.Ledger, time.Time) {
	t.Helper()
	ctx := context.Background()
	l, err := ledger.Open(ctx, pgtest.NewPool(t), ledger.Options{Location: time.UTC, Currency: "EUR", MinorDigits: 2,
		Logger: slog.New(slog.DiscardHandler),
		Now:    func() time.Time { return time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	pi, err := l.UpsertUser(ctx, "test", ledger.User{Login: "wzhou", DisplayName: "Wei Zhou"})
	must(err)
	dept, err := l.CreateGroup(ctx, "test", ledger.NewGroup{Kind: "department", Slug: "physics", Name: "Physics"})
	must(err)
	zhou, err := l.CreateGroup(ctx, "test", ledger.NewGroup{ParentID: dept.ID, Kind: "lab", Slug: "zhou-lab",
		Name: "Zhou Lab", PIUserID: pi.ID, CostCentre: "CC-1001", Billable: true})
	must(err)
	ramirez, err := l.CreateGroup(ctx, "test", ledger.NewGroup{Kind: "lab", Slug: "ramirez-lab",
		Name: "Ramirez Lab", CostCentre: "CC-2002", Billable: true})
	must(err)
	for _, m := range []ledger.Mapping{
		{Kind: ledger.KindSlurm, Scope: "hpc1", Identity: "zhou", GroupID: zhou.ID},
		{Kind: ledger.KindSlurm, Scope: "gpu1", Identity: "zhou", GroupID: zhou.ID},
		{Kind: ledger.KindSlurm, Scope: "hpc1", Identity: "ramirez", GroupID: ramirez.ID},
		{Kind: ledger.KindStorage, Scope: "projects", Identity: "ramirez", GroupID: ramirez.ID},
	} {
		_, err := l.SetGroupMapping(ctx, "test", m)
		must(err)
	}

	at := func(day, hour int) time.Time { return time.Date(2026, 10, day, hour, 0, 0, 0, time.UTC) }
	job := func(id, cluster, account, resource string, start time.Time, hours, units int64) ledger.Record {
		q := hours * units * 3600
		return ledger.Record{Source: ledger.SourceSlurm, Cluster: cluster, ExternalID: id, Resource: resource,
			Start: start, End: start.Add(time.Duration(hours) * time.Hour), Quantity: q, Allocated: q, Used: q / 2,
			Account: account, User: "alice"}
	}
	_, err = l.Ingest(ctx, ledger.Batch{Records: []ledger.Record{
		job("101", "hpc1", "zhou", ledger.ResourceCPU, at(2, 8), 10, 16),    // 160 core-hours
		job("102", "gpu1", "zhou", ledger.ResourceGPU, at(9, 20), 8, 2),     // 16 GPU-hours
		job("201", "hpc1", "ramirez", ledger.ResourceCPU, at(31, 22), 4, 8), // 32 core-hours, half of them in November
		{Source: ledger.SourceStorage, Cluster: "projects", ExternalID: "ramirez", Resource: ledger.ResourceStorage,
			Start: at(1, 0), End: at(1, 0).AddDate(0, 0, 31), Quantity: 1 << 40 * 31 * 86400, Account: "ramirez"}, // 1 TiB all month
	}})
	must(err)

	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, r := range []ledger.Rate{
		{Resource: ledger.ResourceCPU, Price: big.NewRat(2, 100), ValidFrom: from},
		{Resource: ledger.ResourceGPU, Price: big.NewRat(45, 100), ValidFrom: from},
		{Resource: ledger.ResourceStorage, Price: big.NewRat(5, 1), ValidFrom: from},
	} {
		_, _, err := l.SetRate(ctx, "test", r)
		must(err)
	}
	month := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	_, err = l.SetSubsidy(ctx, "test", ledger.Subsidy{GroupID: zhou.ID, Resource: ledger.ResourceGPU,
		DiscountPercent: big.NewRat(50, 1), ValidFrom: month, ValidTo: ledger.Forever, Note: "GPU pilot"})
	must(err)
	_, err = l.AddAdjustment(ctx, "test", ledger.Adjustment{Period: month, GroupID: ramirez.ID, AmountMinor: -1000,
		Reason: "Credit for the 14 October outage"})
	must(err)
	_, err = l.RatePeriod(ctx, "test", month)
	must(err)
	return ctx, l, month
}

// TestCSVGolden pins the finance CSV — its columns, their order, how numbers
// and names are written, and the control-total trailer — for the drafts of an
// open month and for the same month once closed. Finance systems import this
// file by column position: a change here must be deliberate (rewrite with
// -update and say why in the commit).
func TestCSVGolden(t *testing.T) {
	t.Parallel()
	ctx, l, month := goldenMonth(t)
	for _, c := range []struct {
		file  string
		close bool
	}{
		{"finance-draft.csv", false},
		{"finance-final.csv", true},
	} {
		if c.close {
			if _, _, err := l.Close(ctx, "test", month); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if _, err := export.CSV(ctx, l, month, &buf); err != nil {
			t.Fatal(err)
		}
		compareGolden(t, filepath.Join("testdata", c.file), buf.Bytes())
	}
}

// compareGolden compares got with the file at path, or rewrites the file
// under -update.
func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the export (rewrite it with -update if the change is meant):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
