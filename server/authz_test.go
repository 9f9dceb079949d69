package server_test

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/server"
)

// institution is a small institution for authorization tests: uni › dept › lab-a
// (billable) › proj-a, and dept › lab-b (billable), with one person of each kind.
func institution(t *testing.T, f fixture) {
	t.Helper()
	ctx := context.Background()
	l := f.l
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	users := map[string]ledger.User{}
	for _, login := range []string{"admin", "fin", "pi-a", "mem-a", "mem-b", "nobody"} {
		u, err := l.UpsertUser(ctx, "t", ledger.User{Login: login, DisplayName: strings.ToUpper(login)})
		must(err)
		users[login] = u
	}
	must(l.GrantGlobalRole(ctx, "t", users["admin"].ID, ledger.RoleAdmin))
	must(l.GrantGlobalRole(ctx, "t", users["fin"].ID, ledger.RoleFinance))
	uni, err := l.CreateGroup(ctx, "t", ledger.NewGroup{Kind: "institution", Slug: "uni", Name: "Uni"})
	must(err)
	dept, err := l.CreateGroup(ctx, "t", ledger.NewGroup{ParentID: uni.ID, Kind: "department", Slug: "dept", Name: "Dept"})
	must(err)
	labA, err := l.CreateGroup(ctx, "t", ledger.NewGroup{ParentID: dept.ID, Kind: "lab", Slug: "lab-a", Name: "Lab A", Billable: true, PIUserID: users["pi-a"].ID})
	must(err)
	projA, err := l.CreateGroup(ctx, "t", ledger.NewGroup{ParentID: labA.ID, Kind: "project", Slug: "proj-a", Name: "Project A"})
	must(err)
	labB, err := l.CreateGroup(ctx, "t", ledger.NewGroup{ParentID: dept.ID, Kind: "lab", Slug: "lab-b", Name: "Lab B", Billable: true})
	must(err)
	must(l.AddMembership(ctx, "t", ledger.Membership{UserID: users["pi-a"].ID, GroupID: labA.ID, Role: ledger.RolePI}))
	must(l.AddMembership(ctx, "t", ledger.Membership{UserID: users["mem-a"].ID, GroupID: labA.ID, Role: ledger.RoleMember}))
	must(l.AddMembership(ctx, "t", ledger.Membership{UserID: users["mem-b"].ID, GroupID: labB.ID, Role: ledger.RoleMember}))
	for _, g := range []ledger.Group{labA, projA, labB} {
		_, err := l.SetGroupMapping(ctx, "t", ledger.Mapping{Kind: ledger.KindSlurm, Scope: "hpc", Identity: g.Slug, GroupID: g.ID})
		must(err)
	}
	oct, nov := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	_, _, err = l.SetRate(ctx, "t", ledger.Rate{Resource: "cpu", Price: big.NewRat(1, 100), ValidFrom: oct})
	must(err)
	var recs []ledger.Record
	for i, x := range []struct {
		acct, user string
		day        time.Time
	}{{"lab-a", "pi-a", oct}, {"proj-a", "mem-a", oct}, {"lab-b", "mem-b", oct}, {"lab-a", "mem-a", nov}, {"proj-a", "pi-a", nov}, {"lab-b", "mem-b", nov}} {
		start := x.day.Add(time.Duration(i+2) * 24 * time.Hour)
		recs = append(recs, ledger.Record{Source: "slurm", Cluster: "hpc", ExternalID: fmt.Sprint(i), Resource: "cpu", Start: start,
			End: start.Add(4 * time.Hour), Quantity: int64(8*3600*(i+1)) * 4, Allocated: int64(8*3600*(i+1)) * 4, Used: int64(8 * 3600 * (i + 1)),
			Account: x.acct, User: x.user, Partition: "cpu", QoS: "normal"})
	}
	_, err = l.Ingest(ctx, ledger.Batch{Records: recs})
	must(err)
	_, _, err = l.Close(ctx, "t", oct)
	must(err)
	_, err = l.RatePeriod(ctx, "t", nov)
	must(err)
	// A finished job (closing October), for its status page: /jobs/1.
	job, _, err := l.StartJob(ctx, "close", "2026-10", "web:fin")
	must(err)
	must(l.FinishJob(ctx, job.ID, "October 2026 is closed.", ""))
}

