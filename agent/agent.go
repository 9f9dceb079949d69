package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/usagebatch"
)

// Sampler reads the machine. The cgroup collector is the real one (wired in
// agent/agentcmd); tests use fakes.
type Sampler interface {
	// Sample reads the machine at `at` and returns the records to send: each
	// window's running total so far, revised on every sample until the window
	// ends. Problems is what could not be read this time (a cgroup's file),
	// which is logged and counted and read again next time; an error means
	// nothing was sampled.
	Sample(ctx context.Context, at time.Time) (records []ledger.Record, problems []error, err error)
	// State is what the sampler must remember across a restart (the counters
	// of the last sample), saved after each sample is spooled.
	State() ([]byte, error)
}

// stateFile holds the sampler's state in the state directory.
const stateFile = "sampler.state"

// ReadState returns the sampler's state saved in stateDir, or nil when there is
// none (a first start).
func ReadState(stateDir string) ([]byte, error) {
	return readFileIfExists(filepath.Join(stateDir, stateFile))
}

// Agent samples on every interval, spools and pushes.
type Agent struct {
	cfg     Config
	sampler Sampler
	spool   *Spool
	pusher  *pusher
	metrics *Metrics
	log     *slog.Logger
	now     func() time.Time

	metricsAddr atomic.Value // string: where metrics are served, once they are
}

// New opens the agent's spool in cfg.StateDir (cut after a torn entry, as
// kill -9 may leave it) and builds its pusher. cfg must be valid
// (Config.Validate(true)).
func New(cfg Config, sampler Sampler, log *slog.Logger, version string) (*Agent, error) {
	m := NewMetrics()
	spool, err := OpenSpool(cfg.StateDir, cfg.SpoolMaxBytes, log, m)
	if err != nil {
		return nil, err
	}
	client := NewClient(cfg.Server, cfg.TokenFile, cfg.RequestTimeout, version)
	return &Agent{
		cfg: cfg, sampler: sampler, spool: spool, metrics: m, log: log, now: time.Now,
		pusher: &pusher{client: client, spool: spool, log: log, metrics: m, backoff: DefaultBackoff},
	}, nil
}

// Metrics are the agent's metrics (for tests, and for serving elsewhere).
func (a *Agent) Metrics() *Metrics { return a.metrics }

// MetricsAddr is the address metrics are served on ("" before Run has
// started serving them, or when MetricsListen is empty).
func (a *Agent) MetricsAddr() string {
	s, _ := a.metricsAddr.Load().(string)
	return s
}

// Spool is the agent's spool.
func (a *Agent) Spool() *Spool { return a.spool }

// Close closes the spool.
func (a *Agent) Close() error { return a.spool.Close() }

// Run samples at every interval (aligned to it: at :00 and :30 for 30 s) until
// ctx ends, pushing in the background. A slow or absent server never delays a
// sample: samples go to the spool, and the pusher catches up when it can.
//
// When ctx ends (SIGTERM, SIGINT) it takes one last sample, spools it, saves
// the state, and gives the server up to cfg.ShutdownPush to take what is
// pending before returning; what it does not take stays spooled for the next start.
func (a *Agent) Run(ctx context.Context) error {
	stopMetrics, err := a.serveMetrics()
	if err != nil {
		return err
	}
	defer stopMetrics()

	pushCtx, stopPush := context.WithCancel(context.Background())
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() { a.pusher.run(pushCtx, wake) })
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	entries, records := a.spool.Pending()
	a.log.Info("agent started", "host", a.cfg.Host, "server", a.cfg.Server, "interval", a.cfg.Interval,
		"window", a.cfg.Window, "state_dir", a.cfg.StateDir, "pending_entries", entries, "pending_records", records)

	// A sample at once: the sampler needs a first reading to count from, and
	// what the spool holds from before a restart goes out now.
	a.tick(ctx, a.now())
	signal()
	timer := time.NewTimer(a.untilNextTick())
	defer timer.Stop()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-timer.C:
			a.tick(ctx, a.now())
			signal()
			timer.Reset(a.untilNextTick())
		}
	}

	// Stopping: the pusher first (an interrupted request leaves its batch
	// spooled), then the last sample, then one bounded push.
	stopPush()
	wg.Wait()
	final, cancel := context.WithTimeout(context.Background(), a.cfg.Interval)
	a.tick(final, a.now())
	cancel()
	if a.cfg.ShutdownPush > 0 {
		pushCtx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownPush)
		res := a.pusher.drain(pushCtx)
		cancel()
		entries, records := a.spool.Pending()
		a.log.Info("agent stopped", "pushed_at_exit", res.pushed, "pending_entries", entries, "pending_records", records)
	}
	return nil
}

// untilNextTick is the time to the next multiple of the interval.
func (a *Agent) untilNextTick() time.Duration {
	now := a.now()
	next := now.Truncate(a.cfg.Interval).Add(a.cfg.Interval)
	return next.Sub(now)
}

// tick takes one sample, spools it and saves the sampler's state, in that
// order: the state is never ahead of the spool, so a crash between the two
// only makes the next sample count again from the previous state — the same
// windows' running totals, sent again, which the server keeps once.
func (a *Agent) tick(ctx context.Context, at time.Time) {
	a.metrics.samples.Inc()
	recs, problems, err := a.sampler.Sample(ctx, at)
	if err != nil {
		a.metrics.sampleErrors.Inc()
		a.log.Error("sample failed; trying again next interval", "err", err)
		return
	}
	if len(problems) > 0 {
		a.metrics.readErrors.Add(float64(len(problems)))
		a.log.Warn("some cgroups could not be read this interval; read again next time",
			"count", len(problems), "first", problems[0])
	}
	batch := make([]usagebatch.Record, len(recs))
	for i, r := range recs {
		batch[i] = usagebatch.FromLedger(r)
	}
	if err := a.spool.Append(batch); err != nil {
		a.metrics.spoolErrors.Inc()
		a.log.Error("spooling a sample failed; its records are sent with the next one's running totals", "records", len(batch), "err", err)
		return
	}
	a.metrics.records.Add(float64(len(batch)))
	state, err := a.sampler.State()
	if err == nil {
		err = writeFileAtomic(filepath.Join(a.cfg.StateDir, stateFile), state, 0o600)
	}
	if err != nil {
		a.metrics.stateErrors.Inc()
		a.log.Error("saving the sampler's state failed; a restart would count from an older one (nothing is doubled)", "err", err)
	}
}

// serveMetrics serves /metrics on cfg.MetricsListen, if set, until the
// returned function is called.
func (a *Agent) serveMetrics() (func(), error) {
	if a.cfg.MetricsListen == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", a.cfg.MetricsListen)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("metrics server stopped", "err", err)
		}
	}()
	a.metricsAddr.Store(ln.Addr().String())
	a.log.Info("serving metrics", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}
