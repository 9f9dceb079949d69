package server_test

import (
	"context"
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
