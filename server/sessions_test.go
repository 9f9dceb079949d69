package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/server"
)

// clock is a settable time for the server and the session store of one test.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock    { c := &clock{}; c.set(t); return c }
func (c *clock) now() time.Time      { return *c.t.Load() }
func (c *clock) set(t time.Time)     { c.t.Store(&t) }
func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }
func quiet() *slog.Logger            { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
func countSessions(t *testing.T, pool *pgxpool.Pool, where string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions WHERE `+where, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Health checks never read the session: with a session cookie and the database
// gone, /healthz still says ok and /readyz says 503, never 500 (as they did when
// the session lookup ran first).
func TestHealthWithSessionCookieWhileDatabaseIsDown(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		kill func(pool *pgxpool.Pool, dead *atomic.Bool)
	}{
		{"pool closed", func(pool *pgxpool.Pool, _ *atomic.Bool) { pool.Close() }},
		// New connections go to an address nobody listens on, old ones are dropped:
		// as if PostgreSQL had stopped.
		{"database unreachable", func(pool *pgxpool.Pool, dead *atomic.Bool) { dead.Store(true); pool.Reset() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(t))
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			deadPort := uint16(ln.Addr().(*net.TCPAddr).Port)
			ln.Close()
			var dead atomic.Bool
			cfg.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error {
				if dead.Load() {
					cc.Host, cc.Port, cc.Fallbacks, cc.ConnectTimeout = "127.0.0.1", deadPort, nil, time.Second
				}
				return nil
			}
			pool, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(pool.Close)
			l, err := ledger.Open(ctx, pool, ledger.Options{Location: time.UTC})
			if err != nil {
				t.Fatal(err)
			}
			u, err := l.UpsertUser(ctx, "t", ledger.User{Login: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			token, err := auth.NewStore(pool, nil, 0).CreateSession(ctx, u.ID, "demo")
			if err != nil {
				t.Fatal(err)
			}
			s, err := server.New(server.Options{Ledger: l, Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			h := s.Handler()
			tt.kill(pool, &dead)
			for _, c := range []struct {
				path string
				want int
			}{{"/healthz", http.StatusOK}, {"/readyz", http.StatusServiceUnavailable}, {"/metrics", http.StatusOK}} {
				req, _ := http.NewRequest("GET", c.path, nil)
				req.AddCookie(&http.Cookie{Name: "parsimony_session", Value: token})
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != c.want {
					t.Errorf("%s with a session cookie and the database down: %d, want %d", c.path, rec.Code, c.want)
				}
			}
		})
	}
}

// The CSRF token counts only from the form body or the X-CSRF-Token header: a
// token in the query string (where logs, history and Referer headers keep it) is
// refused.
func TestCSRFNotFromQueryString(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	tok, csrf := f.session(t, "mem-a")
	for _, tt := range []struct {
		name          string
		query, body   string
		header        string
		wantForbidden bool
	}{
		{"query string only", "?csrf=" + url.QueryEscape(csrf), "name=q&scope=read", "", true},
		{"form body", "", "name=b&scope=read&csrf=" + url.QueryEscape(csrf), "", false},
		{"header", "", "name=h&scope=read", csrf, false},
		{"wrong body, right query", "?csrf=" + url.QueryEscape(csrf), "name=w&scope=read&csrf=wrong", "", true},
		{"none", "", "name=n&scope=read", "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", f.srv.URL+"/tokens"+tt.query, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.header != "" {
				req.Header.Set("X-CSRF-Token", tt.header)
			}
			req.AddCookie(&http.Cookie{Name: "parsimony_session", Value: tok})
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if forbidden := resp.StatusCode == http.StatusForbidden; forbidden != tt.wantForbidden || resp.StatusCode >= 500 {
				t.Errorf("POST /tokens with the CSRF token in the %s: %d, want forbidden %v", tt.name, resp.StatusCode, tt.wantForbidden)
			}
		})
	}
}

// Every API answer and every download (CSV, PDF) says Cache-Control: no-store:
// they carry money and names. Walks the route table, so a new API or CSV route
// is covered by the same rule.
func TestNoStoreOnAPIAndDownloads(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	tok, _ := f.session(t, "admin")
	var paths []string
	for _, rt := range server.Routes(f.srv.Config.Handler) {
		method, pattern, _ := strings.Cut(rt, " ")
		if method != "GET" {
			continue
		}
		if strings.HasPrefix(pattern, "/api/") || strings.HasSuffix(pattern, "csv") || strings.HasSuffix(pattern, "pdf") {
			exp, ok := expectations[rt]
			if !ok {
				t.Fatalf("route %s has no example path in expectations", rt)
			}
			paths = append(paths, exp.path)
		}
	}
	// The tables of pages download as CSV through ?csv=ID, and errors are answers too.
	paths = append(paths, "/groups/lab-a?csv=top-cost", "/groups/lab-a/leaderboard?csv=members", "/api/v1/groups/nope/usage")
	if len(paths) < 10 {
		t.Fatalf("found only %d API and download routes: %q", len(paths), paths)
	}
	for _, p := range paths {
		resp, _ := getAs(t, f.srv.URL+p, tok)
		if resp.StatusCode >= 500 {
			t.Errorf("GET %s: %d", p, resp.StatusCode)
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("GET %s (%d, %s): Cache-Control %q, want no-store", p, resp.StatusCode, resp.Header.Get("Content-Type"), got)
		}
	}
	// Static assets are not sensitive and keep their long-lived caching.
	resp, body := get(t, f.srv.URL+"/login")
	i := strings.Index(body, "/static/")
	if i < 0 {
		t.Fatal("the login page links no static asset")
	}
	asset := body[i : i+strings.IndexByte(body[i:], '"')]
	if resp, _ = get(t, f.srv.URL+asset); resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("GET %s: %d, Cache-Control %q", asset, resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}

// Sessions end after their idle time and after their maximum age however much
// they are used; an expired session is refused and deleted when it is used, and
// the server's sweep deletes the ones nobody uses again.
func TestSessionsExpireAndAreDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	l, err := ledger.Open(ctx, pool, ledger.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	u, err := l.UpsertUser(ctx, "t", ledger.User{Login: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	clk := newClock(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	opts := server.AuthOptions{SessionTTL: 2 * time.Hour, SessionMaxAge: 24 * time.Hour}
	s, err := server.New(server.Options{Ledger: l, Logger: quiet(), Now: clk.now, Auth: opts})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	store := auth.NewStore(pool, clk.now, opts.SessionTTL).WithMaxAge(opts.SessionMaxAge)
	home := func(token string) int {
		req, _ := http.NewRequest("GET", "/", nil)
		req.AddCookie(&http.Cookie{Name: "parsimony_session", Value: token})
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusSeeOther && strings.HasPrefix(rec.Header().Get("Location"), "/login") {
			return http.StatusUnauthorized
		}
		return rec.Code
	}
	tokenRow := func(token string) int {
		return countSessions(t, pool, `token_hash = sha256(convert_to($1, 'UTF8'))`, token)
	}

	// Idle: used within its idle time it lives on; left longer it is refused and gone.
	idle, err := store.CreateSession(ctx, u.ID, "demo")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		clk.add(90 * time.Minute)
		if c := home(idle); c != http.StatusOK {
			t.Fatalf("a session used within its idle time: %d", c)
		}
	}
	clk.add(2*time.Hour + time.Second)
	if c := home(idle); c != http.StatusUnauthorized {
		t.Errorf("a session idle past its lifetime: %d, want a sign-in", c)
	}
	if n := tokenRow(idle); n != 0 {
		t.Errorf("the expired session's row is still there (%d)", n)
	}

	// Maximum age: used every hour, it still ends 24 hours after sign-in.
	busy, err := store.CreateSession(ctx, u.ID, "demo")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 23 {
		clk.add(time.Hour)
		if c := home(busy); c != http.StatusOK {
			t.Fatalf("hour %d: a session in use: %d", i+1, c)
		}
	}
	clk.add(time.Hour)
	if c := home(busy); c != http.StatusUnauthorized {
		t.Errorf("a session past its maximum age: %d, want a sign-in", c)
	}
	if n := tokenRow(busy); n != 0 {
		t.Errorf("the session past its maximum age is still there (%d)", n)
	}

	// The sweep: sessions nobody uses again go when the server runs.
	for range 3 {
		if _, err := store.CreateSession(ctx, u.ID, "demo"); err != nil {
			t.Fatal(err)
		}
	}
	live, err := store.CreateSession(ctx, u.ID, "demo")
	if err != nil {
		t.Fatal(err)
	}
	clk.add(time.Hour)
	home(live)
	clk.add(90 * time.Minute) // the three are 2.5 h idle, live 1.5 h
	runCtx, stop := context.WithCancel(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := s.Run(runCtx, ln); err != nil {
			t.Errorf("run: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for countSessions(t, pool, `true`) != 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	wg.Wait()
	if n := countSessions(t, pool, `true`); n != 1 || tokenRow(live) != 1 {
		t.Errorf("after the server's sweep: %d sessions (live one: %d), want only the live one", n, tokenRow(live))
	}
}

// A trusted proxy's requests reuse the person's one session rather than adding a
// row each, whether or not the client keeps cookies; the session's CSRF token
// works for their forms; a cookie cannot reach a proxy session.
func TestProxyRequestsShareOneSession(t *testing.T) {
	f := newFixture(t, server.AuthOptions{ProxyHeader: "X-Remote-User", TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	institution(t, f)
	const n = 12
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			path := "/"
			if i%2 == 1 {
				path = "/api/v1/me"
			}
			req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
			req.Header.Set("X-Remote-User", "mem-a")
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s through the proxy: %d", path, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if got := countSessions(t, f.l.Pool(), `user_id = (SELECT id FROM users WHERE login = 'mem-a')`); got != 1 {
		t.Errorf("%d proxied requests made %d sessions, want 1", n, got)
	}
	// The CSRF token the pages carry is the session's, and a form posts with it.
	req, _ := http.NewRequest("GET", f.srv.URL+"/tokens", nil)
	req.Header.Set("X-Remote-User", "mem-a")
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, after, ok := strings.Cut(string(body), `name="csrf" value="`)
	if !ok {
		t.Fatal("the tokens page has no CSRF field")
	}
	csrf, _, _ := strings.Cut(after, `"`)
	req, _ = http.NewRequest("POST", f.srv.URL+"/tokens", strings.NewReader("name=p&scope=read&csrf="+url.QueryEscape(csrf)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Remote-User", "mem-a")
	if resp, err = noRedirect.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusForbidden || resp.StatusCode >= 500 {
		t.Errorf("a proxied form post with its page's CSRF token: %d", resp.StatusCode)
	}
	if got := countSessions(t, f.l.Pool(), `true`); got != 1 {
		t.Errorf("%d sessions after the form, want 1", got)
	}
	// The proxy session's key is derived from the user, not secret: sent as a
	// cookie (without the proxy's header) it signs nobody in.
	var id int64
	if err := f.l.Pool().QueryRow(context.Background(), `SELECT id FROM users WHERE login = 'mem-a'`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if p, err := f.auth.Session(context.Background(), fmt.Sprintf("proxy-session\x00%d", id)); p != nil || !errors.Is(err, auth.ErrNoSession) {
		t.Errorf("the proxy session's key as a cookie: %+v, %v; want no one (ErrNoSession)", p, err)
	}
}
