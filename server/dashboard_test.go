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
