package slurm

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// FuzzReader: any input either fails the header with an error, or every row ends as
// a row or a bad line — nothing panics, and a joined row never swallows more than
// MaxJoinedLines physical lines.
func FuzzReader(f *testing.F) {
	header := "JobID|JobIDRaw|User|Account|JobName|State|Start|End|ElapsedRaw|AllocCPUS|AllocTRES\n"
	f.Add(header + "1|1|u|a|n|COMPLETED|1790000000|1790003600|3600|2|cpu=2\n")
	f.Add(header + "1|1|u|a|x|y|z|COMPLETED|1790000000|1790003600|3600|2|cpu=2\n")
	f.Add(header + "1|1|u|a|line\nbreak|COMPLETED|1790000000|1790003600|3600|2|cpu=2\n")
	f.Add(header + "\n\n|||\n")
	f.Add("JobID|JobIDRaw\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, in string) {
		rd, err := NewReader(strings.NewReader(in), "|")
		if err != nil {
			return
		}
		physical := strings.Count(in, "\n") + 1
		rows := 0
		for i := 0; i <= physical; i++ {
			row, bad, err := rd.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				t.Fatalf("read error: %v", err)
			}
			if bad != nil {
				if bad.Reason == "" || strings.Count(bad.Raw, "\n") >= MaxJoinedLines {
					t.Fatalf("bad line without reason or too long: %+v", bad)
				}
				continue
			}
			if strings.Count(row.Raw, "\n") >= MaxJoinedLines {
				t.Fatalf("row spans too many lines: %q", row.Raw)
			}
			rows++
		}
		t.Fatalf("more rows than physical lines (%d)", physical)
	})
}

// FuzzDuration: no panic; a parsed duration is never negative.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"1-02:03:04", "02:03:04", "03:04.567", "UNLIMITED", "1-02", "99999999999-00:00:00", ":", "1--1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err == nil && d < 0 {
			t.Fatalf("ParseDuration(%q) = %v", s, d)
		}
	})
}

// FuzzTRES: no panic; counts are never negative.
func FuzzTRES(f *testing.F) {
	for _, s := range []string{"billing=4,cpu=4,gres/gpu:a100=1,gres/gpu=1,mem=16G,node=1", "mem=1.5T", "gres/gpu:=1", "=,=", "mem=1e300G"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tr, err := ParseTRES(s)
		if err == nil && (tr.CPU < 0 || tr.MemB < 0 || tr.GPUs < 0 || tr.Billing < 0 || tr.Nodes < 0) {
			t.Fatalf("ParseTRES(%q) = %+v", s, tr)
		}
		_, _ = usageMem(s)
		_, _, _ = ParseSize(s)
	})
}

// FuzzConvert: rows with arbitrary values become records the ledger accepts, or
// rejects with a reason; nothing panics.
func FuzzConvert(f *testing.F) {
	f.Add("1", "1", "COMPLETED", "1790000000", "1790003600", "3600", "4", "cpu=4,mem=4G,gres/gpu=1,billing=9", "00:10:00", "")
	f.Add("1.0", "1.0", "RUNNING", "2026-10-05T10:00:00", "Unknown", "60", "1", "mem=1T", "1-00:00:00", "4G")
	f.Fuzz(func(t *testing.T, id, raw, state, start, end, elapsed, cpus, tres, totalCPU, maxRSS string) {
		conv := NewConverter(Options{Cluster: "c", Location: time.UTC, Now: time.Unix(1790010000, 0)})
		var out Output
		var row Row
		row.f[fJobID], row.f[fJobIDRaw], row.f[fState], row.f[fStart], row.f[fEnd] = id, raw, state, start, end
		row.f[fElapsedRaw], row.f[fAllocCPUS], row.f[fAllocTRES], row.f[fTotalCPU], row.f[fMaxRSS] = elapsed, cpus, tres, totalCPU, maxRSS
		row.Raw = "raw"
		conv.Add(row, &out)
		conv.Finish(&out)
		for _, r := range out.Records {
			if r.Quantity < 0 || r.Used < 0 || r.End.Before(r.Start) {
				t.Fatalf("bad record %+v", r)
			}
		}
		for _, r := range out.Rejects {
			if r.Reason == "" || r.Raw == "" {
				t.Fatalf("reject without reason or raw: %+v", r)
			}
		}
	})
}
