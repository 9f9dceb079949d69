package slurm

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

func newYork(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// convertFile reads a dump with its header and converts all of it.
func convertFile(t *testing.T, path string, opts Options) (Output, Stats) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rd, err := NewReader(f, "|")
	if err != nil {
		t.Fatal(err)
	}
	conv := NewConverter(opts)
	var out Output
	for {
		row, bad, err := rd.Next()
		if err != nil {
			break
		}
		if bad != nil {
			conv.BadLine(bad, &out)
			continue
		}
		conv.Add(row, &out)
	}
	conv.Finish(&out)
	return out, conv.Stats
}

type key struct{ id, resource string }

func byKey(out Output) map[key][]ledger.Record {
	m := map[key][]ledger.Record{}
	for _, r := range out.Records {
		k := key{r.ExternalID, r.Resource}
		m[k] = append(m[k], r)
	}
	return m
}

// Every kind of job in testdata/sacct_mix.txt becomes what sreport would charge.
func TestMixedDump(t *testing.T) {
	ny := newYork(t)
	now := time.Date(2026, 10, 6, 10, 0, 0, 0, ny)
	out, stats := convertFile(t, "testdata/sacct_mix.txt", Options{Cluster: "testbed", Location: ny, Now: now})
	for _, r := range out.Rejects {
		t.Errorf("unexpected reject: %s", r.Reason)
	}
	want := Stats{Lines: 17, Jobs: 14, Steps: 3, NoUsage: 2, Records: 37, Running: 1, AsOf: now}
	if stats != want {
		t.Errorf("stats %+v, want %+v", stats, want)
	}
	recs := byKey(out)
	const GiB, MiB = 1 << 30, 1 << 20
	tests := []struct {
		id, resource         string
		quantity, used       int64
		runs                 int
		name, state, account string
	}{
		{"1001", "cpu", 4 * 7200, 19800, 1, "sim|run 1", "COMPLETED", "physics"}, // steps' TotalCPU 1:30 + 4:00
		{"1001", "memory", 16 * GiB * 7200, 6000 * MiB * 7200, 1, "sim|run 1", "COMPLETED", "physics"},
		{"1001", "billing", 4 * 7200, 4 * 7200, 1, "sim|run 1", "COMPLETED", "physics"},
		{"1003", "cpu", 600, 300, 1, "arr", "COMPLETED", "bio-genomics"}, // array task 1002_1
		{"1004", "cpu", 300, 60, 1, "arr", "FAILED", "bio-genomics"},
		{"1006", "gpu", 2 * 3600, 2 * 3600, 1, "Ångström–μ", "COMPLETED", "phys-qlab"}, // het job 1005+1, gres/gpu:a100=2
		{"1006", "billing", 10 * 3600, 10 * 3600, 1, "Ångström–μ", "COMPLETED", "phys-qlab"},
		{"1005", "cpu", 2 * 3600, 3600, 1, "Ångström–μ", "COMPLETED", "phys-qlab"},
		{"1008", "cpu", 16 * 3600, 0, 1, "still running", "RUNNING", "biology"}, // charged up to now
		{"1008", "memory", 3 * (1 << 39) * 3600, 0, 1, "still running", "RUNNING", "biology"},
		{"1010", "cpu", 86430, 72000, 1, "timeout", "TIMEOUT", "physics"},
		{"1011", "cpu", 1800, 1200, 1, "no account", "OUT_OF_MEMORY", ""},
		{"1012", "cpu", 1800, 900, 1, "line one\nline two", "NODE_FAIL", "biology"},
		{"1013", "cpu", 10800, 3600, 1, "dst", "COMPLETED", "physics"},
	}
	for _, tt := range tests {
		got := recs[key{tt.id, tt.resource}]
		if len(got) != tt.runs {
			t.Errorf("%s/%s: %d records, want %d", tt.id, tt.resource, len(got), tt.runs)
			continue
		}
		r := got[0]
		if r.Quantity != tt.quantity || r.Allocated != tt.quantity || r.Used != tt.used {
			t.Errorf("%s/%s: quantity %d allocated %d used %d, want %d/%d/%d", tt.id, tt.resource, r.Quantity, r.Allocated, r.Used, tt.quantity, tt.quantity, tt.used)
		}
		if r.JobName != tt.name || r.State != tt.state || r.Account != tt.account || r.Cluster != "testbed" {
			t.Errorf("%s/%s: name %q state %q account %q cluster %q", tt.id, tt.resource, r.JobName, r.State, r.Account, r.Cluster)
		}
	}
	// A requeued job: both runs billed, told apart by their start.
	runs := recs[key{"1007", "cpu"}]
	if len(runs) != 2 || runs[0].Quantity != 8*600 || runs[1].Quantity != 8*3600 || runs[0].Start.Equal(runs[1].Start) {
		t.Errorf("requeued job runs: %+v", runs)
	}
	// Pending and cancelled-before-start jobs have no usage; the array shows its id.
	for _, id := range []string{"1002", "1009"} {
		for _, res := range ledger.Resources() {
			if len(recs[key{id, res}]) > 0 {
				t.Errorf("job %s has %s usage", id, res)
			}
		}
	}
	if got := recs[key{"1003", "cpu"}][0].Attrs["job_id"]; got != "1002_1" {
		t.Errorf("array task job_id attr %q", got)
	}
	if got := recs[key{"1010", "cpu"}][0].Attrs["timelimit"]; got != "86400" {
		t.Errorf("timelimit 1-00:00:00 kept as %q, want 86400", got)
	}
	if got := recs[key{"1003", "cpu"}][0].Attrs["timelimit"]; got != "UNLIMITED" {
		t.Errorf("UNLIMITED timelimit kept as %q", got)
	}
	// The running job ends at the collection time; the DST job lasts 3 hours.
	if r := recs[key{"1008", "cpu"}][0]; !r.End.Equal(now) {
		t.Errorf("running job ends %v, want %v", r.End, now)
	}
	if r := recs[key{"1013", "cpu"}][0]; r.End.Sub(r.Start) != 3*time.Hour {
		t.Errorf("DST job spans %v", r.End.Sub(r.Start))
	}
	if r := recs[key{"1006", "cpu"}][0]; r.Attrs["job_id"] != "1005+1" || r.Partition != "gpu" {
		t.Errorf("het job component: %+v", r)
	}
}

