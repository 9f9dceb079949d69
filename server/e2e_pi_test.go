package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

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

	// Home: a card for the lab with what its draft statement bills so far.
	home := tb.homeCard(lab)
	if !strings.Contains(home.Text, "To be billed") || !moneyRE.MatchString(home.Text) {
		t.Errorf("home card of %s shows no spend:\n%s", lab, home.Text)
	}
	slug := strings.TrimPrefix(home.Href, "/groups/")
	homeTotal := tb.text(`[data-testid="group-` + slug + `"] [data-testid=group-spend]`)

	// The dashboard.
	tb.follow("pi-dashboard", `main section.group-card h2 a[href="`+home.Href+`"]`)
	if h := tb.text("main h1"); h != lab {
		t.Errorf("dashboard heading %q, want %q", h, lab)
	}
	// The lab is billable: this month its dashboard is its draft statement.
	if got := tb.text("section.spend .total .label"); got != "To be billed" {
		t.Errorf("dashboard spend label %q, want To be billed", got)
	}
	if got := tb.text("section.spend .total .amount"); !moneyRE.MatchString(got) {
		t.Errorf("dashboard spend %q is not an amount", got)
	} else if got != homeTotal {
		t.Errorf("dashboard total %s, the home card says %s: one figure for one thing", got, homeTotal)
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
