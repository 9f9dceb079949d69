package ledger_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// runHelperURL, when set, makes TestRunHelperProcess a collector that starts a
// run (through Collect) in the database it names and hangs, for its parent test
// to kill.
const runHelperURL = "PARSIMONY_TEST_RUN_HELPER_URL"

// TestRunHelperProcess is not a test of its own: TestKilledRunIsAbandoned runs
// the test binary again with runHelperURL set, and this is what that process
// does. Without the variable it does nothing.
func TestRunHelperProcess(t *testing.T) {
	url := os.Getenv(runHelperURL)
	if url == "" {
		return
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	l, err := ledger.Open(ctx, pool, ledger.Options{Location: time.UTC, Logger: testLogger()})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	// A collector inside Collect, as every real one runs.
	_, err = l.Collect(ctx, "slurm", "hpc", time.Time{}, time.Time{}, func(ctx context.Context, sink *ledger.Sink) (time.Time, error) {
		fmt.Printf("started %d\n", sink.RunID())
		time.Sleep(5 * time.Minute) // until killed
		return time.Time{}, nil
	})
	fmt.Println("error:", err)
	os.Exit(1)
}

// startRunInProcess starts a run of slurm on hpc in a process of its own (this
// test binary again) and returns the run's id and the process.
func startRunInProcess(t *testing.T, s setup) (int64, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), runHelperURL+"="+s.pool.Config().ConnString())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	id, ok := strings.CutPrefix(strings.TrimSpace(line), "started ")
	n, perr := strconv.ParseInt(id, 10, 64)
	if err != nil || !ok || perr != nil {
		t.Fatalf("helper process: %q %v", line, err)
	}
	return n, cmd
}