// Expected outcomes, one letter per role in roles order:
//
//	A allowed (2xx or 3xx other than to /login, or 409/400 from the handler itself)
//	F forbidden (403)
//	H hidden (404: a group they may not see is as if it did not exist)
//	L not signed in: redirected to /login (pages) or 401 (API)
var roles = []string{"admin", "fin", "pi-a", "mem-a", "mem-b", "nobody", ""}

// Every route of the router, as a concrete request, with who may use it. A route
// missing here fails TestEveryRouteIsAuthorized.
var expectations = map[string]struct {
	path string // the pattern filled in
	want string
}{
	"GET /healthz":             {"/healthz", "AAAAAAA"},
	"GET /readyz":              {"/readyz", "AAAAAAA"},
	"GET /metrics":             {"/metrics", "AAAAAAA"},
	"GET /static/*":            {"/static/nope.css", "HHHHHHH"},
	"GET /login":               {"/login", "AAAAAAA"},
	"POST /login/demo":         {"/login/demo", "HHHHHHH"}, // not a demo
	"GET /login/oidc":          {"/login/oidc", "HHHHHHH"}, // not configured
	"GET /login/oidc/callback": {"/login/oidc/callback", "HHHHHHH"},
	"POST /logout":             {"/logout", "AAAAAAL"},

	"GET /":                                          {"/", "AAAAAAL"},
	"GET /overview":                                  {"/overview", "AAFFFFL"},
	"GET /groups/{group}":                            {"/groups/lab-a", "AAAAHHL"},
	"GET /groups/{group}/leaderboard":                {"/groups/lab-a/leaderboard", "AAAAHHL"},
	"GET /groups/{group}/statements":                 {"/groups/lab-a/statements", "AAAFHHL"},
	"GET /groups/{group}/statements/{period}":        {"/groups/lab-a/statements/2026-10", "AAAFHHL"},
	"GET /groups/{group}/statements/{period}/pdf":    {"/groups/lab-a/statements/2026-10/pdf", "AAAFHHL"},
	"GET /groups/{group}/statements/{period}/csv":    {"/groups/lab-a/statements/2026-10/csv", "AAAFHHL"},
	"GET /tokens":                                    {"/tokens", "AAAAAAL"},
	"POST /tokens":                                   {"/tokens", "AAAAAAL"},
	"POST /tokens/{id}/revoke":                       {"/tokens/999999/revoke", "HHHHHHL"}, // nobody's token
	"GET /statements":                                {"/statements", "AAFFFFL"},
	"GET /statements/{period}/export.csv":            {"/statements/2026-10/export.csv", "AAFFFFL"},
	"POST /periods/{period}/close":                   {"/periods/2026-10/close", "AAFFFFL"}, // already closed: allowed, a no-op
	"GET /jobs/{id}":                                 {"/jobs/1", "AAFFFFL"},
	"GET /admin":                                     {"/admin", "AFFFFFL"},
	"GET /admin/quarantine":                          {"/admin/quarantine", "AFFFFFL"},
	"GET /admin/runs":                                {"/admin/runs", "AFFFFFL"},
	"POST /admin/mappings":                           {"/admin/mappings", "AFFFFFL"}, // the test's form lacks fields: 400
	"GET /admin/groups":                              {"/admin/groups", "AFFFFFL"},
	"POST /admin/groups":                             {"/admin/groups", "AFFFFFL"},
	"GET /admin/groups/{group}":                      {"/admin/groups/lab-a", "AFFFFFL"},
	"POST /admin/groups/{group}/move":                {"/admin/groups/lab-a/move", "AFFFFFL"},
	"POST /admin/groups/{group}/archive":             {"/admin/groups/lab-b/archive", "AFFFFFL"}, // unconfirmed: 400
	"GET /admin/users":                               {"/admin/users", "AFFFFFL"},
	"POST /admin/users":                              {"/admin/users", "AFFFFFL"},
	"GET /admin/users/{login}":                       {"/admin/users/mem-a", "AFFFFFL"},
	"POST /admin/users/{login}/roles":                {"/admin/users/mem-a/roles", "AFFFFFL"},
	"POST /admin/users/{login}/roles/revoke":         {"/admin/users/mem-a/roles/revoke", "AFFFFFL"},
	"POST /admin/users/{login}/memberships":          {"/admin/users/mem-a/memberships", "AFFFFFL"},
	"POST /admin/users/{login}/memberships/end":      {"/admin/users/mem-a/memberships/end", "AFFFFFL"},
	"GET /admin/rates":                               {"/admin/rates", "AAFFFFL"},
	"POST /admin/rates":                              {"/admin/rates", "AAFFFFL"},
	"POST /admin/rates/{id}/end":                     {"/admin/rates/1/end", "AAFFFFL"}, // no date: 400
	"GET /admin/budgets":                             {"/admin/budgets", "AAFFFFL"},
	"POST /admin/budgets":                            {"/admin/budgets", "AAFFFFL"},
	"GET /api/v1/me":                                 {"/api/v1/me", "AAAAAAL"},
	"GET /api/v1/groups":                             {"/api/v1/groups", "AAAAAAL"},
	"GET /api/v1/groups/{group}/usage":               {"/api/v1/groups/lab-a/usage", "AAAAHHL"},
	"GET /api/v1/groups/{group}/leaderboard":         {"/api/v1/groups/lab-a/leaderboard", "AAAAHHL"},
	"GET /api/v1/groups/{group}/statements/{period}": {"/api/v1/groups/lab-a/statements/2026-10", "AAAFHHL"},
	"GET /api/v1/groups/{group}/estimate":            {"/api/v1/groups/lab-a/estimate?cluster=hpc&cpus=4&hours=2", "AAAAHHL"},
	"POST /api/v1/usage":                             {"/api/v1/usage", "AFFFFFL"}, // admins only; the test's form is not JSON: 415
}

