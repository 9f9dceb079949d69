package server_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// person is someone signed in, sending forms as the browser would: with the
// session's cookie and CSRF token, not following redirects.
type person struct {
	t           *testing.T
	f           fixture
	token, csrf string
}

func signedIn(t *testing.T, f fixture, login string) person {
	t.Helper()
	token, csrf := f.session(t, login)
	return person{t: t, f: f, token: token, csrf: csrf}
}

func (p person) post(path string, form url.Values) (*http.Response, string) {
	p.t.Helper()
	form.Set("csrf", p.csrf)
	req, _ := http.NewRequest("POST", p.f.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "parsimony_session", Value: p.token})
	resp, err := noRedirect.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (p person) get(path string) (*http.Response, string) {
	p.t.Helper()
	return getAs(p.t, p.f.srv.URL+path, p.token)
}

// done posts a form that must succeed: a redirect (303) to back, whose page shows
// a note containing note. It returns the page.
func (p person) done(path string, form url.Values, back, note string) string {
	p.t.Helper()
	resp, body := p.post(path, form)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, back+"?done=") {
		p.t.Fatalf("POST %s %v: %d to %q, want 303 to %s?done=…\n%s", path, form, resp.StatusCode, loc, back, body)
	}
	resp, body = p.get(loc)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, note) {
		p.t.Fatalf("GET %s after POST %s: %d, want a note %q\n%s", loc, path, resp.StatusCode, note, body)
	}
	return body
}

// refused posts a form that must fail with status code, saying why (reason), in the
// page layout.
func (p person) refused(path string, form url.Values, code int, reason string) {
	p.t.Helper()
	resp, body := p.post(path, form)
	if resp.StatusCode != code || !strings.Contains(body, reason) || !strings.Contains(body, "Not saved") || !strings.Contains(body, `<header class="site"`) {
		p.t.Errorf("POST %s %v: %d, want %d with %q in the page layout\n%s", path, form, resp.StatusCode, code, reason, body)
	}
}

