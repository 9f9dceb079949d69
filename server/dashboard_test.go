package server_test

import (
	"strings"
	"testing"
)

// The dashboard's chart stacks by resource, or by cluster on request; the top-jobs
// tables name only the viewer's own jobs unless they may see member detail.
func TestDashboardChartsAndTopJobs(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	pi, _ := f.session(t, "pi-a")
	mem, _ := f.session(t, "mem-a")
	resp, body := getAs(t, f.srv.URL+"/groups/lab-a", pi)
	if resp.StatusCode != 200 || !strings.Contains(body, "Daily spend by resource") || !strings.Contains(body, "Top jobs by cost") {
		t.Fatalf("dashboard: %d, chart or top jobs missing", resp.StatusCode)
	}
	_, body = getAs(t, f.srv.URL+"/groups/lab-a?period=month&stack=cluster", pi)
	if !strings.Contains(body, "Daily spend by cluster") || !strings.Contains(body, "hpc") {
		t.Errorf("stacked by cluster: chart missing")
	}
	if !strings.Contains(body, ">pi-a ") || !strings.Contains(body, ">mem-a ") {
		i := strings.Index(body, "Top jobs by cost")
		t.Errorf("the PI does not see who ran the top jobs:\n%.3000s", body[max(i, 0):])
	}
	_, body = getAs(t, f.srv.URL+"/groups/lab-a", mem)
	if strings.Contains(body, ">pi-a ") || !strings.Contains(body, ">mem-a ") {
		t.Errorf("a member sees others' names on top jobs, or not their own")
	}
}

// Every table of the dashboard and the leaderboard downloads as CSV, with the same
// rows (and the same hidden names) as the page.
func TestTablesAsCSV(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	pi, _ := f.session(t, "pi-a")
	mem, _ := f.session(t, "mem-a")
	for _, id := range []string{"top-cost", "top-waste", "efficiency", "storage"} {
		resp, body := getAs(t, f.srv.URL+"/groups/lab-a?period=month&csv="+id, pi)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.HasSuffix(strings.Split(body, "\n")[0], ",note") {
			t.Errorf("csv %s: %d %q", id, resp.StatusCode, body)
		}
	}
	if _, body := getAs(t, f.srv.URL+"/groups/lab-a?csv=top-cost", pi); !strings.Contains(body, "pi-a") || !strings.Contains(body, "mem-a") {
		t.Errorf("the PI's top jobs CSV lacks names:\n%s", body)
	}
	_, body := getAs(t, f.srv.URL+"/groups/lab-a/leaderboard?csv=members", mem)
	if strings.Contains(body, "PI-A") || !strings.Contains(body, "You (mem-a)") || !strings.Contains(body, "—") {
		t.Errorf("a member's leaderboard CSV shows others' names, or not their own row:\n%s", body)
	}
	if resp, _ := getAs(t, f.srv.URL+"/groups/lab-a?csv=nope", pi); resp.StatusCode != 404 {
		t.Errorf("unknown table: %d", resp.StatusCode)
	}
}

// Home shows each of my groups with my spend, rank and usage.
func TestHomeShowsMyUsage(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	mem, _ := f.session(t, "mem-a")
	resp, body := getAs(t, f.srv.URL+"/", mem)
	if resp.StatusCode != 200 || !strings.Contains(body, "Lab A") || !strings.Contains(body, "core-hours") || !strings.Contains(body, " of ") {
		t.Errorf("home: %d, lacks the lab, my usage or my rank", resp.StatusCode)
	}
}
