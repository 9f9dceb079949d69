package views

import (
	"bytes"
	"context"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

// render renders c to a buffer and parses it, as a browser would see it.
func render(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// byID is the one element with the test id; it fails the test unless there is
// exactly one.
func byID(t *testing.T, doc *goquery.Document, id string) *goquery.Selection {
	t.Helper()
	sel := doc.Find(`[data-testid="` + id + `"]`)
	if sel.Length() != 1 {
		t.Fatalf("data-testid=%q: %d elements, want 1", id, sel.Length())
	}
	return sel
}

func text(s *goquery.Selection) string { return strings.Join(strings.Fields(s.Text()), " ") }

func attr(s *goquery.Selection, name string) string { v, _ := s.Attr(name); return v }

// Every card and every table of every page has a test id, and no two on a page
// share one.
func TestEveryCardAndTableHasATestID(t *testing.T) {
	pages := testPages()
	names := make([]string, 0, len(pages))
	for name := range pages {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		doc := render(t, pages[name])
		seen := map[string]bool{}
		doc.Find(".card, table").Each(func(_ int, s *goquery.Selection) {
			id := attr(s, "data-testid")
			if id == "" {
				h, _ := goquery.OuterHtml(s)
				t.Errorf("%s: a %s without a data-testid: %.120s", name, goquery.NodeName(s), h)
				return
			}
			if seen[id] {
				t.Errorf("%s: data-testid %q twice", name, id)
			}
			seen[id] = true
		})
		if len(seen) == 0 && !slices.Contains([]string{"message", "login-none", "admin-error", "home-empty"}, name) {
			t.Errorf("%s: no cards or tables", name)
		}
	}
}

func TestTableTestID(t *testing.T) {
	for _, c := range []struct {
		t    Table
		want string
	}{
		{Table{Title: "By subgroup"}, "by-subgroup"},
		{Table{Title: "Rates in force today"}, "rates-in-force-today"},
		{Table{Title: "Top jobs by cost", ID: "top-cost"}, "top-cost"},
		{Table{Title: "Storage — quota (TB)"}, "storage-quota-tb"},
		{Table{Title: " Your tokens "}, "your-tokens"},
	} {
		if got := c.t.TestID(); got != c.want {
			t.Errorf("TestID of %+v = %q, want %q", c.t, got, c.want)
		}
	}
}

func TestTableCard(t *testing.T) {
	doc := render(t, TableCard(testTable("", "By subgroup")))
	card := byID(t, doc, "by-subgroup")
	if got := text(card.Find("h2")); got != "By subgroup" {
		t.Errorf("title %q", got)
	}
	if got := attr(card.Find(".card-head a.csv"), "href"); got != "/groups/lab-a?csv=" {
		t.Errorf("CSV link %q", got)
	}
	table := byID(t, doc, "by-subgroup-table")
	rows := table.Find("tbody tr")
	if rows.Length() != 2 {
		t.Fatalf("%d rows, want 2", rows.Length())
	}
	first := rows.Eq(0)
	if got := attr(first.Find("td").Eq(0).Find("a"), "href"); got != "/groups/lab-a" {
		t.Errorf("first row links to %q", got)
	}
	if got := text(first.Find("td small.hint")); got != "idle cores" {
		t.Errorf("hint %q", got)
	}
	if !first.Find("td").Eq(1).HasClass("num") || first.Find("td").Eq(0).HasClass("num") {
		t.Error("only the spend column is numeric")
	}
	if !rows.Eq(1).HasClass("me") || first.HasClass("me") {
		t.Error("only the viewer's own row is marked")
	}
	if got := text(card.Find("p.more")); got != "and 3 more — all of them as CSV" {
		t.Errorf("more: %q", got)
	}

	empty := render(t, TableCard(Table{Title: "By user", Empty: "Nobody used anything."}))
	card = byID(t, empty, "by-user")
	if card.Find("table").Length() != 0 {
		t.Error("an empty table is drawn")
	}
	if got := text(card.Find("p.empty")); got != "Nobody used anything." {
		t.Errorf("empty: %q", got)
	}
}

func TestBreadcrumbs(t *testing.T) {
	doc := render(t, Breadcrumbs(testCrumbs))
	nav := byID(t, doc, "breadcrumbs")
	if got := text(nav.Find("span:not([aria-hidden])").First()); got != "University" {
		t.Errorf("a step the viewer may not open is plain text: %q", got)
	}
	if got := attr(nav.Find("a"), "href"); got != "/groups/phys" || nav.Find("a").Length() != 1 {
		t.Errorf("links: %d, first %q; want only /groups/phys", nav.Find("a").Length(), got)
	}
	if got := text(nav.Find(`[aria-current="page"]`)); got != "Lab A" {
		t.Errorf("current: %q", got)
	}

	board := render(t, BoardBreadcrumbs(testCrumbs))
	var hrefs []string
	byID(t, board, "breadcrumbs").Find("a").Each(func(_ int, a *goquery.Selection) { hrefs = append(hrefs, attr(a, "href")) })
	if got := strings.Join(hrefs, " "); got != "/groups/uni/leaderboard /groups/phys/leaderboard /groups/lab-a/leaderboard" {
		t.Errorf("leaderboard crumbs link %q", got)
	}
}

func TestPeriodPicker(t *testing.T) {
	doc := render(t, testPages()["dashboard"])
	picker := byID(t, doc, "period-picker")
	if got := attr(picker.Find("select#period option[selected]"), "value"); got != "month" {
		t.Errorf("selected period %q", got)
	}
	if got := picker.Find("select#period option").Length(); got != len(testPeriods) {
		t.Errorf("%d periods, want %d", got, len(testPeriods))
	}
	if got := attr(picker.Find("input#from"), "value") + " " + attr(picker.Find("input#to"), "value"); got != "2026-11-01 2026-11-15" {
		t.Errorf("custom range %q", got)
	}

	board := byID(t, render(t, testPages()["leaderboard"]), "period-picker")
	if got := attr(board.Find("select#sort option[selected]"), "value"); got != "spend" {
		t.Errorf("selected sort %q", got)
	}
	if board.Find("input#from").Length() != 0 {
		t.Error("the leaderboard's picker has the dashboard's range")
	}
}

func TestDashboard(t *testing.T) {
	doc := render(t, testPages()["dashboard"])
	spend := byID(t, doc, "spend")
	if got := text(spend.Find(".total .amount")); got != "€3.00" {
		t.Errorf("total %q", got)
	}
	if !spend.Find(".budget").HasClass("over") {
		t.Error("a budget projected over its amount is not marked")
	}
	var ids []string
	doc.Find("section.card[data-testid]").Each(func(_ int, s *goquery.Selection) { ids = append(ids, attr(s, "data-testid")) })
	if got := strings.Join(ids, " "); got != "spend by-subgroup storage by-user top-cost efficiency" {
		t.Errorf("cards %q", got)
	}
	if got := attr(doc.Find("figure.chart figcaption a"), "href"); got != "/groups/lab-a?period=month" {
		t.Errorf("stacked by cluster: the link back to resource is %q", got)
	}
}

func TestHome(t *testing.T) {
	doc := render(t, testPages()["home"])
	a := byID(t, doc, "group-lab-a")
	if got := text(a.Find("p.crumbs")); got != "University › Physics" {
		t.Errorf("path %q", got)
	}
	figures := map[string]string{}
	a.Find("dl.figures > div").Each(func(_ int, d *goquery.Selection) { figures[text(d.Find("dt"))] = text(d.Find("dd")) })
	if got := figures["Your rank"]; got != "1st of 2" {
		t.Errorf("lab-a rank %q (figures %q)", got, figures)
	}
	if got := figures["Yours"]; got != "€1.00 33%" {
		t.Errorf("lab-a yours %q", got)
	}
	b := byID(t, doc, "group-lab-b")
	if got := b.Find("dl.figures > div").Length(); got != 2 {
		t.Errorf("lab-b (no usage, rank or budget) has %d figures, want 2", got)
	}
	if doc := render(t, testPages()["home-empty"]); doc.Find(".card").Length() != 0 || doc.Find("p.empty").Length() != 1 {
		t.Error("no groups: no cards and one note")
	}
}

func TestStatementList(t *testing.T) {
	doc := render(t, testPages()["statements"])
	close := byID(t, doc, "close-2026-10")
	if got := attr(close, "action"); got != "/periods/2026-10/close" {
		t.Errorf("close action %q", got)
	}
	if got := attr(close.Find(`input[name="csrf"]`), "value"); got != "csrf-token" {
		t.Errorf("csrf %q", got)
	}
	if doc.Find(`[data-testid="close-2026-11"]`).Length() != 0 {
		t.Error("a period that is not the next can be closed")
	}
	byID(t, doc, "periods-table")
	byID(t, doc, "recent-closing")
}

func TestTokens(t *testing.T) {
	doc := render(t, testPages()["tokens"])
	if got := text(byID(t, doc, "new-token").Find("pre")); got != "psy_secret" {
		t.Errorf("new token %q", got)
	}
	var scopes []string
	byID(t, doc, "create-token").Find(`input[name="scope"]`).Each(func(_ int, s *goquery.Selection) {
		scopes = append(scopes, attr(s, "value"))
	})
	if got := strings.Join(scopes, " "); got != "read write ingest" {
		t.Errorf("scopes %q", got)
	}
	if got := byID(t, doc, "your-tokens-table").Find("tbody tr").Length(); got != 2 {
		t.Errorf("%d token rows", got)
	}
}

func TestAdminPickers(t *testing.T) {
	rates := render(t, testPages()["admin-rates"])
	form := byID(t, rates, "set-rate")
	var res []string
	form.Find(`select[name="resource"] option`).Each(func(_ int, s *goquery.Selection) { res = append(res, attr(s, "value")) })
	if got := strings.Join(res, " "); got != "cpu gpu" {
		t.Errorf("resources %q", got)
	}
	var groups []string
	form.Find(`select[name="group"] option`).Each(func(_ int, s *goquery.Selection) { groups = append(groups, attr(s, "value")) })
	if got := strings.Join(groups, ","); got != ",uni,lab-a" {
		t.Errorf("groups %q (blank first)", got)
	}
	if got := byID(t, rates, "rates-table").Find(`tbody tr[data-testid="rate-3"] details.row-action`).Length(); got != 1 {
		t.Errorf("an endable rate has %d end forms", got)
	}

	group := render(t, testPages()["admin-group"])
	if got := attr(byID(t, group, "move-group").Find(`select[name="parent"] option[selected]`), "value"); got != "uni" {
		t.Errorf("current parent %q", got)
	}
	byID(t, group, "archive-group")
	if got := text(byID(t, group, "facts").Find("dd")); got != "lab" {
		t.Errorf("facts %q", got)
	}
	if archived := render(t, testPages()["admin-group-archived"]); archived.Find(`[data-testid="archive-group"]`).Length() != 0 {
		t.Error("an archived group can be archived again")
	}
}

func TestAdminHome(t *testing.T) {
	doc := render(t, testPages()["admin"])
	rows := byID(t, doc, "unassigned-table").Find("tbody tr")
	if rows.Length() != 2 {
		t.Fatalf("%d unassigned rows", rows.Length())
	}
	lost := byID(t, doc, "unassigned-slurm-hpc-lost")
	if got := attr(lost.Find(`select[name="group"]`), "aria-label"); got != "Group for lost on hpc" {
		t.Errorf("picker's name %q", got)
	}
	if got := text(rows.Eq(1).Find("span.muted")); got != "no mapping kind for this source" {
		t.Errorf("a source without a mapping kind: %q", got)
	}
	tree := byID(t, doc, "tree-table").Find("tbody tr")
	if tree.Length() != 2 || !tree.Eq(1).HasClass("archived") || !tree.Eq(1).Find("td").First().HasClass("tree-d2") {
		t.Errorf("tree rows: %d", tree.Length())
	}
	byID(t, doc, "rates-in-force-today")
	if got := text(byID(t, doc, "done")); got != "Mapped." {
		t.Errorf("done note %q", got)
	}
}
