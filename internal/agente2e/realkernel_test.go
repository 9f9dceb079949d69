package agente2e

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/agent"
	"github.com/parsimony-hpc/parsimony/agent/agentcmd"
	"github.com/parsimony-hpc/parsimony/collectors/cgroup"
)

// counterValue reads one of the agent's counters from its exposition.
func counterValue(t *testing.T, m *agent.Metrics, name string) float64 {
	t.Helper()
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(buf.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("the agent has no counter %s", name)
	return 0
}

// The agent, in process, samples a real cgroup of this machine every second
// while a process burns CPU in it as nobody, and pushes to a real server: the
// ledger's core-seconds of that user's slice are the kernel's usage_usec.
func TestAgentRealKernel(t *testing.T) {
	t.Parallel()
	slice := newKernelSlice(t, "inproc")
	hasMemory, _ := slice.logAbsentControllers(t)
	host := "agente2e-inproc"
	srv := startIngestServer(t, host)

	dir := t.TempDir()
	cfg := agent.Defaults()
	cfg.Server = srv.url()
	cfg.TokenFile = srv.writeToken(t, dir)
	cfg.Host = host
	cfg.Interval = time.Second
	cfg.Roots = []string{slice.root}
	cfg.StateDir = dir
	cfg.RequestTimeout = 10 * time.Second
	if err := cfg.Validate(true); err != nil {
		t.Fatal(err)
	}
	reader := cgroup.NewReader(slice.hierarchy, cgroup.ReaderConfig{Roots: cfg.Roots, Host: true, NoGPU: true})
	acct := cgroup.NewAccountant(cgroup.AccountConfig{Host: host, Window: cfg.Window})
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := agent.New(cfg, &agentcmd.Sampler{Reader: reader, Acct: acct}, log, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })

	// The slice is empty: its counter is the baseline of the agent's first sample.
	before := slice.usageUsec(t)
	ctx, stop := context.WithCancel(t.Context())
	var runErr error
	done := make(chan struct{})
	go func() { runErr = a.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	samples := func() float64 { return counterValue(t, a.Metrics(), "parsimony_agent_samples_total") }
	waitFor(t, 10*time.Second, "the agent's first sample", func() bool { return samples() >= 1 })

	b := startBurner(t, slice)
	time.Sleep(3500 * time.Millisecond)
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	kernel := slice.usageUsec(t) - before
	if kernel < 200_000 {
		t.Fatalf("the burner used only %d µs of CPU in 3.5 s: too little to compare (is the machine that loaded?)", kernel)
	}

	// Two more samples (the first may have begun before the burner died), all pushed.
	n := samples()
	waitFor(t, 10*time.Second, "two samples after the burner stopped", func() bool { return samples() >= n+2 })
	waitFor(t, 20*time.Second, "the spool to drain", func() bool { e, _ := a.Spool().Pending(); return e == 0 })
	stop()
	<-done
	if runErr != nil {
		t.Fatalf("agent: %v", runErr)
	}
	if e, r := a.Spool().Pending(); e != 0 {
		t.Errorf("%d entries (%d records) still spooled after a clean stop with the server up", e, r)
	}
	if got := counterValue(t, a.Metrics(), "parsimony_agent_read_errors_total"); got != 0 {
		t.Errorf("%v cgroup reads failed", got)
	}
	// Every sample after the burner died saw the final counter, so the ledger
	// is exact to its rounding: no interval lost.
	checkLedgerCPU(t, srv, host, slice, kernel, 0)

	if hasMemory {
		var n int
		if err := srv.pool.QueryRow(t.Context(), `SELECT count(*) FROM usage WHERE source = 'cgroup' AND cluster = $1 AND external_id = $2 AND resource = 'memory'`,
			host, slice.path).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Error("the slice has memory.current but the ledger has no memory record of it")
		}
	}
}
