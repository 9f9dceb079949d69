package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/server"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type fixture struct {
	l    *ledger.Ledger
	srv  *httptest.Server
	auth *auth.Store
}

func newFixture(t *testing.T, authOpts ...server.AuthOptions) fixture {
	t.Helper()
	return newFixtureWith(t, func(string, *pgxpool.Pool) server.AuthOptions {
		if len(authOpts) > 0 {
			return authOpts[0]
		}
		return server.AuthOptions{}
	})
}

// newFixtureWith builds the sign-in options knowing the server's address before it
// starts (an OIDC redirect URL needs it).
func newFixtureWith(t *testing.T, authFor func(base string, pool *pgxpool.Pool) server.AuthOptions) fixture {
	t.Helper()
	return newFixtureAt(t, e2eNow, authFor)
}

// newFixtureAt is a server whose clock (and its ledger's) stands at now.
func newFixtureAt(t *testing.T, now time.Time, authFor func(base string, pool *pgxpool.Pool) server.AuthOptions) fixture {
	t.Helper()
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	// The ledger keeps the server's clock: what a page offers to close is what the
	// ledger lets close.
	l, err := ledger.Open(ctx, pool, ledger.Options{Location: time.UTC, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(server.Options{Ledger: l, SiteName: "Test U", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Auth: authFor("http://"+ln.Addr().String(), pool),
		Now:  func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return fixture{l: l, srv: srv, auth: auth.NewStore(pool, func() time.Time { return now }, 0)}
}

// session signs login in and returns the cookie's token and the CSRF token.
func (f fixture) session(t *testing.T, login string) (token, csrf string) {
	t.Helper()
	ctx := context.Background()
	id, err := f.auth.UserID(ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	token, err = f.auth.CreateSession(ctx, id, "demo")
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.auth.Session(ctx, token)
	if err != nil || p == nil {
		t.Fatalf("session: %v", err)
	}
	return token, p.CSRF
}

// getAs fetches url with a session cookie (token "" for none).
func getAs(t *testing.T, url, token string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.AddCookie(&http.Cookie{Name: "parsimony_session", Value: token})
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestHealthReadyMetrics(t *testing.T) {
	f := newFixture(t)
	if resp, body := get(t, f.srv.URL+"/healthz"); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", resp.StatusCode, body)
	}
	if resp, body := get(t, f.srv.URL+"/readyz"); resp.StatusCode != 200 || body != "ready\n" {
		t.Errorf("/readyz: %d %q", resp.StatusCode, body)
	}
	get(t, f.srv.URL+"/healthz")
	resp, body := get(t, f.srv.URL+"/metrics")
	if resp.StatusCode != 200 || !strings.Contains(body, `parsimony_http_request_duration_seconds_count{code="200",route="/healthz"}`) {
		t.Errorf("/metrics lacks request latency:\n%.2000s", body)
	}
	ctx := context.Background()
	run, err := f.l.StartRun(ctx, "slurm", "hpc", time.Now().Add(-time.Hour), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.l.FinishRun(ctx, run, ledger.Counts{Read: 7, Ingested: 7}, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	_, body = get(t, f.srv.URL+"/metrics")
	if !strings.Contains(body, `parsimony_collector_last_run_records{cluster="hpc",outcome="ingested",source="slurm"} 7`) ||
		!strings.Contains(body, `parsimony_collector_last_success_timestamp_seconds{cluster="hpc",source="slurm"}`) {
		t.Errorf("/metrics lacks the collector's last run:\n%.3000s", body)
	}
	if !strings.Contains(body, "parsimony_ledger_up 1") {
		t.Errorf("/metrics lacks the ledger's figures:\n%.2000s", body)
	}
	if resp, _ := get(t, f.srv.URL+"/no/such/page"); resp.StatusCode != 404 {
		t.Errorf("unknown path: %d", resp.StatusCode)
	}
}

// Readiness fails when the database is gone.
func TestReadyzWithoutDatabase(t *testing.T) {
	f := newFixture(t)
	f.l.Pool().Close()
	if resp, _ := get(t, f.srv.URL+"/readyz"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the pool closed: %d, want 503", resp.StatusCode)
	}
}

func TestOverview(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	fin, err := f.l.UpsertUser(ctx, "t", ledger.User{Login: "fin"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.l.GrantGlobalRole(ctx, "t", fin.ID, ledger.RoleFinance); err != nil {
		t.Fatal(err)
	}
	token, _ := f.session(t, "fin")

	// Empty state first.
	resp, body := getAs(t, f.srv.URL+"/overview", token)
	if resp.StatusCode != 200 || !strings.Contains(body, "No usage has been recorded") {
		t.Fatalf("empty overview: %d\n%s", resp.StatusCode, body)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("missing security header %s", h)
		}
	}

	uni, _ := f.l.CreateGroup(ctx, "t", ledger.NewGroup{Kind: "institution", Slug: "uni", Name: "Uni"})
	phys, _ := f.l.CreateGroup(ctx, "t", ledger.NewGroup{ParentID: uni.ID, Kind: "department", Slug: "physics", Name: "Physics"})
	if _, err := f.l.SetGroupMapping(ctx, "t", ledger.Mapping{Kind: ledger.KindSlurm, Scope: "hpc", Identity: "phys", GroupID: phys.ID}); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC)
	_, err = f.l.Ingest(ctx, ledger.Batch{Records: []ledger.Record{
		{Source: "slurm", Cluster: "hpc", ExternalID: "1", Resource: "cpu", Start: start, End: start.Add(10 * time.Hour),
			Quantity: 36000 * 1000, Allocated: 36000 * 1000, Used: 1, Account: "phys", User: "ann"},
		{Source: "slurm", Cluster: "hpc", ExternalID: "2", Resource: "cpu", Start: start, End: start.Add(time.Hour),
			Quantity: 7200, Allocated: 7200, Account: "lost", User: "bob"},
		// Last month: not in this month's overview.
		{Source: "slurm", Cluster: "hpc", ExternalID: "3", Resource: "cpu", Start: start.AddDate(0, -1, 0), End: start.AddDate(0, -1, 0).Add(time.Hour),
			Quantity: 3600, Allocated: 3600, Account: "phys", User: "ann"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	resp, body = getAs(t, f.srv.URL+"/overview", token)
	if resp.StatusCode != 200 {
		t.Fatalf("overview: %d", resp.StatusCode)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	cells := func(testid string) string {
		var parts []string
		doc.Find(`[data-testid="` + testid + `"]`).Children().Each(func(_ int, c *goquery.Selection) {
			parts = append(parts, strings.TrimSpace(c.Text()))
		})
		return strings.Join(parts, " ")
	}
	if got := cells("row-physics"); got != "Physics 10,000.00" {
		t.Errorf("physics row: %q", got)
	}
	if got := cells("row-(unassigned)"); !strings.Contains(got, "2.00") {
		t.Errorf("unassigned row: %q", got)
	}
	if got := cells("total"); got != "Total 10,002.00" {
		t.Errorf("total row: %q", got)
	}
	// The stylesheet is served under its hashed name, cacheable for a year.
	href, _ := doc.Find(`link[rel="stylesheet"]`).Attr("href")
	resp, css := get(t, f.srv.URL+href)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || !strings.Contains(css, "--accent") {
		t.Errorf("stylesheet %s: %d %q", href, resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}
