package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/migrations"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// cli runs the binary's entry point and returns its exit code and output.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// configFor writes a configuration file naming a database and a time zone.
func configFor(t *testing.T, url, zone string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parsimony.toml")
	body := fmt.Sprintf("[site]\nname = \"Test\"\ntime_zone = %q\n\n[database]\nurl = %q\n", zone, url)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEveryCommandHasHelp(t *testing.T) {
	t.Parallel()
	for _, c := range commands() {
		code, _, stderr := cli(t, c.name, "--help")
		if code != 0 || !strings.Contains(stderr, "Usage: parsimony "+c.name) {
			t.Errorf("%s --help: exit %d, stderr %q", c.name, code, stderr)
		}
	}
	if code, out, _ := cli(t, "--help"); code != 0 || !strings.Contains(out, "report") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
	if code, _, stderr := cli(t, "frobnicate"); code != 2 || !strings.Contains(stderr, "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, stderr)
	}
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	cfg := configFor(t, pgtest.NewEmptyDatabase(t), "UTC")
	// Up is the latest migration, whichever number that is by now.
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	up := fmt.Sprintf("schema version %d of %d", latest, latest)
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"version"}, "schema version 0 of"},
		{[]string{"up"}, up},
		{[]string{"down", "all"}, "schema version 0 of"},
		{[]string{"up"}, up},
		{[]string{"force", fmt.Sprint(latest)}, up},
	}
	for _, s := range steps {
		code, out, stderr := cli(t, append([]string{"migrate", "--config", cfg}, s.args...)...)
		if code != 0 || !strings.Contains(out, s.want) {
			t.Fatalf("migrate %v: exit %d, out %q, err %q", s.args, code, out, stderr)
		}
	}
	if code, _, _ := cli(t, "migrate", "--config", cfg, "down", "zero"); code != 2 {
		t.Errorf("migrate down zero: exit %d, want 2", code)
	}
}

func TestReportCommand(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	berlin, _ := time.LoadLocation("Europe/Berlin")
	l, err := ledger.Open(ctx, pool, ledger.Options{Location: berlin})
	if err != nil {
		t.Fatal(err)
	}
	dept, _ := l.CreateGroup(ctx, "t", ledger.NewGroup{Kind: "department", Slug: "physics", Name: "Physics"})
	lab, _ := l.CreateGroup(ctx, "t", ledger.NewGroup{ParentID: dept.ID, Kind: "lab", Slug: "quantum", Name: "Quantum Lab"})
	if _, err := l.SetGroupMapping(ctx, "t", ledger.Mapping{Kind: ledger.KindSlurm, Scope: "hpc", Identity: "qlab", GroupID: lab.ID}); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 10, 5, 10, 0, 0, 0, berlin)
	rec := func(id, acct, user string, hours int, cores int64) ledger.Record {
		secs := int64(hours) * 3600
		return ledger.Record{Source: "slurm", Cluster: "hpc", ExternalID: id, Resource: "cpu", Start: start,
			End: start.Add(time.Duration(hours) * time.Hour), Quantity: secs * cores, Allocated: secs * cores, Used: secs * cores / 2,
			Account: acct, User: user}
	}
	if _, err := l.Ingest(ctx, ledger.Batch{Records: []ledger.Record{
		rec("1", "qlab", "alice", 2, 4), rec("2", "qlab", "bob", 1, 8), rec("3", "mystery", "carol", 3, 1),
	}}); err != nil {
		t.Fatal(err)
	}
	cfg := configFor(t, url, "Europe/Berlin")

	code, out, stderr := cli(t, "report", "--config", cfg, "--from", "2026-10-01", "--to", "2026-11-01", "--by", "group,user", "--format", "csv")
	if code != 0 {
		t.Fatalf("report csv: exit %d: %s", code, stderr)
	}
	records, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"group", "user", "resource", "unit", "quantity", "allocated", "used"},
		{"(unassigned)", "carol", "cpu", "core-seconds", "10800", "10800", "5400"},
		{"quantum", "alice", "cpu", "core-seconds", "28800", "28800", "14400"},
		{"quantum", "bob", "cpu", "core-seconds", "28800", "28800", "14400"},
	}
	if fmt.Sprint(records) != fmt.Sprint(want) {
		t.Fatalf("csv:\n%v\nwant\n%v", records, want)
	}

	// Subtree of a department, rolled up to depth 1, as a table in human units.
	code, out, stderr = cli(t, "report", "--config", cfg, "--from", "2026-10-01", "--to", "2026-11-01", "--by", "group", "--depth", "1", "--group", "physics")
	if code != 0 || !strings.Contains(out, "physics") || !strings.Contains(out, "16.00") || !strings.Contains(out, "core-hours") {
		t.Fatalf("report table: exit %d, out:\n%s\nerr %s", code, out, stderr)
	}

	// An hour-aligned window is computed pro rata from the rows: 10:30–11:00 local
	// holds half an hour of each job.
	code, out, stderr = cli(t, "report", "--config", cfg, "--from", "2026-10-05T10:30:00+02:00", "--to", "2026-10-05T11:00:00+02:00", "--format", "csv")
	if code != 0 {
		t.Fatalf("pro-rata report: exit %d: %s", code, stderr)
	}
	// 0.5 h × (4 + 8 + 1) cores = 6.5 core-hours = 23400 core-seconds
	if !strings.Contains(out, "cpu,core-seconds,23400,23400,11700") {
		t.Fatalf("pro-rata csv:\n%s", out)
	}

	for _, bad := range [][]string{
		{"report", "--config", cfg, "--from", "2026-10-01"},
		{"report", "--config", cfg, "--from", "yesterday", "--to", "2026-11-01"},
		{"report", "--config", cfg, "--from", "2026-10-01", "--to", "2026-11-01", "--by", "colour"},
		{"report", "--config", cfg, "--from", "2026-10-01", "--to", "2026-11-01", "--format", "xml"},
	} {
		if code, _, stderr := cli(t, bad...); code != 2 || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q; want a usage error", bad[2:], code, stderr)
		}
	}
	if code, _, stderr := cli(t, "report", "--config", cfg, "--from", "2026-10-01", "--to", "2026-11-01", "--group", "nope"); code != 1 || !strings.Contains(stderr, "not found") {
		t.Errorf("unknown group: exit %d, %q", code, stderr)
	}
}

