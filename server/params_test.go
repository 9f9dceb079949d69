package server_test

import (
	"net/url"
	"strings"
	"testing"
)

// Bad input is a 400 (413 for an oversized form) with the reason: never a silent
// default, never a 500, and never a database's own words.
func TestBadInputIsRefusedWithTheReason(t *testing.T) {
	f := newFixture(t) // 15 November 2026
	institution(t, f)
	admin := signedIn(t, f, "admin")
	gets := []struct {
		path   string
		code   int
		reason string
	}{
		{"/groups/lab-a?period=custom&from=2026-11-10&to=2026-11-01", 400, "from (2026-11-10) is after to (2026-11-01)"},
		{"/groups/lab-a?period=custom&from=2026-11-01&to=2026-11-31", 400, `to=&#34;2026-11-31&#34; is not a date`},
		{"/groups/lab-a?period=2026-13", 400, `period &#34;2026-13&#34; is not one`},
		{"/groups/lab-a?period=0000-01", 400, "period 0000-01 is before 1970"},
		{"/groups/lab-a?period=2027-01", 400, "period 2027-01 has not started"},
		{"/groups/lab-a?period=whenever", 400, `period &#34;whenever&#34; is not one`},
		{"/groups/lab-a?period=custom&from=2020-01-01&to=2026-01-01", 400, "a period may span at most 1098"},
		{"/groups/lab-a?from=2026-11-01", 400, "needs both from and to"},
		{"/groups/lab-a?period=prev&from=2026-11-01&to=2026-11-02", 400, "from and to go with period=custom"},
		{"/groups/lab-a?stack=sideways", 400, `stack &#34;sideways&#34; is not one`},
		{"/groups/lab-a/leaderboard?sort=loudest", 400, `sort &#34;loudest&#34; is not one`},
		{"/groups/lab-a/leaderboard?period=2026-02-30", 400, "is not one"},
		{"/api/v1/groups/lab-a/usage?period=2026-13", 400, `period \"2026-13\" is not one`},
		{"/api/v1/groups/lab-a/usage?format=xml", 400, `format \"xml\" is not one`},
		{"/api/v1/groups/lab-a/leaderboard?period=custom&from=2026-12-01&to=2026-11-01", 400, "is after to"},
		{"/groups/lab-a?period=%ff", 400, `parameter &#34;period&#34; is not valid UTF-8 text`},
		{"/groups/lab-a?period=month%00", 400, "holds a NUL byte"},
		{"/groups/%00", 400, "the path holds a NUL byte"},
		{"/groups/%c3%28", 400, "the path is not valid UTF-8 text"},
		{"/groups/lab-a?x=" + strings.Repeat("a", 5000), 400, "the query string is 5002 bytes; at most 4096"},
		// What is right still works.
		{"/groups/lab-a?period=2026-10", 200, "October 2026"},
		{"/groups/lab-a?period=2026-11", 200, "November 2026, to date"},
		{"/groups/lab-a?period=custom&from=2026-10-01&to=2026-10-01", 200, "1 Oct 2026 – 1 Oct 2026"},
		{"/groups/lab-a?from=2023-11-15&to=2026-11-15", 200, "15 Nov 2023 – 15 Nov 2026"},
		{"/api/v1/groups/lab-a/usage?period=2026-10&format=csv", 200, "resource,amount"},
	}
	for _, g := range gets {
		resp, body := admin.get(g.path)
		if resp.StatusCode != g.code || !strings.Contains(body, g.reason) {
			t.Errorf("GET %.80s: %d, want %d with %q\n%.400s", g.path, resp.StatusCode, g.code, g.reason, body)
		}
		noDatabaseText(t, g.path, body)
	}

	posts := []struct {
		path   string
		form   url.Values
		code   int
		reason string
	}{
		{"/admin/groups", url.Values{"kind": {"lab"}, "slug": {"huge"}, "name": {strings.Repeat("x", 9<<20)}}, 413, "the form is larger than 64 KiB"},
		{"/admin/groups", url.Values{"kind": {"lab"}, "slug": {"long"}, "name": {strings.Repeat("é", 201)}}, 400, "the name is 201 characters long; at most 200 are taken"},
		{"/admin/groups", url.Values{"kind": {"lab"}, "slug": {"nul"}, "name": {"Lab\x00C"}}, 400, "holds a NUL byte"},
		{"/admin/groups", url.Values{"kind": {"lab"}, "slug": {"bad"}, "name": {"Lab \xff"}}, 400, "is not valid UTF-8 text"},
		{"/admin/users", url.Values{"login": {strings.Repeat("u", 129)}}, 400, "The login is 129 characters long; at most 128 are taken"},
		{"/admin/users", url.Values{"login": {"u1"}, "display_name": {strings.Repeat("D", 201)}}, 400, "the display name is 201 characters long; at most 200"},
		{"/tokens", url.Values{"name": {"my\x00token"}, "scope": {"read"}}, 400, "holds a NUL byte"},
		{"/tokens", url.Values{"name": {strings.Repeat("t", 101)}, "scope": {"read"}}, 400, "a token&#39;s name is at most 100 characters"},
		{"/tokens", url.Values{"name": {"ok"}, "scope": {"root"}}, 400, "unknown scope"},
		{"/tokens", url.Values{"name": {"tab\there"}, "scope": {"read"}}, 400, "control character"},
	}
	for _, p := range posts {
		resp, body := admin.post(p.path, p.form)
		if resp.StatusCode != p.code || !strings.Contains(body, p.reason) {
			t.Errorf("POST %s: %d, want %d with %q\n%.400s", p.path, resp.StatusCode, p.code, p.reason, body)
		}
		noDatabaseText(t, p.path, body)
		if len(body) > 64<<10 {
			t.Errorf("POST %s answered %d bytes: the refused input came back", p.path, len(body))
		}
	}
	// Nothing of it was stored: the admin page is its usual size.
	if resp, body := admin.get("/admin"); resp.StatusCode != 200 || len(body) > 1<<20 {
		t.Errorf("/admin after the refused forms: %d, %d bytes", resp.StatusCode, len(body))
	}
}

// noDatabaseText fails when a response carries PostgreSQL's or pgx's own words.
func noDatabaseText(t *testing.T, what, body string) {
	t.Helper()
	for _, leak := range []string{"SQLSTATE", "invalid byte sequence", "pgx", "ERROR:", "violates"} {
		if strings.Contains(body, leak) {
			t.Errorf("%s: the response carries database text %q\n%.400s", what, leak, body)
		}
	}
}
