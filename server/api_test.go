package server_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/server"
)

var updateAPI = flag.Bool("update", false, "rewrite the API's golden files in testdata/api/")

// apiInstitution is institution (authz_test.go) with what the API's answers should
// show beyond CPU time in November: a GPU job on a second cluster, and storage no
// person ran (the no-person row), each with its rate.
//
// November in lab-a then reads: mem-a €1.28 (128 core-hours on hpc) + €0.24 (24
// core-hours on gpu) + €3.00 (6 GPU-hours) = €4.52; no person €2.00 (2 TB for a day
// of scratch at €30 a TB-month); pi-a €1.60 (160 core-hours in proj-a) + €0.10 of
// late usage (10 core-hours in closed October, reported in November) = €1.70.
func apiInstitution(t *testing.T, f fixture) {
	t.Helper()
	institution(t, f)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	labA := group(t, f, "lab-a")
	nov := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	_, err := f.l.SetGroupMapping(ctx, "t", ledger.Mapping{Kind: ledger.KindSlurm, Scope: "gpu", Identity: "lab-a", GroupID: labA.ID})
	must(err)
	_, err = f.l.SetGroupMapping(ctx, "t", ledger.Mapping{Kind: ledger.KindStorage, Scope: "scratch", Identity: "lab-a", GroupID: labA.ID})
	must(err)
	_, _, err = f.l.SetRate(ctx, "t", ledger.Rate{Resource: ledger.ResourceGPU, Price: big.NewRat(1, 2), ValidFrom: nov})
	must(err)
	_, _, err = f.l.SetRate(ctx, "t", ledger.Rate{Resource: ledger.ResourceStorage, Price: big.NewRat(30, 1), ValidFrom: nov})
	must(err)
	start := time.Date(2026, 11, 9, 10, 0, 0, 0, time.UTC)
	job := func(res string, q, used int64) ledger.Record {
		return ledger.Record{Source: "slurm", Cluster: "gpu", ExternalID: "g1", Resource: res, Start: start, End: start.Add(3 * time.Hour),
			Quantity: q, Allocated: q, Used: used, Account: "lab-a", User: "mem-a", Partition: "a100", QoS: "normal", JobName: "train"}
	}
	day := time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	tb2 := int64(2e12 * 86400)
	lateStart := time.Date(2026, 10, 20, 8, 0, 0, 0, time.UTC)
	_, err = f.l.Ingest(ctx, ledger.Batch{Records: []ledger.Record{
		job(ledger.ResourceCPU, 8*3*3600, 4*3*3600),
		job(ledger.ResourceGPU, 2*3*3600, 2*3*3600),
		{Source: ledger.SourceStorage, Cluster: "scratch", ExternalID: "lab-a", Resource: ledger.ResourceStorage,
			Start: day, End: day.AddDate(0, 0, 1), Quantity: tb2, Allocated: tb2, Used: tb2, Account: "lab-a"},
		{Source: "slurm", Cluster: "hpc", ExternalID: "late", Resource: ledger.ResourceCPU, Start: lateStart, End: lateStart.Add(time.Hour),
			Quantity: 10 * 3600, Allocated: 10 * 3600, Used: 10 * 3600, Account: "lab-a", User: "pi-a", Partition: "cpu", QoS: "normal"},
	}})
	must(err)
	_, err = f.l.RatePeriod(ctx, "t", nov)
	must(err)
}

// apiCase is one request of the golden test.
type apiCase struct {
	golden string // testdata/api/<golden>.golden
	route  string // the route table's pattern it calls
	who    string // a login, "" for nobody, "token:ingest" for a token without the read scope
	path   string
	code   int
}

