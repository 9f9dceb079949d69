package server_test

import (
	"encoding/csv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
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

// Every table of the dashboard with a download is plain data: a header row, plain
// numbers, ids and names in columns of their own, the page's order; an unknown
// table is not found.
func TestTablesAsCSV(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	pi, _ := f.session(t, "pi-a")
	read := func(url string) [][]string {
		t.Helper()
		resp, body := getAs(t, url, pi)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
			t.Fatalf("%s: %d %q", url, resp.StatusCode, body)
		}
		recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil || len(recs) == 0 {
			t.Fatalf("%s: %v %q", url, err, body)
		}
		return recs
	}
	// November to date: Lab A's draft statement bills 128 core-hours of its own and
	// 160 of Project A's at 0.01.
	for _, c := range []struct {
		id, head string
		rows     []string
	}{
		{"by-subgroup", "group_slug,group_name,amount", []string{"proj-a,Project A,1.60", "lab-a,Lab A,1.28"}},
		{"by-resource", "resource,quantity,unit,amount", []string{"cpu,288.000000,core-hour,2.88"}},
		{"by-cluster", "cluster,amount", []string{"hpc,2.88"}},
		{"by-partition", "cluster,partition,amount", []string{"hpc,cpu,2.88"}},
		{"by-user", "user_login,user_name,amount", []string{"pi-a,PI-A,1.60", "mem-a,MEM-A,1.28"}},
	} {
		for _, period := range []string{"month", "last30"} { // the statement's walk, and the summaries
			recs := read(f.srv.URL + "/groups/lab-a?period=" + period + "&csv=" + c.id)
			var got []string
			for _, r := range recs {
				got = append(got, strings.Join(r, ","))
			}
			if want := append([]string{c.head}, c.rows...); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s (%s):\n%s\nwant\n%s", c.id, period, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
	}
	// The job and storage tables (dashboard_tables.go): a header and rows as wide.
	for _, id := range []string{"top-cost", "top-waste", "efficiency", "storage"} {
		recs := read(f.srv.URL + "/groups/lab-a?period=month&csv=" + id)
		for _, r := range recs[1:] {
			if len(r) != len(recs[0]) {
				t.Errorf("%s: a row of %d columns under %d", id, len(r), len(recs[0]))
			}
		}
	}
	if _, body := getAs(t, f.srv.URL+"/groups/lab-a?csv=top-cost", pi); !strings.Contains(body, "pi-a") || !strings.Contains(body, "mem-a") {
		t.Errorf("the PI's top jobs CSV lacks names:\n%s", body)
	}
	if resp, _ := getAs(t, f.srv.URL+"/groups/lab-a?csv=nope", pi); resp.StatusCode != 404 {
		t.Errorf("unknown table: %d", resp.StatusCode)
	}
}

// The spend card: Lab A's month walks to its draft statement; the department,
// billed through its labs, shows its subtree's spend.
func TestDashboardSpendCard(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	admin, _ := f.session(t, "admin")
	for _, c := range []struct {
		url, label, total string
		walk              []string
	}{
		// November: 128 core-hours of Lab A's and 160 of Project A's at 0.01.
		{"/groups/lab-a?period=month", "To be billed", "$2.88",
			[]string{"Usage|$2.88", "Subsidies|$0.00", "Late usage|$0.00", "Adjustments|$0.00", "To be billed|$2.88"}},
		// October is closed: its final statement.
		{"/groups/lab-a?period=2026-10", "Billed", "$0.96", // 32 + 64 core-hours
			[]string{"Usage|$0.96", "Subsidies|$0.00", "Late usage|$0.00", "Adjustments|$0.00", "Billed|$0.96"}},
		// The department: Lab A's 2.88 and Lab B's 1.92 by the day they ran.
		{"/groups/dept?period=month", "Spend", "$4.80", nil},
		// A window that is not a month: the summaries, even for a billable group.
		{"/groups/lab-a?period=last30", "Spend", "$2.88", nil},
	} {
		resp, body := getAs(t, f.srv.URL+c.url, admin)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", c.url, resp.StatusCode)
		}
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		spend := doc.Find(`[data-testid="spend"]`)
		label, total := strings.TrimSpace(spend.Find(".total .label").Text()), strings.TrimSpace(spend.Find(`[data-testid="spend-total"]`).Text())
		var walk []string
		spend.Find(`[data-testid="walk"] tr`).Each(func(_ int, tr *goquery.Selection) {
			name := strings.TrimSpace(tr.Find("th").Contents().First().Text())
			walk = append(walk, name+"|"+strings.TrimSpace(tr.Find("td").Text()))
		})
		if label != c.label || total != c.total || strings.Join(walk, "; ") != strings.Join(c.walk, "; ") {
			t.Errorf("%s: %s %s, walk %q", c.url, label, total, walk)
		}
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
