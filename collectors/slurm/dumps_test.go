package slurm

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Tests for dumps as sites write them (issue 9): each names the point it covers.

// dump joins a header (or none) and lines with delim in place of '|'.
func dump(delim string, lines ...string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(strings.ReplaceAll(l, "|", delim) + "\n")
	}
	return b.String()
}

// one reads a dump that must give records and no rejects.
func one(t *testing.T, text string, f Format, opts Options) (Output, Stats) {
	t.Helper()
	if opts.Cluster == "" {
		opts.Cluster = "c"
	}
	out, stats := readPeer(t, strings.NewReader(text), f, opts)
	for _, r := range out.Rejects {
		t.Errorf("rejected: %s\n%q", r.Reason, r.Raw)
	}
	if len(out.Records) == 0 {
		t.Errorf("no records from %q", text)
	}
	return out, stats
}

// cpuOf returns the cpu record of a job.
func cpuOf(t *testing.T, out Output, id string) ledger.Record {
	t.Helper()
	recs := byKey(out)[key{id, ledger.ResourceCPU}]
	if len(recs) != 1 {
		t.Fatalf("job %s: %d cpu records: %+v", id, len(recs), out.Records)
	}
	return recs[0]
}

// Point 2: a header is recognised by its field names wherever they stand — sacct's
// own --helpformat order (alphabetical, starting with Account) included — not by
// starting with JobID.
func TestHeaderRecognisedByFieldNames(t *testing.T) {
	values := map[string]string{"account": "phys", "alloccpus": "2", "alloctres": "cpu=2,billing=3", "elapsedraw": "3600",
		"end": "1790003600", "jobid": "7", "jobidraw": "7", "jobname": "sim", "start": "1790000000", "state": "COMPLETED",
		"user": "ann", "partition": "cpu", "ncpus": "2"}
	for _, header := range []string{
		"Account|AllocCPUS|AllocTRES|ElapsedRaw|End|JobID|JobIDRaw|JobName|Start|State|User",
		"account|alloccpus|alloctres|elapsedraw|end|jobid|jobidraw|jobname|start|state|user",
		"User|Partition|JobIDRaw|JobID|Account|State|Start|End|ElapsedRaw|NCPUS|AllocCPUS|AllocTRES|JobName",
	} {
		var line []string
		for _, h := range strings.Split(header, "|") {
			line = append(line, values[strings.ToLower(h)])
		}
		out, _ := one(t, header+"\n"+strings.Join(line, "|")+"\n", Format{}, Options{})
		if r := cpuOf(t, out, "7"); r.Account != "phys" || r.User != "ann" || r.Quantity != 7200 || r.JobName != "sim" {
			t.Errorf("header %s: %+v", header, r)
		}
	}
}

// Point 3: any delimiter, detected from the header's field names or given;
// --parsable's trailing delimiter accepted, with a header or without.
func TestDelimiterDetectedOrGiven(t *testing.T) {
	header := "JobID|JobIDRaw|User|Account|State|Start|End|ElapsedRaw|AllocCPUS|AllocTRES|JobName"
	line := "7|7|ann|phys|COMPLETED|1790000000|1790003600|3600|2|cpu=2|sim"
	for _, d := range []string{"|", "^|^", "\x1f", "☃", "\t", ";"} {
		for _, trailing := range []string{"", d} {
			h, l := strings.ReplaceAll(header, "|", d)+trailing, strings.ReplaceAll(line, "|", d)+trailing
			out, _ := one(t, h+"\n"+l+"\n", Format{}, Options{})
			if r := cpuOf(t, out, "7"); r.Quantity != 7200 || r.JobName != "sim" {
				t.Errorf("delimiter %q trailing %v: %+v", d, trailing != "", r)
			}
			// The same without a header: --format names the fields, the first line
			// gives the delimiter.
			out, _ = one(t, l+"\n", Format{Fields: strings.Split(header, "|")}, Options{})
			if r := cpuOf(t, out, "7"); r.Quantity != 7200 || r.JobName != "sim" {
				t.Errorf("headerless, delimiter %q trailing %v: %+v", d, trailing != "", r)
			}
		}
	}
	// A delimiter made of letters cannot be told from the names: --delimiter says it.
	text := dump("QQ", header, line)
	if _, err := NewDumpReader(strings.NewReader(text), Format{}); err == nil {
		t.Error("a letter delimiter was guessed")
	}
	out, _ := one(t, text, Format{Delimiter: "QQ"}, Options{})
	if r := cpuOf(t, out, "7"); r.Quantity != 7200 {
		t.Errorf("--delimiter QQ: %+v", r)
	}
}

