package server_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/parsimony-hpc/parsimony/seed"
	"github.com/parsimony-hpc/parsimony/server"
)

// The end-to-end tests drive the web app in headless Chromium as its people use
// it — a PI, a lab member, finance and an admin — over the seeded demo
// institution: they sign in from the demo sign-in page, click through the pages,
// and fail on a status they did not expect, a console error, an uncaught
// exception, a Content-Security-Policy violation, or a page wider than the window.
// Every page is saved as a full-page PNG to $PARSIMONY_SCREENSHOTS, or else to
// the test's artifact directory (kept with go test -artifacts).

// e2eNow is newFixture's clock: the demo's history ends there, and the server
// reports "this month" from it.
var e2eNow = time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)

// e2eTimeout bounds each scenario; e2eWait bounds one wait for an element, so a
// missing element fails in seconds rather than at the scenario's end.
const (
	e2eTimeout = 90 * time.Second
	e2eWait    = 10 * time.Second
)

// e2eEnv is what the scenarios share: the seeded app and one running browser.
type e2eEnv struct {
	f       fixture
	browser context.Context // a chromedp context whose browser has started
	shots   string          // where screenshots go
}

func TestE2E(t *testing.T) {
	e := newE2E(t)
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *e2eTab)
	}{{"PI", e2ePI}, {"Member", e2eMember}, {"Finance", e2eFinance}, {"Admin", e2eAdmin}} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t, e.tab(t))
		})
	}
}

// newE2E starts Chromium, then seeds the demo institution into a fresh ledger
// behind a demo-login server.
func newE2E(t *testing.T) *e2eEnv {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		path, err = exec.LookPath("chromium-browser")
	}
	if err != nil {
		t.Fatal("the end-to-end tests need Chromium (chromium or chromium-browser on PATH): run ./scripts/install-deps.sh")
	}
	// One deadline for the whole run, browser included: nothing can hang.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}

	f := newFixture(t, server.AuthOptions{DemoLogin: true})
	began := time.Now()
	sum, err := seed.Run(ctx, f.l, seed.Options{Scale: seed.ScaleDemo, Months: 2, RandomSeed: 1, Now: e2eNow,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	t.Logf("seeded %d groups, %d users, %d jobs in %s", sum.Groups, sum.Users, sum.Jobs, time.Since(began).Round(time.Millisecond))

	shots := os.Getenv("PARSIMONY_SCREENSHOTS")
	if shots == "" {
		shots = t.ArtifactDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)
	return &e2eEnv{f: f, browser: browser, shots: shots}
}

// e2eTab is one scenario's browser tab, in a browser context of its own (its own
// cookies), with the problems the page reported since the last check.
type e2eTab struct {
	t   *testing.T
	e   *e2eEnv
	ctx context.Context

	mu       sync.Mutex
	problems []e2eProblem
}

// e2eProblem is something a page reported going wrong.
type e2eProblem struct {
	msg string
	doc string // for a failed request: its URL
}

func (e *e2eEnv) tab(t *testing.T) *e2eTab {
	tb := &e2eTab{t: t, e: e}
	ctx, cancel := chromedp.NewContext(e.browser, chromedp.WithNewBrowserContext(), chromedp.WithListener(tb.listen))
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, e2eTimeout)
	t.Cleanup(cancelTimeout)
	tb.ctx = ctx
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tb
}

// listen runs in the tab's event loop: it only notes what went wrong.
func (tb *e2eTab) listen(ev any) {
	var msg, doc string
	switch ev := ev.(type) {
	case *cdpruntime.EventConsoleAPICalled:
		if ev.Type == cdpruntime.ConsoleAPICalledTypeError {
			var args []string
			for _, a := range ev.Args {
				if a.Description != "" {
					args = append(args, a.Description)
				} else {
					args = append(args, string(a.Value))
				}
			}
			msg = "console.error: " + strings.Join(args, " ")
		}
	case *cdpruntime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg = "uncaught exception: " + d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		msg += fmt.Sprintf(" at %s:%d", d.URL, d.LineNumber+1)
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError {
			msg = fmt.Sprintf("browser log (%s): %s", ev.Entry.Source, ev.Entry.Text)
			if ev.Entry.URL != "" {
				msg += " [" + ev.Entry.URL + "]"
			}
			if ev.Entry.Source == cdplog.EntrySourceNetwork {
				doc = ev.Entry.URL
			}
		}
	}
	if msg != "" {
		tb.mu.Lock()
		tb.problems = append(tb.problems, e2eProblem{msg: msg, doc: doc})
		tb.mu.Unlock()
	}
}

