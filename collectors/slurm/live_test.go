//go:build slurmtestbed

package slurm

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/collectors/slurmassoc"
)

// TestLiveTestbed collects from the running Slurm testbed (make test-slurm brings it
// up and runs the job mix first): the account tree with sacctmgr, the jobs with sacct
// and the reservations, then checks the ledger against sreport per account and per
// user, the synced groups against sacctmgr's tree, and that a second collection
// changes nothing.
func TestLiveTestbed(t *testing.T) {
	if os.Getenv("SLURM_CONF") == "" {
		t.Fatal("SLURM_CONF is not set: run this through `make test-slurm`")
	}
	l, _, _ := newLedger(t, "UTC")
	ctx := context.Background()
	run := func(name string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), "TZ=UTC")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
		}
		return out
	}

	// The account tree, live.
	tree, rejects, err := slurmassoc.Parse(bytes.NewReader(run("sacctmgr", slurmassoc.Args("testbed")...)))
	if err != nil || len(rejects) > 0 {
		t.Fatalf("assoc tree: %v %v", err, rejects)
	}
	changes, err := slurmassoc.Plan(ctx, l, "testbed", tree)
	if err != nil {
		t.Fatal(err)
	}
	if err := slurmassoc.Apply(ctx, l, "test", changes); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(run("sacctmgr", "-P", "-n", "show", "assoc", "cluster=testbed", "format=Account,ParentName,User")), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 3 || f[2] != "" || f[0] == "root" {
			continue
		}
		g, err := l.GroupBySlug(ctx, f[0])
		if err != nil {
			t.Fatalf("account %s: %v", f[0], err)
		}
		parent := "root"
		if g.ParentID != 0 {
			p, _ := l.GroupByID(ctx, g.ParentID)
			parent = p.Slug
		}
		if parent != f[1] {
			t.Errorf("group %s under %s, Slurm's parent %s", f[0], parent, f[1])
		}
	}

	// The jobs the testbed just ran, live.
	// sacct from well before the mix began; sreport from the hour the first job
	// started — the testbed rolls up from there, and an hour before it has no
	// rollup, which makes sreport answer nothing for the whole window.
	now := time.Now().UTC().Truncate(time.Second)
	live := Run{Cluster: "testbed", Sacct: Sacct{Cluster: "testbed"}, Since: now.Add(-3 * time.Hour).Truncate(time.Hour), Until: now}
	res, err := CollectLive(ctx, l, live)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(res.Summary("testbed"))
	if res.Counts.Quarantined != 0 || res.Stats.Jobs == 0 {
		q, _ := l.Quarantined(ctx, 10)
		t.Fatalf("first collection: %s; quarantine %+v", res.Summary("testbed"), q)
	}

	var first time.Time
	if err := l.Pool().QueryRow(ctx, `SELECT min(record_start) FROM usage WHERE cluster = 'testbed'`).Scan(&first); err != nil {
		t.Fatal(err)
	}
	from := first.UTC().Truncate(time.Hour)

	// sreport, over whole hours, after forcing the rollups. slurmdbd may still be
	// writing the rollup when sacctmgr returns (seen on a loaded machine: sreport
	// answered nothing), so ask again for up to a minute.
	end := now.Truncate(time.Hour).Add(time.Hour)
	var report []byte
	for attempt := 0; ; attempt++ {
		run(filepath.Join("..", "..", "scripts", "slurm-testbed"), "rollup")
		report = run("sreport", "-P", "-t", "Seconds", "cluster", "AccountUtilizationByUser", "cluster=testbed",
			"start="+from.Format("2006-01-02T15:04:05"), "end="+end.Format("2006-01-02T15:04:05"))
		if bytes.Count(report, []byte("testbed|")) >= 3 || attempt == 12 {
			break
		}
		t.Logf("sreport has no rows yet (attempt %d); rolling up again", attempt+1)
		time.Sleep(5 * time.Second)
	}
	path := filepath.Join(t.TempDir(), "sreport.psv")
	os.WriteFile(path, report, 0o600)
	compareWithSreport(t, l, path, from, end)

	// A second collection over the same window changes nothing.
	again, err := CollectLive(ctx, l, live)
	if err != nil {
		t.Fatal(err)
	}
	if again.Counts.Ingested != 0 || again.Counts.Revised != 0 || again.Counts.Unchanged != res.Counts.Ingested {
		t.Errorf("second collection: %s (first ingested %d)", again.Summary("testbed"), res.Counts.Ingested)
	}
}