func outcome(resp *http.Response) byte {
	switch {
	case resp.StatusCode == http.StatusForbidden:
		return 'F'
	case resp.StatusCode == http.StatusNotFound:
		return 'H'
	case resp.StatusCode == http.StatusUnauthorized:
		return 'L'
	case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login?"):
		return 'L'
	case resp.StatusCode >= 500:
		return 'E'
	}
	return 'A'
}

// TestEveryRouteIsAuthorized walks every route of the router as every kind of
// person and checks who gets in.
func TestEveryRouteIsAuthorized(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	routes := server.Routes(f.srv.Config.Handler)
	for _, rt := range routes {
		if _, ok := expectations[rt]; !ok {
			t.Errorf("route %s has no authorization expectation: add it to expectations", rt)
		}
	}
	sessions := map[string][2]string{}
	for _, role := range roles {
		if role != "" {
			tok, csrf := f.session(t, role)
			sessions[role] = [2]string{tok, csrf}
		}
	}
	for key, exp := range expectations {
		method, _, _ := strings.Cut(key, " ")
		got := make([]byte, len(roles))
		for i, role := range roles {
			var body io.Reader
			if method == "POST" {
				form := url.Values{"csrf": {sessions[role][1]}, "name": {"t"}, "scope": {"read"}}
				body = strings.NewReader(form.Encode())
			}
			req, _ := http.NewRequest(method, f.srv.URL+exp.path, body)
			if method == "POST" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if role != "" {
				req.AddCookie(&http.Cookie{Name: "parsimony_session", Value: sessions[role][0]})
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			got[i] = outcome(resp)
			if role == "admin" && method == "POST" && exp.path == "/logout" {
				// Signed out: sign in again for the routes after it.
				tok, csrf := f.session(t, role)
				sessions[role] = [2]string{tok, csrf}
			}
			if method == "POST" && exp.path == "/logout" && role != "" {
				tok, csrf := f.session(t, role)
				sessions[role] = [2]string{tok, csrf}
			}
		}
		if string(got) != exp.want {
			t.Errorf("%s as %v: got %s, want %s", key, roles, got, exp.want)
		}
	}
}

// A POST without the session's CSRF token is refused.
func TestCSRF(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	tok, _ := f.session(t, "mem-a")
	req, _ := http.NewRequest("POST", f.srv.URL+"/tokens", strings.NewReader("name=x&scope=read&csrf=wrong"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "parsimony_session", Value: tok})
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST with a wrong CSRF token: %d", resp.StatusCode)
	}
}

