package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/internal/pgtest"
)

// peerSlurm finds the peer sacct fixtures in shared/peer-slurm above the test's
// folder (beside the checkout); missing, the test fails rather than skips.
func peerSlurm(t *testing.T) string {
	t.Helper()
	wd, _ := os.Getwd()
	for dir := wd; filepath.Dir(dir) != dir; dir = filepath.Dir(dir) {
		if fi, err := os.Stat(filepath.Join(dir, "shared", "peer-slurm")); err == nil && fi.IsDir() {
			return filepath.Join(dir, "shared", "peer-slurm")
		}
	}
	t.Fatalf("peer Slurm fixtures not found: no shared/peer-slurm above %s (they live beside the checkout, never in it)", wd)
	return ""
}

// A failed dump run exits non-zero and prints why (the error was once only stored
// in collector_runs, with exit status 0); the run is recorded as failed.
func TestCollectSlurmFailureExitsNonZero(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	cfg := configFor(t, url, "UTC")
	file := filepath.Join(t.TempDir(), "jobs.txt")
	os.WriteFile(file, []byte("JobID|User|State|Start|End|ElapsedRaw|AllocCPUS\n1|ann|COMPLETED|1790000000|1790000060|60|1\n"), 0o600)
	code, _, stderr := cli(t, "collect", "slurm", "--config", cfg, "--cluster", "hpc", "--from-file", file)
	if code != 1 || !strings.Contains(stderr, "lacks Account, which billing needs") {
		t.Fatalf("exit %d, stderr %q; want 1 and the missing Account named", code, stderr)
	}
	if code, _, stderr := cli(t, "collect", "slurm", "--config", cfg, "--cluster", "hpc", "--from-file", filepath.Join(t.TempDir(), "none")); code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing file: exit %d, %q", code, stderr)
	}
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var failed int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM collector_runs WHERE error LIKE '%Account%'`).Scan(&failed); err != nil || failed != 1 {
		t.Errorf("failed runs recorded: %d (%v)", failed, err)
	}
}

// Dumps as their producers wrote them load from the command line: XDMoD's
// headerless 26 fields with --format, Hábrók's ☃ dump with --format and --account;
// running jobs are charged up to the dump's own time unless --as-of says otherwise.
func TestCollectSlurmPeerDumps(t *testing.T) {
	t.Parallel()
	peer := peerSlurm(t)
	cfg := configFor(t, pgtest.NewDatabase(t), "UTC")
	code, out, stderr := cli(t, "collect", "slurm", "--config", cfg, "--cluster", "ub-hpc", "--from-file", filepath.Join(peer, "xdmod/accounting-logs.log"),
		"--format", "jobid,jobidraw,cluster,partition,qos,account,group,gid,user,uid,submit,eligible,start,end,elapsed,exitcode,state,nnodes,ncpus,reqcpus,reqmem,reqtres,alloctres,timelimit,nodelist,jobname")
	if code != 0 || !strings.Contains(out, "read 4 lines (4 jobs, 0 steps, 1 without usage), ingested 9,") || !strings.Contains(out, "quarantined 0") {
		t.Fatalf("xdmod: exit %d, %q, %q", code, out, stderr)
	}
	jobinfo := "--format=JobID,JobName,User,Partition,NodeList,NNodes,NCPUs,NTasks,State,Submit,Start,End,Timelimit,Elapsed,TotalCPU,CPUTime,UserCPU,SystemCPU,ReqMem,MaxRSS,MaxVMSize,ReqTRES,AllocTRES,TRESUsageInMax,TRESUsageInTot,TRESUsageOutTot,MaxDiskRead,MaxDiskWrite,MaxRSSNode,MaxRSSTask,MaxVMSizeNode,MaxVMSizeTask,MaxDiskReadNode,MaxDiskReadTask,MaxDiskWriteNode,MaxDiskWriteTask,Comment"
	hb := filepath.Join(peer, "hb-jobinfo/sacct.txt")
	code, out, stderr = cli(t, "collect", "slurm", "--config", cfg, "--cluster", "habrok", "--from-file", hb, "--time-zone", "Europe/Amsterdam", jobinfo, "--account", "hb-project")
	if code != 0 || !strings.Contains(out, "read 242 lines (100 jobs, 142 steps") || !strings.Contains(out, "quarantined 0") ||
		!strings.Contains(out, "3 running job(s) charged up to 2024-04-19T11:11:52Z (the latest time in the dump") {
		t.Fatalf("jobinfo: exit %d, %q, %q", code, out, stderr)
	}
	// Read again later: the running jobs are revised in place, nothing else changes.
	code, out, stderr = cli(t, "collect", "slurm", "--config", cfg, "--cluster", "habrok", "--from-file", hb, "--time-zone", "Europe/Amsterdam", jobinfo, "--account", "hb-project",
		"--as-of", time.Date(2024, 4, 19, 12, 0, 0, 0, time.UTC).Format(time.RFC3339))
	if code != 0 || !strings.Contains(out, "ingested 0, revised") || !strings.Contains(out, "3 running job(s) charged up to 2024-04-19T12:00:00Z (given)") {
		t.Fatalf("jobinfo --as-of: exit %d, %q, %q", code, out, stderr)
	}
	// --delimiter as given (the same dump again: nothing changes).
	code, out, stderr = cli(t, "collect", "slurm", "--config", cfg, "--cluster", "habrok", "--from-file", hb, "--time-zone", "Europe/Amsterdam", jobinfo, "--account", "hb-project",
		"--delimiter", "☃", "--as-of", "2024-04-19T12:00:00Z")
	if code != 0 || !strings.Contains(out, "ingested 0, revised 0,") || !strings.Contains(out, "quarantined 0") {
		t.Fatalf("jobinfo --delimiter ☃: exit %d, %q, %q", code, out, stderr)
	}
	if code, _, stderr := cli(t, "collect", "slurm", "--config", cfg, "--cluster", "habrok", "--as-of", "2024-04-19"); code != 2 || !strings.Contains(stderr, "go with --from-file") {
		t.Errorf("--as-of without a dump: exit %d, %q", code, stderr)
	}
	if code, _, stderr := cli(t, "collect", "slurm", "--config", cfg, "--cluster", "habrok", "--from-file", hb, "--delimiter", `\x1f`, jobinfo, "--account", "x"); code != 1 || !strings.Contains(stderr, "delimiter") {
		t.Errorf("wrong --delimiter: exit %d, %q", code, stderr)
	}
}
