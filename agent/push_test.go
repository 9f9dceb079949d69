package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/usagebatch"
)

func TestClientPostAnswers(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t)
	c := NewClient(srv.url()+"/", tokenFile(t), 2*time.Second, "test")
	ctx := context.Background()
	recs := []usagebatch.Record{rec("a", t0, 1), rec("b", t0, 2)}

	a, err := c.Post(ctx, recs)
	if err != nil || a.Read != 2 {
		t.Fatalf("200: %+v, %v", a, err)
	}
	for _, tt := range []struct {
		status     int
		refused    bool
		retryAfter time.Duration
	}{
		{400, true, 0}, {401, true, 0}, {403, true, 0}, {413, true, 0}, {415, true, 0}, {404, true, 0},
		{429, false, time.Second}, {503, false, 0}, {500, false, 0}, {502, false, 0},
	} {
		srv.answer(tt.status)
		_, err := c.Post(ctx, recs)
		var pe *PushError
		if !errors.As(err, &pe) {
			t.Errorf("%d: error %v, want a PushError", tt.status, err)
			continue
		}
		if pe.Code != strconv.Itoa(tt.status) || pe.Refused != tt.refused || pe.RetryAfter != tt.retryAfter {
			t.Errorf("%d: %+v; want refused %v, retry after %s", tt.status, pe, tt.refused, tt.retryAfter)
		}
		if pe.Message != "answer "+strconv.Itoa(tt.status)+", as the test asked" {
			t.Errorf("%d: message %q, want the server's", tt.status, pe.Message)
		}
	}
	srv.check()

	// No answer (connections closed), and no server (connection refused:
	// nothing listens on port 1): network errors, retried.
	srv.stop()
	for _, c := range []*Client{c, NewClient("http://127.0.0.1:1", tokenFile(t), 2*time.Second, "test")} {
		_, err = c.Post(ctx, recs)
		var pe *PushError
		if !errors.As(err, &pe) || pe.Code != "network" || pe.Refused {
			t.Errorf("server away: %v", err)
		}
	}
}

func TestClientTimeout(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t)
	srv.delay = 500 * time.Millisecond
	c := NewClient(srv.url(), tokenFile(t), 50*time.Millisecond, "test")
	_, err := c.Post(context.Background(), []usagebatch.Record{rec("a", t0, 1)})
	var pe *PushError
	if !errors.As(err, &pe) || pe.Code != "timeout" {
		t.Errorf("slow server: %v, want a timeout", err)
	}
}

func TestClientTokenFile(t *testing.T) {
	t.Parallel()
	empty := filepath.Join(t.TempDir(), "token")
	os.WriteFile(empty, []byte("\n"), 0o600)
	for _, file := range []string{empty, filepath.Join(t.TempDir(), "missing")} {
		c := NewClient("http://127.0.0.1:1", file, time.Second, "test")
		if _, err := c.Post(context.Background(), nil); err == nil {
			t.Errorf("token file %s: no error", file)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "-1": 0, "soon": 0, "999999999": 24 * time.Hour,
		"Thu, 03 Dec 2026 10:00:30 GMT": 30 * time.Second, "Thu, 03 Dec 2026 09:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func newTestPusher(t *testing.T, srv *fakeServer, s *Spool, m *Metrics) *pusher {
	return &pusher{client: NewClient(srv.url(), tokenFile(t), time.Second, "test"), spool: s, log: quietLog(), metrics: m,
		backoff: Backoff{Min: 10 * time.Millisecond, Max: 40 * time.Millisecond, Refused: time.Hour, RetryAfterMax: 50 * time.Millisecond}}
}

// A pusher drains in order, backs off on failures, honours Retry-After up to
// its cap, and keeps a refused batch.
func TestPusherDrainAndBackoff(t *testing.T) {
	t.Parallel()
	srv := newFakeServer(t)
	m := NewMetrics()
	s := openSpool(t, t.TempDir(), DefaultSpoolMaxBytes, nil, m)
	p := newTestPusher(t, srv, s, m)
	ctx := context.Background()
	for i := range 3 {
		mustAppend(t, s, rec("a", t0, int64(i+1)))
	}

	srv.answer(503)
	if res := p.drain(ctx); res.wait < 5*time.Millisecond || res.wait > 10*time.Millisecond || res.pushed != 0 {
		t.Errorf("after a 503: %+v, want a wait of 5–10ms", res)
	}
	srv.answer(503)
	if res := p.drain(ctx); res.wait < 10*time.Millisecond || res.wait > 20*time.Millisecond {
		t.Errorf("after two 503s: %+v, want a wait of 10–20ms", res)
	}
	srv.answer(429)
	if res := p.drain(ctx); res.wait != 50*time.Millisecond {
		t.Errorf("after a 429 with Retry-After 1: %+v, want the cap 50ms", res)
	}
	srv.answer(400)
	if res := p.drain(ctx); res.wait != time.Hour {
		t.Errorf("after a 400: %+v, want the refused backoff", res)
	}
	if n, _ := s.Pending(); n != 3 {
		t.Errorf("%d entries pending after failures, want 3", n)
	}
	if res := p.drain(ctx); res.wait != 0 || res.pushed != 3 {
		t.Errorf("server back: %+v", res)
	}
	if n, _ := s.Pending(); n != 0 || s.Size() != 0 {
		t.Errorf("after draining: %d pending, %d bytes", n, s.Size())
	}
	for code, want := range map[string]float64{"503": 2, "429": 1, "400": 1} {
		if got := value(t, m.pushErrors.WithLabelValues(code)); got != want {
			t.Errorf("push errors %s: %v, want %v", code, got, want)
		}
	}
	if value(t, m.lastPush) == 0 || value(t, m.pushed) != 3 {
		t.Errorf("last push %v, pushed %v", value(t, m.lastPush), value(t, m.pushed))
	}
	if got := srv.versions[rec("a", t0, 0).Key()]; len(got) != 3 || got[2] != 3 {
		t.Errorf("server got versions %v, want 1, 2, 3", got)
	}
	srv.check()
}

func TestExponentialBackoffIsCappedAndJittered(t *testing.T) {
	t.Parallel()
	p := &pusher{backoff: Backoff{Min: time.Second, Max: time.Minute}}
	for failures, full := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 7: time.Minute, 60: time.Minute} {
		p.failures = failures
		for range 20 {
			if d := p.exponential(); d < full/2 || d > full {
				t.Errorf("after %d failures: %s, want %s–%s", failures, d, full/2, full)
			}
		}
	}
}
