package server_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

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
