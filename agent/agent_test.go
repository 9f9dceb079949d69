package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/usagebatch"
)

// fakeSampler makes running totals as the cgroup accountant does: every
// sample adds one core-second to each cgroup's record of the current window
// and returns the window's total so far.
type fakeSampler struct {
	window  time.Duration
	cgroups int

	mu     sync.Mutex
	totals map[string]int64 // by usagebatch key: the latest total sampled
	counts map[string]int64 // by cgroup and window
	fail   bool
}

func newFakeSampler(window time.Duration, cgroups int) *fakeSampler {
	return &fakeSampler{window: window, cgroups: cgroups, totals: map[string]int64{}, counts: map[string]int64{}}
}

func (f *fakeSampler) Sample(_ context.Context, at time.Time) ([]ledger.Record, []error, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return nil, nil, errors.New("the cgroup hierarchy is gone")
	}
	start := at.Truncate(f.window)
	var recs []ledger.Record
	for c := range f.cgroups {
		id := fmt.Sprintf("/user.slice/user-%d.slice", 1000+c)
		wk := id + start.String()
		f.counts[wk]++
		r := ledger.Record{Source: ledger.SourceCgroup, Cluster: "ws-01", ExternalID: id, Resource: ledger.ResourceCPU,
			Start: start, End: at, Quantity: f.counts[wk], Allocated: f.counts[wk], Used: f.counts[wk], User: "ada", Account: "chem"}
		recs = append(recs, r)
		f.totals[usagebatch.FromLedger(r).Key()] = r.Quantity
	}
	return recs, []error{errors.New("one cgroup unreadable")}, nil
}

func (f *fakeSampler) State() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return json.Marshal(f.counts)
}

func (f *fakeSampler) latest() map[string]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int64{}
	for k, v := range f.totals {
		out[k] = v
	}
	return out
}

func testConfig(t *testing.T, srv *fakeServer, dir string) Config {
	cfg := Defaults()
	cfg.Server, cfg.TokenFile, cfg.Host, cfg.StateDir = srv.url(), tokenFile(t), "ws-01", dir
	cfg.Interval, cfg.Window = 20*time.Millisecond, 200*time.Millisecond
	cfg.RequestTimeout, cfg.ShutdownPush = time.Second, 2*time.Second
	return cfg
}

func newTestAgent(t *testing.T, cfg Config, s Sampler) *Agent {
	t.Helper()
	a, err := New(cfg, s, quietLog(), "test")
	if err != nil {
		t.Fatal(err)
	}
	a.pusher.backoff = Backoff{Min: 5 * time.Millisecond, Max: 30 * time.Millisecond, Refused: 50 * time.Millisecond, RetryAfterMax: 30 * time.Millisecond}
	t.Cleanup(func() { a.Close() })
	return a
}

// runFor runs the agent until stop returns, then stops it as SIGTERM would.
func runFor(t *testing.T, a *Agent, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stop()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not stop")
	}
}

// checkDelivered says whether the server holds exactly the sampler's latest
// version of every record. (A key's versions may arrive more than once: a
// batch whose answer was lost, to a timeout or to the agent stopping, is sent
// again, which the ledger keeps once. The last to arrive is the latest.)
func checkDelivered(t *testing.T, srv *fakeServer, s *fakeSampler) {
	t.Helper()
	srv.check()
	want := s.latest()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.latest) != len(want) {
		t.Errorf("server holds %d keys, the sampler made %d", len(srv.latest), len(want))
	}
	for k, v := range want {
		got, ok := srv.latest[k]
		switch {
		case !ok:
			t.Errorf("%q never reached the server", k)
		case got.Quantity != v:
			t.Errorf("%q: server holds %d, the sampler's latest is %d (versions arrived: %v)", k, got.Quantity, v, srv.versions[k])
		}
	}
	if t.Failed() {
		for k, v := range srv.versions {
			t.Logf("server got %q: %v", k, v)
		}
	}
}

