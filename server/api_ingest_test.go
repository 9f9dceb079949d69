package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/usagebatch"
)

// ingestAnswer is the API's reply to a batch (docs/ingest-api.md).
type ingestAnswer struct {
	Read, Ingested, Revised, Unchanged, Quarantined, Unmapped int64
	Rejected                                                  []struct {
		Index  int
		Reason string
	}
	Error string
}

// ingestToken makes a token for login with the ingest scope and binding b.
func ingestToken(t *testing.T, f fixture, login string, b auth.Binding) string {
	t.Helper()
	id, err := f.auth.UserID(t.Context(), login)
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := f.auth.IssueToken(t.Context(), id, auth.TokenRequest{Name: "agent " + b.Cluster, Scopes: []string{"ingest"}, Binding: b})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// post sends body to /api/v1/usage with token and the headers given as pairs.
func post(t *testing.T, f fixture, token string, body []byte, headers ...string) (int, ingestAnswer, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/usage", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a ingestAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, raw)
	}
	if resp.StatusCode != http.StatusOK && a.Error == "" {
		t.Fatalf("answer %d without an error: %q", resp.StatusCode, raw)
	}
	return resp.StatusCode, a, resp.Header
}

var ingestDay = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// interval is ws-01's CPU record of user for the 30 s starting at minute m.
func interval(host, user string, m int, used int64) usagebatch.Record {
	start := ingestDay.Add(time.Duration(m) * time.Minute)
	return usagebatch.Record{Source: "cgroup", Cluster: host, ExternalID: "user.slice/user-" + user + ".slice@1",
		Resource: "cpu", Start: start, End: start.Add(30 * time.Second), Quantity: used, Used: &used, User: user, Account: "lab-a"}
}