// check fails the test for every problem the page reported, and for a page wider
// than the window. The browser logs an error status of the page itself too (403,
// 404): the caller checks that status, so it is not a problem here.
func (tb *e2eTab) check(page string) {
	tb.t.Helper()
	tb.mu.Lock()
	problems := tb.problems
	tb.problems = nil
	tb.mu.Unlock()
	for _, p := range problems {
		if p.doc != "" && (p.doc == tb.e.f.srv.URL+page || p.doc == tb.e.f.srv.URL+"/favicon.ico") {
			continue // the page's status is checked by the caller, the icon by e2ePI
		}
		tb.t.Errorf("%s: %s", page, p.msg)
	}
	overflow := tb.eval(`(() => {
		const w = document.documentElement.clientWidth, sw = document.documentElement.scrollWidth;
		if (sw <= w) return [];
		const out = [sw + "px wide in a " + w + "px window"];
		for (const el of document.querySelectorAll("body *")) {
			const r = el.getBoundingClientRect();
			if (r.right > w + 1 && r.width > 0 && out.length < 6) {
				const cls = typeof el.className === "string" && el.className ? "." + el.className.trim().split(/\s+/).join(".") : "";
				out.push(el.tagName.toLowerCase() + cls + " (right edge " + Math.round(r.right) + "px)");
			}
		}
		return out;
	})()`)
	var over []string
	if err := json.Unmarshal(overflow, &over); err != nil {
		tb.t.Fatalf("%s: overflow check: %v", page, err)
	}
	if len(over) > 0 {
		tb.t.Errorf("%s: the page overflows the window to the right: %s", page, strings.Join(over, "; "))
	}
}

// loaded checks the page that just loaded and saves its screenshot as name.png
// (no screenshot when name is empty).
func (tb *e2eTab) loaded(name string, resp *network.Response, want int) {
	tb.t.Helper()
	page := tb.location()
	if resp == nil {
		tb.t.Fatalf("%s: no response", page)
	}
	if resp.Status != int64(want) {
		tb.t.Errorf("%s: status %d, want %d", page, resp.Status, want)
	}
	tb.check(page)
	if name == "" {
		return
	}
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100)) // quality 100 is PNG
	if err != nil {
		tb.t.Fatalf("%s: screenshot: %v", page, err)
	}
	if err := os.WriteFile(filepath.Join(tb.e.shots, name+".png"), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// open navigates to path and expects the status want.
func (tb *e2eTab) open(name, path string, want int) {
	tb.t.Helper()
	resp, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(tb.e.f.srv.URL+path))
	if err != nil {
		tb.t.Fatalf("open %s: %v", path, err)
	}
	tb.loaded(name, resp, want)
}

// follow clicks what the CSS selector finds (a link or a submit button) and
// waits for the page it leads to.
func (tb *e2eTab) follow(name, css string) {
	tb.t.Helper()
	e2eFollow(tb, name, chromedp.CSS(css))
}

// e2eFollow is follow for any kind of selector.
func e2eFollow[S chromedp.Selectable](tb *e2eTab, name string, sel S) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, e2eWait)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(sel)); err != nil {
		tb.t.Fatalf("%s: nothing to click at %v: %v", tb.location(), sel, err)
	}
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(sel))
	if err != nil {
		tb.t.Fatalf("%s: click %v: %v", tb.location(), sel, err)
	}
	tb.loaded(name, resp, http.StatusOK)
}

// waitVisible fails unless the CSS selector finds a visible element soon.
func (tb *e2eTab) waitVisible(css string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, e2eWait)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(css))); err != nil {
		tb.t.Errorf("%s: %s is not visible: %v", tb.location(), css, err)
	}
}

