package slurm

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/ledger"
)

func TestMain(m *testing.M) {
	if os.Getenv("PARSIMONY_SLURM_CHILD") != "" {
		os.Exit(crashChild())
	}
	pgtest.Main(m)
}

func newLedger(t *testing.T, zone string) (*ledger.Ledger, *pgxpool.Pool, string) {
	t.Helper()
	t.Parallel()
	url := pgtest.NewDatabase(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	loc, _ := time.LoadLocation(zone)
	l, err := ledger.Open(context.Background(), pool, ledger.Options{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	return l, pool, url
}

func totalsByResource(t *testing.T, l *ledger.Ledger) map[string]string {
	t.Helper()
	rows, err := l.Report(context.Background(), ledger.ReportQuery{
		From: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r.Resource] = r.Quantity.String()
	}
	return out
}

func TestCollectFileTwiceEqualsOnce(t *testing.T) {
	l, _, _ := newLedger(t, "America/New_York")
	ctx := context.Background()
	ny := l.Location()
	asOf := time.Date(2026, 10, 6, 10, 0, 0, 0, ny)
	collect := func() Result {
		f, err := os.Open("testdata/sacct_mix.txt")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		res, err := CollectFile(ctx, l, f, asOf, Run{Cluster: "testbed", Location: ny})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := collect()
	if first.Counts.Ingested != 37 || first.Counts.Quarantined != 0 || first.Stats.Jobs != 14 {
		t.Fatalf("first: %s", first.Summary("testbed"))
	}
	if !strings.Contains(first.Summary("testbed"), "read 17 lines (14 jobs, 3 steps, 2 without usage), ingested 37") {
		t.Errorf("summary: %s", first.Summary("testbed"))
	}
	before := totalsByResource(t, l)
	second := collect()
	if second.Counts.Unchanged != 37 || second.Counts.Ingested != 0 || second.Counts.Revised != 0 {
		t.Fatalf("second: %s", second.Summary("testbed"))
	}
	if after := totalsByResource(t, l); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("totals changed: %v → %v", before, after)
	}
	// The running job, read later, is revised in place, not added.
	later := asOf.Add(time.Hour)
	f, _ := os.Open("testdata/sacct_mix.txt")
	defer f.Close()
	res, err := CollectFile(ctx, l, f, later, Run{Cluster: "testbed", Location: ny})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.Revised != 3 || res.Counts.Ingested != 0 {
		t.Fatalf("later: %s", res.Summary("testbed"))
	}
}

// fakeSacct writes a script standing in for sacct (for what a real sacct cannot be
// made to do on demand: fail, or print a fixed dump); the real one is exercised by
// the Slurm testbed test.
func fakeSacct(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sacct")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCollectLiveFailures(t *testing.T) {
	l, _, _ := newLedger(t, "UTC")
	ctx := context.Background()
	_, err := CollectLive(ctx, l, Run{Cluster: "hpc", Sacct: Sacct{Command: []string{"/nonexistent/bin/sacct"}}})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/bin/sacct") {
		t.Errorf("missing sacct: %v", err)
	}
	failing := fakeSacct(t, `echo "sacct: error: Problem talking to the database: Connection refused" >&2; exit 1`)
	_, err = CollectLive(ctx, l, Run{Cluster: "hpc", Sacct: Sacct{Command: []string{failing}}})
	if err == nil || !strings.Contains(err.Error(), failing) || !strings.Contains(err.Error(), "Connection refused") {
		t.Errorf("failing sacct: %v", err)
	}
	if _, ok, _ := l.Watermark(ctx, "slurm", "hpc"); ok {
		t.Error("a failed run set a watermark")
	}
	runs, _ := l.Runs(ctx, 5)
	if len(runs) != 2 || runs[0].Error == "" || runs[1].Error == "" {
		t.Errorf("runs: %+v", runs)
	}
}

// A live run cancelled while sacct is still talking (Ctrl-C, a deadline) stops
// sacct and still finishes its run row, failed, so it does not look live.
func TestCollectLiveCancelled(t *testing.T) {
	l, _, _ := newLedger(t, "UTC")
	hanging := fakeSacct(t, `exec sleep 60`)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := CollectLive(ctx, l, Run{Cluster: "hpc", Sacct: Sacct{Command: []string{hanging}}})
	if err == nil || time.Since(start) > 20*time.Second {
		t.Fatalf("cancelled run: %v after %s", err, time.Since(start))
	}
	runs, err := l.Runs(context.Background(), 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].State != ledger.RunFailed || runs[0].FinishedAt == nil || runs[0].Error == "" {
		t.Errorf("runs after a cancelled run: %+v", runs)
	}
}

// A live run reads [watermark − overlap, now] and moves the watermark to now.
func TestCollectLiveWindow(t *testing.T) {
	l, _, _ := newLedger(t, "UTC")
	ctx := context.Background()
	argsFile := filepath.Join(t.TempDir(), "args")
	// Prints one finished job in Parsimony's own format (epoch times, unit separator).
	line := strings.Join([]string{"42", "42", "job", "ann", "lab", "cpu", "normal", "COMPLETED", "0:0",
		"1790000000", "1790000000", "1790003600", "3600", "01:00:00", "1", "2", "4G", "", "01:00:00",
		"billing=2,cpu=2,mem=4G,node=1", "", "n1", "", ""}, Delimiter)
	sacct := fakeSacct(t, fmt.Sprintf(`echo "$@" >> %s; printf '%%s\n' '%s'`, argsFile, line))
	now := time.Date(2026, 10, 10, 12, 0, 0, 0, time.UTC)
	sacctmgr := fakeSacct(t, `case "$*" in *reservation*) echo 'Cluster|Name|ID|TRES|TimeStart|TimeEnd|Assocs|Flags';; *) echo 'ID|Account|User';; esac`)
	run := Run{Cluster: "hpc", Sacct: Sacct{Command: []string{sacct}, Cluster: "hpc-db"}, Sacctmgr: []string{sacctmgr},
		Overlap: 2 * time.Hour, Now: func() time.Time { return now }}
	res, err := CollectLive(ctx, l, run)
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.Ingested != 3 || !res.From.Equal(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("first run: %s from %v", res.Summary("hpc"), res.From)
	}
	now = now.Add(time.Hour)
	res, err = CollectLive(ctx, l, run)
	if err != nil {
		t.Fatal(err)
	}
	if !res.From.Equal(time.Date(2026, 10, 10, 10, 0, 0, 0, time.UTC)) || res.Counts.Unchanged != 3 {
		t.Fatalf("second run: from %v, %s", res.From, res.Summary("hpc"))
	}
	args, _ := os.ReadFile(argsFile)
	for _, want := range []string{"--starttime=2026-10-10T10:00:00", "--endtime=2026-10-10T13:00:00", "--clusters=hpc-db", "--duplicates", "--allusers", "--noconvert"} {
		if !strings.Contains(string(args), want) {
			t.Errorf("sacct args lack %s:\n%s", want, args)
		}
	}
}

// crashChild is the collector run as a separate process by TestKilledCollector.
func crashChild() int {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("PARSIMONY_SLURM_CHILD_DB"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer pool.Close()
	l, err := ledger.Open(ctx, pool, ledger.Options{Location: time.UTC})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	f, err := os.Open(os.Getenv("PARSIMONY_SLURM_CHILD"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer f.Close()
	if _, err := CollectFile(ctx, l, f, time.Unix(1800000000, 0), Run{Cluster: "hpc", Location: time.UTC}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// The collector killed (SIGKILL) at random points mid-ingest, then run again to the
// end, leaves exact totals: every batch is one transaction, and re-reading is
// idempotent.
func TestKilledCollector(t *testing.T) {
	l, pool, url := newLedger(t, "UTC")
	ctx := context.Background()
	dump := filepath.Join(t.TempDir(), "dump.txt")
	header := strings.ReplaceAll(FormatList(), ",", "|")
	body := strings.ReplaceAll(benchDump(240_000), Delimiter, "|")
	if err := os.WriteFile(dump, []byte(header+"\n"+body), 0o600); err != nil {
		t.Fatal(err)
	}
	// Ground truth: the dump converted in memory.
	rd, _ := NewDumpReader(strings.NewReader(header+"\n"+body), Format{})
	conv := NewConverter(Options{Cluster: "hpc", Now: time.Unix(1800000000, 0)})
	var out Output
	for {
		row, _, err := rd.Next()
		if err != nil {
			break
		}
		conv.Add(row, &out)
	}
	conv.Finish(&out)
	want := map[string]*big.Int{}
	for _, r := range out.Records {
		if want[r.Resource] == nil {
			want[r.Resource] = new(big.Int)
		}
		want[r.Resource].Add(want[r.Resource], big.NewInt(r.Quantity))
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 9))
	killed := 0
	for i := 0; i < 4; i++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "PARSIMONY_SLURM_CHILD="+dump, "PARSIMONY_SLURM_CHILD_DB="+url)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(150+rng.IntN(1500)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if status, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && status.Signaled() {
			killed++ // killed mid-run, not after finishing
		} else if err != nil {
			t.Fatalf("child failed: %v", err)
		}
	}
	if killed == 0 {
		t.Fatalf("seed %d: every child finished before it was killed; nothing was tested", seed)
	}
	f, _ := os.Open(dump)
	defer f.Close()
	res, err := CollectFile(ctx, l, f, time.Unix(1800000000, 0), Run{Cluster: "hpc", Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killed %d children; final run: %s", killed, res.Summary("hpc"))
	got := totalsByResource(t, l)
	for res, q := range want {
		if got[res] != q.String() {
			t.Errorf("%s: %s after kills and a rerun, want %s", res, got[res], q)
		}
	}
	var drift int
	err = pool.QueryRow(ctx, `
		SELECT count(*) FROM (
			SELECT resource, sum(quantity) FROM usage GROUP BY 1
			EXCEPT SELECT resource, sum(quantity) FROM rollup_daily GROUP BY 1) d`).Scan(&drift)
	if err != nil || drift != 0 {
		t.Fatalf("rollups drifted from usage: %d (%v)", drift, err)
	}
}