var apiCases = []apiCase{
	{"me", "/api/v1/me", "pi-a", "/api/v1/me", 200},
	{"me-admin", "/api/v1/me", "admin", "/api/v1/me", 200},
	{"groups", "/api/v1/groups", "pi-a", "/api/v1/groups", 200},
	{"groups-admin", "/api/v1/groups", "admin", "/api/v1/groups", 200},
	{"usage-by-resource", "/api/v1/groups/{group}/usage", "pi-a", "/api/v1/groups/lab-a/usage?period=2026-11", 200},
	{"usage-by-cluster", "/api/v1/groups/{group}/usage", "pi-a", "/api/v1/groups/lab-a/usage?period=2026-11&by=cluster", 200},
	{"usage-by-partition", "/api/v1/groups/{group}/usage", "pi-a", "/api/v1/groups/lab-a/usage?period=2026-11&by=partition", 200},
	{"usage-by-subgroup", "/api/v1/groups/{group}/usage", "pi-a", "/api/v1/groups/lab-a/usage?period=2026-11&by=subgroup", 200},
	{"usage-by-day", "/api/v1/groups/{group}/usage", "pi-a", "/api/v1/groups/lab-a/usage?period=2026-11&by=day", 200},
	{"usage-by-user", "/api/v1/groups/{group}/usage", "pi-a", "/api/v1/groups/lab-a/usage?period=2026-11&by=user", 200},
	// Not a calendar month, or not a billable group: the subtree's spend.
	{"usage-subtree-by-resource", "/api/v1/groups/{group}/usage", "pi-a", "/api/v1/groups/lab-a/usage?from=2026-11-01&to=2026-11-15", 200},
	{"usage-subtree-by-day", "/api/v1/groups/{group}/usage", "pi-a", "/api/v1/groups/lab-a/usage?from=2026-11-01&to=2026-11-15&by=day", 200},
	{"usage-subtree-by-user", "/api/v1/groups/{group}/usage", "pi-a", "/api/v1/groups/lab-a/usage?from=2026-11-01&to=2026-11-15&by=user", 200},
	{"usage-unbilled-by-subgroup", "/api/v1/groups/{group}/usage", "admin", "/api/v1/groups/dept/usage?period=2026-11&by=subgroup", 200},
	{"usage-empty", "/api/v1/groups/{group}/usage", "pi-a", "/api/v1/groups/lab-a/usage?period=custom&from=2026-09-01&to=2026-09-30", 200},
	{"leaderboard", "/api/v1/groups/{group}/leaderboard", "pi-a", "/api/v1/groups/lab-a/leaderboard?period=2026-11", 200},
	{"leaderboard-names-hidden", "/api/v1/groups/{group}/leaderboard", "mem-a", "/api/v1/groups/lab-a/leaderboard?period=2026-11", 200},
	{"leaderboard-by-waste", "/api/v1/groups/{group}/leaderboard", "pi-a", "/api/v1/groups/lab-a/leaderboard?period=2026-11&sort=waste", 200},
	{"statement-final", "/api/v1/groups/{group}/statements/{period}", "pi-a", "/api/v1/groups/lab-a/statements/2026-10", 200},
	{"statement-draft", "/api/v1/groups/{group}/statements/{period}", "pi-a", "/api/v1/groups/lab-a/statements/2026-11", 200},
	{"estimate", "/api/v1/groups/{group}/estimate", "mem-a", "/api/v1/groups/lab-a/estimate?cluster=gpu&partition=a100&cpus=8&gpus=2&memory_gb=64&hours=1.5", 200},

	// Errors: always {"error": "…"}.
	{"error-401", "/api/v1/me", "", "/api/v1/me", 401},
	{"error-403-scope", "/api/v1/groups/{group}/usage", "token:ingest", "/api/v1/groups/lab-a/usage", 403},
	{"error-403-members", "/api/v1/groups/{group}/usage", "mem-a", "/api/v1/groups/lab-a/usage?by=user", 403},
	{"error-403-statement", "/api/v1/groups/{group}/statements/{period}", "mem-a", "/api/v1/groups/lab-a/statements/2026-10", 403},
	{"error-404-group", "/api/v1/groups/{group}/usage", "mem-a", "/api/v1/groups/lab-b/usage", 404},
	{"error-404-statement", "/api/v1/groups/{group}/statements/{period}", "pi-a", "/api/v1/groups/lab-a/statements/2026-12", 404},
	{"error-404-period", "/api/v1/groups/{group}/statements/{period}", "pi-a", "/api/v1/groups/lab-a/statements/soon", 404},
	{"error-400-by", "/api/v1/groups/{group}/usage", "pi-a", "/api/v1/groups/lab-a/usage?by=weekday", 400},
	{"error-400-format", "/api/v1/groups/{group}/usage", "pi-a", "/api/v1/groups/lab-a/usage?format=xml", 400},
	{"error-400-period", "/api/v1/groups/{group}/leaderboard", "pi-a", "/api/v1/groups/lab-a/leaderboard?period=2026-13", 400},
	{"error-400-sort", "/api/v1/groups/{group}/leaderboard", "pi-a", "/api/v1/groups/lab-a/leaderboard?sort=loudest", 400},
	{"error-400-estimate", "/api/v1/groups/{group}/estimate", "pi-a", "/api/v1/groups/lab-a/estimate?cluster=hpc&cpus=-1&hours=1", 400},
	{"error-400-estimate-required", "/api/v1/groups/{group}/estimate", "pi-a", "/api/v1/groups/lab-a/estimate?cpus=4", 400},
}