// eval runs JavaScript in the page and returns its JSON result.
func (tb *e2eTab) eval(js string) []byte {
	tb.t.Helper()
	raw, err := chromedp.Run(tb.ctx, chromedp.Evaluate[[]byte](js))
	if err != nil {
		tb.t.Fatalf("evaluate %.60q: %v", js, err)
	}
	return raw
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// text is the visible text of the first element the CSS selector finds, or "".
func (tb *e2eTab) text(css string) string {
	tb.t.Helper()
	var s string
	if err := json.Unmarshal(tb.eval(`(document.querySelector(`+jsString(css)+`) || {innerText: ""}).innerText.trim()`), &s); err != nil {
		tb.t.Fatal(err)
	}
	return s
}

// texts is the visible text of every element the CSS selector finds.
func (tb *e2eTab) texts(css string) []string {
	tb.t.Helper()
	var out []string
	if err := json.Unmarshal(tb.eval(`[...document.querySelectorAll(`+jsString(css)+`)].map(e => e.innerText.trim())`), &out); err != nil {
		tb.t.Fatal(err)
	}
	return out
}

func (tb *e2eTab) location() string {
	loc, err := chromedp.Run(tb.ctx, chromedp.Location())
	if err != nil {
		return "(location unknown: " + err.Error() + ")"
	}
	return strings.TrimPrefix(loc, tb.e.f.srv.URL)
}

// e2eCard is a card of the page (section.card) as the person sees it.
type e2eCard struct {
	Title string   `json:"title"`
	Text  string   `json:"text"`
	Rows  []e2eRow `json:"rows"`
}

// e2eRow is a table row: its cells' text and its first link.
type e2eRow struct {
	Cells []string `json:"cells"`
	Href  string   `json:"href"`
}

func (tb *e2eTab) cards() []e2eCard {
	tb.t.Helper()
	var out []e2eCard
	raw := tb.eval(`[...document.querySelectorAll("main section.card")].map(c => ({
		title: (c.querySelector("h2") || {innerText: ""}).innerText.trim(),
		text: c.innerText,
		rows: [...c.querySelectorAll("tbody tr")].map(tr => ({
			cells: [...tr.cells].map(td => td.innerText.trim()),
			href: (tr.querySelector("a[href]") || {getAttribute: () => ""}).getAttribute("href"),
		})),
	}))`)
	if err := json.Unmarshal(raw, &out); err != nil {
		tb.t.Fatal(err)
	}
	return out
}

// card is the card titled title; it fails the test when there is none.
func (tb *e2eTab) card(title string) e2eCard {
	tb.t.Helper()
	cards := tb.cards()
	for _, c := range cards {
		if c.Title == title {
			return c
		}
	}
	var titles []string
	for _, c := range cards {
		titles = append(titles, c.Title)
	}
	tb.t.Fatalf("%s: no card %q (cards: %q)", tb.location(), title, titles)
	return e2eCard{}
}

func cardTitles(cards []e2eCard) []string {
	var out []string
	for _, c := range cards {
		out = append(out, c.Title)
	}
	return out
}

// fetch gets path with the tab's cookies, for what the browser would download
// rather than show (a PDF, a CSV).
func (tb *e2eTab) fetch(path string) (*http.Response, []byte) {
	tb.t.Helper()
	res, err := chromedp.Call(tb.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{tb.e.f.srv.URL}})
	if err != nil {
		tb.t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(tb.ctx, "GET", tb.e.f.srv.URL+path, nil)
	if err != nil {
		tb.t.Fatal(err)
	}
	session := false
	for _, c := range res.Cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		session = session || c.Name == "parsimony_session"
	}
	if !session {
		tb.t.Fatalf("fetch %s: the browser holds no session cookie", path)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		tb.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.t.Fatal(err)
	}
	return resp, body
}

// e2ePerson is a row of the demo sign-in page.
type e2ePerson struct {
	Login  string `json:"login"`
	Name   string `json:"name"`
	Role   string `json:"role"`
	Button string `json:"button"`
}

// signIn opens the sign-in page, picks the first person whose role starts with
// role, clicks their button and lands on the home page.
func (tb *e2eTab) signIn(who, role string) e2ePerson {
	tb.t.Helper()
	tb.open(who+"-login", "/login", http.StatusOK)
	var people []e2ePerson
	raw := tb.eval(`[...document.querySelectorAll("main table tbody tr")].map(tr => ({
		login: (tr.querySelector("input[name=login]") || {value: ""}).value,
		name: tr.cells[0].innerText.trim(),
		role: tr.cells[1].innerText.trim(),
		button: (tr.querySelector("button") || {innerText: ""}).innerText.trim(),
	}))`)
	if err := json.Unmarshal(raw, &people); err != nil {
		tb.t.Fatal(err)
	}
	i := slices.IndexFunc(people, func(p e2ePerson) bool { return strings.HasPrefix(p.Role, role) })
	if i < 0 {
		tb.t.Fatalf("the sign-in page offers nobody whose role starts with %q: %+v", role, people)
	}
	p := people[i]
	if want := "Sign in as " + p.Login; p.Button != want {
		tb.t.Errorf("sign-in button %q, want %q", p.Button, want)
	}
	e2eFollow(tb, who+"-home", chromedp.Search(`//button[normalize-space()="Sign in as `+p.Login+`"]`))
	if loc := tb.location(); loc != "/" {
		tb.t.Fatalf("signed in as %s: at %s, want /", p.Login, loc)
	}
	if h := tb.text("main h1"); !strings.HasPrefix(h, "Hello, ") {
		tb.t.Errorf("home heading %q, want Hello, …", h)
	}
	if got := tb.text("header.site .who"); got == "" || !strings.Contains(p.Name, got) {
		tb.t.Errorf("the header says %q is signed in; the sign-in page listed %q", got, p.Name)
	}
	return p
}