// A JobName with the delimiter in it does not shift any other field, wherever the
// column stands.
func TestPipeInNameAnyPosition(t *testing.T) {
	for _, header := range []string{
		"JobName|JobID|JobIDRaw|User|Account|State|Start|End|ElapsedRaw|AllocCPUS|AllocTRES",
		"JobID|JobIDRaw|User|Account|State|Start|End|ElapsedRaw|AllocCPUS|AllocTRES|JobName",
		"JobID|JobIDRaw|User|JobName|Account|State|Start|End|ElapsedRaw|AllocCPUS|AllocTRES",
	} {
		values := map[string]string{"JobName": "a|b||c", "JobID": "7", "JobIDRaw": "7", "User": "u", "Account": "acct",
			"State": "COMPLETED", "Start": "1790000000", "End": "1790003600", "ElapsedRaw": "3600", "AllocCPUS": "2", "AllocTRES": "cpu=2,billing=3"}
		var line []string
		for _, h := range strings.Split(header, "|") {
			line = append(line, values[h])
		}
		rd, err := NewReader(strings.NewReader(header+"\n"+strings.Join(line, "|")+"\n"), "|")
		if err != nil {
			t.Fatal(err)
		}
		row, bad, err := rd.Next()
		if err != nil || bad != nil {
			t.Fatalf("%s: %v %+v", header, err, bad)
		}
		if row.Get(fJobName) != "a|b||c" || row.Get(fAccount) != "acct" || row.Get(fAllocTRES) != "cpu=2,billing=3" {
			t.Errorf("header %s: name %q account %q tres %q", header, row.Get(fJobName), row.Get(fAccount), row.Get(fAllocTRES))
		}
	}
}