func TestConfigCheckCommand(t *testing.T) {
	t.Parallel()
	if code, out, _ := cli(t, "config", "check", "../../parsimony.example.toml"); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("example config: exit %d, %s", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("[site]\ntime_zone = \"Europe/Berln\"\ncurrency = \"EURO\"\n\n[[cluster]]\nname = \"hpc\"\nkind = \"slurm\"\novrlap = \"1h\"\n"), 0o600)
	code, out, _ := cli(t, "config", "check", bad)
	if code != 1 {
		t.Fatalf("bad config: exit %d", code)
	}
	for _, want := range []string{"bad.toml:2: site.time_zone", "bad.toml:3: site.currency", "bad.toml:8: cluster[0].ovrlap"} {
		if !strings.Contains(out, want) {
			t.Errorf("config check output lacks %q:\n%s", want, out)
		}
	}
}

func TestSeedCommand(t *testing.T) {
	t.Parallel()
	cfg := configFor(t, pgtest.NewDatabase(t), "Europe/Berlin")
	code, out, stderr := cli(t, "seed", "--config", cfg, "--months", "1", "--random-seed", "7")
	if code != 0 || !strings.Contains(out, "seeded") || !strings.Contains(out, "quarantined 0") {
		t.Fatalf("seed: exit %d, out %q, err %q", code, out, stderr)
	}
	code, out, _ = cli(t, "report", "--config", cfg, "--from", "2020-01-01", "--to", "2030-01-01", "--by", "cluster", "--format", "csv")
	if code != 0 || !strings.Contains(out, "hpc1") || !strings.Contains(out, "jhub") {
		t.Fatalf("report after seed: exit %d:\n%s", code, out)
	}
}