// signOut uses the header's form; then the home page sends them to sign in.
func (tb *e2eTab) signOut() {
	tb.t.Helper()
	tb.follow("", "header.site form.signout button[type=submit]")
	if loc := tb.location(); loc != "/login" {
		tb.t.Errorf("after signing out: at %s, want /login", loc)
	}
	tb.open("", "/", http.StatusOK)
	if loc := tb.location(); !strings.HasPrefix(loc, "/login?") {
		tb.t.Errorf("/ after signing out: at %s, want the sign-in page", loc)
	}
	if h := tb.text("main h1"); h != "Sign in" {
		tb.t.Errorf("/ after signing out shows %q", h)
	}
}

// e2eHomeCard is a group card of the home page.
type e2eHomeCard struct {
	Name string `json:"name"`
	Href string `json:"href"`
	Text string `json:"text"`
}

// homeCard is the home page's card of the group named name.
func (tb *e2eTab) homeCard(name string) e2eHomeCard {
	tb.t.Helper()
	var cards []e2eHomeCard
	raw := tb.eval(`[...document.querySelectorAll("main section.group-card")].map(c => ({
		name: (c.querySelector("h2") || {innerText: ""}).innerText.trim(),
		href: (c.querySelector("h2 a") || {getAttribute: () => ""}).getAttribute("href"),
		text: c.innerText,
	}))`)
	if err := json.Unmarshal(raw, &cards); err != nil {
		tb.t.Fatal(err)
	}
	for _, c := range cards {
		if c.Name == name {
			return c
		}
	}
	tb.t.Fatalf("home: no card for %q: %+v", name, cards)
	return e2eHomeCard{}
}

// moneyRE finds an amount as the app writes it: "€1,234.56", "−€12.00", "CHF 3.50".
var moneyRE = regexp.MustCompile(`\d[\d,]*\.\d\d`)

// amount keeps the sign and digits of a formatted amount, so "−€1,234.56" and
// "-1,234.56" compare equal.
func amount(s string) string {
	s = strings.ReplaceAll(s, "−", "-")
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune("0123456789.,-", r) {
			return r
		}
		return -1
	}, s)
}