// volatile are the fields no fixed clock pins: a statement is stamped with the
// wall clock when it is built (ledger.Statements), and its hash covers the stamp.
// The golden files hold a placeholder; the test checks their form.
var volatile = regexp.MustCompile(`("(?:generated_at|content_hash)": )"([^"]*)"`)

// TestAPIGolden calls every API route, as the roles that see each shape, on a
// seeded database with the clock fixed, and compares each answer with its golden
// file in testdata/api (go test ./server -run TestAPIGolden -update rewrites them).
func TestAPIGolden(t *testing.T) {
	f := newFixture(t) // 15 November 2026
	apiInstitution(t, f)
	tokens := map[string]string{}
	for _, c := range apiCases {
		if _, ok := tokens[c.who]; ok || c.who == "" {
			continue
		}
		if c.who == "token:ingest" {
			id, err := f.auth.UserID(t.Context(), "pi-a")
			if err != nil {
				t.Fatal(err)
			}
			secret, _, err := f.auth.CreateToken(t.Context(), id, "collector", []string{"ingest"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			tokens[c.who] = secret
			continue
		}
		tokens[c.who], _ = f.session(t, c.who)
	}

	// Every API route has a case, so that a new one cannot go unpinned.
	covered := map[string]bool{}
	for _, c := range apiCases {
		covered[c.route] = true
	}
	for _, rt := range server.Routes(f.srv.Config.Handler) {
		if pattern, ok := strings.CutPrefix(rt, "GET "); ok && strings.HasPrefix(pattern, "/api/") && !covered[pattern] {
			t.Errorf("route %s has no golden case", rt)
		}
	}

	for _, c := range apiCases {
		req, _ := http.NewRequest("GET", f.srv.URL+c.path, nil)
		switch {
		case strings.HasPrefix(c.who, "token:"):
			req.Header.Set("Authorization", "Bearer "+tokens[c.who])
		case c.who != "":
			req.AddCookie(&http.Cookie{Name: "parsimony_session", Value: tokens[c.who]})
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		_, err = io.Copy(&body, resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		got := body.String()
		if resp.StatusCode != c.code || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: GET %s as %q: %d %s, want %d JSON\n%s", c.golden, c.path, c.who, resp.StatusCode,
				resp.Header.Get("Content-Type"), c.code, got)
			continue
		}
		if c.code != http.StatusOK {
			checkErrorShape(t, c, got)
		}
		got = scrubVolatile(t, c.golden, got)
		path := filepath.Join("testdata", "api", c.golden+".golden")
		if *updateAPI {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run go test ./server -run TestAPIGolden -update)", c.golden, err)
		}
		if got != string(want) {
			t.Errorf("%s: GET %s as %q differs from %s:\n--- got\n%s\n--- want\n%s", c.golden, c.path, c.who, path, got, want)
		}
	}
}

// checkErrorShape: an error is a JSON object with one key, "error", a non-empty
// string.
func checkErrorShape(t *testing.T, c apiCase, body string) {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Errorf("%s: not JSON: %v\n%s", c.golden, err, body)
		return
	}
	msg, ok := out["error"].(string)
	if len(out) != 1 || !ok || msg == "" {
		t.Errorf(`%s: %s, want {"error": "…"}`, c.golden, body)
	}
}