func group(t *testing.T, f fixture, slug string) ledger.Group {
	t.Helper()
	g, err := f.l.GroupBySlug(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Unassigned usage is mapped from its row on /admin and moves into the group.
func TestAdminMapUnassigned(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	ctx := context.Background()
	start := time.Date(2026, 11, 3, 8, 0, 0, 0, time.UTC)
	_, err := f.l.Ingest(ctx, ledger.Batch{Records: []ledger.Record{
		{Source: "slurm", Cluster: "hpc", ExternalID: "lost-1", Resource: "cpu", Start: start, End: start.Add(2 * time.Hour),
			Quantity: 7200, Allocated: 7200, Account: "lost", User: "mem-b"},
		{Source: "slurm", Cluster: "hpc", ExternalID: "lost-2", Resource: "cpu", Start: start.AddDate(0, 0, 1), End: start.AddDate(0, 0, 1).Add(time.Hour),
			Quantity: 3600, Allocated: 3600, Account: "lost", User: "mem-b"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	labB := group(t, f, "lab-b")
	usageRows := func() (n int64) {
		if err := f.l.Pool().QueryRow(ctx, `SELECT count(*) FROM usage WHERE group_id = $1`, labB.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := usageRows()
	var lost int64
	if err := f.l.Pool().QueryRow(ctx, `SELECT count(*) FROM usage WHERE group_id IS NULL AND account = 'lost'`).Scan(&lost); err != nil || lost == 0 {
		t.Fatalf("unassigned usage rows of the account: %d, %v", lost, err)
	}

	admin := signedIn(t, f, "admin")
	const row = `data-testid="unassigned-slurm-hpc-lost"`
	if _, body := admin.get("/admin"); !strings.Contains(body, row) || !strings.Contains(body, `<option value="lab-b">`) {
		t.Fatalf("/admin shows no row for the unassigned account, or no group to map it to:\n%s", body)
	}
	// A mistake first: a group that does not exist.
	admin.refused("/admin/mappings", url.Values{"kind": {"slurm"}, "scope": {"hpc"}, "identity": {"lost"}, "group": {"nope"}},
		http.StatusBadRequest, "There is no group &#34;nope&#34;.")
	admin.refused("/admin/mappings", url.Values{"kind": {"slurm"}, "scope": {"hpc"}, "identity": {"lost"}},
		http.StatusBadRequest, "Choose the group")

	page := admin.done("/admin/mappings", url.Values{"kind": {"slurm"}, "scope": {"hpc"}, "identity": {"lost"}, "group": {"lab-b"}, "back": {"/admin"}},
		"/admin", "Mapped to lab-b: "+strconv.FormatInt(lost, 10)+" unassigned usage rows moved into it.")
	if strings.Contains(page, row) {
		t.Errorf("the account is still unassigned after mapping it")
	}
	if after := usageRows(); after != before+lost {
		t.Errorf("lab-b's usage rows: %d before, %d after mapping; want %d more", before, after, lost)
	}
	mappings, err := f.l.Mappings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range mappings {
		found = found || (m == ledger.Mapping{Kind: "slurm", Scope: "hpc", Identity: "lost", GroupID: labB.ID})
	}
	if !found {
		t.Errorf("no mapping slurm hpc/lost → lab-b: %+v", mappings)
	}
	// The group's page lists it.
	_, body := admin.get("/admin/groups/lab-b")
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	doc.Find("main section.card table tbody tr").Each(func(_ int, tr *goquery.Selection) {
		rows = append(rows, strings.Join(strings.Fields(tr.Text()), " "))
	})
	if !slices.Contains(rows, "slurm hpc lost") {
		t.Errorf("/admin/groups/lab-b does not list the new mapping: %q", rows)
	}
}

// Groups are created, moved and archived from /admin/groups.
func TestAdminGroups(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	admin := signedIn(t, f, "admin")

	create := url.Values{"parent": {"dept"}, "kind": {"lab"}, "slug": {"lab-c"}, "name": {"Lab C"}, "cost_centre": {"CC-9"}, "billable": {"yes"}}
	page := admin.done("/admin/groups", create, "/admin/groups", "Created the group lab-c.")
	if !strings.Contains(page, `href="/admin/groups/lab-c"`) {
		t.Errorf("/admin/groups does not list the new group")
	}
	c, dept := group(t, f, "lab-c"), group(t, f, "dept")
	if c.ParentID != dept.ID || c.Kind != "lab" || c.Name != "Lab C" || c.CostCentre != "CC-9" || !c.Billable {
		t.Errorf("created %+v", c)
	}
	admin.refused("/admin/groups", create, http.StatusConflict, "is taken")
	admin.refused("/admin/groups", url.Values{"kind": {"lab"}, "slug": {"Bad Slug"}, "name": {"x"}}, http.StatusBadRequest, "is not one")
	admin.refused("/admin/groups", url.Values{"kind": {"lab"}, "slug": {"x"}, "name": {"x"}, "parent": {"nope"}}, http.StatusBadRequest, "no group")

	// Move under lab-a, then to the top.
	admin.done("/admin/groups/lab-c/move", url.Values{"parent": {"lab-a"}}, "/admin/groups/lab-c", "Moved lab-c with its subtree.")
	if got := group(t, f, "lab-c"); got.ParentID != group(t, f, "lab-a").ID {
		t.Errorf("after moving under lab-a: parent %d", got.ParentID)
	}
	admin.refused("/admin/groups/lab-a/move", url.Values{"parent": {"lab-c"}}, http.StatusConflict, "under its own subtree")
	admin.refused("/admin/groups/lab-c/move", url.Values{}, http.StatusBadRequest, "Choose the new parent")
	admin.done("/admin/groups/lab-c/move", url.Values{"parent": {""}}, "/admin/groups/lab-c", "Moved")
	if got := group(t, f, "lab-c"); got.ParentID != 0 || got.Depth() != 1 {
		t.Errorf("after moving to the top: %+v", got)
	}
	if resp, _ := admin.post("/admin/groups/nope/move", url.Values{"parent": {""}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("moving a group that does not exist: %d", resp.StatusCode)
	}

	// Archive: only when confirmed; then it leaves the pickers.
	admin.refused("/admin/groups/lab-c/archive", url.Values{}, http.StatusBadRequest, "yes, archive")
	page = admin.done("/admin/groups/lab-c/archive", url.Values{"confirm": {"yes"}}, "/admin/groups/lab-c", "Archived lab-c.")
	if group(t, f, "lab-c").ArchivedAt == nil {
		t.Errorf("lab-c is not archived")
	}
	if strings.Contains(page, `action="/admin/groups/lab-c/archive"`) {
		t.Errorf("an archived group's page still offers to archive it")
	}
	if _, body := admin.get("/admin/groups"); strings.Contains(body, `<option value="lab-c">`) {
		t.Errorf("the archived group is still offered as a parent")
	}
	admin.refused("/admin/groups", url.Values{"kind": {"lab"}, "slug": {"x"}, "name": {"x"}, "parent": {"lab-c"}}, http.StatusBadRequest, "archived")
}

// Global roles are granted and revoked, memberships added and ended, from a
// person's page.
func TestAdminUsersAndRoles(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	ctx := context.Background()
	admin := signedIn(t, f, "admin")

	if _, body := admin.get("/admin/users?q=MEM"); !strings.Contains(body, `href="/admin/users/mem-a"`) || strings.Contains(body, `href="/admin/users/fin"`) {
		t.Errorf("/admin/users?q=MEM does not find mem-a alone:\n%s", body)
	}
	hasRole := func(login, role string) (held bool) {
		err := f.l.Pool().QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM global_roles r JOIN users u ON u.id = r.user_id WHERE u.login = $1 AND r.role = $2)`,
			login, role).Scan(&held)
		if err != nil {
			t.Fatal(err)
		}
		return held
	}
	page := admin.done("/admin/users/mem-a/roles", url.Values{"role": {"finance"}}, "/admin/users/mem-a", "Granted the finance role.")
	if !hasRole("mem-a", "finance") || !strings.Contains(page, "Revoke finance") {
		t.Errorf("finance not granted, or not offered to revoke")
	}
	// mem-a is finance now: the rates page opens.
	if resp, _ := signedIn(t, f, "mem-a").get("/admin/rates"); resp.StatusCode != http.StatusOK {
		t.Errorf("/admin/rates as mem-a with the finance role: %d", resp.StatusCode)
	}
	admin.done("/admin/users/mem-a/roles/revoke", url.Values{"role": {"finance"}}, "/admin/users/mem-a", "Revoked the finance role.")
	if hasRole("mem-a", "finance") {
		t.Errorf("finance not revoked")
	}
	admin.refused("/admin/users/mem-a/roles/revoke", url.Values{"role": {"finance"}}, http.StatusBadRequest, "does not hold the finance role")
	admin.refused("/admin/users/mem-a/roles", url.Values{"role": {"wizard"}}, http.StatusBadRequest, "Choose a role")
	admin.refused("/admin/users/admin/roles/revoke", url.Values{"role": {"admin"}}, http.StatusConflict, "your own admin role")
	if resp, _ := admin.post("/admin/users/nobody-at-all/roles", url.Values{"role": {"admin"}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("granting a role to someone unknown: %d", resp.StatusCode)
	}

	// Memberships: mem-b becomes a viewer of lab-a, from the 1st, until the 15th.
	validTo := func() (to string) {
		err := f.l.Pool().QueryRow(ctx, `
			SELECT m.valid_to::text FROM memberships m JOIN users u ON u.id = m.user_id JOIN groups g ON g.id = m.group_id
			WHERE u.login = 'mem-b' AND g.slug = 'lab-a' AND m.role = 'viewer'`).Scan(&to)
		if err != nil {
			t.Fatal(err)
		}
		return to
	}
	page = admin.done("/admin/users/mem-b/memberships", url.Values{"group": {"lab-a"}, "role": {"viewer"}, "from": {"2026-11-01"}},
		"/admin/users/mem-b", "Added the membership in lab-a.")
	if validTo() != "infinity" || !strings.Contains(page, `<input type="hidden" name="from" value="2026-11-01">`) {
		t.Errorf("the membership is not open-ended, or not offered to end:\n%s", page)
	}
	admin.refused("/admin/users/mem-b/memberships", url.Values{"group": {"lab-a"}, "role": {"boss"}}, http.StatusBadRequest, "Choose a role")
	admin.refused("/admin/users/mem-b/memberships", url.Values{"group": {"lab-a"}, "role": {"viewer"}, "from": {"soon"}}, http.StatusBadRequest, "is not a date")
	end := url.Values{"group": {"lab-a"}, "role": {"viewer"}, "from": {"2026-11-01"}, "origin": {"manual"}, "date": {"2026-11-15"}}
	admin.done("/admin/users/mem-b/memberships/end", end, "/admin/users/mem-b", "Ended the membership in lab-a.")
	if got := validTo(); got != "2026-11-15" {
		t.Errorf("the membership ends %s, want 2026-11-15", got)
	}
	admin.refused("/admin/users/mem-b/memberships/end", end, http.StatusBadRequest, "no such viewer membership")

	// A new person.
	admin.done("/admin/users", url.Values{"login": {"newbie"}, "display_name": {"New Bee"}}, "/admin/users/newbie", "Added.")
	admin.refused("/admin/users", url.Values{"login": {"newbie"}}, http.StatusConflict, "already")
	admin.refused("/admin/users", url.Values{"login": {"two words"}}, http.StatusBadRequest, "is not one")
}

// Finance sets and ends rates and sets budgets; mistakes are explained.
func TestAdminRatesAndBudgets(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	ctx := context.Background()
	fin := signedIn(t, f, "fin")

	set := url.Values{"resource": {"gpu"}, "cluster": {"hpc"}, "price": {"2.5"}, "valid_from": {"2026-11-01"}, "note": {"GPU list price"}}
	page := fin.done("/admin/rates", set, "/admin/rates", "The rate is set.")
	if !strings.Contains(page, "GPU list price") || !strings.Contains(page, "<td class=\"num\">2.50</td>") {
		t.Errorf("/admin/rates does not list the new rate:\n%s", page)
	}
	fin.done("/admin/rates", set, "/admin/rates", "nothing changed")
	gpuRates := func() (out []ledger.Rate) {
		rates, err := f.l.Rates(ctx, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rates {
			if r.Resource == "gpu" {
				out = append(out, r)
			}
		}
		return out
	}
	// A new price ends the old one the day before.
	set.Set("price", "3")
	set.Set("valid_from", "2026-11-20")
	fin.done("/admin/rates", set, "/admin/rates", "The rate is set.")
	rates := gpuRates()
	if len(rates) != 2 || rates[0].ValidTo.Format(time.DateOnly) != "2026-11-20" || rates[1].Price.RatString() != "3" {
		t.Fatalf("after a price change: %+v", rates)
	}

	for price, reason := range map[string]string{"abc": "is not a number", "-1": "must be zero or more", "1,50": "is not a number", "": "Give the price"} {
		bad := url.Values{"resource": {"cpu"}, "price": {price}, "valid_from": {"2026-11-01"}}
		fin.refused("/admin/rates", bad, http.StatusBadRequest, reason)
	}
	fin.refused("/admin/rates", url.Values{"resource": {"unicorns"}, "price": {"1"}, "valid_from": {"2026-11-01"}}, http.StatusBadRequest, "Choose a resource")
	fin.refused("/admin/rates", url.Values{"resource": {"cpu"}, "price": {"1"}, "valid_from": {"2026-10-05"}}, http.StatusConflict, "closed period")

	// End the newer rate.
	id := rates[1].ID
	path := "/admin/rates/" + strconv.FormatInt(id, 10) + "/end"
	fin.refused(path, url.Values{"date": {"2026-11-10"}}, http.StatusBadRequest, "can only end after")
	fin.done(path, url.Values{"date": {"2026-12-01"}}, "/admin/rates", "The rate is ended.")
	if got := gpuRates()[1].ValidTo.Format(time.DateOnly); got != "2026-12-01" {
		t.Errorf("the rate ends %s, want 2026-12-01", got)
	}
	if resp, _ := fin.post("/admin/rates/999999/end", url.Values{"date": {"2026-12-01"}}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("ending a rate that does not exist: %d", resp.StatusCode)
	}

	// Budgets.
	page = fin.done("/admin/budgets", url.Values{"group": {"lab-a"}, "span": {"month"}, "amount": {"2500"}, "valid_from": {"2026-11-01"}},
		"/admin/budgets", "Set the budget of lab-a.")
	if !strings.Contains(page, "2,500.00") {
		t.Errorf("/admin/budgets does not list the budget:\n%s", page)
	}
	fin.done("/admin/budgets", url.Values{"group": {"lab-a"}, "span": {"fiscal_year"}, "resource": {"gpu"}, "amount": {"5000"}, "valid_from": {"2026-11-01"}},
		"/admin/budgets", "Set the budget")
	st, err := f.l.BudgetStatuses(ctx, group(t, f, "lab-a").ID, time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC))
	if err != nil || len(st) != 2 {
		t.Errorf("lab-a's budgets: %v, %+v", err, st)
	}
	fin.refused("/admin/budgets", url.Values{"group": {"lab-a"}, "span": {"week"}, "amount": {"1"}, "valid_from": {"2026-11-01"}}, http.StatusBadRequest, "per month or per fiscal year")
	fin.refused("/admin/budgets", url.Values{"group": {"lab-a"}, "span": {"month"}, "amount": {"lots"}, "valid_from": {"2026-11-01"}}, http.StatusBadRequest, "is not a number")

	// Finance's pages link to each other, not to the admin's.
	if _, body := fin.get("/admin/rates"); !strings.Contains(body, `href="/admin/budgets"`) || strings.Contains(body, `href="/admin/groups"`) {
		t.Errorf("/admin/rates as finance: wrong links")
	}
}

// Those who may not change something are refused (403), and nothing changes.
func TestAdminForbidden(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	mem := signedIn(t, f, "mem-a")
	fin := signedIn(t, f, "fin")
	for _, x := range []struct {
		who  person
		path string
		form url.Values
	}{
		{mem, "/admin/mappings", url.Values{"kind": {"slurm"}, "scope": {"hpc"}, "identity": {"x"}, "group": {"lab-a"}}},
		{fin, "/admin/groups", url.Values{"kind": {"lab"}, "slug": {"sneaky"}, "name": {"Sneaky"}}},
		{fin, "/admin/users/fin/roles", url.Values{"role": {"admin"}}},
		{mem, "/admin/rates", url.Values{"resource": {"cpu"}, "price": {"0"}, "valid_from": {"2026-11-01"}}},
		{mem, "/admin/budgets", url.Values{"group": {"lab-a"}, "span": {"month"}, "amount": {"1"}, "valid_from": {"2026-11-01"}}},
	} {
		if resp, _ := x.who.post(x.path, x.form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("POST %s by a non-admin: %d, want 403", x.path, resp.StatusCode)
		}
	}
	if _, err := f.l.GroupBySlug(context.Background(), "sneaky"); err == nil {
		t.Errorf("finance created a group")
	}
}