func e2ePI(t *testing.T, tb *e2eTab) {
	pi := tb.signIn("pi", "PI of ")
	lab := strings.TrimPrefix(pi.Role, "PI of ")

	// The site's icon: the browser asks for one (at /favicon.ico unless the page
	// names another), whether or not the page loads it before the test goes on,
	// and a 404 is an error in the console.
	var icon string
	if err := json.Unmarshal(tb.eval(`(document.querySelector("link[rel~=icon]") || {getAttribute: () => "/favicon.ico"}).getAttribute("href")`), &icon); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(icon, "data:") {
		if resp, _ := tb.fetch(icon); resp.StatusCode != http.StatusOK {
			t.Errorf("the site's icon %s: %d (add one, or <link rel=\"icon\" href=\"data:,\"> to the layout)", icon, resp.StatusCode)
		}
	}

	// Home: a card for the lab with its spend.
	home := tb.homeCard(lab)
	if !strings.Contains(home.Text, "Group spend") || !moneyRE.MatchString(home.Text) {
		t.Errorf("home card of %s shows no spend:\n%s", lab, home.Text)
	}
	slug := strings.TrimPrefix(home.Href, "/groups/")

	// The dashboard.
	tb.follow("pi-dashboard", `main section.group-card h2 a[href="`+home.Href+`"]`)
	if h := tb.text("main h1"); h != lab {
		t.Errorf("dashboard heading %q, want %q", h, lab)
	}
	if got := tb.text("section.spend .total .label"); got != "Spend" {
		t.Errorf("dashboard spend label %q", got)
	}
	if got := tb.text("section.spend .total .amount"); !moneyRE.MatchString(got) {
		t.Errorf("dashboard spend %q is not an amount", got)
	}
	tb.waitVisible("figure.chart svg[role=img]")
	cards := tb.cards()
	for _, want := range []string{"By subgroup", "By resource", "By user", "Efficiency"} {
		if !slices.Contains(cardTitles(cards), want) {
			t.Errorf("the PI's dashboard has no %q table (cards: %q)", want, cardTitles(cards))
		}
	}
	if users := tb.card("By user"); len(users.Rows) == 0 {
		t.Errorf("the PI's By user table is empty:\n%s", users.Text)
	}

	// Last month, from the period picker.
	if err := chromedp.Do(tb.ctx, chromedp.SetValue(chromedp.CSS("form.period-picker select#period"), "prev")); err != nil {
		t.Fatal(err)
	}
	tb.follow("pi-dashboard-last-month", "form.period-picker button[type=submit]")
	if loc := tb.location(); !strings.Contains(loc, "period=prev") {
		t.Errorf("after picking last month: at %s, want period=prev", loc)
	}
	prev := e2eNow.AddDate(0, -1, 0).Format("January 2006")
	if lede := tb.text("main p.lede"); !strings.Contains(lede, prev) {
		t.Errorf("last month's dashboard says %q, want %s", lede, prev)
	}
	tb.waitVisible("figure.chart svg[role=img]")

	// The leaderboard, with names.
	tb.follow("pi-leaderboard", `main p.lede a[href^="/groups/`+slug+`/leaderboard"]`)
	if note := tb.text("main p.note"); strings.Contains(note, "Names are shown to the group's PIs") {
		t.Errorf("the PI is told names are hidden: %q", note)
	}
	members := tb.card("Members")
	if len(members.Rows) == 0 {
		t.Errorf("the PI's leaderboard lists no members:\n%s", members.Text)
	}
	for _, r := range members.Rows {
		if len(r.Cells) < 2 || r.Cells[1] == "—" || r.Cells[1] == "" {
			t.Errorf("the PI's leaderboard hides a name: %q", r.Cells)
		}
	}
	// A subgroup's row opens the subgroup's own leaderboard.
	for _, r := range tb.card("Subgroups").Rows {
		if len(r.Cells) > 1 && !strings.HasSuffix(r.Cells[1], "(itself)") && !strings.Contains(r.Href, "/leaderboard") {
			t.Errorf("leaderboard row of subgroup %q links to %q, want its leaderboard", r.Cells[1], r.Href)
		}
	}

	// Statements: the first final one, its total as listed, and its PDF.
	tb.follow("", `main p.lede a[href="/groups/`+slug+`"]`)
	tb.follow("pi-statements", `main p.lede a[href="/groups/`+slug+`/statements"]`)
	list := tb.card("Statements")
	i := slices.IndexFunc(list.Rows, func(r e2eRow) bool { return len(r.Cells) == 3 && r.Cells[1] != "draft" })
	if i < 0 {
		t.Fatalf("no final statement listed for %s:\n%s", lab, list.Text)
	}
	final := list.Rows[i]
	tb.follow("pi-statement", `main table a[href="`+final.Href+`"]`)
	body := tb.text("main")
	if !strings.Contains(body, "Total due") {
		t.Errorf("the statement shows no Total due:\n%s", body)
	}
	if got, want := amount(tb.text(`[data-testid="total"]`)), amount(final.Cells[2]); got == "" || got != want {
		t.Errorf("the statement's total %q differs from the list's %q", got, want)
	}
	if got := tb.text(`[data-testid="status"]`); got == "DRAFT" {
		t.Errorf("statement %s of a closed month is a draft", final.Cells[1])
	}
	var pdf string
	if err := json.Unmarshal(tb.eval(`([...document.querySelectorAll("main a")].find(a => a.innerText.trim() === "PDF") || {getAttribute: () => ""}).getAttribute("href")`), &pdf); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(pdf, "/pdf") {
		t.Fatalf("the statement's PDF link is %q", pdf)
	}
	resp, doc := tb.fetch(pdf)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(doc, []byte("%PDF-")) {
		t.Errorf("GET %s: %d %s, %d bytes starting %.8q", pdf, resp.StatusCode, resp.Header.Get("Content-Type"), len(doc), doc)
	}
	tb.signOut()
}