// scrubVolatile replaces the volatile fields with a placeholder, after checking
// that they are an RFC 3339 time and a sha256.
func scrubVolatile(t *testing.T, name, body string) string {
	t.Helper()
	return volatile.ReplaceAllStringFunc(body, func(m string) string {
		parts := volatile.FindStringSubmatch(m)
		switch {
		case strings.Contains(parts[1], "generated_at"):
			if _, err := time.Parse(time.RFC3339, parts[2]); err != nil {
				t.Errorf("%s: generated_at %q is not RFC 3339", name, parts[2])
			}
		case !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(parts[2]):
			t.Errorf("%s: content_hash %q is not a sha256", name, parts[2])
		}
		return parts[1] + `"(volatile)"`
	})
}

// TestAPIUsageCSV: the usage CSV is data — a header row, ids and names in columns
// of their own, plain numbers, RFC 3339 times, the no-person row named as on the
// pages, and the JSON answer's order (largest amount first).
func TestAPIUsageCSV(t *testing.T) {
	f := newFixture(t)
	apiInstitution(t, f)
	pi := signedIn(t, f, "pi-a")
	const from, to = "2026-11-01T00:00:00Z", "2026-11-16T00:00:00Z" // month to date: the 15th included
	for _, c := range []struct {
		by   string
		want [][]string
	}{
		{"user", [][]string{
			{"group", "group_name", "login", "name", "amount", "currency", "from", "to"},
			{"lab-a", "Lab A", "mem-a", "MEM-A", "4.52", "USD", from, to},
			{"lab-a", "Lab A", "", "(no person: shared storage, services)", "2.00", "USD", from, to},
			{"lab-a", "Lab A", "pi-a", "PI-A", "1.70", "USD", from, to},
		}},
		{"subgroup", [][]string{
			{"group", "group_name", "subgroup", "subgroup_name", "amount", "currency", "from", "to"},
			{"lab-a", "Lab A", "lab-a", "Lab A", "6.62", "USD", from, to},
			{"lab-a", "Lab A", "proj-a", "Project A", "1.60", "USD", from, to},
		}},
		{"resource", [][]string{
			{"group", "group_name", "resource", "amount", "currency", "quantity", "unit", "from", "to"},
			{"lab-a", "Lab A", "cpu", "3.22", "USD", "322.0000", "core-hour", from, to},
			{"lab-a", "Lab A", "gpu", "3.00", "USD", "6.0000", "GPU-hour", from, to},
			{"lab-a", "Lab A", "storage", "2.00", "USD", "0.0667", "TB-month", from, to},
		}},
		{"partition", [][]string{
			{"group", "group_name", "cluster", "partition", "amount", "currency", "from", "to"},
			{"lab-a", "Lab A", "gpu", "a100", "3.24", "USD", from, to},
			{"lab-a", "Lab A", "hpc", "cpu", "2.98", "USD", from, to},
			{"lab-a", "Lab A", "scratch", "", "2.00", "USD", from, to},
		}},
		{"cluster", [][]string{
			{"group", "group_name", "cluster", "amount", "currency", "from", "to"},
			{"lab-a", "Lab A", "gpu", "3.24", "USD", from, to},
			{"lab-a", "Lab A", "hpc", "2.98", "USD", from, to},
			{"lab-a", "Lab A", "scratch", "2.00", "USD", from, to},
		}},
	} {
		resp, body := pi.get("/api/v1/groups/lab-a/usage?period=2026-11&format=csv&by=" + c.by)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
			t.Errorf("by %s: %d %s\n%s", c.by, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			continue
		}
		recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Errorf("by %s: not CSV: %v\n%s", c.by, err, body)
			continue
		}
		if !reflect.DeepEqual(recs, c.want) {
			t.Errorf("by %s:\n got %q\nwant %q", c.by, recs, c.want)
		}
	}
}

