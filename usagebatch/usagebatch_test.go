package usagebatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// valid is a record with every required member, as a map a test can change.
func valid() map[string]any {
	return map[string]any{
		"source": "cgroup", "cluster": "ws-01", "external_id": "user.slice/user-1000.slice@4026",
		"resource": "cpu", "start": "2026-12-03T10:00:00Z", "end": "2026-12-03T10:00:30Z", "quantity": 27,
	}
}

func encode(t testing.TB, m map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRecord(t *testing.T) {
	t.Parallel()
	with := func(k string, v any) []byte {
		m := valid()
		m[k] = v
		return encode(t, m)
	}
	without := func(k string) []byte {
		m := valid()
		delete(m, k)
		return encode(t, m)
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		want string // "" for accepted, else a fragment of the reason
	}{
		{"valid", encode(t, valid()), ""},
		{"offset zone", with("start", "2026-12-03T11:00:00+01:00"), ""},
		{"fractional seconds", with("end", "2026-12-03T10:00:30.123456Z"), ""},
		{"zero quantity", with("quantity", 0), ""},
		{"max int64", with("quantity", int64(9223372036854775807)), ""},
		{"null optional", with("user", nil), ""},
		{"attrs", with("attrs", map[string]string{"k": "v"}), ""},
		{"missing source", without("source"), "source is required"},
		{"missing quantity", without("quantity"), "quantity is required"},
		{"null quantity", with("quantity", nil), "quantity is required"},
		{"empty cluster", with("cluster", ""), "cluster is required"},
		{"missing end", without("end"), "end is required"},
		{"unknown member", with("quantty", 3), `unknown member "quantty"`},
		{"string quantity", with("quantity", "27"), "quantity: want a whole number"},
		{"fraction", []byte(strings.Replace(string(encode(t, valid())), `"quantity":27`, `"quantity":2.5`, 1)), "quantity: want a whole number"},
		{"exponent", []byte(strings.Replace(string(encode(t, valid())), `"quantity":27`, `"quantity":1e3`, 1)), "quantity: want a whole number"},
		{"overflow", []byte(strings.Replace(string(encode(t, valid())), `"quantity":27`, `"quantity":9223372036854775808`, 1)), "quantity: want a whole number"},
		{"negative", with("used", -1), "used -1 is negative"},
		{"number source", with("source", 7), "source: want a string, got number"},
		{"no zone", with("start", "2026-12-03T10:00:00"), "not an RFC 3339 time with a zone"},
		{"date only", with("start", "2026-12-03"), "not an RFC 3339 time with a zone"},
		{"unix seconds", with("start", 1764756000), "start: want a string"},
		{"before 1970", with("start", "1969-12-31T23:59:59Z"), "out of range"},
		{"end before start", with("end", "2026-12-03T09:00:00Z"), "is before start"},
		{"unknown source", with("source", "lsf"), `source "lsf" is not one of`},
		{"unknown resource", with("resource", "cpus"), `resource "cpus" is not one of`},
		{"control character", with("user", "ada\x01"), "user holds a control character"},
		{"long cluster", with("cluster", strings.Repeat("h", MaxShortBytes+1)), "cluster is 257 bytes"},
		{"too many attrs", with("attrs", manyAttrs(MaxAttrs+1)), "attrs has 33 members"},
		{"attrs not text", with("attrs", map[string]any{"n": 1}), "want a string"},
		{"not an object", []byte(`[1,2]`), "not a JSON object"},
		{"duplicate member", []byte(`{"source":"cgroup","source":"slurm"}`), `names "source" twice`},
		{"duplicate attr", []byte(`{"attrs":{"a":"1","a":"2"}}`), `attrs names "a" twice`},
		{"escaped duplicate", []byte(`{"quantity":1,"quantit\u0079":2}`), `names "quantity" twice`},
		{"invalid utf-8", []byte("{\"user\":\"\xff\"}"), "not valid UTF-8"},
		{"several problems", []byte(`{"source":"cgroup"}`), "cluster is required; external_id is required"},
		{"too long", []byte(`{"job_name":"` + strings.Repeat("x", MaxRecordBytes) + `"}`), "bytes of JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := DecodeRecord(tc.raw)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if r.Source == "" || r.Start.IsZero() {
					t.Fatalf("decoded %+v", r)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a reason with %q", err, tc.want)
			}
		})
	}
}

func manyAttrs(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprint("k", i)] = "v"
	}
	return m
}