// Member-level detail: a member sees the leaderboard without others' names; the
// PI sees them; opening the leaderboard shows them to members.
func TestLeaderboardNames(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	memTok, _ := f.session(t, "mem-a")
	piTok, _ := f.session(t, "pi-a")
	_, body := getAs(t, f.srv.URL+"/groups/lab-a/leaderboard", memTok)
	if strings.Contains(body, "PI-A") || !strings.Contains(body, "You (mem-a)") {
		t.Errorf("a member sees names on a closed leaderboard, or not their own row")
	}
	_, body = getAs(t, f.srv.URL+"/groups/lab-a/leaderboard", piTok)
	if !strings.Contains(body, "MEM-A") {
		t.Errorf("the PI does not see names")
	}
	if _, err := f.l.Pool().Exec(context.Background(), `UPDATE groups SET open_leaderboard = true WHERE slug = 'lab-a'`); err != nil {
		t.Fatal(err)
	}
	_, body = getAs(t, f.srv.URL+"/groups/lab-a/leaderboard", memTok)
	if !strings.Contains(body, "PI-A") {
		t.Errorf("an open leaderboard hides names from members")
	}
	// The by-user table of the dashboard and the API follow the same rule.
	if resp, _ := getAs(t, f.srv.URL+"/api/v1/groups/lab-b/usage?by=user", memTok); resp.StatusCode != http.StatusNotFound {
		t.Errorf("member of lab-a reads lab-b's users: %d", resp.StatusCode)
	}
}

// API tokens: scoped, revocable, and only for the API.
func TestAPITokens(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	ctx := context.Background()
	id, _ := f.auth.UserID(ctx, "pi-a")
	secret, tokenID, err := f.auth.CreateToken(ctx, id, "script", []string{"read"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	call := func(path string) int {
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := call("/api/v1/groups/lab-a/usage"); c != 200 {
		t.Errorf("token reading its group: %d", c)
	}
	if c := call("/api/v1/groups/lab-b/usage"); c != 404 {
		t.Errorf("token reading another group: %d", c)
	}
	if c := call("/groups/lab-a"); c != 403 {
		t.Errorf("token on a page: %d", c)
	}
	if err := f.auth.RevokeToken(ctx, id, tokenID); err != nil {
		t.Fatal(err)
	}
	if c := call("/api/v1/me"); c != 401 {
		t.Errorf("revoked token: %d", c)
	}
}

// The trusted proxy's header signs people in only from the trusted address.
func TestProxyHeader(t *testing.T) {
	for _, tt := range []struct {
		trusted string
		want    int
	}{{"127.0.0.1/32", http.StatusOK}, {"10.0.0.0/8", http.StatusSeeOther}} {
		t.Run(tt.trusted, func(t *testing.T) { testProxyHeader(t, tt.trusted, tt.want) })
	}
}

func testProxyHeader(t *testing.T, trusted string, want int) {
	tt := struct {
		trusted string
		want    int
	}{trusted, want}
	{
		f := newFixture(t, server.AuthOptions{ProxyHeader: "X-Remote-User", TrustedProxies: []netip.Prefix{netip.MustParsePrefix(tt.trusted)}})
		institution(t, f)
		req, _ := http.NewRequest("GET", f.srv.URL+"/", nil)
		req.Header.Set("X-Remote-User", "mem-a")
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("proxy header with trusted %s: %d, want %d", tt.trusted, resp.StatusCode, tt.want)
		}
		// No cookie is needed: the proxy's header names the person on every
		// request, and their one proxy session holds the CSRF token.
		if tt.want == http.StatusOK && !strings.Contains(string(body), "Lab A") {
			t.Errorf("signed in by the proxy: no groups")
		}
	}
}