func runByID(t *testing.T, s setup, id int64) ledger.Run {
	t.Helper()
	runs, err := s.l.Runs(s.ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range runs {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no run %d", id)
	return ledger.Run{}
}

// A collector killed with kill -9 leaves its run unfinished; the next run of the
// same source and cluster marks it abandoned, with a finish time and the reason.
// A run that is still going in another process is left running.
func TestKilledRunIsAbandoned(t *testing.T) {
	s := newSetup(t, "UTC")
	live, liveProc := startRunInProcess(t, s)
	doomed, doomedProc := startRunInProcess(t, s)
	if err := doomedProc.Process.Kill(); err != nil { // SIGKILL: no FinishRun, no clean-up
		t.Fatal(err)
	}
	doomedProc.Wait()
	// PostgreSQL ends the dead process's session when it sees the connection
	// close; wait for that, as the next run of a real collector (minutes later) does.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var held bool
		if err := s.pool.QueryRow(s.ctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND objid = $1::bigint::oid
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`, doomed).Scan(&held); err != nil {
			t.Fatal(err)
		}
		if !held {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the killed process's session still holds its run's lock")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := runByID(t, s, doomed); r.State != ledger.RunRunning {
		t.Fatalf("before the next run, the killed run is %s", r.State)
	}
	// Another source's run does not touch them.
	other, err := s.l.StartRun(s.ctx, "csv", "hpc", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if r := runByID(t, s, doomed); r.State != ledger.RunRunning {
		t.Fatalf("a csv run marked the slurm run %s", r.State)
	}

	next, err := s.l.StartRun(s.ctx, "slurm", "hpc", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	r := runByID(t, s, doomed)
	if r.State != ledger.RunAbandoned || r.FinishedAt == nil || !strings.Contains(r.Error, "abandoned") || !strings.Contains(r.Error, fmt.Sprint(next)) {
		t.Errorf("the killed run after the next one started: state %s, finished %v, error %q", r.State, r.FinishedAt, r.Error)
	}
	if r := runByID(t, s, live); r.State != ledger.RunRunning || r.FinishedAt != nil {
		t.Errorf("the run still going in another process: state %s, finished %v; want running", r.State, r.FinishedAt)
	}
	if r := runByID(t, s, next); r.State != ledger.RunRunning {
		t.Errorf("the new run: %s", r.State)
	}
	// The abandoned run set no watermark; the live one finishes normally.
	if _, ok, err := s.l.Watermark(s.ctx, "slurm", "hpc"); ok || err != nil {
		t.Errorf("watermark after an abandoned run: %v %v", ok, err)
	}
	for _, id := range []int64{next, other} {
		if err := s.l.FinishRun(s.ctx, id, ledger.Counts{Read: 1}, time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), nil); err != nil {
			t.Fatal(err)
		}
	}
	if r := runByID(t, s, next); r.State != ledger.RunDone || r.FinishedAt == nil {
		t.Errorf("a finished run: %s", r.State)
	}
	liveProc.Process.Kill()
	liveProc.Wait()
}

// Runs in one process, overlapping, are all live; a run left unfinished by a
// process that had no lock (a build before runs held one) is abandoned; failed
// runs say so.
func TestRunStates(t *testing.T) {
	s := newSetup(t, "UTC")
	var legacy int64
	if err := s.pool.QueryRow(s.ctx, `INSERT INTO collector_runs (source, cluster) VALUES ('slurm', 'hpc') RETURNING id`).Scan(&legacy); err != nil {
		t.Fatal(err)
	}
	a, err := s.l.StartRun(s.ctx, "slurm", "hpc", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.l.StartRun(s.ctx, "slurm", "hpc", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id   int64
		want string
	}{{legacy, ledger.RunAbandoned}, {a, ledger.RunRunning}, {b, ledger.RunRunning}} {
		if r := runByID(t, s, tt.id); r.State != tt.want {
			t.Errorf("run %d: %s, want %s", tt.id, r.State, tt.want)
		}
	}
	if err := s.l.FinishRun(s.ctx, a, ledger.Counts{}, time.Time{}, context.DeadlineExceeded); err != nil {
		t.Fatal(err)
	}
	if err := s.l.FinishRun(s.ctx, b, ledger.Counts{}, time.Time{}, nil); err != nil {
		t.Fatal(err)
	}
	if r := runByID(t, s, a); r.State != ledger.RunFailed || r.Error == "" {
		t.Errorf("failed run: %s %q", r.State, r.Error)
	}
	if r := runByID(t, s, b); r.State != ledger.RunDone || r.Error != "" {
		t.Errorf("good run: %s %q", r.State, r.Error)
	}
	// Finished runs hold no lock (their connections are closed). The server ends a
	// closed connection's backend, and so frees its locks, a moment after the
	// client has gone: wait for it, a few seconds at most.
	var locks int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if err := s.pool.QueryRow(s.ctx, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&locks); err != nil {
			t.Fatal(err)
		}
		if locks == 0 || time.Now().After(deadline) {
			break
		}
	}
	if locks != 0 {
		t.Errorf("%d run locks held after every run finished", locks)
	}
}

// LastSuccessfulRuns skips a later failed run; CollectorStates gives the latest
// run's state.
func TestLastSuccessfulRunsAndCollectorStates(t *testing.T) {
	s := newSetup(t, "UTC")
	from, to := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 9, 2, 0, 0, 0, 0, time.UTC)
	c, err := s.l.Collect(s.ctx, "slurm", "hpc", from, to, func(ctx context.Context, sink *ledger.Sink) (time.Time, error) {
		_, err := sink.Ingest(ctx, collectBatch("1"))
		return to, err
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.l.Collect(s.ctx, "slurm", "hpc", to, to.Add(24*time.Hour), func(ctx context.Context, sink *ledger.Sink) (time.Time, error) {
		return time.Time{}, fmt.Errorf("sacct: timed out")
	})
	if err == nil {
		t.Fatal("the failing run did not fail")
	}
	runs, err := s.l.LastSuccessfulRuns(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Source != "slurm" || runs[0].Cluster != "hpc" || runs[0].FinishedAt == nil || runs[0].Counts != c || runs[0].State != ledger.RunDone {
		t.Errorf("last successful runs %+v, want the done one with %+v", runs, c)
	}
	states, err := s.l.CollectorStates(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 1 || states[0] != (ledger.CollectorState{Source: "slurm", Cluster: "hpc", State: ledger.RunFailed}) {
		t.Errorf("collector states %+v", states)
	}
}