// Malformed lines are quarantined with their raw text and the reason; the rest goes on.
func TestMalformedLines(t *testing.T) {
	header := "JobID|JobIDRaw|User|Account|State|Start|End|ElapsedRaw|AllocCPUS|AllocTRES|TotalCPU"
	lines := []string{
		"1|1|u|a|COMPLETED|1790000000|1790003600|3600|2|cpu=2|00:10:00", // good
		"2|2|u|a|COMPLETED|1790000000|1790003600|ten|2|cpu=2|00:10:00",  // bad elapsed
		"3|3|u|a|COMPLETED|yesterday|1790003600|3600|2|cpu=2|00:10:00",  // bad start
		"4|4|u|a|COMPLETED|1790003600|1790000000|3600|2|cpu=2|00:10:00", // end before start
		"5|5|u|a|COMPLETED|1790000000|1790003600|3600|2|cpu=x|00:10:00", // bad TRES
		"6|6|u|a|COMPLETED", // too few fields
		"7.batch|7.batch|u|a|COMPLETED|1790000000|1790003600|3600|2|cpu=2|00:10:00", // orphan step
		"8|8|u|a|COMPLETED|1790000000|1790003600|3600|2|mem=99999999999P|00:10:00",  // absurd memory
		"9|9|u|a|COMPLETED|1790000000|1790003600|3600|2|cpu=2|00:10:00",             // good
		"9.0|9.0|u|a|COMPLETED|1790000000|1790003600|3600|2|cpu=2|1:2:3:4",          // bad step TotalCPU
	}
	rd, err := NewReader(strings.NewReader(header+"\n"+strings.Join(lines, "\n")), "|")
	if err != nil {
		t.Fatal(err)
	}
	conv := NewConverter(Options{Cluster: "c"})
	var out Output
	for {
		row, bad, err := rd.Next()
		if err != nil {
			break
		}
		if bad != nil {
			conv.BadLine(bad, &out)
		} else {
			conv.Add(row, &out)
		}
	}
	conv.Finish(&out)
	wantReasons := []string{"ElapsedRaw", "Start", "before Start", "AllocTRES", "fields", "does not follow", "too large", "TotalCPU"}
	if len(out.Rejects) != len(wantReasons) {
		for _, r := range out.Rejects {
			t.Logf("reject: %s | %s", r.Reason, r.Raw)
		}
		t.Fatalf("%d rejects, want %d", len(out.Rejects), len(wantReasons))
	}
	for _, want := range wantReasons {
		found := false
		for _, r := range out.Rejects {
			if strings.Contains(r.Reason, want) && r.Raw != "" && r.Source == "slurm" && r.Cluster == "c" {
				found = true
			}
		}
		if !found {
			t.Errorf("no reject mentions %q", want)
		}
	}
	ids := map[string]bool{}
	for _, r := range out.Records {
		ids[r.ExternalID] = true
	}
	if !ids["1"] || !ids["9"] || len(ids) != 2 {
		t.Errorf("records for jobs %v, want 1 and 9", ids)
	}
	if conv.Stats.Lines != int64(len(lines)) {
		t.Errorf("lines %d, want %d", conv.Stats.Lines, len(lines))
	}
}

