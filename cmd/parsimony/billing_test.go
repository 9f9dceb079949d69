package main

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/internal/pgtest"
)

// TestBillingCommands walks a month through the command line: a price list (with a
// bad one refused first), rating, an adjustment, closing, and every export format.
func TestBillingCommands(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	cfg := configFor(t, url, "UTC")
	dir := t.TempDir()
	usage := filepath.Join(dir, "usage.csv")
	os.WriteFile(usage, []byte("source,cluster,external_id,resource,start,end,quantity,account,user\n"+
		"api,box,j1,cpu,2026-09-03T10:00:00Z,2026-09-03T20:00:00Z,360000,physics,ann\n"+ // 100 core-hours
		"api,box,j2,gpu,2026-09-04T10:00:00Z,2026-09-04T12:00:00Z,7200,physics,bob\n"+ // 2 GPU-hours
		"api,box,j3,cpu,2026-10-01T10:00:00Z,2026-10-01T11:00:00Z,3600,physics,ann\n"), 0o600)
	if code, out, stderr := cli(t, "collect", "csv", "--config", cfg, "--file", usage); code != 0 {
		t.Fatalf("collect: %d %s %s", code, out, stderr)
	}
	// The group, billable, mapped (through the ledger: there is no group command yet).
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(t.Context(), `
		WITH g AS (INSERT INTO groups (id, path, kind, slug, name, billable, cost_centre)
		           VALUES (100, '100', 'lab', 'physics', 'Physics Lab', true, 'CC-42') RETURNING id)
		INSERT INTO group_mappings (kind, scope, identity, group_id) SELECT 'api', '*', 'physics', id FROM g`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), `UPDATE usage SET group_id = 100; UPDATE rollup_daily SET group_id = 100`); err != nil {
		t.Fatal(err)
	}

	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("resource,price,valid_from\ncpu,0.01,2026-09-01\ncpux,abc,2026-13-01\n"), 0o600)
	code, _, stderr := cli(t, "rates", "import", "--config", cfg, bad)
	if code != 1 || !strings.Contains(stderr, "line 3") || !strings.Contains(stderr, `unknown resource "cpux"`) || !strings.Contains(stderr, "price") {
		t.Fatalf("bad price list: exit %d, %q", code, stderr)
	}
	prices := filepath.Join(dir, "prices.toml")
	os.WriteFile(prices, []byte(`
[[rate]]
resource = "cpu"
price = 0.0125
valid_from = 2026-09-01

[[rate]]
resource = "gpu"
price = "1.5"
valid_from = 2026-09-01

[[subsidy]]
group = "physics"
resource = "cpu"
free = 20
valid_from = 2026-09-01

[[budget]]
group = "physics"
span = "month"
amount = 100
valid_from = 2026-09-01
`), 0o600)
	code, out, stderr := cli(t, "rates", "import", "--config", cfg, prices)
	if code != 0 || !strings.Contains(out, "2 rates set, 0 already in force, 1 subsidies, 1 budgets") {
		t.Fatalf("rates import: exit %d, %q, %q", code, out, stderr)
	}
	if code, out, _ = cli(t, "rates", "import", "--config", cfg, prices); code != 0 || !strings.Contains(out, "0 rates set, 2 already in force") {
		t.Fatalf("rates import again: exit %d, %q", code, out)
	}
	if code, out, _ = cli(t, "rates", "list", "--config", cfg, "--at", "2026-09-15"); code != 0 || !strings.Contains(out, "0.0125") || !strings.Contains(out, "core-hour") {
		t.Fatalf("rates list: exit %d, %q", code, out)
	}
	if code, out, stderr = cli(t, "rate", "--config", cfg, "--period", "2026-09"); code != 0 || !strings.Contains(out, "rated 2026-09") {
		t.Fatalf("rate: exit %d, %q, %q", code, out, stderr)
	}
	if code, out, stderr = cli(t, "adjust", "--config", cfg, "--period", "2026-09", "--group", "physics", "--amount", "-0.50", "--reason", "Goodwill credit"); code != 0 {
		t.Fatalf("adjust: exit %d, %q, %q", code, out, stderr)
	}
	if code, _, stderr = cli(t, "close", "--config", cfg, "2026-10"); code != 1 || !strings.Contains(stderr, "close 2026-09 first") {
		t.Fatalf("close out of order: exit %d, %q", code, stderr)
	}
	code, out, stderr = cli(t, "close", "--config", cfg, "2026-09")
	if code != 0 || !strings.Contains(out, "closed 2026-09: 1 final statements") {
		t.Fatalf("close: exit %d, %q, %q", code, out, stderr)
	}
	// 100 core-hours × 0.0125 = 1.25, 20 free = −0.25, 2 GPU-hours × 1.5 = 3.00, credit −0.50: 3.50
	csvPath := filepath.Join(dir, "2026-09.csv")
	if code, _, stderr = cli(t, "export", "--config", cfg, "--period", "2026-09", "--format", "csv", "--out", csvPath); code != 0 {
		t.Fatalf("export csv: %d %q", code, stderr)
	}
	f, _ := os.Open(csvPath)
	var recs [][]string
	recs, err = csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 6 || recs[0][0] != "period" || recs[5][8] != "total" || recs[5][16] != "3.50" || recs[1][5] != "CC-42" {
		t.Fatalf("export csv:\n%v", recs)
	}
	code, out, _ = cli(t, "export", "--config", cfg, "--period", "2026-09", "--format", "json")
	var doc struct {
		Status     string `json:"status"`
		Total      string `json:"total"`
		Statements []struct {
			Number      string `json:"number"`
			ContentHash string `json:"content_hash"`
		} `json:"statements"`
	}
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || doc.Total != "3.50" || doc.Status != "final" ||
		len(doc.Statements) != 1 || doc.Statements[0].ContentHash == "" {
		t.Fatalf("export json: exit %d, %v, %s", code, err, out)
	}
	for _, format := range []string{"html", "pdf"} {
		out := filepath.Join(dir, format)
		if code, _, stderr = cli(t, "export", "--config", cfg, "--period", "2026-09", "--format", format, "--out", out); code != 0 {
			t.Fatalf("export %s: %d %q", format, code, stderr)
		}
		files, _ := filepath.Glob(filepath.Join(out, "*."+format))
		if len(files) != 1 {
			t.Fatalf("export %s: files %v", format, files)
		}
		b, _ := os.ReadFile(files[0])
		if format == "html" && !strings.Contains(string(b), "3.50") {
			t.Errorf("the HTML statement does not show the total")
		}
		if format == "pdf" && !strings.HasPrefix(string(b), "%PDF-") {
			t.Errorf("not a PDF")
		}
	}
	// Closing again is a no-op; an adjustment to the closed month is refused.
	if code, out, _ = cli(t, "close", "--config", cfg, "2026-09"); code != 0 || !strings.Contains(out, "1 final statements") {
		t.Fatalf("close again: exit %d, %q", code, out)
	}
	if code, _, stderr = cli(t, "adjust", "--config", cfg, "--period", "2026-09", "--group", "physics", "--amount", "1", "--reason", "x"); code != 1 || !strings.Contains(stderr, "closed") {
		t.Fatalf("adjust a closed month: exit %d, %q", code, stderr)
	}
	// Open OnDemand balances for October: no members yet, so an empty list, valid JSON.
	code, out, _ = cli(t, "export", "--config", cfg, "--format", "ood", "--period", "2026-10")
	var ood struct {
		Version  int   `json:"version"`
		Balances []any `json:"balances"`
	}
	if err := json.Unmarshal([]byte(out), &ood); code != 0 || err != nil || ood.Version != 1 || ood.Balances == nil {
		t.Fatalf("export ood: exit %d, %v, %s", code, err, out)
	}
}