// Point 4: a headerless dump with another field list loads with --format naming its
// fields as sacct takes them (any case, widths).
func TestHeaderlessWithFormat(t *testing.T) {
	format := strings.Split("jobidraw,jobid,user,account,state,start,end,elapsed,ncpus,alloctres,JobName%40", ",")
	text := dump("|", "9|9|bo|bio|COMPLETED|2026-10-05T10:00:00|2026-10-05T11:00:00|01:00:00|4|cpu=4,mem=1G|x")
	out, _ := one(t, text, Format{Fields: format}, Options{})
	if r := cpuOf(t, out, "9"); r.Quantity != 4*3600 || r.Account != "bio" || r.JobName != "x" {
		t.Errorf("%+v", r)
	}
	if _, err := NewDumpReader(strings.NewReader(text), Format{Fields: []string{"JobID", "Acount"}}); err == nil || !strings.Contains(err.Error(), `"Acount"`) {
		t.Errorf("unknown --format field: %v", err)
	}
	if _, err := NewDumpReader(strings.NewReader("1|2|3\n"), Format{Fields: format}); err == nil || !strings.Contains(err.Error(), "--delimiter") {
		t.Errorf("a line that matches no delimiter: %v", err)
	}
}

// Point 5: sacct's aliases — NCPUS for AllocCPUS, Elapsed without ElapsedRaw, JobID
// without JobIDRaw where unambiguous (array tasks keyed by their JobID, 123_4; a
// line for a range of tasks with usage is quarantined) — and a dump lacking what
// billing needs is refused naming exactly that.
func TestSacctAliases(t *testing.T) {
	header := "JobID|User|Account|State|Start|End|Elapsed|NCPUS|AllocTRES|TotalCPU"
	text := dump("|", header,
		"123|ann|phys|COMPLETED|1790000000|1790003600|01:00:00|2|cpu=2|00:30:00",
		"124_7|ann|phys|COMPLETED|1790000000|1790000600|00:10:00|1|cpu=1|",
		"124_7.batch|||COMPLETED|1790000000|1790000600|00:10:00|1||00:05:00",
		"125+1|ann|phys|COMPLETED|1790000000|1790000060|00:01:00|3|cpu=3|",
		"126_[4-5]|ann|phys|PENDING|Unknown|Unknown|00:00:00|1||",
	)
	out, stats := one(t, text, Format{}, Options{})
	if r := cpuOf(t, out, "123"); r.Quantity != 7200 || r.Used != 1800 {
		t.Errorf("NCPUS × Elapsed: %+v", r)
	}
	if r := cpuOf(t, out, "124_7"); r.Quantity != 600 || r.Used != 300 {
		t.Errorf("array task keyed by JobID, its step attached: %+v", r)
	}
	if r := cpuOf(t, out, "125+1"); r.Quantity != 180 {
		t.Errorf("het component: %+v", r)
	}
	if stats.NoUsage != 1 {
		t.Errorf("pending range: %+v", stats)
	}
	ranged := dump("|", header, "126_[1-3]|ann|phys|COMPLETED|1790000000|1790000060|00:01:00|1|cpu=1|")
	out, _ = readPeer(t, strings.NewReader(ranged), Format{}, Options{Cluster: "c"})
	if len(out.Records) != 0 || len(out.Rejects) != 1 || !strings.Contains(out.Rejects[0].Reason, "range of array tasks") {
		t.Errorf("a range with usage: %+v %+v", out.Records, out.Rejects)
	}

	for _, tt := range []struct{ header, missing string }{
		{"JobID|User|State|Start|End|Elapsed|NCPUS", "lacks Account, which"},
		{"JobID|User|Account|State|Start|End|NCPUS", "lacks ElapsedRaw (or Elapsed), which"},
		{"JobName|User|Account|State|Start|End|ElapsedRaw|AllocCPUS", "lacks JobIDRaw (or JobID), which"},
	} {
		_, err := NewDumpReader(strings.NewReader(tt.header+"\n"), Format{})
		if err == nil || !strings.Contains(err.Error(), tt.missing) {
			t.Errorf("%s: %v, want %q", tt.header, err, tt.missing)
		}
	}
	// One project's dump names its account; a dump with an Account column refuses it.
	out, _ = one(t, dump("|", "JobID|User|State|Start|End|Elapsed|NCPUS", "5|ann|COMPLETED|1790000000|1790000060|00:01:00|1"), Format{Account: "lab"}, Options{})
	if r := cpuOf(t, out, "5"); r.Account != "lab" {
		t.Errorf("--account: %+v", r)
	}
	if _, err := NewDumpReader(strings.NewReader(text), Format{Account: "lab"}); err == nil || !strings.Contains(err.Error(), "has an Account column") {
		t.Errorf("--account with an Account column: %v", err)
	}
}

