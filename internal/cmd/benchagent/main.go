// Command benchagent measures the cgroup agent's footprint (the
// parsimony-agent binary that docs/agent.md tells sites to install, or with
// -full `parsimony agent` of the one parsimony binary) against the target: under 20 MB of resident memory and 0.5 % of one core with
// 500 user cgroups sampled every 30 s.
//
// It lays out a cgroup v2 tree of N user slices in a temporary directory
// (cpu.stat, memory.current, memory.peak, io.stat, cpu.max, memory.max, and
// the root's cpu.stat for the host's own), with a mountinfo file naming it,
// builds the agent's binary and runs the real agent on it as a child
// process, pushing to a sink on 127.0.0.1 that answers as the ingest API
// does. Between samples it advances every slice's counters, so each sample
// revises every slice's records. Time is compressed: the agent samples every
// -interval (1 s) rather than every 30 s, and the CPU time it used per sample
// (from /proc/PID/stat, after a warm-up) is what one sample costs; divided by
// -at (30 s) it is the CPU share at the real interval. Peak RSS is the
// agent's VmHWM from /proc/PID/status.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parsimony-hpc/parsimony/usagebatch"
)

// The targets.
const (
	targetRSSBytes   = 20 << 20
	targetCPUPercent = 0.5
)

type options struct {
	cgroups  int
	interval time.Duration
	duration time.Duration
	warmup   time.Duration
	at       time.Duration
	bin      string
	full     bool
	keep     bool
}

func main() {
	var o options
	flag.IntVar(&o.cgroups, "cgroups", 500, "user slices in the fixture tree")
	flag.DurationVar(&o.interval, "interval", time.Second, "the agent's sampling interval during the run (compressed time)")
	flag.DurationVar(&o.duration, "duration", 60*time.Second, "how long the measured part runs")
	flag.DurationVar(&o.warmup, "warmup", 5*time.Second, "how long the agent runs before measuring (start-up, the first baseline sample)")
	flag.DurationVar(&o.at, "at", 30*time.Second, "the real sampling interval the CPU share is reported at")
	flag.StringVar(&o.bin, "bin", "", "an agent binary to run (default: build ./cmd/parsimony-agent, or ./cmd/parsimony with -full)")
	flag.BoolVar(&o.full, "full", false, "measure `parsimony agent` of the full parsimony binary rather than parsimony-agent")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (fixture tree, state, agent log)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	over, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchagent:", err)
		os.Exit(1)
	}
	if over {
		os.Exit(2)
	}
}