func e2eMember(t *testing.T, tb *e2eTab) {
	m := tb.signIn("member", "Member of ")
	lab := strings.TrimPrefix(m.Role, "Member of ")
	home := tb.homeCard(lab)
	if !strings.Contains(home.Text, "Your rank") {
		t.Errorf("the member's home card of %s has no rank:\n%s", lab, home.Text)
	}
	slug := strings.TrimPrefix(home.Href, "/groups/")

	// The leaderboard hides others' names and marks their own row.
	tb.follow("member-leaderboard", `main section.group-card a[href^="/groups/`+slug+`/leaderboard"]`)
	if note := tb.text("main p.note"); !strings.Contains(note, "Names are shown to the group's PIs and managers") {
		t.Errorf("the member's leaderboard does not say names are hidden: %q", note)
	}
	members := tb.card("Members")
	me := "You (" + m.Login + ")"
	found := false
	for _, r := range members.Rows {
		switch {
		case len(r.Cells) < 2:
			t.Errorf("short leaderboard row %q", r.Cells)
		case r.Cells[1] == me:
			found = true
		case r.Cells[1] != "—":
			t.Errorf("the member sees a name on the leaderboard: %q", r.Cells)
		}
	}
	if !found {
		t.Errorf("the member's leaderboard has no row %q:\n%s", me, members.Text)
	}

	// The dashboard, without member detail or statements.
	tb.follow("member-dashboard", `main p.lede a[href="/groups/`+slug+`"]`)
	tb.waitVisible("figure.chart svg[role=img]")
	if titles := cardTitles(tb.cards()); slices.Contains(titles, "By user") || !slices.Contains(titles, "By resource") {
		t.Errorf("the member's dashboard tables: %q (want By resource and no By user)", titles)
	}
	if links := tb.texts(`main p.lede a[href$="/statements"]`); len(links) > 0 {
		t.Errorf("the member is offered statements: %q", links)
	}

	// Pages that are not theirs.
	tb.open("member-admin", "/admin", http.StatusForbidden)
	if h := tb.text("main h1"); h != "Not allowed" {
		t.Errorf("/admin as a member: %q, want Not allowed", h)
	}
	var other string
	err := tb.e.f.l.Pool().QueryRow(tb.ctx, `
		SELECT g.slug FROM groups g
		WHERE g.kind = 'lab' AND NOT EXISTS (
			SELECT 1 FROM memberships ms JOIN users u ON u.id = ms.user_id JOIN groups mg ON mg.id = ms.group_id
			WHERE u.login = $1 AND (g.path <@ mg.path OR mg.path <@ g.path))
		ORDER BY g.path LIMIT 1`, m.Login).Scan(&other)
	if err != nil {
		t.Fatalf("find a lab %s is not in: %v", m.Login, err)
	}
	tb.open("member-other-group", "/groups/"+other, http.StatusNotFound)
	if h := tb.text("main h1"); h != "Not found" {
		t.Errorf("/groups/%s as a member of %s: %q, want Not found", other, slug, h)
	}
	tb.signOut()
}

