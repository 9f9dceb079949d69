package csvimport_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/parsimony-hpc/parsimony/collectors/csvimport"
	"github.com/parsimony-hpc/parsimony/ledger"
)

// FuzzRead feeds Read arbitrary input (the seeds under testdata/fuzz/FuzzRead are
// the tricky cases) and checks that it never panics, that every non-blank data line
// becomes exactly one record or one reject, and that every record is one the ledger
// can store.
func FuzzRead(f *testing.F) {
	f.Add([]byte(header + good))
	f.Add([]byte(header + good + "slurm,c1,43,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,x\n"))
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var records []ledger.Record
		var rejects []ledger.Reject
		size := 1 + len(data)%4
		opts := csvimport.Options{Location: zurich, BatchSize: size, Cluster: "fuzz.csv"}
		st, err := csvimport.Read(context.Background(), bytes.NewReader(data), opts, func(b ledger.Batch) error {
			if n := len(b.Records) + len(b.Rejects); n == 0 || n > size {
				t.Errorf("a batch of %d lines, want 1 to %d", n, size)
			}
			records = append(records, b.Records...)
			rejects = append(rejects, b.Rejects...)
			return nil
		})
		if st.Lines != st.Records+st.Rejected {
			t.Fatalf("stats %+v: lines are not records + rejected", st)
		}
		if int64(len(records)) != st.Records || int64(len(rejects)) != st.Rejected {
			t.Fatalf("emitted %d records and %d rejects, stats say %+v", len(records), len(rejects), st)
		}
		if err != nil {
			return // a bad header (nothing read), or a line past MaxLineBytes
		}

		var raws []string
		for _, r := range records {
			checkRecord(t, r)
			raws = append(raws, r.Raw)
		}
		for _, r := range rejects {
			if !strings.HasPrefix(r.Reason, "line ") {
				t.Errorf("reason %q does not start with its line", r.Reason)
			}
			if _, ok := ledger.MappingKind(r.Source); !ok && r.Source != csvimport.Source {
				t.Errorf("reject filed under source %q", r.Source)
			}
			raws = append(raws, r.Raw)
		}
		for _, raw := range raws {
			if strings.TrimSpace(raw) == "" {
				t.Errorf("raw %q of a line is blank", raw)
			}
		}

		// Nothing is lost or read twice: when the header is one plain line, the lines'
		// raw texts hold every byte of the rest of the file but blank space.
		body := bytes.TrimPrefix(data, []byte("\uFEFF"))
		head, rest, _ := bytes.Cut(body, []byte("\n"))
		if bytes.ContainsRune(head, '"') || len(bytes.TrimSuffix(head, []byte("\r"))) == 0 {
			return
		}
		want := squeeze(string(rest))
		var got []byte
		for _, raw := range raws {
			got = append(got, squeeze(raw)...)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !bytes.Equal(got, want) {
			t.Errorf("the lines' raw texts %q do not add up to the data %q", raws, rest)
		}
	})
}

// squeeze is s without white space.
func squeeze(s string) []byte { return []byte(strings.Join(strings.Fields(s), "")) }

// checkRecord fails t unless the ledger can store r.
func checkRecord(t *testing.T, r ledger.Record) {
	t.Helper()
	if _, ok := ledger.MappingKind(r.Source); !ok {
		t.Errorf("record of unknown source %q", r.Source)
	}
	if ledger.Unit(r.Resource) == "" {
		t.Errorf("record of unknown resource %q", r.Resource)
	}
	if r.Cluster == "" || r.ExternalID == "" {
		t.Errorf("record without cluster or id: %+v", r)
	}
	if r.Start.IsZero() || r.End.Before(r.Start) || r.Start.Year() < 1970 || r.End.Year() > 9999 {
		t.Errorf("record from %s to %s", r.Start, r.End)
	}
	if r.Quantity < 0 || r.Allocated < 0 || r.Used < 0 || r.Nodes < 0 {
		t.Errorf("record with a negative quantity: %+v", r)
	}
	texts := []string{r.Source, r.Cluster, r.ExternalID, r.Account, r.User, r.Partition, r.QoS, r.JobName, r.State}
	for k, v := range r.Attrs {
		texts = append(texts, k, v)
	}
	for _, s := range texts {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			t.Errorf("record with text PostgreSQL cannot hold: %q", s)
		}
	}
	if strings.TrimSpace(r.Raw) == "" {
		t.Errorf("record without its raw line: %+v", r)
	}
}
