package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Reading a page in the end-to-end tests: text, cards and their rows, fetching
// with the browser's cookies, signing in and out, the home page's cards.

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