func e2eFinance(t *testing.T, tb *e2eTab) {
	tb.signIn("finance", "Finance")

	// Billing periods: closed and open ones, each exportable.
	tb.follow("finance-statements", `header.site nav a[href="/statements"]`)
	if h := tb.text("main h1"); h != "Billing periods" {
		t.Errorf("/statements heading %q", h)
	}
	// The running month says when it can close (and no button offers it before).
	if lede, want := tb.text("main p.lede"), "November 2026 can be closed from 1 December 2026 00:00 UTC"; !strings.Contains(lede, want) {
		t.Errorf("/statements lede %q, want %q", lede, want)
	}
	if n := len(tb.texts(`form[action="/periods/2026-11/close"]`)); n != 0 {
		t.Errorf("/statements offers to close November 2026 on 15 November")
	}
	// A closing job's page reloads itself while the job runs and says what it did
	// when it is done.
	job, _, err := tb.e.f.l.StartJob(tb.ctx, "close", "2026-09", "web:finance")
	if err != nil {
		t.Fatal(err)
	}
	jobPath := fmt.Sprintf("/jobs/%d", job.ID)
	tb.open("finance-job-running", jobPath, http.StatusOK)
	var running struct {
		State   string `json:"state"`
		Refresh bool   `json:"refresh"`
	}
	if err := json.Unmarshal(tb.eval(`({state: document.querySelector('[data-testid="job"]').dataset.state,
		refresh: !!document.querySelector('meta[http-equiv="refresh"]')})`), &running); err != nil {
		t.Fatal(err)
	}
	if running.State != "running" || !running.Refresh {
		t.Errorf("%s while running: %+v, want running and reloading", jobPath, running)
	}
	if err := tb.e.f.l.FinishJob(tb.ctx, job.ID, "September 2026 is closed: 40 final statements, $12,345.67 billed.", ""); err != nil {
		t.Fatal(err)
	}
	tb.open("finance-job-done", jobPath, http.StatusOK)
	if got := tb.text(`[data-testid="job"] p.lede`); !strings.Contains(got, "September 2026 is closed") {
		t.Errorf("%s when done: %q", jobPath, got)
	}
	// A period that cannot be is refused with the reason, in the page's frame.
	tb.open("finance-bad-period", "/?period=2026-13", http.StatusBadRequest)
	if got := tb.text("main p.lede"); !strings.Contains(got, `period "2026-13" is not one`) {
		t.Errorf("/?period=2026-13 says %q", got)
	}
	// The same pages at a phone's width: nothing may overflow the window.
	if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatal(err)
	}
	tb.open("finance-job-done-phone", jobPath, http.StatusOK)
	tb.open("finance-bad-period-phone", "/?period=2026-13", http.StatusBadRequest)
	tb.open("finance-statements-phone", "/statements", http.StatusOK)
	if err := chromedp.Do(tb.ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatal(err)
	}
	tb.follow("finance-statements", `header.site nav a[href="/statements"]`)
	periods := tb.card("Periods")
	var closed, open []e2eRow
	for _, r := range periods.Rows {
		switch {
		case len(r.Cells) < 2:
		case strings.HasPrefix(r.Cells[1], "closed"):
			closed = append(closed, r)
		case r.Cells[1] == "open":
			open = append(open, r)
		}
	}
	if len(closed) == 0 || len(open) == 0 {
		t.Fatalf("want closed and open periods:\n%s", periods.Text)
	}
	// The Export column's "CSV" is the link to the export.
	period := closed[0].Cells[0]
	var export string
	if err := json.Unmarshal(tb.eval(`(() => {
		const row = [...document.querySelectorAll("main table tbody tr")].find(tr => tr.cells[0].innerText.trim() === `+jsString(period)+`);
		const a = row && [...row.querySelectorAll("a[href]")].find(a => a.innerText.trim() === "CSV");
		return a ? a.getAttribute("href") : "";
	})()`), &export); err != nil {
		t.Fatal(err)
	}
	if export == "" {
		t.Errorf("/statements: the Export column's CSV of %s is no link (the period %s is the link, to %q)", period, period, closed[0].Href)
		export = closed[0].Href
	}
	if !strings.HasSuffix(export, "/export.csv") {
		t.Fatalf("period %s exports from %q, want its export.csv", period, export)
	}
	resp, body := tb.fetch(export)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Errorf("GET %s: %d %s", export, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	records, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("%s is not CSV: %v", export, err)
	}
	if len(records) < 3 {
		t.Fatalf("%s has %d rows: want a header, lines and a total", export, len(records))
	}
	if last := records[len(records)-1]; len(last) < 17 || last[8] != "total" || last[16] == "" {
		t.Errorf("%s ends with %q, want the total row", export, last)
	}

	// The overview, by department.
	tb.follow("finance-overview", `header.site nav a[href="/overview"]`)
	if lede := tb.text("main p.lede"); !strings.Contains(lede, "by department") {
		t.Errorf("/overview lede %q, want by department", lede)
	}
	if rows := tb.texts(`main table tbody tr[data-testid^="row-"] th`); len(rows) < 2 {
		t.Errorf("/overview department rows: %q", rows)
	}
	if total := tb.text(`main table tfoot tr[data-testid="total"]`); !strings.HasPrefix(total, "Total") {
		t.Errorf("/overview total row %q", total)
	}
	tb.signOut()
}

func e2eAdmin(t *testing.T, tb *e2eTab) {
	tb.signIn("admin", "Admin")
	tb.follow("admin", `header.site nav a[href="/admin"]`)
	titles := cardTitles(tb.cards())
	for _, want := range []string{"Unassigned usage", "Groups", "Rates in force today"} {
		if !slices.Contains(titles, want) {
			t.Errorf("/admin has no %q (cards: %q)", want, titles)
		}
	}
	if rates := tb.card("Rates in force today"); len(rates.Rows) == 0 {
		t.Errorf("/admin lists no rates, though the demo sets prices:\n%s", rates.Text)
	}
	tb.follow("admin-runs", `main p.links a[href="/admin/runs"]`)
	if h := tb.text("main h1"); h != "Collector runs" {
		t.Errorf("/admin/runs heading %q", h)
	}
	tb.open("admin-quarantine", "/admin/quarantine", http.StatusOK)
	if h := tb.text("main h1"); h != "Quarantine" {
		t.Errorf("/admin/quarantine heading %q", h)
	}
	t.Run("Forms", func(t *testing.T) { e2eAdminForms(t, tb) })
	tb.signOut()
}