func batchJSON(t *testing.T, recs ...usagebatch.Record) []byte {
	t.Helper()
	b, err := json.Marshal(usagebatch.Batch{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cpuOn is the ledger's total core-seconds on cluster in November (the rollups'
// figure, as reports and dashboards read it).
func cpuOn(t *testing.T, l *ledger.Ledger, cluster string) int64 {
	t.Helper()
	rows, err := l.Report(t.Context(), ledger.ReportQuery{From: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
		To: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), By: []string{"cluster"}, Resource: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, r := range rows {
		if r.Keys[0] == cluster {
			sum += r.Quantity.Int64()
		}
	}
	return sum
}

func TestIngestAPIAcceptReplayRevise(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	tok := ingestToken(t, f, "admin", auth.Binding{Source: "cgroup", Cluster: "ws-01"})
	recs := []usagebatch.Record{interval("ws-01", "mem-a", 0, 30), interval("ws-01", "mem-a", 1, 12), interval("ws-01", "pi-a", 0, 7)}
	body := batchJSON(t, recs...)

	code, a, _ := post(t, f, tok, body)
	if code != 200 || a.Read != 3 || a.Ingested != 3 || a.Quarantined != 0 || len(a.Rejected) != 0 {
		t.Fatalf("first batch: %d %+v", code, a)
	}
	if got := cpuOn(t, f.l, "ws-01"); got != 49 {
		t.Fatalf("ledger holds %d core-seconds on ws-01, want 49", got)
	}

	// The same batch again (an agent's spool replayed after a lost answer).
	code, a, _ = post(t, f, tok, body)
	if code != 200 || a.Unchanged != 3 || a.Ingested != 0 || a.Revised != 0 {
		t.Fatalf("replay: %d %+v", code, a)
	}
	if got := cpuOn(t, f.l, "ws-01"); got != 49 {
		t.Fatalf("replay changed the total to %d", got)
	}

	// A revised interval: same key (start), other values.
	rev := interval("ws-01", "mem-a", 1, 20)
	rev.End = rev.End.Add(10 * time.Second)
	code, a, _ = post(t, f, tok, batchJSON(t, rev))
	if code != 200 || a.Revised != 1 || a.Read != 1 {
		t.Fatalf("revision: %d %+v", code, a)
	}
	if got := cpuOn(t, f.l, "ws-01"); got != 30+20+7 {
		t.Fatalf("after the revision the ledger holds %d, want 57", got)
	}

	// Gzip, as agents send it.
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	zw.Write(batchJSON(t, interval("ws-01", "mem-a", 2, 100)))
	zw.Close()
	code, a, _ = post(t, f, tok, zbuf.Bytes(), "Content-Encoding", "gzip")
	if code != 200 || a.Ingested != 1 {
		t.Fatalf("gzip: %d %+v", code, a)
	}
	if got := cpuOn(t, f.l, "ws-01"); got != 157 {
		t.Fatalf("after the gzip batch the ledger holds %d, want 157", got)
	}
}

func TestIngestAPIQuarantine(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	tok := ingestToken(t, f, "admin", auth.Binding{})
	good := batchJSON(t, interval("ws-02", "mem-a", 0, 30))
	goodRec := strings.TrimSuffix(strings.TrimPrefix(string(good), `{"records":[`), `]}`)
	bad := []string{
		`{"source":"cgroup","cluster":"ws-02","external_id":"x","resource":"cpu","start":"2026-11-20T10:00:00","end":"2026-11-20T10:00:30Z","quantity":3}`,
		`{"source":"cgroup","cluster":"ws-02","external_id":"x","resource":"cpu","start":"2026-11-20T10:00:00Z","end":"2026-11-20T10:00:30Z","quantity":-3}`,
		`{"source":"cgroup","cluster":"ws-02","external_id":"x","resource":"cpu","start":"2026-11-20T10:00:00Z","end":"2026-11-20T10:00:30Z","quantity":3,"colour":"red"}`,
		`"not an object"`,
	}
	body := []byte(`{"records":[` + goodRec + "," + strings.Join(bad, ",") + `]}`)
	code, a, _ := post(t, f, tok, body)
	if code != 200 || a.Read != 5 || a.Ingested != 1 || a.Quarantined != 4 || len(a.Rejected) != 4 {
		t.Fatalf("mixed batch: %d %+v", code, a)
	}
	for i, want := range []string{"not an RFC 3339 time with a zone", "quantity -3 is negative", `unknown member "colour"`, "not a JSON object"} {
		if a.Rejected[i].Index != i+1 || !strings.Contains(a.Rejected[i].Reason, want) {
			t.Errorf("rejected[%d] = %+v, want index %d and %q", i, a.Rejected[i], i+1, want)
		}
	}
	q, err := f.l.Quarantined(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]ledger.QuarantinedInput{}
	for _, x := range q {
		found[x.Raw] = x
	}
	for _, raw := range bad {
		x, ok := found[raw]
		if !ok {
			t.Errorf("not quarantined with its raw JSON: %s", raw)
			continue
		}
		if !strings.HasPrefix(x.Reason, "ingest API: ") || x.Cluster == "" {
			t.Errorf("quarantined %s as %+v", raw, x)
		}
	}
	if x := found[bad[0]]; x.Source != "cgroup" || x.Cluster != "ws-02" {
		t.Errorf("a readable record is filed under %s/%s, want cgroup/ws-02", x.Source, x.Cluster)
	}
	if got := cpuOn(t, f.l, "ws-02"); got != 30 {
		t.Errorf("ledger holds %d on ws-02, want the good record's 30", got)
	}
}

func TestIngestAPIRefusals(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	ctx := context.Background()
	bound := ingestToken(t, f, "admin", auth.Binding{Source: "cgroup", Cluster: "ws-01"})
	piID, _ := f.auth.UserID(ctx, "pi-a")
	piIngest, _, err := f.auth.IssueToken(ctx, piID, auth.TokenRequest{Name: "not admin", Scopes: []string{"ingest"}})
	if err != nil {
		t.Fatal(err)
	}
	adminID, _ := f.auth.UserID(ctx, "admin")
	readOnly, _, err := f.auth.CreateToken(ctx, adminID, "reader", []string{"read"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	one := batchJSON(t, interval("ws-01", "mem-a", 0, 30))

	if code, a, _ := post(t, f, readOnly, one); code != 403 || !strings.Contains(a.Error, "ingest scope") {
		t.Errorf("read-only token: %d %q", code, a.Error)
	}
	if code, a, _ := post(t, f, piIngest, one); code != 403 || !strings.Contains(a.Error, "admins") {
		t.Errorf("a non-admin's ingest token: %d %q", code, a.Error)
	}
	// A bound token reporting for another host: the whole batch is refused and
	// nothing of it is stored, not even its good record for its own host.
	other := batchJSON(t, interval("ws-01", "mem-a", 0, 30), interval("ws-99", "mem-a", 0, 30))
	if code, a, _ := post(t, f, bound, other); code != 403 || !strings.Contains(a.Error, `record 1 is for source "cgroup" on "ws-99"`) {
		t.Errorf("bound token, other host: %d %q", code, a.Error)
	}
	otherSource := interval("ws-01", "mem-a", 0, 30)
	otherSource.Source = "slurm"
	if code, _, _ := post(t, f, bound, batchJSON(t, otherSource)); code != 403 {
		t.Errorf("bound token, other source: %d", code)
	}
	if got := cpuOn(t, f.l, "ws-01") + cpuOn(t, f.l, "ws-99"); got != 0 {
		t.Errorf("a refused batch left %d core-seconds", got)
	}

	// Malformed JSON, wrong envelope: 400.
	for _, body := range []string{`{"records":[`, `[]`, `{"records":[],"x":1}`, `{"records":[]}{}`} {
		if code, a, _ := post(t, f, bound, []byte(body)); code != 400 || a.Error == "" {
			t.Errorf("%s: %d %q", body, code, a.Error)
		}
	}
	if code, _, _ := post(t, f, bound, one, "Content-Type", "text/csv"); code != 415 {
		t.Errorf("not JSON: %d", code)
	}
	if code, _, _ := post(t, f, bound, one, "Content-Encoding", "br"); code != 415 {
		t.Errorf("brotli: %d", code)
	}
	if code, _, _ := post(t, f, bound, one, "Content-Encoding", "gzip"); code != 400 {
		t.Errorf("gzip header, plain body: %d", code)
	}

	// Over the limits: 413, on the wire, once decompressed (a gzip bomb: 9 MiB of
	// spaces are a few KiB compressed), and in records.
	big := append([]byte(`{"records":[]`), bytes.Repeat([]byte(" "), usagebatch.MaxBodyBytes)...)
	big = append(big, '}')
	if code, a, _ := post(t, f, bound, big); code != 413 || !strings.Contains(a.Error, "at most") {
		t.Errorf("oversize body: %d %q", code, a.Error)
	}
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	zw.Write(big)
	zw.Close()
	if zbuf.Len() > 64<<10 {
		t.Fatalf("the bomb is %d bytes compressed", zbuf.Len())
	}
	if code, a, _ := post(t, f, bound, zbuf.Bytes(), "Content-Encoding", "gzip"); code != 413 || !strings.Contains(a.Error, "decompressed") {
		t.Errorf("gzip bomb: %d %q", code, a.Error)
	}
	many := `{"records":[` + strings.TrimSuffix(strings.Repeat(`{},`, usagebatch.MaxRecords+1), ",") + `]}`
	if code, a, _ := post(t, f, bound, []byte(many)); code != 413 || !strings.Contains(a.Error, fmt.Sprint(usagebatch.MaxRecords)) {
		t.Errorf("too many records: %d %q", code, a.Error)
	}
}

// A token's requests beyond its burst are answered 429 with Retry-After; another
// token is not held back by it.
func TestIngestAPIRateLimit(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	tok := ingestToken(t, f, "admin", auth.Binding{})
	empty := []byte(`{"records":[]}`)
	limited := false
	for i := 0; i < 200 && !limited; i++ {
		code, a, h := post(t, f, tok, empty)
		switch code {
		case 200:
		case 429:
			limited = true
			if h.Get("Retry-After") == "" || !strings.Contains(a.Error, "too many batches") {
				t.Errorf("429 without Retry-After or reason: %q %q", h.Get("Retry-After"), a.Error)
			}
		default:
			t.Fatalf("request %d: %d %q", i, code, a.Error)
		}
	}
	if !limited {
		t.Fatal("200 batches in a row without a 429")
	}
	other := ingestToken(t, f, "admin", auth.Binding{Source: "cgroup", Cluster: "ws-03"})
	if code, a, _ := post(t, f, other, empty); code != 200 {
		t.Errorf("another token is limited too: %d %q", code, a.Error)
	}
}

// Binding options are checked where tokens are made.
func TestIngestAPITokenBinding(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	ctx := context.Background()
	id, _ := f.auth.UserID(ctx, "admin")
	for _, tc := range []struct {
		req  auth.TokenRequest
		want string
	}{
		{auth.TokenRequest{Name: "a", Scopes: []string{"read"}, Binding: auth.Binding{Source: "cgroup", Cluster: "h"}}, "only a token with the ingest scope"},
		{auth.TokenRequest{Name: "a", Scopes: []string{"ingest"}, Binding: auth.Binding{Source: "cgroup"}}, "both a source and a cluster"},
		{auth.TokenRequest{Name: "a", Scopes: []string{"ingest"}, Binding: auth.Binding{Cluster: "h"}}, "both a source and a cluster"},
		{auth.TokenRequest{Name: "a", Scopes: []string{"ingest"}, Binding: auth.Binding{Source: "cgroup", Cluster: "h\n"}}, ""},
		{auth.TokenRequest{Name: "a", Scopes: []string{"ingest"}, Binding: auth.Binding{Source: "cgroup", Cluster: "h\x01"}}, "control characters"},
	} {
		_, _, err := f.auth.IssueToken(ctx, id, tc.req)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.req.Binding, err, tc.want)
		}
	}
	toks, err := f.auth.Tokens(ctx, id)
	if err != nil || len(toks) != 1 || toks[0].Binding != (auth.Binding{Source: "cgroup", Cluster: "h"}) {
		t.Fatalf("tokens %+v, %v: want one bound to cgroup/h (trimmed)", toks, err)
	}
}

// The tokens page offers ingest and binding to admins only, and makes bound tokens.
func TestIngestAPITokensPage(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	postForm := func(login string, form url.Values) (int, string) {
		tok, csrf := f.session(t, login)
		form.Set("csrf", csrf)
		req, _ := http.NewRequest("POST", f.srv.URL+"/tokens", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: "parsimony_session", Value: tok})
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	code, body := postForm("admin", url.Values{"name": {"agent ws-07"}, "scope": {"ingest"}, "bound_source": {"cgroup"}, "bound_cluster": {"ws-07"}})
	if code != 200 || !strings.Contains(body, "cgroup/ws-07") || !strings.Contains(body, `data-testid="token-binding"`) {
		t.Fatalf("admin's bound token: %d", code)
	}
	adminID, _ := f.auth.UserID(t.Context(), "admin")
	toks, err := f.auth.Tokens(t.Context(), adminID)
	if err != nil || len(toks) != 1 || toks[0].Binding != (auth.Binding{Source: "cgroup", Cluster: "ws-07"}) {
		t.Fatalf("tokens %+v %v", toks, err)
	}
	if code, _ := postForm("admin", url.Values{"name": {"x"}, "scope": {"read"}, "bound_source": {"cgroup"}, "bound_cluster": {"ws-07"}}); code != 400 {
		t.Errorf("a bound read token: %d, want 400", code)
	}
	if code, _ := postForm("mem-a", url.Values{"name": {"x"}, "scope": {"ingest"}}); code != 400 {
		t.Errorf("a member's ingest token: %d, want 400", code)
	}
	memTok, _ := f.session(t, "mem-a")
	if _, body := getAs(t, f.srv.URL+"/tokens", memTok); strings.Contains(body, `value="ingest"`) || strings.Contains(body, "token-binding") {
		t.Error("a member is offered the ingest scope or a binding")
	}
}

// A JSON body far over the 64 KiB the form checks allow is the ingest API's to
// judge: the input-checks middleware leaves it alone.
func TestIngestAPILargeJSONBody(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	tok := ingestToken(t, f, "admin", auth.Binding{Source: "cgroup", Cluster: "ws-04"})
	recs := make([]usagebatch.Record, 0, 2000)
	var want int64
	for m := range 1000 {
		for _, user := range []string{"mem-a", "pi-a"} {
			recs = append(recs, interval("ws-04", user, m, int64(m%7+1)))
			want += int64(m%7 + 1)
		}
	}
	body := batchJSON(t, recs...)
	if len(body) < 256<<10 {
		t.Fatalf("the body is only %d bytes", len(body))
	}
	code, a, _ := post(t, f, tok, body)
	if code != 200 || a.Read != 2000 || a.Ingested != 2000 {
		t.Fatalf("a %d-byte batch: %d %+v", len(body), code, a)
	}
	if got := cpuOn(t, f.l, "ws-04"); got != want {
		t.Fatalf("ledger holds %d, want %d", got, want)
	}
}
