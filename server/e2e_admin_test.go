package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

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