// The server goes away, answers 503, 429 and 400 for a while, and comes back:
// sampling goes on at every tick, and in the end the server holds each
// record's latest version, nothing lost, nothing out of order.
func TestAgentSurvivesAServerOutage(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t)
	sampler := newFakeSampler(200*time.Millisecond, 5)
	dir := t.TempDir()
	a := newTestAgent(t, testConfig(t, srv, dir), sampler)
	runFor(t, a, func() {
		time.Sleep(150 * time.Millisecond)
		srv.stop()
		time.Sleep(300 * time.Millisecond)
		if n, _ := a.Spool().Pending(); n == 0 {
			t.Error("nothing spooled while the server was away")
		}
		srv.answer(503, 503, 429, 400)
		srv.restart()
		time.Sleep(400 * time.Millisecond)
	})
	checkDelivered(t, srv, sampler)
	if n, _ := a.Spool().Pending(); n != 0 {
		t.Errorf("%d entries still pending after the server came back", n)
	}
	m := a.Metrics()
	if samples := value(t, m.samples); samples < 20 {
		t.Errorf("%v samples in about a second of 20ms intervals: sampling waited for the server", samples)
	}
	if value(t, m.pushErrors.WithLabelValues("network")) == 0 || value(t, m.pushErrors.WithLabelValues("503")) != 2 ||
		value(t, m.pushErrors.WithLabelValues("429")) != 1 || value(t, m.pushErrors.WithLabelValues("400")) != 1 {
		t.Error("push errors not counted by code")
	}
	if value(t, m.readErrors) == 0 || value(t, m.records) == 0 {
		t.Error("read errors or records not counted")
	}
	// The last sample's state is saved.
	state, err := ReadState(dir)
	if err != nil || len(state) == 0 {
		t.Errorf("state: %q, %v", state, err)
	}
}

// Stopped while the server is away, the agent keeps its spool; started again
// on the same state directory, it delivers everything.
func TestAgentRestartDeliversTheSpool(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t)
	srv.stop()
	sampler := newFakeSampler(200*time.Millisecond, 3)
	dir := t.TempDir()
	cfg := testConfig(t, srv, dir)
	cfg.ShutdownPush = 100 * time.Millisecond
	a := newTestAgent(t, cfg, sampler)
	runFor(t, a, func() { time.Sleep(200 * time.Millisecond) })
	a.Close()
	entries, records := a.Spool().Pending()
	if entries == 0 {
		t.Fatal("nothing spooled")
	}

	srv.restart()
	a = newTestAgent(t, cfg, sampler)
	if e, r := a.Spool().Pending(); e != entries || r != records {
		t.Errorf("after restart %d entries, %d records pending; before %d, %d", e, r, entries, records)
	}
	runFor(t, a, func() { time.Sleep(100 * time.Millisecond) })
	checkDelivered(t, srv, sampler)
}

// A failing sample is counted and the agent goes on.
func TestAgentSampleFailure(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t)
	sampler := newFakeSampler(time.Second, 1)
	sampler.fail = true
	a := newTestAgent(t, testConfig(t, srv, t.TempDir()), sampler)
	runFor(t, a, func() {
		time.Sleep(60 * time.Millisecond)
		sampler.mu.Lock()
		sampler.fail = false
		sampler.mu.Unlock()
		time.Sleep(60 * time.Millisecond)
	})
	if value(t, a.Metrics().sampleErrors) == 0 {
		t.Error("failed samples not counted")
	}
	checkDelivered(t, srv, sampler)
}

func TestAgentServesMetrics(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t)
	cfg := testConfig(t, srv, t.TempDir())
	cfg.MetricsListen = "127.0.0.1:0"
	a := newTestAgent(t, cfg, newFakeSampler(time.Second, 1))
	runFor(t, a, func() {
		var addr string
		for range 100 {
			if addr = a.MetricsAddr(); addr != "" {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, want := range []string{"parsimony_agent_samples_total", "parsimony_agent_spool_bytes", "parsimony_agent_spool_dropped_records_total"} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// The spool and the state live in the state directory, and nowhere else.
func TestAgentStateDirectory(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t)
	srv.stop()
	dir := t.TempDir()
	cfg := testConfig(t, srv, dir)
	cfg.ShutdownPush = 0
	a := newTestAgent(t, cfg, newFakeSampler(time.Second, 1))
	runFor(t, a, func() { time.Sleep(50 * time.Millisecond) })
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "sampler.state spool.log" {
		t.Errorf("state directory holds %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, cursorFile)); err == nil {
		t.Error("a cursor without any acknowledgement")
	}
}
