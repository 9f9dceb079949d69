// Package server is the web app: chi routes, handlers and middleware over the ledger.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/static"
)

// Options configure the web app.
type Options struct {
	Ledger   *ledger.Ledger
	Logger   *slog.Logger
	SiteName string
	Auth     AuthOptions
	// Now is the clock; tests set it. Default time.Now.
	Now func() time.Time
}

// Server holds what the handlers share.
type Server struct {
	ledger   *ledger.Ledger
	log      *slog.Logger
	siteName string
	now      func() time.Time
	assets   *static.Assets
	jobs     jobRunner // closing months: work that outlasts its request
	registry *prometheus.Registry
	latency  *prometheus.HistogramVec
	auth     *auth.Store
	authOpts AuthOptions
	// ingestLimits are the ingest API's rate limits and concurrency bound.
	ingestLimits *ingestState
}

// New builds the web app.
func New(opts Options) (*Server, error) {
	assets, err := static.New()
	if err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{ledger: opts.Ledger, log: opts.Logger, siteName: opts.SiteName, now: opts.Now, assets: assets,
		registry: prometheus.NewRegistry(), authOpts: opts.Auth, ingestLimits: newIngestState()}
	s.auth = auth.NewStore(opts.Ledger.Pool(), opts.Now, s.sessionTTL()).WithMaxAge(s.sessionMaxAge())
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "parsimony_http_request_duration_seconds",
		Help:    "Time to serve HTTP requests, by route pattern and status code.",
		Buckets: prometheus.DefBuckets,
	}, []string{"route", "code"})
	s.registry.MustRegister(s.latency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newLedgerCollector(opts.Ledger))
	return s, nil
}

// middleware is what every request passes through, in order. (No RealIP: the
// client address decides whether a proxy's sign-in header is trusted, so it must
// be the connection's, not a header anyone can send.) Authentication is not
// here: Handler adds it to every route but the sessionless ones, so that health
// checks never wait on (or fail with) the session table.
func (s *Server) middleware() []func(http.Handler) http.Handler {
	return []func(http.Handler) http.Handler{middleware.RequestID, s.logRequests, middleware.Recoverer, securityHeaders, s.checkInput}
}

// sessionSweepInterval is how often Run deletes expired sessions.
const sessionSweepInterval = 15 * time.Minute

// Run serves on addr until ctx ends, then shuts down gracefully, letting requests
// in flight finish for up to ten seconds.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	sweepCtx, stopSweep := context.WithCancel(ctx)
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		s.sweepSessions(sweepCtx, sessionSweepInterval)
	}()
	defer func() {
		stopSweep()
		<-swept
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	// A month being closed finishes (it commits or rolls back as one); two minutes
	// is more than the largest close measured.
	jobsCtx, cancelJobs := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancelJobs()
	if err := s.jobs.wait(jobsCtx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// sweepSessions deletes expired sessions now and every interval until ctx ends.
// A failed sweep is logged and tried again at the next tick: the sessions it
// leaves are refused anyway (they are expired), only not yet deleted.
func (s *Server) sweepSessions(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		n, err := s.auth.DeleteExpired(sctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("delete expired sessions", "err", err)
		case n > 0:
			s.log.Info("deleted expired sessions", "sessions", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
	return nil
}

// readyz says whether the database answers: a load balancer should send no
// traffic to an instance that cannot reach it.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.ledger.Pool().Ping(ctx); err != nil {
		s.log.Warn("readiness check failed", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("database unreachable\n"))
		return nil
	}
	w.Write([]byte("ready\n"))
	return nil
}

func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		elapsed := time.Since(start)
		route := chi.RouteContext(r.Context()).RoutePattern()
		if route == "" {
			route = "unmatched"
		}
		s.latency.WithLabelValues(route, fmt.Sprint(ww.Status())).Observe(elapsed.Seconds())
		s.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", ww.Status(),
			"bytes", ww.BytesWritten(), "duration", elapsed, "request_id", middleware.GetReqID(r.Context()))
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		// Responses carry money and people's names (API answers, CSV and PDF
		// downloads, pages): no browser or proxy cache may keep them. Static
		// assets, which are neither, set their own long-lived caching.
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}
