package usagebatch

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeBatch: no body panics the decoder, and every record of a body that
// is a batch comes out as exactly one of a record the ledger can take (its
// conversion keeps its key) or a refusal with a reason, never both, never neither.
func FuzzDecodeBatch(f *testing.F) {
	files, _ := filepath.Glob("testdata/examples/*.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"records":[{"source":"cgroup","source":"slurm"}]}`,
		`{"records":[{"attrs":{"a":"1","a":"2"}}]}`,
		`{"records":[{"quantity":1e400}]}`,
		`{"records":[{"start":"2026-12-03T10:00:00+25:00"}]}`,
		`{"records":[null,[],"x",{"user":"\u0000"}]}`,
		"{\"records\":[{\"user\":\"\xff\"}]}",
		`{"records":[]} trailing`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		raws, err := Split(body)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a reason")
			}
			return
		}
		for _, raw := range raws {
			r, err := DecodeRecord(raw)
			if err != nil {
				if err.Error() == "" {
					t.Fatal("a refusal without a reason")
				}
				s, c := Names(raw)
				if rej := Reject(raw, err.Error(), s, c); rej.Reason == "" || rej.Raw == "" {
					t.Fatalf("a reject without its raw input or reason: %+v", rej)
				}
				continue
			}
			if r.Source == "" || r.Cluster == "" || r.ExternalID == "" || r.Resource == "" || r.End.Before(r.Start) || r.Quantity < 0 {
				t.Fatalf("accepted a record the ledger refuses: %+v from %q", r, raw)
			}
			lr := r.LedgerRecord(string(raw))
			if lr.Source != r.Source || lr.Cluster != r.Cluster || !lr.Start.Equal(r.Start) || lr.Raw != string(raw) {
				t.Fatalf("conversion lost the key: %+v", lr)
			}
		}
	})
}
