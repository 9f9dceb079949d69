package usagebatch

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf8"
)

// plainSeeds are bodies on both sides of the plain path's edge.
var plainSeeds = []string{
	`{"records":[]}`,
	` { "records" : [ { } ] } `,
	`{"records":[{"source":"cgroup","cluster":"ws-1","external_id":"user-1000.slice","resource":"cpu",` +
		`"start":"2026-12-03T10:00:00Z","end":"2026-12-03T10:00:30Z","quantity":27,"used":20,"user":"ada","account":"chem"}]}`,
	`{"records":[{"source":"slurm","cluster":"c","external_id":"1","resource":"gpu","start":"2026-12-03T10:00:00+01:00",` +
		`"end":"2026-12-03T11:00:00.5+01:00","quantity":0,"allocated":9223372036854775807,"used":-0,"nodes":2147483647,` +
		`"partition":"p","qos":"q","job_name":"j\u00e9","state":"RUNNING"}]}`,
	`{"records":[{"quantity":-1},{"quantity":01},{"quantity":1.0},{"quantity":1e3},{"quantity":9223372036854775808}]}`,
	`{"records":[{"nodes":2147483648},{"nodes":-5},{"source":null},{"Source":"slurm"},{"source":"a","source":"b"}]}`,
	`{"records":[{"source":"sl\"urm"},{"source":"slurm\u0000"},{"attrs":{"a":"b"}},{"user":"ada"} ]}`,
	`{"records":[{"start":"2026-12-03T10:00:00"},{"end":"yesterday"},{"source":"cgroup"}x]}`,
	`{"records":[{"source":"cgroup"}]} `,
	`{"records":[{"source":"cgroup"}]}]`,
	`{"Records":[{"source":"cgroup"}]}`,
	`{"records":[{"source":"cgroup"}],"records":[]}`,
	"{\"records\":[{\"user\":\"\xff\"},{\"user\":\"\x7f\u0085\"}]}",
	`{"records":[{"source":"cgroup","cluster":"` + string(make([]byte, 300)) + `"}]}`,
	`{"records":[{"quantity":12,}]}`,
	`{"records":[{"quantity":12 , "used" :3}  ,{}]}`,
	`{"records":[{"quantity":-}]}`,
	`{"records":[{"quantity":"12"}]}`,
	`{"records":[{"used":12}`,
}

// The plain path reads only what encoding/json reads the same: wherever it
// takes a body or a record, the strict path gives the same raws, the same record
// and the same refusal.
func FuzzPlainMatchesStrict(f *testing.F) {
	files, _ := filepath.Glob("testdata/examples/*.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range plainSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkPlainMatchesStrict(t, body)
	})
}

func TestPlainMatchesStrict(t *testing.T) {
	for _, s := range plainSeeds {
		checkPlainMatchesStrict(t, []byte(s))
	}
	// The plain path must be the one agents' batches take.
	for _, s := range plainSeeds[:3] {
		raws, ok := splitPlain([]byte(s))
		if !ok {
			t.Fatalf("%s: not read by the plain path", s)
		}
		for _, raw := range raws {
			if _, ok := plainRecord(raw, 0, &wire{}); !ok {
				t.Fatalf("%s: record not read by the plain path", raw)
			}
		}
	}
}

func checkPlainMatchesStrict(t *testing.T, body []byte) {
	t.Helper()
	if raws, ok := splitPlain(body); ok {
		want, err := splitStrict(body)
		if err != nil {
			t.Fatalf("plain split took %q, strict refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(normalRaws(raws), normalRaws(want)) {
			t.Fatalf("plain split of %q: %q, strict: %q", body, raws, want)
		}
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(body, &raws); err != nil {
		raws = []json.RawMessage{body}
	}
	if r, err := splitStrict(body); err == nil {
		raws = append(raws, r...)
	}
	for _, raw := range raws {
		got, gotErr := DecodeRecord(raw)
		if len(raw) > MaxRecordBytes || !utf8.Valid(raw) {
			continue // refused before either path
		}
		want, wantErr := decodeStrict(raw)
		if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("record %q: error %v, strict %v", raw, gotErr, wantErr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("record %q: %+v, strict %+v", raw, got, want)
		}
	}
}

// normalRaws makes an empty and a nil list of raws alike.
func normalRaws(raws []json.RawMessage) []json.RawMessage {
	if len(raws) == 0 {
		return nil
	}
	return raws
}
