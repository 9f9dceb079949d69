package agente2e

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/agent"
)

// buildParsimony builds cmd/parsimony once per test binary (with -race when
// the tests are, so the build cache's packages are shared).
var buildParsimony = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "parsimony-agente2e-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "parsimony")
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command(goCmd, append(args, "github.com/parsimony-hpc/parsimony/cmd/parsimony")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/parsimony: %v\n%s", err, out)
	}
	return bin, nil
})

// agentProcess is `parsimony agent --config FILE` running as a child process.
type agentProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// startAgent starts the agent binary; its log goes to logw.
func startAgent(t *testing.T, bin, config string, logw io.Writer) *agentProcess {
	t.Helper()
	cmd := exec.Command(bin, "agent", "--config", config)
	cmd.Stdout, cmd.Stderr = logw, logw
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the agent: %v", err)
	}
	p := &agentProcess{cmd: cmd, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.signal(syscall.SIGKILL); <-p.done })
	return p
}

func (p *agentProcess) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(sig)
	}
}

// kill9 kills the agent with SIGKILL and waits for it.
func (p *agentProcess) kill9(t *testing.T) {
	t.Helper()
	p.signal(syscall.SIGKILL)
	<-p.done
}

// terminate stops the agent as systemd does (SIGTERM) and waits for its
// clean exit: a last sample and a bounded last push.
func (p *agentProcess) terminate(t *testing.T, timeout time.Duration) {
	t.Helper()
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("the agent's exit after SIGTERM: %v", p.err)
		}
	case <-time.After(timeout):
		t.Fatalf("the agent did not stop within %s of SIGTERM", timeout)
	}
}

// syncBuffer is a log the agent processes write to and the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The agent binary through an outage and two kill -9s: it samples a real
// cgroup every second while a process burns CPU in it; the server goes away
// for several intervals; the agent is killed while the server is away and
// again at the server's first request once it is back (so possibly between
// the server storing a batch and the agent recording that it did), and each
// time restarted on the same state directory. Once everything runs again and
// the spool has drained, the ledger holds the kernel's usage_usec delta over
// the whole run: nothing doubled by the replays, nothing lost beyond the
// documented bound, and the spool is empty.
func TestAgentKilledWhileServerAway(t *testing.T) {
	t.Parallel()
	bin, err := buildParsimony()
	if err != nil {
		t.Fatal(err)
	}
	slice := newKernelSlice(t, "fault")
	slice.logAbsentControllers(t)
	host := "agente2e-fault"
	srv := startIngestServer(t, host)

	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	config := filepath.Join(dir, "agent.toml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `
server = %q
token_file = %q
host = %q
interval = "1s"
window = "1h"
roots = [%q]
state_dir = %q
nvidia_smi = "off"
request_timeout = "5s"
shutdown_push = "10s"
`, srv.url(), srv.writeToken(t, dir), host, slice.root, stateDir), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the agents' logs:\n%s", logs.String())
		}
	})
	stateSaved := func() bool {
		_, err := os.Stat(filepath.Join(stateDir, "sampler.state"))
		return err == nil
	}

	// The slice is empty when the first agent takes its baseline.
	before := slice.usageUsec(t)
	first := startAgent(t, bin, config, logs)
	waitFor(t, 20*time.Second, "the first agent's first sample (its state file)", stateSaved)
	b := startBurner(t, slice)
	time.Sleep(2 * time.Second)

	// The server goes away; the agent keeps sampling into its spool.
	srv.down()
	time.Sleep(2500 * time.Millisecond)
	first.kill9(t)
	t.Log("killed the agent while the server was away")

	second := startAgent(t, bin, config, logs)
	time.Sleep(3 * time.Second)

	// The server comes back on the same address; the agent is killed the
	// moment its first request arrives, before it can have heard the answer.
	requests := srv.notifyRequests()
	srv.up(t, srv.addr)
	select {
	case <-requests:
	case <-time.After(30 * time.Second):
		t.Fatal("the restarted agent sent nothing within 30 s of the server coming back")
	}
	second.kill9(t)
	t.Log("killed the agent at the server's first request after the outage")

	third := startAgent(t, bin, config, logs)
	time.Sleep(2 * time.Second)
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	kernel := slice.usageUsec(t) - before
	if kernel < 1_000_000 {
		t.Fatalf("the burner used only %d µs of CPU in about 10 s: too little to compare (is the machine that loaded?)", kernel)
	}
	// Two samples see the final counter; SIGTERM takes one more and pushes
	// what is pending.
	time.Sleep(2500 * time.Millisecond)
	third.terminate(t, 30*time.Second)

	spool, err := agent.OpenSpool(stateDir, agent.DefaultSpoolMaxBytes, slog.New(slog.NewTextHandler(io.Discard, nil)), agent.NewMetrics())
	if err != nil {
		t.Fatalf("opening the spool after the run: %v", err)
	}
	if e, r := spool.Pending(); e != 0 || r != 0 {
		t.Errorf("the spool still holds %d entries (%d records) after a clean stop with the server up", e, r)
	}
	if err := spool.Close(); err != nil {
		t.Error(err)
	}
	// kill -9 loses at most the interval being sampled (the brief's bound):
	// one second of one core.
	checkLedgerCPU(t, srv, host, slice, kernel, time.Second)
}