func TestCollectCSVCommand(t *testing.T) {
	t.Parallel()
	cfg := configFor(t, pgtest.NewDatabase(t), "UTC")
	file := filepath.Join(t.TempDir(), "usage.csv")
	os.WriteFile(file, []byte("source,cluster,external_id,resource,start,end,quantity,account,user\n"+
		"api,lab-box,j1,cpu,2026-10-01T10:00:00Z,2026-10-01T11:00:00Z,3600,physics,ann\n"+
		"api,lab-box,j2,cpu,2026-10-01T10:00:00Z,yesterday,3600,physics,ann\n"), 0o600)
	code, out, stderr := cli(t, "collect", "csv", "--config", cfg, "--file", file)
	if code != 0 || !strings.Contains(out, "read 2, ingested 1, revised 0, unchanged 0, quarantined 1, unmapped 1") {
		t.Fatalf("collect csv: exit %d, %q, %q", code, out, stderr)
	}
	code, out, _ = cli(t, "collect", "csv", "--config", cfg, "--file", file)
	if code != 0 || !strings.Contains(out, "ingested 0, revised 0, unchanged 1, quarantined 1") {
		t.Fatalf("collect csv again: exit %d, %q", code, out)
	}
}

func TestCollectSlurmFromFile(t *testing.T) {
	t.Parallel()
	cfg := configFor(t, pgtest.NewDatabase(t), "America/New_York")
	dump := "../../collectors/slurm/testdata/sacct_mix.txt"
	code, out, stderr := cli(t, "collect", "slurm", "--config", cfg, "--cluster", "testbed", "--from-file", dump)
	if code != 0 || !strings.Contains(out, "slurm testbed: read 17 lines (14 jobs, 3 steps, 2 without usage)") || !strings.Contains(out, "quarantined 0") {
		t.Fatalf("collect slurm: exit %d, %q, %q", code, out, stderr)
	}
	code, out, _ = cli(t, "collect", "slurm", "--config", cfg, "--cluster", "testbed", "--from-file", dump)
	if code != 0 || !strings.Contains(out, "ingested 0, revised") {
		t.Fatalf("collect slurm again: exit %d, %q", code, out)
	}
	live := "../../collectors/slurm/testdata/live/"
	code, out, stderr = cli(t, "collect", "slurm", "--config", cfg, "--cluster", "testbed", "--from-file", live+"sacct-epoch.psv",
		"--reservations-file", live+"sacctmgr-reservations.psv", "--assocs-file", live+"sacctmgr-assoc-ids.psv")
	if code != 0 || !strings.Contains(out, "quarantined 0") {
		t.Fatalf("collect slurm with reservations: exit %d, %q, %q", code, out, stderr)
	}
	if code, _, stderr := cli(t, "collect", "slurm", "--config", cfg, "--cluster", "testbed", "--from-file", dump, "--reservations-file", "x"); code != 2 || !strings.Contains(stderr, "go together") {
		t.Errorf("reservations without assocs: exit %d, %q", code, stderr)
	}
	if code, _, stderr := cli(t, "collect", "slurm", "--config", cfg, "--from-file", dump); code != 2 || !strings.Contains(stderr, "--cluster") {
		t.Errorf("without --cluster: exit %d, %q", code, stderr)
	}
}

func TestCollectSlurmAccountsFromFile(t *testing.T) {
	t.Parallel()
	cfg := configFor(t, pgtest.NewDatabase(t), "UTC")
	assoc := "../../collectors/slurmassoc/testdata/testbed-assoc.txt"
	code, out, stderr := cli(t, "collect", "slurm-accounts", "--config", cfg, "--cluster", "testbed", "--from-file", assoc, "--dry-run")
	if code != 0 || !strings.Contains(out, "create group") || !strings.Contains(out, "dry run") {
		t.Fatalf("dry run: exit %d, %q, %q", code, out, stderr)
	}
	code, out, stderr = cli(t, "collect", "slurm-accounts", "--config", cfg, "--cluster", "testbed", "--from-file", assoc)
	if code != 0 || !strings.Contains(out, "slurm-accounts testbed:") {
		t.Fatalf("sync: exit %d, %q, %q", code, out, stderr)
	}
	code, out, _ = cli(t, "collect", "slurm-accounts", "--config", cfg, "--cluster", "testbed", "--from-file", assoc, "--dry-run")
	if code != 0 || strings.Contains(out, "create group") {
		t.Fatalf("second dry run should change nothing: %q", out)
	}
}

func TestNoDatabaseIsAClearError(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("PARSIMONY_DATABASE_URL", "")
	code, _, stderr := cli(t, "report", "--from", "2026-10-01", "--to", "2026-11-01")
	if code != 1 || !strings.Contains(stderr, "DATABASE_URL") {
		t.Fatalf("exit %d, %q", code, stderr)
	}
}
