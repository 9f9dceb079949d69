package server_test

import (
	"encoding/json"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// The API's money is a decimal string, never a JSON number (a float to most
// readers), and its numbers in are plain decimals within the documented maxima:
// anything else is a 400 saying why, never an answer computed from a wrapped number.
func TestAPIMoneyAndLimits(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	pi := signedIn(t, f, "pi-a")

	for _, by := range []string{"resource", "cluster", "day", "user", "subgroup"} {
		resp, body := pi.get("/api/v1/groups/lab-a/usage?period=2026-11&by=" + by)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("usage by %s: %d %s", by, resp.StatusCode, body)
		}
		var out struct {
			Total any `json:"total"`
			Items []map[string]any
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil {
			t.Fatal(err)
		}
		if _, ok := out.Total.(string); !ok || len(out.Items) == 0 {
			t.Errorf("usage by %s: total %#v (want a decimal string), %d items", by, out.Total, len(out.Items))
		}
		for _, it := range out.Items {
			for _, k := range []string{"amount", "quantity"} {
				if v, ok := it[k]; ok {
					if s, isText := v.(string); !isText || strings.ContainsAny(s, "eE") {
						t.Errorf("usage by %s: %s %#v, want a plain decimal string", by, k, v)
					}
				}
			}
		}
	}
	if resp, body := pi.get("/api/v1/groups/lab-a/usage?period=2026-11&by=resource"); !strings.Contains(body, `"amount": "`) {
		t.Errorf("usage: %d %s", resp.StatusCode, body)
	}

	resp, body := pi.get("/api/v1/groups/lab-a/estimate?cluster=hpc&cpus=32&hours=2")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"total": "0.64"`) {
		t.Errorf("estimate of 64 core-hours at 0.01: %d %s", resp.StatusCode, body)
	}
	for q, reason := range map[string]string{
		"cpus=1e1000&hours=1":                     "not a plain decimal",
		"cpus=0x10&hours=1":                       "not a plain decimal",
		"cpus=1e9&hours=1":                        "not a plain decimal",
		"cpus=4&hours=" + strings.Repeat("9", 20): "too large",
		"cpus=999999999999&hours=999999999":       "too large", // 10^21 core-hours
		"cpus=99999999&hours=99999":               "too large", // 10^13 core-hours
		"cpus=-1&hours=1":                         "must not be negative",
	} {
		resp, body := pi.get("/api/v1/groups/lab-a/estimate?cluster=hpc&" + q)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, reason) {
			t.Errorf("estimate %s: %d %s, want 400 saying %q", q, resp.StatusCode, body, reason)
		}
	}
}

// The rate and budget forms hold prices and amounts to the documented maxima.
func TestAdminFormLimits(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	fin := signedIn(t, f, "fin")
	for price, reason := range map[string]string{
		"12345678901234567890123456789012345678901234": "too large",
		"1000000000":      "too large",
		"0.0000000000001": "more than 12 decimals",
	} {
		fin.refused("/admin/rates", url.Values{"resource": {"cpu"}, "price": {price}, "valid_from": {"2026-11-01"}}, http.StatusBadRequest, reason)
	}
	fin.done("/admin/rates", url.Values{"resource": {"cpu"}, "cluster": {"hpc"}, "price": {".5"}, "valid_from": {"2026-11-01"}}, "/admin/rates", "The rate is set.")
	for amount, reason := range map[string]string{"1000000000000": "too large", "99999999999999999999": "too large", "1.0000001": "more than 6 decimals"} {
		fin.refused("/admin/budgets", url.Values{"group": {"lab-a"}, "span": {"month"}, "amount": {amount}, "valid_from": {"2026-11-01"}},
			http.StatusBadRequest, reason)
	}
}

// A statement over the maximum is a 409 saying so — not a 500, and not naming
// another group's line, since a month's drafts are computed together.
func TestStatementOverTheMaximum(t *testing.T) {
	f := newFixture(t)
	institution(t, f)
	ctx := t.Context()
	labB := group(t, f, "lab-b")
	nov := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	if _, _, err := f.l.SetRate(ctx, "t", ledger.Rate{Resource: "cpu", GroupID: labB.ID, Price: big.NewRat(999999999, 1), ValidFrom: nov}); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 11, 10, 8, 0, 0, 0, time.UTC)
	q := int64(500 * 4 * 3600) // 2,000 core-hours: 2 × 10^12 at this price
	if _, err := f.l.Ingest(ctx, ledger.Batch{Records: []ledger.Record{{Source: "slurm", Cluster: "hpc", ExternalID: "big", Resource: "cpu",
		Start: start, End: start.Add(4 * time.Hour), Quantity: q, Allocated: q, Used: q, Account: "lab-b", User: "mem-b", Partition: "cpu", QoS: "normal"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.l.RatePeriod(ctx, "t", nov); err != nil {
		t.Fatal(err)
	}
	pi := signedIn(t, f, "pi-a")
	for _, path := range []string{"/groups/lab-a/statements/2026-11", "/api/v1/groups/lab-a/statements/2026-11"} {
		resp, body := pi.get(path)
		if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "beyond the documented maximum") || strings.Contains(body, "lab-b") {
			t.Errorf("GET %s: %d %s; want 409 saying an amount is beyond the maximum, without naming lab-b", path, resp.StatusCode, body)
		}
	}
}
