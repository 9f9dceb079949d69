package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/server"
)

// jobState reads a job page's state (data-state on its card) and text.
func jobState(t *testing.T, p person, path string) (state, text string, refresh bool) {
	t.Helper()
	resp, body := p.get(path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, body)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	card := doc.Find(`[data-testid="job"]`)
	state, _ = card.Attr("data-state")
	return state, card.Text(), doc.Find(`meta[http-equiv="refresh"]`).Length() == 1
}

// Closing a month from the web answers at once and runs as a job the page follows:
// the request never waits on the close (which took 60 s on a large month and left
// the browser with an empty reply), and the outcome is recorded.
func TestCloseRunsAsAJob(t *testing.T) {
	// 3 December 2026: October is closed by institution(), November has ended,
	// December is running.
	f := newFixtureAt(t, time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), func(string, *pgxpool.Pool) server.AuthOptions {
		return server.AuthOptions{}
	})
	institution(t, f)
	fin := signedIn(t, f, "fin")

	// A month that has not ended is refused at once, saying when it can close.
	for _, month := range []string{"2026-12", "2027-01"} {
		resp, body := fin.post("/periods/"+month+"/close", url.Values{})
		if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "has not ended yet") {
			t.Errorf("close %s on 3 December: %d, want 409 saying it has not ended\n%s", month, resp.StatusCode, body)
		}
	}
	resp, body := fin.post("/periods/2026-12/close", url.Values{})
	if want := "it can be closed from Fri 1 January 2027 00:00 UTC"; !strings.Contains(body, want) {
		t.Errorf("close December: %d, want the page to say %q\n%s", resp.StatusCode, want, body)
	}
	_, body = fin.get("/statements")
	if want := "December 2026 can be closed from 1 January 2027 00:00 UTC"; !strings.Contains(body, want) {
		t.Errorf("the periods page does not say %q", want)
	}

	// Hold the periods table so the close blocks inside its transaction, as a long
	// close would: the request must still answer at once with the job to follow.
	ctx := context.Background()
	blocker, err := f.l.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx)
	if _, err := blocker.Exec(ctx, `LOCK TABLE periods IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	resp, body = fin.post("/periods/2026-11/close", url.Values{})
	job := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(job, "/jobs/") {
		t.Fatalf("close November: %d to %q, want 303 to its job\n%s", resp.StatusCode, job, body)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("the close request took %s while the close was blocked: it waited for the work", took)
	}
	// A second click follows the same job.
	if resp, _ := fin.post("/periods/2026-11/close", url.Values{}); resp.Header.Get("Location") != job {
		t.Errorf("second click went to %q, want the running job %s", resp.Header.Get("Location"), job)
	}
	state, _, refresh := jobState(t, fin, job)
	if state != "running" || !refresh {
		t.Errorf("job page while blocked: state %q, refresh %v; want running and reloading", state, refresh)
	}
	if closed, err := f.l.PeriodClosed(ctx, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)); err != nil || closed {
		t.Fatalf("November closed = %v (%v) before the job could finish", closed, err)
	}
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	var text string
	for state == "running" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		state, text, refresh = jobState(t, fin, job)
	}
	if state != "done" || refresh || !strings.Contains(text, "November 2026 is closed: 2 final statements") {
		t.Fatalf("job after the block: state %q, refresh %v, text %q; want done, 2 final statements", state, refresh, text)
	}
	if closed, err := f.l.PeriodClosed(ctx, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)); err != nil || !closed {
		t.Fatalf("November closed = %v (%v) after its job was done", closed, err)
	}
	jobs, err := f.l.RecentJobs(ctx, 10)
	// institution() recorded October's; November's is the newest.
	if err != nil || len(jobs) != 2 || jobs[0].Subject != "2026-11" || jobs[0].RequestedBy != "web:fin" || jobs[0].FinishedAt == nil {
		t.Fatalf("recorded jobs: %+v, %v; want November's first, asked by web:fin, finished", jobs, err)
	}
	// Closing it again is a no-op: back to the periods, no new job.
	resp, _ = fin.post("/periods/2026-11/close", url.Values{})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/statements" {
		t.Errorf("close a closed month: %d to %q, want 303 to /statements", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body = fin.get("/statements")
	if !strings.Contains(body, "Recent closing") || !strings.Contains(body, "November 2026 is closed") {
		t.Errorf("the periods page does not list the finished job")
	}
}

// A draft exists from the first month with usage to the current one: others answer
// 404, not an empty statement that reads like a bill of zero.
func TestDraftsOnlyForMonthsWithUsage(t *testing.T) {
	f := newFixture(t) // 15 November 2026
	institution(t, f)  // usage from October
	pi := signedIn(t, f, "pi-a")
	for path, want := range map[string]int{
		"/groups/lab-a/statements/2026-10":        http.StatusOK, // closed
		"/groups/lab-a/statements/2026-11":        http.StatusOK, // the running month's draft
		"/groups/lab-a/statements/2026-12":        http.StatusNotFound,
		"/groups/lab-a/statements/2031-01/pdf":    http.StatusNotFound,
		"/groups/lab-a/statements/2026-09":        http.StatusNotFound, // before the first usage
		"/groups/lab-a/statements/0001-01/csv":    http.StatusNotFound,
		"/api/v1/groups/lab-a/statements/2026-12": http.StatusNotFound,
		"/api/v1/groups/lab-a/statements/2026-11": http.StatusOK,
	} {
		if resp, body := pi.get(path); resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d\n%.300s", path, resp.StatusCode, want, body)
		}
	}
}
