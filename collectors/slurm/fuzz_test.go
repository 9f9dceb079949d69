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

// FuzzDumpReader: a dump as anyone may write it — header or none, any delimiter,
// --parsable's trailing one, a --format list — either is refused with an error, or
// every row ends as a row or a bad line with a reason; nothing panics, and no row
// spans more than MaxJoinedLines physical lines.
func FuzzDumpReader(f *testing.F) {
	f.Add("Account☃AllocCPUS☃ElapsedRaw☃End☃JobID☃Start☃State☃User☃\nphys☃2☃60☃1790000060☃1☃1790000000☃COMPLETED☃ann☃\n", "", "")
	f.Add("1^|^x|y^|^ann^|^phys^|^COMPLETED^|^1790000000^|^1790000060^|^00:01:00^|^2^|^\n", "", "JobID,JobName,User,Account,State,Start,End,Elapsed,NCPUS")
	f.Add("1|a|b|c|ann|COMPLETED|1|2|00:00:01|1|cpu=1||\n1.0|||||COMPLETED|1|2|00:00:01|1||mem=1G,gres/gpuutil=50|\n", "|", "JobID,JobName,Comment,SubmitLine,User,State,Start,End,Elapsed,NCPUS,AllocTRES,TRESUsageInTot")
	f.Add("JobIDQQUserQQAccount\n", "QQ", "")
	f.Add("\n\n", "", "")
	f.Fuzz(func(t *testing.T, in, delim, format string) {
		var fields []string
		if format != "" {
			fields = strings.Split(format, ",")
		}
		rd, err := NewDumpReader(strings.NewReader(in), Format{Delimiter: delim, Fields: fields, Account: map[bool]string{true: "acct"}[len(in)%2 == 0]})
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		physical := strings.Count(in, "\n") + 1
		conv := NewConverter(Options{Cluster: "c"})
		var out Output
		for i := 0; ; i++ {
			if i > physical {
				t.Fatalf("more rows than physical lines (%d)", physical)
			}
			row, bad, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("read error: %v", err)
			}
			if bad != nil {
				if bad.Reason == "" || strings.Count(bad.Raw, "\n") >= MaxJoinedLines {
					t.Fatalf("bad line without reason or too long: %+v", bad)
				}
				conv.BadLine(bad, &out)
				continue
			}
			if strings.Count(row.Raw, "\n") >= MaxJoinedLines {
				t.Fatalf("row spans too many lines: %q", row.Raw)
			}
			conv.Add(row, &out)
		}
		conv.Finish(&out)
		for _, r := range out.Records {
			if r.Quantity < 0 || r.Used < 0 || r.End.Before(r.Start) || r.Used > r.Quantity && r.Resource == "gpu" {
				t.Fatalf("bad record %+v", r)
			}
		}
		if int64(len(out.Rejects)) != conv.Stats.Rejects {
			t.Fatalf("%d rejects, stats say %d", len(out.Rejects), conv.Stats.Rejects)
		}
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
		if u, err := parseUsage(s); err == nil && (u.mem < 0 || u.gpuMem < 0 || u.gpuUtil < 0) {
			t.Fatalf("parseUsage(%q) = %+v", s, u)
		}
		_, _, _ = ParseSize(s)
		for k := kindText; k <= kindNumber; k++ {
			_ = k.valid(s)
		}
	})
}

// FuzzConvert: rows with arbitrary values become records the ledger accepts, or
// rejects with a reason; nothing panics.
func FuzzConvert(f *testing.F) {
	f.Add("1", "1", "COMPLETED", "1790000000", "1790003600", "3600", "4", "cpu=4,mem=4G,gres/gpu=1,billing=9", "00:10:00", "")
	f.Add("1.0", "1.0", "RUNNING", "2026-10-05T10:00:00", "Unknown", "60", "1", "mem=1T", "1-00:00:00", "4G")
	f.Add("1", "1", "RUNNING", "2026-11-01T01:30:00", "", "", "1", "", "01:00:00", "4Gc")
	f.Fuzz(func(t *testing.T, id, raw, state, start, end, elapsed, cpus, tres, totalCPU, maxRSS string) {
		for _, now := range []time.Time{time.Unix(1790010000, 0), {}} {
			conv := NewConverter(Options{Cluster: "c", Location: time.UTC, Now: now})
			var out Output
			var row Row
			row.f[fJobID], row.f[fJobIDRaw], row.f[fState], row.f[fStart], row.f[fEnd] = id, raw, state, start, end
			row.f[fElapsedRaw], row.f[fAllocCPUS], row.f[fAllocTRES], row.f[fTotalCPU], row.f[fMaxRSS] = elapsed, cpus, tres, totalCPU, maxRSS
			// The same values read as the fields dumps name otherwise: Elapsed,
			// ReqTRES and ReqMem (no AllocTRES), a step's usage TRES and task count.
			row.f[fElapsed], row.f[fReqTRES], row.f[fReqMem], row.f[fTRESUsageInTot], row.f[fNTasks], row.f[fTimelimit] = totalCPU, tres, maxRSS, tres, cpus, totalCPU
			row.Raw = "raw"
			conv.Add(row, &out)
			step := row
			step.f[fJobIDRaw] = raw + ".0"
			conv.Add(step, &out)
			conv.Finish(&out)
			checkConverted(t, out)
		}
	})
}

func checkConverted(t *testing.T, out Output) {
	t.Helper()
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
}