// Point 6: in a wide dump with several free-text columns, a '|' in a job name is
// placed by checking every column of a known kind (durations, sizes, counts, node
// lists…), not only those Parsimony reads: the job and its steps are kept.
func TestWideDumpPipeInJobName(t *testing.T) {
	header := "JobID|JobIDRaw|User|Account|State|Start|End|ElapsedRaw|AllocCPUS|AllocTRES|TotalCPU|JobName|CPUTime|MaxVMSize|NTasks|NodeList|Comment"
	text := dump("|", header,
		"7|7|ann|phys|COMPLETED|1790000000|1790003600|3600|2|cpu=2|01:00:00|sweep|a|02:00:00|1G|1|n1|",
		"7.batch|7.batch|||COMPLETED|1790000000|1790003600|3600|2||00:40:00|batch|02:00:00|1G|1|n1|",
		"7.0|7.0|||COMPLETED|1790000000|1790003600|3600|2||00:20:00|run|b|02:00:00|1G|1|n1|",
	)
	out, stats := one(t, text, Format{}, Options{})
	if r := cpuOf(t, out, "7"); r.JobName != "sweep|a" || r.Used != 3600 || stats.Steps != 2 {
		t.Errorf("job %+v, stats %+v", r, stats)
	}

	// Hábrók's 37-field dump with '|' for ☃ and a '|' in every job and step name
	// reads to the same records as the dump as written.
	raw, err := os.ReadFile(filepath.Join(peerDir(t), "hb-jobinfo/sacct.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var piped strings.Builder
	for _, line := range strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n") {
		f := strings.Split(line, "☃")
		f[1] += "|x"
		piped.WriteString(strings.Join(f, "|") + "\n")
	}
	ams, _ := time.LoadLocation("Europe/Amsterdam")
	f := Format{Fields: strings.Split(jobinfoFields, ","), Account: "hb"}
	want, _ := readPeer(t, strings.NewReader(string(raw)), f, Options{Cluster: "c", Location: ams})
	got, stats := readPeer(t, strings.NewReader(piped.String()), f, Options{Cluster: "c", Location: ams})
	for _, r := range got.Rejects {
		t.Errorf("rejected: %s", r.Reason)
	}
	if len(got.Records) != len(want.Records) || stats.Steps != 142 {
		t.Fatalf("%d records, want %d; stats %+v", len(got.Records), len(want.Records), stats)
	}
	for i, r := range got.Records {
		w := want.Records[i]
		if r.JobName != w.JobName+"|x" || r.Quantity != w.Quantity || r.Used != w.Used || r.User != w.User || r.Partition != w.Partition {
			t.Errorf("record %d: %+v, want %+v", i, r, w)
		}
	}
}

// Point 7: without TRESUsageInTot a step's memory is MaxRSS (one task's peak) ×
// NTasks; without AllocTRES a job is billed from ReqTRES, else ReqMem (c: per CPU,
// n: per node), and the summary says so.
func TestMemoryWithoutUsageTRES(t *testing.T) {
	header := "JobID|JobIDRaw|User|Account|State|Start|End|ElapsedRaw|AllocCPUS|NNodes|AllocTRES|MaxRSS|NTasks"
	out, _ := one(t, dump("|", header,
		"8|8|ann|phys|COMPLETED|1790000000|1790000100|100|8|1|cpu=8,mem=16G||",
		"8.0|8.0|||COMPLETED|1790000000|1790000100|100|8|1||1G|4",
		"8.batch|8.batch|||COMPLETED|1790000000|1790000100|100|8|1||2G|1",
	), Format{}, Options{})
	if m := byKey(out)[key{"8", ledger.ResourceMemory}]; len(m) != 1 || m[0].Used != 4<<30*100 {
		t.Errorf("memory %+v, want 4 tasks × 1 GiB × 100 s", m)
	}

	header = "JobID|JobIDRaw|User|Account|State|Start|End|ElapsedRaw|AllocCPUS|NNodes|ReqTRES|ReqMem"
	out, stats := one(t, dump("|", header,
		"1|1|ann|phys|COMPLETED|1790000000|1790000100|100|4|1|cpu=4,mem=8G,gres/gpu=1,billing=6|",
		"2|2|ann|phys|COMPLETED|1790000000|1790000100|100|4|1||2Gc",
		"3|3|ann|phys|COMPLETED|1790000000|1790000100|100|4|2||3Gn",
		"4|4|ann|phys|COMPLETED|1790000000|1790000100|100|4|2||5G",
	), Format{}, Options{})
	recs := byKey(out)
	for _, tt := range []struct {
		id, resource string
		per          int64
	}{
		{"1", ledger.ResourceMemory, 8 << 30}, {"1", ledger.ResourceGPU, 1}, {"1", ledger.ResourceBilling, 6},
		{"2", ledger.ResourceMemory, 4 * 2 << 30}, {"3", ledger.ResourceMemory, 2 * 3 << 30}, {"4", ledger.ResourceMemory, 5 << 30},
	} {
		if r := recs[key{tt.id, tt.resource}]; len(r) != 1 || r[0].Allocated != tt.per*100 {
			t.Errorf("job %s %s: %+v, want %d per second", tt.id, tt.resource, r, tt.per)
		}
	}
	if stats.ReqFallback != 4 {
		t.Errorf("fallbacks %d, want 4", stats.ReqFallback)
	}
	res := Result{Stats: stats}
	if s := res.Summary("c"); !strings.Contains(s, "warning: 4 job(s) without AllocTRES: memory, GPUs and billing taken from ReqTRES/ReqMem") {
		t.Errorf("summary: %s", s)
	}
}

// Point 8: an ElapsedRaw longer than End − Start (outside the DST hour, which is
// corrected) is quarantined with the reason; a shorter one (suspended time) is
// billed as Slurm reports it.
func TestElapsedLongerThanWallQuarantined(t *testing.T) {
	header := "JobID|JobIDRaw|User|Account|State|Start|End|ElapsedRaw|AllocCPUS|AllocTRES"
	out, _ := readPeer(t, strings.NewReader(dump("|", header,
		"1|1|ann|phys|COMPLETED|1790000000|1790003600|7200|1|cpu=1",
		"2|2|ann|phys|COMPLETED|1790000000|1790003600|1800|1|cpu=1",
		"3|3|ann|phys|COMPLETED|1790000000|1790003600|3601|1|cpu=1",
	)), Format{}, Options{Cluster: "c"})
	if len(out.Rejects) != 2 || !strings.Contains(out.Rejects[0].Reason, "ElapsedRaw 7200 s is longer than End − Start (1790003600 − 1790000000 = 3600 s)") ||
		!strings.Contains(out.Rejects[1].Reason, "ElapsedRaw 3601 s is longer") || out.Rejects[0].Raw == "" {
		t.Errorf("rejects %+v", out.Rejects)
	}
	if r := cpuOf(t, out, "2"); r.Quantity != 1800 {
		t.Errorf("suspended job: %+v", r)
	}
	// Local times an hour short of ElapsedRaw far from any DST change are no DST
	// artefact either (New York, July).
	ny := newYork(t)
	out, _ = readPeer(t, strings.NewReader(dump("|", header, "4|4|ann|phys|COMPLETED|2026-07-01T10:00:00|2026-07-01T11:00:00|7200|1|cpu=1")),
		Format{}, Options{Cluster: "c", Location: ny})
	if len(out.Records) != 0 || len(out.Rejects) != 1 || !strings.Contains(out.Rejects[0].Reason, "ElapsedRaw 7200 s is longer than End − Start") {
		t.Errorf("July: %+v %+v", out.Records, out.Rejects)
	}
}

// Point 9: running jobs in a dump are charged up to the latest time the dump
// contains (here a later submission, not a pending job's expected start; a running
// job's Start + Elapsed counts too),
// not the file's mtime; a given as-of time wins; the summary warns of a running job
// charged past its time limit.
func TestRunningJobsUpToTheDumpsTime(t *testing.T) {
	header := "JobID|JobIDRaw|User|Account|State|Submit|Start|End|ElapsedRaw|Timelimit|AllocCPUS|AllocTRES"
	text := dump("|", header,
		"1|1|ann|phys|RUNNING|2026-10-05T09:00:00|2026-10-05T10:00:00|Unknown|1800|00:20:00|2|cpu=2",
		"2|2|ann|phys|COMPLETED|2026-10-05T08:00:00|2026-10-05T08:00:00|2026-10-05T09:00:00|3600|02:00:00|1|cpu=1",
		"3|3|ann|phys|PENDING|2026-10-05T10:40:00|2026-10-05T12:00:00|Unknown|0|01:00:00|1|",
		"4|4|ann|phys|RUNNING|2026-10-05T09:00:00|2026-10-05T10:10:00|Unknown|1800|UNLIMITED|1|cpu=1",
	)
	out, stats := one(t, text, Format{}, Options{Location: time.UTC})
	asOf := time.Date(2026, 10, 5, 10, 40, 0, 0, time.UTC)
	if r := cpuOf(t, out, "1"); !r.End.Equal(asOf) || r.Quantity != 2*40*60 {
		t.Errorf("running job charged to %v (%d), want %v", r.End, r.Quantity, asOf)
	}
	if !stats.AsOf.Equal(asOf) || !stats.AsOfFromDump || stats.Running != 2 || stats.PastLimit != 1 || stats.PastLimitJob != "1" {
		t.Errorf("stats %+v", stats)
	}
	summary := Result{Stats: stats}.Summary("c")
	for _, want := range []string{"2 running job(s) charged up to 2026-10-05T10:40:00Z (the latest time in the dump",
		"warning: 1 running job(s) charged past their time limit (first: 1)"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	// A running job's Start + Elapsed is the dump's clock when nothing later is.
	out, stats = one(t, dump("|", header, "5|5|ann|phys|RUNNING|2026-10-05T09:00:00|2026-10-05T10:00:00|Unknown|1800|UNLIMITED|1|cpu=1"), Format{}, Options{Location: time.UTC})
	if r := cpuOf(t, out, "5"); r.Quantity != 1800 || stats.PastLimit != 0 {
		t.Errorf("running job alone: %+v %+v", r, stats)
	}
	given := time.Date(2026, 10, 5, 11, 0, 0, 0, time.UTC)
	out, stats = one(t, text, Format{}, Options{Location: time.UTC, Now: given})
	if r := cpuOf(t, out, "1"); !r.End.Equal(given) || stats.AsOfFromDump {
		t.Errorf("--as-of: %+v %+v", r, stats)
	}
}

// Point 10: where Slurm records GPU utilisation (gres/gpuutil in TRESUsageInTot),
// GPU used seconds are the steps' elapsed × utilisation, so GPU waste can be priced;
// elsewhere used = allocated. gres/gpumem's peak is kept.
func TestGPUUtilisation(t *testing.T) {
	header := "JobID|JobIDRaw|User|Account|State|Start|End|ElapsedRaw|AllocCPUS|AllocTRES|TRESUsageInTot"
	out, stats := one(t, dump("|", header,
		"1|1|ann|phys|COMPLETED|1790000000|1790003600|3600|4|cpu=4,gres/gpu:a100=2,mem=8G|",
		"1.batch|1.batch|||COMPLETED|1790000000|1790000600|600|4||cpu=00:05:00,mem=1G",
		"1.0|1.0|||COMPLETED|1790000600|1790003600|3000|4||cpu=01:00:00,gres/gpumem=8G,gres/gpuutil=150,mem=2G",
		"2|2|ann|phys|COMPLETED|1790000000|1790003600|3600|4|cpu=4,gres/gpu=1|",
	), Format{}, Options{})
	recs := byKey(out)
	if g := recs[key{"1", ledger.ResourceGPU}]; len(g) != 1 || g[0].Allocated != 2*3600 || g[0].Used != 4500 || g[0].Attrs["gpu_mem_peak"] != "8589934592" {
		t.Errorf("measured GPU job: %+v", g)
	}
	if g := recs[key{"2", ledger.ResourceGPU}]; len(g) != 1 || g[0].Used != g[0].Allocated {
		t.Errorf("unmeasured GPU job: %+v", g)
	}
	if stats.GPUMeasured != 1 {
		t.Errorf("stats %+v", stats)
	}

	// Hábrók records gres/gpuutil: its GPU jobs' use, from their steps.
	ams, _ := time.LoadLocation("Europe/Amsterdam")
	f := Format{Fields: strings.Split(jobinfoFields, ","), Account: "hb"}
	out, _ = readPeer(t, openPeer(t, "hb-jobinfo/sacct.txt"), f, Options{Cluster: "c", Location: ams})
	recs = byKey(out)
	for id, used := range map[string]int64{
		"7946767": 41003 * 54 / 100, // 11:23:23 at 54 %
		"7965768": 55703 * 90 / 100, // .batch 15:28:23 at 90 %
		"8150389": 248957,           // 2 GPUs, 2-21:09:17 at 100 % (one GPU's worth)
		"8069225": 31549 * 12 / 100, // 08:45:49 at 12 %
		"7939708": 0,                // 0 %
	} {
		if g := recs[key{id, ledger.ResourceGPU}]; len(g) != 1 || g[0].Used != used {
			t.Errorf("%s: GPU %+v, want used %d", id, g, used)
		}
	}
}

// The reader's own errors never lose a line: a file read through it to the end
// gives as many rows and bad lines as it has rows.
func TestDumpReaderCountsEveryRow(t *testing.T) {
	rd, err := NewDumpReader(strings.NewReader(dump("☃", "JobID|User|Account|State|Start|End|Elapsed|NCPUS|", "1|a|b|COMPLETED|1|2|00:00:01|1|", "bad|", "2|a|b|COMPLETED|1|2|00:00:01|1|")), Format{})
	if err != nil {
		t.Fatal(err)
	}
	rows, bad := 0, 0
	for {
		_, b, err := rd.Next()
		if err == io.EOF {
			break
		}
		if b != nil {
			bad++
		} else {
			rows++
		}
	}
	if rows != 2 || bad != 1 {
		t.Errorf("rows %d bad %d", rows, bad)
	}
}
