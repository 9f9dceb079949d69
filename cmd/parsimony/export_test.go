package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/internal/pgtest"
)

// TestExportDocumentsNeverStopHalfWay: `export --format pdf` of four statements
// whose group names and an adjustment reason hold emoji (fpdf crashed the
// command on the first) writes all four; when one cannot be written (its file
// name is taken by a folder) the three others are still written, and the
// command exits non-zero naming the one that failed.
func TestExportDocumentsNeverStopHalfWay(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	cfg := configFor(t, url, "UTC")
	dir := t.TempDir()
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	usage := "source,cluster,external_id,resource,start,end,quantity,account,user\n"
	for i, g := range []string{"lab1", "lab2", "lab3", "lab4"} {
		if _, err := pool.Exec(t.Context(), `
			WITH g AS (INSERT INTO groups (id, path, kind, slug, name, billable)
			           VALUES ($1::bigint, $1::bigint::text::ltree, 'lab', $2, $3, true) RETURNING id)
			INSERT INTO group_mappings (kind, scope, identity, group_id) SELECT 'api', '*', $2, id FROM g`,
			100+i, g, "Lab 🧬 "+g+" 𝔸"); err != nil {
			t.Fatal(err)
		}
		usage += "api,box,j" + g + ",cpu,2026-09-03T10:00:00Z,2026-09-03T20:00:00Z,360000," + g + ",ann😀\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "usage.csv"), []byte(usage), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := cli(t, "collect", "csv", "--config", cfg, "--file", filepath.Join(dir, "usage.csv")); code != 0 {
		t.Fatalf("collect: %d %s %s", code, out, stderr)
	}
	prices := filepath.Join(dir, "prices.csv")
	if err := os.WriteFile(prices, []byte("resource,price,valid_from\ncpu,0.0125,2026-09-01\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"rates", "import", "--config", cfg, prices},
		{"rate", "--config", cfg, "--period", "2026-09"},
		{"adjust", "--config", cfg, "--period", "2026-09", "--group", "lab1", "--amount", "-0.50", "--reason", "Credit 💶 for the outage 🎉"},
	} {
		if code, out, stderr := cli(t, args...); code != 0 {
			t.Fatalf("%s: exit %d, %q, %q", args[0], code, out, stderr)
		}
	}

	out := filepath.Join(dir, "pdf")
	// The second statement's file name is taken: it cannot be written.
	blocked := filepath.Join(out, "DRAFT-202609-lab2-lab2.pdf")
	if err := os.MkdirAll(filepath.Join(blocked, "in-the-way"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := cli(t, "export", "--config", cfg, "--period", "2026-09", "--format", "pdf", "--out", out)
	if code == 0 || !strings.Contains(stderr, "1 of 4 statements not written") || !strings.Contains(stderr, "DRAFT-202609-lab2 (lab2)") ||
		!strings.Contains(stderr, "wrote 3 PDF statements") {
		t.Errorf("export with one statement failing: exit %d, %q", code, stderr)
	}
	for _, g := range []string{"lab1", "lab3", "lab4"} {
		checkStatementPDF(t, filepath.Join(out, "DRAFT-202609-"+g+"-"+g+".pdf"), "Lab � "+g+" �")
	}
	checkStatementPDF(t, filepath.Join(out, "DRAFT-202609-lab1-lab1.pdf"), "Credit � for the outage �")

	if err := os.RemoveAll(blocked); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := cli(t, "export", "--config", cfg, "--period", "2026-09", "--format", "pdf", "--out", out); code != 0 ||
		!strings.Contains(stderr, "wrote 4 PDF statements") {
		t.Errorf("export: exit %d, %q", code, stderr)
	}
	checkStatementPDF(t, blocked, "Lab � lab2 �")
}

// checkStatementPDF fails unless path is a PDF whose text holds want.
func checkStatementPDF(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || !strings.HasPrefix(string(b), "%PDF-") {
		t.Errorf("%s: not a PDF (%v)", path, err)
		return
	}
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Fatal("pdftotext is not installed: run scripts/install-deps.sh (or apt-get install poppler-utils)")
	}
	text, err := exec.Command(bin, "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext %s: %v", path, err)
	}
	if flat := strings.Join(strings.Fields(string(text)), " "); !strings.Contains(flat, want) {
		t.Errorf("%s lacks %q:\n%s", path, want, flat)
	}
}