// e2eAdminForms visits the admin's pages of forms, makes a group in the browser
// and sees a mistake explained.
func e2eAdminForms(t *testing.T, tb *e2eTab) {
	tb.t = t
	defer func(parent *testing.T) { tb.t = parent }(tb.t)
	tb.open("", "/admin", http.StatusOK)
	if rows := tb.card("Unassigned usage").Rows; len(rows) == 0 || len(tb.texts(`[data-testid=unassigned] form.row-form select option`)) < 2 {
		t.Errorf("/admin offers no unassigned usage to map, though the demo has some")
	}

	// A new lab under the first department, from the Groups page.
	tb.follow("admin-groups", `main p.links a[href="/admin/groups"]`)
	if h := tb.text("main h1"); h != "Groups" {
		t.Errorf("/admin/groups heading %q", h)
	}
	if rows := tb.card("The tree").Rows; len(rows) < 5 {
		t.Errorf("/admin/groups lists %d groups", len(rows))
	}
	var parent string
	if err := json.Unmarshal(tb.eval(`(() => {
		const f = document.querySelector("form[data-testid=create-group]");
		// A group one level down (a department, in the demo): its label is indented once.
		const o = [...f.querySelectorAll("select[name=parent] option")].find(o => /^\u00a0{3}[^\u00a0]/.test(o.textContent))
			|| f.querySelectorAll("select[name=parent] option")[1];
		f.querySelector("select[name=parent]").value = o.value;
		f.querySelector("input[name=kind]").value = "lab";
		f.querySelector("input[name=slug]").value = "e2e-lab";
		f.querySelector("input[name=name]").value = "End-to-end Lab";
		return o.value;
	})()`), &parent); err != nil || parent == "" {
		t.Fatalf("pick a parent in the new-group form: %q %v", parent, err)
	}
	tb.follow("admin-group-created", `form[data-testid=create-group] button[type=submit]`)
	if loc := tb.location(); !strings.HasPrefix(loc, "/admin/groups?done=group-created") {
		t.Errorf("after creating a group: at %s", loc)
	}
	if note := tb.text("[data-testid=done]"); note != "Created the group e2e-lab." {
		t.Errorf("after creating a group the page says %q", note)
	}
	tb.follow("admin-group", `main table a[href="/admin/groups/e2e-lab"]`)
	if h := tb.text("main h1"); h != "End-to-end Lab" {
		t.Errorf("/admin/groups/e2e-lab heading %q", h)
	}
	if sel := tb.text(`form[data-testid=move-group] select[name=parent] option:checked`); !strings.HasPrefix(strings.TrimSpace(sel), parent+" — ") {
		t.Errorf("the move form's parent is %q, want %s", sel, parent)
	}

	// People.
	tb.open("admin-users", "/admin/users", http.StatusOK)
	if h := tb.text("main h1"); h != "Users" {
		t.Errorf("/admin/users heading %q", h)
	}
	people := tb.card("People")
	if len(people.Rows) == 0 || people.Rows[0].Href == "" {
		t.Fatalf("/admin/users lists nobody:\n%s", people.Text)
	}
	tb.follow("admin-user", `main table a[href="`+people.Rows[0].Href+`"]`)
	if h := tb.text("main h1"); h != people.Rows[0].Cells[0] {
		t.Errorf("%s heading %q, want %q", people.Rows[0].Href, h, people.Rows[0].Cells[0])
	}
	tb.waitVisible("form[data-testid=add-membership] select[name=group]")

	// Rates and budgets; a price that is no number is explained, in the page.
	tb.open("admin-rates", "/admin/rates", http.StatusOK)
	if h := tb.text("main h1"); h != "Rates" {
		t.Errorf("/admin/rates heading %q", h)
	}
	if rows := tb.card("All rates").Rows; len(rows) == 0 {
		t.Errorf("/admin/rates lists no rates")
	}
	// A rate's End… opens its form in the row, which still fits the window.
	if err := chromedp.Do(tb.ctx, chromedp.Click(chromedp.CSS("[data-testid=rates] details.row-action summary"))); err != nil {
		t.Fatal(err)
	}
	tb.waitVisible("[data-testid=rates] details.row-action[open] input[type=date]")
	tb.check("/admin/rates")
	if err := chromedp.Do(tb.ctx, chromedp.SetValue(chromedp.CSS("form[data-testid=set-rate] input[name=price]"), "abc")); err != nil {
		t.Fatal(err)
	}
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(chromedp.CSS(`form[data-testid=set-rate] button[type=submit]`)))
	if err != nil {
		t.Fatal(err)
	}
	tb.loaded("admin-rate-refused", resp, http.StatusBadRequest)
	if h, why := tb.text("main h1"), tb.text("[data-testid=error]"); h != "Not saved" || !strings.Contains(why, "is not a number") {
		t.Errorf("a price of abc: %q, %q", h, why)
	}
	tb.open("admin-budgets", "/admin/budgets", http.StatusOK)
	if h := tb.text("main h1"); h != "Budgets" {
		t.Errorf("/admin/budgets heading %q", h)
	}
}