func TestSplit(t *testing.T) {
	t.Parallel()
	many := `{"records":[` + strings.TrimSuffix(strings.Repeat(`{},`, MaxRecords+1), ",") + `]}`
	for _, tc := range []struct {
		name, body string
		n          int
		want       string
	}{
		{"empty batch", `{"records":[]}`, 0, ""},
		{"records of any JSON", `{"records":[{}, 1, "x", null]}`, 4, ""},
		{"not JSON", `{"records":[`, 0, "the JSON ends too early"},
		{"empty body", ``, 0, "empty"},
		{"an array", `[{}]`, 0, "want an object"},
		{"unknown member", `{"records":[],"batch":1}`, 0, `unknown member "batch"`},
		{"records missing", `{}`, 0, `"records" is missing`},
		{"records null", `{"records":null}`, 0, `"records" is missing`},
		{"records not an array", `{"records":{}}`, 0, "records: want an array"},
		{"trailing data", `{"records":[]} {}`, 0, "more after its JSON object"},
		{"too many", many, 0, "at most 10000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := Split([]byte(tc.body))
			if tc.want == "" {
				if err != nil || len(recs) != tc.n {
					t.Fatalf("got %d records, %v; want %d", len(recs), err, tc.n)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	if _, err := Split([]byte(many)); !errors.Is(err, ErrTooManyRecords) {
		t.Errorf("too many records: %v is not ErrTooManyRecords", err)
	}
}

// What an agent encodes, the server decodes to the same record, and the ledger
// record carries the defaults the docs promise.
func TestRoundTripAndLedgerRecord(t *testing.T) {
	t.Parallel()
	alloc := int64(960)
	in := Record{Source: "cgroup", Cluster: "ws-01", ExternalID: "user-1000.slice@7", Resource: "cpu",
		Start: time.Date(2026, 12, 3, 10, 0, 0, 0, time.FixedZone("CET", 3600)), End: time.Date(2026, 12, 3, 9, 0, 30, 500, time.UTC),
		Quantity: 27, Allocated: &alloc, User: "ada", Account: "chem", Attrs: map[string]string{"peak": "1"}}
	b, err := json.Marshal(Batch{Records: []Record{in}})
	if err != nil {
		t.Fatal(err)
	}
	raws, err := Split(b)
	if err != nil || len(raws) != 1 {
		t.Fatalf("split: %v", err)
	}
	out, err := DecodeRecord(raws[0])
	if err != nil {
		t.Fatal(err)
	}
	if !out.Start.Equal(in.Start) || !out.End.Equal(in.End) || out.Key() != in.Key() || *out.Allocated != 960 || out.Used != nil {
		t.Fatalf("round trip: %+v, want %+v", out, in)
	}
	lr := out.LedgerRecord(string(raws[0]))
	if lr.Allocated != 960 || lr.Used != 0 || lr.Quantity != 27 || lr.Account != "chem" || lr.Raw != string(raws[0]) {
		t.Errorf("ledger record %+v", lr)
	}
	out.Allocated = nil
	if lr := out.LedgerRecord(""); lr.Allocated != lr.Quantity {
		t.Errorf("allocated defaults to %d, want quantity %d", lr.Allocated, lr.Quantity)
	}
}

// The examples (docs/ingest-api.md shows them) are valid batches.
func TestExamples(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/examples/*.json")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		raws, err := Split(body)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i, raw := range raws {
			if _, err := DecodeRecord(raw); err != nil {
				t.Errorf("%s record %d: %v", f, i, err)
			}
		}
	}
}

func TestNamesAndReject(t *testing.T) {
	t.Parallel()
	if s, c := Names([]byte(`{"source":"cgroup","cluster":"ws-02","quantity":"x"}`)); s != "cgroup" || c != "ws-02" {
		t.Errorf("names %q %q", s, c)
	}
	if s, c := Names([]byte(`{"source":1,"cluster":["x"]}`)); s != "" || c != "" {
		t.Errorf("names of non-strings %q %q", s, c)
	}
	long := []byte(`{"x":"` + strings.Repeat("y", MaxRecordBytes) + `"}`)
	if r := Reject(long, "why", "api", "h"); len(r.Raw) > MaxRecordBytes+64 || !strings.Contains(r.Raw, "cut at") {
		t.Errorf("a long reject keeps %d bytes", len(r.Raw))
	}
}

// FromLedger is LedgerRecord's inverse, through the JSON an agent sends: every
// field comes back but Raw, whatever the defaults.
func TestFromLedgerRoundTrip(t *testing.T) {
	t.Parallel()
	base := ledger.Record{Source: "cgroup", Cluster: "ws-01", ExternalID: "/user.slice/user-1000.slice", Resource: "cpu",
		Start: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 3, 10, 30, 0, 0, time.UTC),
		Quantity: 27, Allocated: 27, User: "ada", Account: "chem"}
	cases := []struct {
		name string
		edit func(r *ledger.Record)
	}{
		{"defaults", func(r *ledger.Record) {}},
		{"allocated and used", func(r *ledger.Record) { r.Allocated, r.Used = 3600, 27 }},
		{"allocated below quantity", func(r *ledger.Record) { r.Allocated = 0 }},
		{"used only", func(r *ledger.Record) { r.Used = 5 }},
		{"every field", func(r *ledger.Record) {
			r.Partition, r.QoS, r.Nodes, r.JobName, r.State = "p", "q", 2, "j", "RUNNING"
			r.Attrs = map[string]string{"io_read_bytes": "4096"}
		}},
		{"zone kept as an instant", func(r *ledger.Record) { r.End = r.End.In(time.FixedZone("CET", 3600)) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in := base
			c.edit(&in)
			in.Raw = "dropped"
			b, err := json.Marshal(Batch{Records: []Record{FromLedger(in)}})
			if err != nil {
				t.Fatal(err)
			}
			raws, err := Split(b)
			if err != nil || len(raws) != 1 {
				t.Fatalf("split: %v", err)
			}
			dec, err := DecodeRecord(raws[0])
			if err != nil {
				t.Fatal(err)
			}
			out := dec.LedgerRecord("")
			want := in
			want.Raw = ""
			if !out.Start.Equal(want.Start) || !out.End.Equal(want.End) {
				t.Fatalf("times %v–%v, want %v–%v", out.Start, out.End, want.Start, want.End)
			}
			out.Start, out.End, want.Start, want.End = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if fmt.Sprint(out) != fmt.Sprint(want) {
				t.Errorf("round trip\n got %+v\nwant %+v", out, want)
			}
		})
	}
	// The record does not share the caller's attribute map.
	in := base
	in.Attrs = map[string]string{"a": "1"}
	out := FromLedger(in)
	in.Attrs["a"] = "2"
	if out.Attrs["a"] != "1" {
		t.Errorf("attrs alias the ledger record's map")
	}
}