func run(ctx context.Context, o options) (over bool, err error) {
	if o.cgroups < 1 || o.interval < time.Second || o.duration < o.interval || o.at <= 0 {
		return false, errors.New("-cgroups must be positive, -interval at least 1s and -duration at least one interval")
	}
	dir, err := os.MkdirTemp("", "parsimony-benchagent-")
	if err != nil {
		return false, err
	}
	if o.keep {
		fmt.Println("keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}

	bin, pkg, args := o.bin, "./cmd/parsimony-agent", []string{}
	if o.full {
		pkg, args = "./cmd/parsimony", []string{"agent"}
	}
	if bin == "" {
		bin = filepath.Join(dir, filepath.Base(pkg))
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		if out, err := build.CombinedOutput(); err != nil {
			return false, fmt.Errorf("go build %s (run from the repository's root): %w\n%s", pkg, err, out)
		}
	}

	tree := &fixture{root: filepath.Join(dir, "cgroup"), n: o.cgroups, rng: rand.New(rand.NewPCG(1, 2))}
	if err := tree.create(); err != nil {
		return false, err
	}
	mountinfo := filepath.Join(dir, "mountinfo")
	if err := os.WriteFile(mountinfo, fmt.Appendf(nil, "41 31 0:38 / %s rw,relatime - cgroup2 cgroup2 rw\n", tree.root), 0o644); err != nil {
		return false, err
	}

	sink, err := startSink()
	if err != nil {
		return false, err
	}
	defer sink.srv.Close()
	metricsAddr, err := freeAddr()
	if err != nil {
		return false, err
	}
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("bench-token\n"), 0o600); err != nil {
		return false, err
	}
	config := filepath.Join(dir, "agent.toml")
	if err := os.WriteFile(config, fmt.Appendf(nil, `server = %q
token_file = %q
host = "bench"
interval = %q
window = "1h"
state_dir = %q
mountinfo = %q
nvidia_smi = "off"
metrics_listen = %q
`, "http://"+sink.addr, token, o.interval.String(), filepath.Join(dir, "state"), mountinfo, metricsAddr), 0o600); err != nil {
		return false, err
	}

	logFile, err := os.Create(filepath.Join(dir, "agent.log"))
	if err != nil {
		return false, err
	}
	defer logFile.Close()
	agent := exec.Command(bin, append(args, "--config", config)...)
	agent.Stdout, agent.Stderr = logFile, logFile
	agent.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := agent.Start(); err != nil {
		return false, fmt.Errorf("starting the agent: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- agent.Wait() }()
	defer func() {
		agent.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			agent.Process.Kill()
			<-exited
		}
	}()

	// Counters move half an interval after each sample, so every sample sees
	// every slice changed and revises all its records.
	advanceCtx, stopAdvance := context.WithCancel(ctx)
	defer stopAdvance()
	advanced := make(chan error, 1)
	go func() { advanced <- tree.advanceEvery(advanceCtx, o.interval) }()

	pid := agent.Process.Pid
	if err := sleep(ctx, o.warmup, exited); err != nil {
		return false, err
	}
	cpu0, err := cpuTicks(pid)
	if err != nil {
		return false, err
	}
	samples0, err := scrapeSamples(metricsAddr)
	if err != nil {
		return false, err
	}
	records0 := sink.records.Load()
	if err := sleep(ctx, o.duration, exited); err != nil {
		return false, err
	}
	cpu1, err := cpuTicks(pid)
	if err != nil {
		return false, err
	}
	samples1, err := scrapeSamples(metricsAddr)
	if err != nil {
		return false, err
	}
	records := sink.records.Load() - records0
	mem, err := memory(pid)
	if err != nil {
		return false, err
	}
	stopAdvance()
	if err := <-advanced; err != nil && !errors.Is(err, context.Canceled) {
		return false, err
	}

	samples := samples1 - samples0
	if samples < 1 {
		return false, fmt.Errorf("the agent took no sample in %s (see %s)", o.duration, logFile.Name())
	}
	const ticksPerSecond = 100 // USER_HZ, fixed on Linux for /proc
	cpu := time.Duration(cpu1-cpu0) * time.Second / ticksPerSecond
	perSample := cpu / time.Duration(samples)
	share := 100 * perSample.Seconds() / o.at.Seconds()
	fmt.Printf("agent footprint (%s): %d cgroups, %d samples every %s over %s (after %s warm-up), %d records pushed (%d a sample)\n",
		strings.Join(append([]string{filepath.Base(bin)}, args...), " "), o.cgroups, samples, o.interval, o.duration, o.warmup, records, records/int64(samples))
	fmt.Printf("  CPU: %s in %d samples = %.1f ms a sample → %.3f %% of one core at one sample every %s (target < %.1f %%)\n",
		cpu, samples, float64(perSample.Microseconds())/1000, share, o.at, targetCPUPercent)
	fmt.Printf("  memory: peak RSS (VmHWM) %.1f MB, RSS at the end %.1f MB: %.1f MB anonymous (heap, stacks), %.1f MB of the binary's pages (target < %d MB)\n",
		mb(mem["VmHWM"]), mb(mem["VmRSS"]), mb(mem["RssAnon"]), mb(mem["RssFile"]), targetRSSBytes>>20)
	if mem["VmHWM"] >= targetRSSBytes || share >= targetCPUPercent {
		fmt.Println("  OVER TARGET")
		over = true
	}
	return over, nil
}

// sleep waits d, or returns early with an error if the agent exits or ctx ends.
func sleep(ctx context.Context, d time.Duration, exited <-chan error) error {
	select {
	case <-time.After(d):
		return nil
	case err := <-exited:
		return fmt.Errorf("the agent exited: %v", err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fixture is a cgroup v2 tree of n user slices whose counters it advances.
type fixture struct {
	root string
	n    int
	rng  *rand.Rand

	rootUsec uint64
	slices   []sliceCounters
}

type sliceCounters struct {
	usageUsec, memory, peak, rbytes, wbytes uint64
}

func (f *fixture) sliceDir(i int) string {
	return filepath.Join(f.root, "user.slice", fmt.Sprintf("user-%d.slice", 20000+i))
}

func (f *fixture) create() error {
	f.slices = make([]sliceCounters, f.n)
	for i := range f.slices {
		d := f.sliceDir(i)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		// Half the slices have limits, half none, as on a machine where some
		// users have a configured share.
		cpuMax, memMax := "max 100000\n", "max\n"
		if i%2 == 0 {
			cpuMax, memMax = "400000 100000\n", "17179869184\n"
		}
		if err := writeFile(filepath.Join(d, "cpu.max"), cpuMax); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(d, "memory.max"), memMax); err != nil {
			return err
		}
	}
	return f.advance(time.Second)
}

// advance moves every slice's counters by up to four cores' CPU over d and
// some I/O, and sets its memory anew.
func (f *fixture) advance(d time.Duration) error {
	for i := range f.slices {
		s := &f.slices[i]
		cpu := f.rng.Uint64N(uint64(4 * d.Microseconds()))
		s.usageUsec += cpu
		f.rootUsec += cpu
		s.memory = 1<<20 + f.rng.Uint64N(8<<30)
		s.peak = max(s.peak, s.memory)
		s.rbytes += f.rng.Uint64N(64 << 20)
		s.wbytes += f.rng.Uint64N(16 << 20)
		dir := f.sliceDir(i)
		files := []struct{ name, text string }{
			{"cpu.stat", fmt.Sprintf("usage_usec %d\nuser_usec %d\nsystem_usec %d\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\nnr_bursts 0\nburst_usec 0\n",
				s.usageUsec, s.usageUsec*9/10, s.usageUsec-s.usageUsec*9/10)},
			{"memory.current", fmt.Sprintf("%d\n", s.memory)},
			{"memory.peak", fmt.Sprintf("%d\n", s.peak)},
			{"io.stat", fmt.Sprintf("8:0 rbytes=%d wbytes=%d rios=%d wios=%d dbytes=0 dios=0\n259:0 rbytes=%d wbytes=%d rios=1 wios=1 dbytes=0 dios=0\n",
				s.rbytes, s.wbytes, s.rbytes>>12, s.wbytes>>12, s.rbytes/3, s.wbytes/3)},
		}
		for _, file := range files {
			if err := writeFile(filepath.Join(dir, file.name), file.text); err != nil {
				return err
			}
		}
	}
	f.rootUsec += f.rng.Uint64N(uint64(d.Microseconds()))
	return writeFile(filepath.Join(f.root, "cpu.stat"), fmt.Sprintf("usage_usec %d\nuser_usec %d\nsystem_usec 0\n", f.rootUsec, f.rootUsec))
}

// advanceEvery advances the counters half an interval after each of the
// agent's aligned samples.
func (f *fixture) advanceEvery(ctx context.Context, interval time.Duration) error {
	for {
		now := time.Now()
		next := now.Truncate(interval).Add(interval / 2)
		if !next.After(now) {
			next = next.Add(interval)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(next.Sub(now)):
		}
		if err := f.advance(interval); err != nil {
			return err
		}
	}
}

// writeFile replaces a file whole (a rename), so the agent never reads half of one.
func writeFile(name, text string) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// sink answers POST /api/v1/usage as the ingest API does, counting records.
type sink struct {
	srv     *http.Server
	addr    string
	records atomic.Int64
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{addr: ln.Addr().String()}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/usage", func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, `{"error":"bad gzip"}`, http.StatusBadRequest)
				return
			}
			body = zr
		}
		var b usagebatch.Batch
		if err := json.NewDecoder(body).Decode(&b); err != nil {
			http.Error(w, `{"error":"bad JSON"}`, http.StatusBadRequest)
			return
		}
		s.records.Add(int64(len(b.Records)))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"read":%d,"ingested":%d,"revised":0,"unchanged":0,"quarantined":0}`, len(b.Records), len(b.Records))
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// freeAddr is a 127.0.0.1 port free a moment ago, for the agent's metrics.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// scrapeSamples reads parsimony_agent_samples_total from the agent's metrics,
// waiting for it to serve them.
func scrapeSamples(addr string) (int64, error) {
	var lastErr error
	for range 50 {
		v, err := scrapeOnce(addr)
		if err == nil {
			return v, nil
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	return 0, fmt.Errorf("the agent's metrics on %s: %w", addr, lastErr)
}

func scrapeOnce(addr string) (int64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "parsimony_agent_samples_total "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int64(f), err
		}
	}
	return 0, errors.New("no parsimony_agent_samples_total")
}

// cpuTicks is a process's user and system time in clock ticks
// (/proc/PID/stat's utime and stime, fields 14 and 15).
func cpuTicks(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, data)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %q", pid, data)
	}
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return utime + stime, nil
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// memory is a process's memory figures from /proc/PID/status, in bytes:
// VmHWM (peak RSS), VmRSS, RssAnon and RssFile.
func memory(pid int) (map[string]int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for line := range strings.Lines(string(data)) {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch name {
		case "VmHWM", "VmRSS", "RssAnon", "RssFile":
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(value), " kB"), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("/proc/%d/status %s: %q", pid, name, value)
			}
			out[name] = kb << 10
		}
	}
	if out["VmHWM"] == 0 {
		return nil, fmt.Errorf("/proc/%d/status has no VmHWM", pid)
	}
	return out, nil
}