// TestAPIUsageItemsAddUp: every breakdown's amounts add up to its total to the
// cent, even where each item's own figure rounds away a third of a cent (the total
// is rounded once and shared out, as on the dashboard).
func TestAPIUsageItemsAddUp(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	ctx := t.Context()
	start := time.Date(2026, 11, 12, 9, 0, 0, 0, time.UTC)
	var recs []ledger.Record
	for i, user := range []string{"pi-a", "mem-a", ""} {
		// 20 core-minutes at 0.01 a core-hour: a third of a cent each.
		recs = append(recs, ledger.Record{Source: "slurm", Cluster: "hpc", ExternalID: "third-" + user, Resource: "cpu",
			Start: start.Add(time.Duration(i) * time.Hour), End: start.Add(time.Duration(i)*time.Hour + 20*time.Minute),
			Quantity: 1200, Allocated: 1200, Used: 1200, Account: "lab-a", User: user, Partition: "cpu", QoS: "normal"})
	}
	if _, err := f.l.Ingest(ctx, ledger.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.RatePeriod(ctx, "t", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	pi := signedIn(t, f, "pi-a")
	// The month of billable lab-a is its draft statement's usage; the same days as
	// a custom window are the subtree's spend. Here both are 2.89.
	_, body := pi.get("/api/v1/groups/lab-a/statements/2026-11")
	var st struct{ Usage string }
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Usage != "2.89" {
		t.Fatalf("the draft statement's usage: %v %s", err, body)
	}
	for _, window := range []string{"period=2026-11", "from=2026-11-01&to=2026-11-15"} {
		for _, by := range []string{"resource", "cluster", "partition", "subgroup", "day", "user"} {
			path := "/api/v1/groups/lab-a/usage?" + window + "&by=" + by
			resp, body := pi.get(path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
			}
			var out struct {
				Total string
				Items []struct{ Amount string }
			}
			if err := json.Unmarshal([]byte(body), &out); err != nil {
				t.Fatal(err)
			}
			sum := new(big.Rat)
			for _, it := range out.Items {
				x, ok := new(big.Rat).SetString(it.Amount)
				if !ok {
					t.Fatalf("%s: amount %q", path, it.Amount)
				}
				sum.Add(sum, x)
			}
			if out.Total != st.Usage || sum.FloatString(2) != out.Total {
				t.Errorf("%s: items add up to %s, total %s; want both %s\n%s", path, sum.FloatString(2), out.Total, st.Usage, body)
			}
		}
	}
}

// TestAPIUsageAgreesWithDashboard: one number. The API's usage by each breakdown
// has the amounts of the dashboard's table of the same breakdown (its download),
// id for id, for a billable group's month (its statement) and for a custom window
// (the subtree's spend).
func TestAPIUsageAgreesWithDashboard(t *testing.T) {
	f := newFixture(t)
	apiInstitution(t, f)
	pi := signedIn(t, f, "pi-a")
	// The dashboard's table for each breakdown; its first column is the id (the
	// partition's first two, cluster and partition).
	tables := map[string]string{"resource": "by-resource", "cluster": "by-cluster", "partition": "by-partition",
		"subgroup": "by-subgroup", "user": "by-user"}
	for _, window := range []string{"period=2026-11", "from=2026-11-01&to=2026-11-15"} {
		for by, table := range tables {
			resp, body := pi.get("/groups/lab-a?" + window + "&csv=" + table)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("dashboard %s %s: %d %s", window, table, resp.StatusCode, body)
			}
			recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
			if err != nil || len(recs) == 0 {
				t.Fatalf("dashboard %s %s: %v\n%s", window, table, err, body)
			}
			head, amountCol := recs[0], -1
			for i, h := range head {
				if h == "amount" {
					amountCol = i
				}
			}
			if amountCol < 0 {
				t.Fatalf("dashboard %s: no amount column in %q", table, head)
			}
			dash := map[string]string{}
			for _, rec := range recs[1:] {
				id := rec[0]
				if by == "partition" {
					id = rec[0] + "/" + rec[1]
				}
				dash[id] = rec[amountCol]
			}

			resp, body = pi.get("/api/v1/groups/lab-a/usage?" + window + "&by=" + by)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("api %s by %s: %d %s", window, by, resp.StatusCode, body)
			}
			var out struct {
				Items []struct{ Key, Amount string }
			}
			if err := json.Unmarshal([]byte(body), &out); err != nil {
				t.Fatal(err)
			}
			api := map[string]string{}
			for _, it := range out.Items {
				api[it.Key] = it.Amount
			}
			if len(api) != len(dash) {
				t.Errorf("%s by %s: the API has %v, the dashboard %v", window, by, api, dash)
				continue
			}
			for id, amount := range dash {
				if api[id] != amount {
					t.Errorf("%s by %s: %q is %s on the dashboard, %q in the API", window, by, id, amount, api[id])
				}
			}
		}
	}
}