func TestMissingRequiredField(t *testing.T) {
	_, err := NewReader(strings.NewReader("JobID|User|Account|State\n"), "|")
	if err == nil || !strings.Contains(err.Error(), "JobIDRaw") || !strings.Contains(err.Error(), "ElapsedRaw") {
		t.Fatalf("err = %v, want it to name the missing fields", err)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1-02:03:04", 26*time.Hour + 3*time.Minute + 4*time.Second, true},
		{"02:03:04", 2*time.Hour + 3*time.Minute + 4*time.Second, true},
		{"03:04", 3*time.Minute + 4*time.Second, true},
		{"03:04.567", 3*time.Minute + 4567*time.Millisecond, true},
		{"1-02", 26 * time.Hour, true},
		{"1-02:03", 26*time.Hour + 3*time.Minute, true},
		{"UNLIMITED", Unlimited, true},
		{"Partition_Limit", Unlimited, true},
		{"1:2:3:4", 0, false},
		{"-1", 0, false},
		{"aa:bb", 0, false},
		{"01:-5", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseSizeAndTRES(t *testing.T) {
	sizes := []struct {
		in     string
		want   int64
		perCPU bool
		ok     bool
	}{
		{"123456", 123456, false, true}, {"4K", 4096, false, true}, {"4000M", 4000 << 20, false, true},
		{"16G", 16 << 30, false, true}, {"1.5T", 3 << 39, false, true}, {"4Gc", 4 << 30, true, true},
		{"4Gn", 4 << 30, false, true}, {"0", 0, false, true}, {"x", 0, false, false}, {"-1G", 0, false, false},
	}
	for _, tt := range sizes {
		got, perCPU, err := ParseSize(tt.in)
		if (err == nil) != tt.ok || (tt.ok && (got != tt.want || perCPU != tt.perCPU)) {
			t.Errorf("ParseSize(%q) = %d %v %v", tt.in, got, perCPU, err)
		}
	}
	tr, err := ParseTRES("billing=10,cpu=2,gres/gpu:a100=2,gres/gpu:v100=1,mem=8G,node=1,license/matlab=1")
	if err != nil || tr.CPU != 2 || tr.Billing != 10 || tr.GPUs != 3 || tr.MemB != 8<<30 || tr.Nodes != 1 || tr.GPUTypes["a100"] != 2 {
		t.Errorf("typed TRES: %+v %v", tr, err)
	}
	tr, _ = ParseTRES("cpu=4,gres/gpu=2,gres/gpu:a100=2")
	if tr.GPUs != 2 {
		t.Errorf("gres/gpu with its typed twin counted %d GPUs, want 2", tr.GPUs)
	}
	for _, bad := range []string{"cpu", "cpu=x", "=4", "mem=lots"} {
		if _, err := ParseTRES(bad); err == nil {
			t.Errorf("ParseTRES(%q) accepted", bad)
		}
	}
}

// Real dumps carry several free-text columns; a '|' in the name shows up in
// SubmitLine too. The one placement whose typed fields read right wins.
func TestPipeInSeveralFreeTextColumns(t *testing.T) {
	header := "JobID|JobIDRaw|JobName|User|Account|State|ExitCode|Start|End|ElapsedRaw|AllocCPUS|AllocTRES|WorkDir|SubmitLine|Comment"
	line := "8|8|sim|sweep a|b|alice|phys-qlab|COMPLETED|0:0|1790000000|1790000015|15|1|cpu=1|/home/alice|sbatch --job-name=sim|sweep a|b run.sh|note|with|pipes"
	rd, err := NewReader(strings.NewReader(header+"\n"+line+"\n"), "|")
	if err != nil {
		t.Fatal(err)
	}
	row, bad, err := rd.Next()
	if err != nil || bad != nil {
		t.Fatalf("%v %+v", err, bad)
	}
	if row.Get(fJobName) != "sim|sweep a|b" || row.Get(fUser) != "alice" || row.Get(fState) != "COMPLETED" || row.Get(fAllocTRES) != "cpu=1" {
		t.Errorf("name %q user %q state %q tres %q", row.Get(fJobName), row.Get(fUser), row.Get(fState), row.Get(fAllocTRES))
	}
	// When two placements both read right and disagree on a field Parsimony reads,
	// the line is quarantined rather than guessed: here "a|b" may be the name and
	// "c" the partition, or "a" the name and "b" the partition.
	header2 := "JobIDRaw|JobID|JobName|Partition|SubmitLine|State|Start|End|ElapsedRaw|AllocCPUS|AllocTRES|User|Account"
	ambiguous := "9|9|a|b|c|d|COMPLETED|1790000000|1790000015|15|1|cpu=1|alice|acct"
	rd, _ = NewReader(strings.NewReader(header2+"\n"+ambiguous+"\n"), "|")
	_, bad, err = rd.Next()
	if err != nil || bad == nil || !strings.Contains(bad.Reason, "more than one free-text column") {
		t.Fatalf("ambiguous line: err %v, bad %+v; want it quarantined", err, bad)
	}
}

// A dump's local times in the hour a DST change repeats cannot be told apart; the
// hour off from ElapsedRaw is corrected, so no hour is lost or doubled.
func TestAmbiguousLocalTimeAtDSTEnd(t *testing.T) {
	ny := newYork(t)
	header := "JobID|JobIDRaw|User|Account|State|Start|End|ElapsedRaw|AllocCPUS|AllocTRES"
	// 1 November 2026, 01:00–02:00 happens twice in New York. The job ran from the
	// first 01:30 (EDT) to 02:30 EST: two hours.
	line := "77|77|u|a|COMPLETED|2026-11-01T01:30:00|2026-11-01T02:30:00|7200|1|cpu=1"
	rd, err := NewReader(strings.NewReader(header+"\n"+line+"\n"), "|")
	if err != nil {
		t.Fatal(err)
	}
	row, _, _ := rd.Next()
	conv := NewConverter(Options{Cluster: "c", Location: ny})
	var out Output
	conv.Add(row, &out)
	conv.Finish(&out)
	if len(out.Records) != 1 {
		t.Fatalf("records %+v rejects %+v", out.Records, out.Rejects)
	}
	r := out.Records[0]
	if r.End.Sub(r.Start) != 2*time.Hour || r.Quantity != 7200 {
		t.Fatalf("job spans %v with %d core-seconds, want 2h and 7200", r.End.Sub(r.Start), r.Quantity)
	}
	if want := time.Date(2026, 11, 1, 7, 30, 0, 0, time.UTC); !r.End.Equal(want) {
		t.Errorf("end %v, want %v", r.End.UTC(), want)
	}
}
