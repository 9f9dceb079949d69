package slurm

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// The peer fixtures are other projects' real sacct output with the values their
// tests expect (see shared/peer-slurm/README.md). They live beside the checkout, in
// shared/peer-slurm, and are read as their producers wrote them: never copied here.

// peerDir finds shared/peer-slurm in a folder above the test's (CI puts shared/
// beside the checkout). Missing, the test fails: a skipped comparison would pass
// unnoticed.
func peerDir(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "shared", "peer-slurm")
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			return p
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	t.Fatalf("peer Slurm fixtures not found: no shared/peer-slurm in any folder above %s. "+
		"They are other projects' sacct dumps kept beside the checkout (../shared/peer-slurm); put them there, do not copy them into the repository", wd)
	return ""
}

// readPeer converts a peer dump as a dump run would: NewDumpReader with f, then
// every row through the converter.
func readPeer(t *testing.T, r io.Reader, f Format, opts Options) (Output, Stats) {
	t.Helper()
	rd, err := NewDumpReader(r, f)
	if err != nil {
		t.Fatal(err)
	}
	conv := NewConverter(opts)
	var out Output
	for {
		row, bad, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if bad != nil {
			conv.BadLine(bad, &out)
		} else {
			conv.Add(row, &out)
		}
	}
	conv.Finish(&out)
	return out, conv.Stats
}

func openPeer(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join(peerDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// xdmodFields is XDMoD's documented dump format (classes/OpenXdmod/Shredder/Slurm.php).
const xdmodFields = "jobid,jobidraw,cluster,partition,qos,account,group,gid,user,uid,submit,eligible,start,end,elapsed,exitcode,state,nnodes,ncpus,reqcpus,reqmem,reqtres,alloctres,timelimit,nodelist,jobname"

// xdmodHeader is the header sacct prints for that format.
const xdmodHeader = "JobID|JobIDRaw|Cluster|Partition|QOS|Account|Group|GID|User|UID|Submit|Eligible|Start|End|Elapsed|ExitCode|State|NNodes|NCPUS|ReqCPUS|ReqMem|ReqTRES|AllocTRES|Timelimit|NodeList|JobName"

// xdmodJob is one shredded row of XDMoD's expected output.
type xdmodJob struct {
	JobID     string `json:"job_id"`
	JobIDRaw  string `json:"job_id_raw"`
	Partition string `json:"partition_name"`
	QoS       string `json:"qos_name"`
	Account   string `json:"account_name"`
	User      string `json:"user_name"`
	Start     int64  `json:"start_time"`
	End       int64  `json:"end_time"`
	Elapsed   int64  `json:"elapsed"`
	State     string `json:"state"`
	NNodes    string `json:"nnodes"`
	NCPUs     string `json:"ncpus"`
	Timelimit *int64 `json:"timelimit"`
	JobName   string `json:"job_name"`
	NGPUs     int64  `json:"ngpus"`
	AllocTRES string `json:"alloc_tres"`
	ReqMem    string `json:"req_mem"`
}

// XDMoD's documented dump loads as XDMoD's users write it — headerless, with
// --format naming its 26 fields (NCPUS, Elapsed, no ElapsedRaw) — and with sacct's
// header line for that format; every job agrees with XDMoD's shredded row.
// Deliberate differences: Parsimony keeps the state without "by UID"; the
// zero-length GPU allocation (5692623) has nothing to charge, where XDMoD records
// ngpus 2.
func TestPeerXDMoD(t *testing.T) {
	var want []xdmodJob
	raw, err := io.ReadAll(openPeer(t, "xdmod/accounting-logs.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	dump, err := io.ReadAll(openPeer(t, "xdmod/accounting-logs.log"))
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]struct {
		text string
		f    Format
	}{
		"headerless with --format": {string(dump), Format{Fields: strings.Split(xdmodFields, ",")}},
		"with sacct's header":      {xdmodHeader + "\n" + string(dump), Format{}},
	} {
		t.Run(name, func(t *testing.T) {
			out, stats := readPeer(t, strings.NewReader(in.text), in.f, Options{Cluster: "ub-hpc", Location: time.UTC})
			for _, r := range out.Rejects {
				t.Errorf("rejected: %s", r.Reason)
			}
			if stats.Jobs != 4 || stats.NoUsage != 1 {
				t.Errorf("stats %+v, want 4 jobs, 1 without usage", stats)
			}
			recs := byKey(out)
			for _, w := range want {
				cpu := recs[key{w.JobIDRaw, ledger.ResourceCPU}]
				if w.Elapsed == 0 {
					// 5692623: 0 s allocated; XDMoD keeps its 2 GPUs, there is nothing to bill.
					if len(cpu) != 0 || w.NGPUs != 2 {
						t.Errorf("%s: zero-length job billed: %+v", w.JobID, cpu)
					}
					continue
				}
				if len(cpu) != 1 {
					t.Errorf("%s: %d cpu records", w.JobID, len(cpu))
					continue
				}
				r := cpu[0]
				ncpus, _ := strconv.ParseInt(w.NCPUs, 10, 64)
				nnodes, _ := strconv.ParseInt(w.NNodes, 10, 32)
				state, _, _ := strings.Cut(w.State, " by ")
				if r.Start.Unix() != w.Start || r.End.Unix() != w.End || r.Quantity != ncpus*w.Elapsed ||
					int64(r.Nodes) != nnodes || r.State != state || r.Account != w.Account || r.User != w.User ||
					r.Partition != w.Partition || r.QoS != w.QoS || r.JobName != w.JobName {
					t.Errorf("%s: record %+v\nwant %+v", w.JobID, r, w)
				}
				if w.Timelimit != nil && r.Attrs["timelimit"] != strconv.FormatInt(*w.Timelimit, 10) {
					t.Errorf("%s: timelimit %q, want %d", w.JobID, r.Attrs["timelimit"], *w.Timelimit)
				}
				mem, err := ParseTRES(w.AllocTRES)
				if err != nil {
					t.Fatal(err)
				}
				if m := recs[key{w.JobIDRaw, ledger.ResourceMemory}]; len(m) != 1 || m[0].Quantity != mem.MemB*w.Elapsed {
					t.Errorf("%s: memory %+v, want %d B × %d s", w.JobID, m, mem.MemB, w.Elapsed)
				}
				if g := recs[key{w.JobIDRaw, ledger.ResourceGPU}]; int64(len(g)) != min(w.NGPUs, 1) {
					t.Errorf("%s: gpu records %+v, want %d GPUs", w.JobID, g, w.NGPUs)
				}
			}
		})
	}
}

// XDMoD's other logs: the hand-edited RUNNING line whose End equals its Start while
// Elapsed is 22:32:22 is quarantined with the reason (XDMoD skips it too), the
// pending job has no usage; the six hand-made array lines share JobIDRaw 4103947 and
// their times, so they are one allocation (XDMoD expands their ranges into 23 jobs:
// sacct prints ranges only for pending tasks, which carry no usage); a multibyte
// job name is kept.
func TestPeerXDMoDOtherLogs(t *testing.T) {
	f := Format{Fields: strings.Split(xdmodFields, ",")}
	out, stats := readPeer(t, openPeer(t, "xdmod/non-ended-job-state.log"), f, Options{Cluster: "c", Location: time.UTC})
	if len(out.Records) != 0 || len(out.Rejects) != 1 || stats.NoUsage != 1 ||
		!strings.Contains(out.Rejects[0].Reason, "ElapsedRaw 81142 s is longer than End − Start") {
		t.Errorf("non-ended: records %+v rejects %+v stats %+v", out.Records, out.Rejects, stats)
	}

	out, stats = readPeer(t, openPeer(t, "xdmod/accounting-logs-with-job-arrays.log"), f, Options{Cluster: "c", Location: time.UTC})
	if len(out.Rejects) != 0 || stats.Jobs != 6 {
		t.Fatalf("arrays: rejects %+v stats %+v", out.Rejects, stats)
	}
	keys := map[string]bool{}
	for _, r := range out.Records {
		if r.Resource == ledger.ResourceCPU {
			keys[fmt.Sprintf("%s %d %d", r.ExternalID, r.Start.Unix(), r.Quantity)] = true
		}
	}
	if len(keys) != 1 || !keys["4103947 1435460150 66355200"] {
		t.Errorf("array lines keyed as %v, want the one allocation 4103947 (256 cores × 3 days)", keys)
	}

	out, _ = readPeer(t, openPeer(t, "xdmod/utf8-multibyte-chars.log"), f, Options{Cluster: "c", Location: time.UTC})
	if len(out.Records) == 0 || out.Records[0].JobName != "aàb" {
		t.Errorf("utf8: %+v %+v", out.Records, out.Rejects)
	}
}

// jobinfoFields is the --format of hb-jobinfo's test/data/generate_data.sh.
const jobinfoFields = "JobID,JobName,User,Partition,NodeList,NNodes,NCPUs,NTasks,State,Submit,Start,End,Timelimit,Elapsed,TotalCPU,CPUTime,UserCPU,SystemCPU,ReqMem,MaxRSS,MaxVMSize,ReqTRES,AllocTRES,TRESUsageInMax,TRESUsageInTot,TRESUsageOutTot,MaxDiskRead,MaxDiskWrite,MaxRSSNode,MaxRSSTask,MaxVMSizeNode,MaxVMSizeTask,MaxDiskReadNode,MaxDiskReadTask,MaxDiskWriteNode,MaxDiskWriteTask,Comment"

// jobinfoReports reads expected_output.txt: job id → label → value.
func jobinfoReports(t *testing.T) map[string]map[string]string {
	t.Helper()
	reports := map[string]map[string]string{}
	var cur map[string]string
	sc := bufio.NewScanner(openPeer(t, "hb-jobinfo/expected_output.txt"))
	for sc.Scan() {
		line := sc.Text()
		if id, ok := strings.CutPrefix(line, "==> "); ok {
			cur = map[string]string{}
			reports[strings.TrimSuffix(id, " <==")] = cur
			continue
		}
		if label, value, ok := strings.Cut(line, ":"); ok && cur != nil {
			cur[strings.TrimSpace(label)] = strings.TrimSpace(value)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return reports
}

// jobinfoSize formats bytes as jobinfo prints memory: 1024-based, two decimals.
func jobinfoSize(b float64) string {
	if b == 0 {
		return "0.00"
	}
	for _, unit := range []string{"K", "M", "G", "T"} {
		b /= 1024
		if b < 1024 || unit == "T" {
			return fmt.Sprintf("%.2f%s", b, unit)
		}
	}
	return ""
}

// Hábrók's dump, as jobinfo's generate_data.sh wrote it (☃ delimiter, --parsable's
// trailing one, no header, NCPUs and Elapsed, no JobIDRaw and no Account: one
// project's jobs, so --account names it), read in Europe/Amsterdam with running
// jobs charged up to the dump's own latest time, against jobinfo's report of every
// job: cores, start and end, walltime, CPU time, peak memory, GPUs.
//
// Deliberate differences, counted and bounded below: jobinfo takes the longest of
// the allocation line and its steps as the walltime, Parsimony follows sreport and
// bills the allocation line; jobinfo reads each running job at the second sacct
// printed it, Parsimony charges every running job of a dump up to one time (the
// latest), a few seconds later for the jobs printed before it.
func TestPeerJobinfo(t *testing.T) {
	ams, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		t.Fatal(err)
	}
	reports := jobinfoReports(t)
	f := Format{Fields: strings.Split(jobinfoFields, ","), Account: "hb-project"}
	out, stats := readPeer(t, openPeer(t, "hb-jobinfo/sacct.txt"), f, Options{Cluster: "habrok", Location: ams})
	for _, r := range out.Rejects {
		t.Errorf("rejected: %s\n%s", r.Reason, r.Raw)
	}
	if stats.Jobs != 100 || stats.Steps != 142 || stats.Running != 3 {
		t.Errorf("stats %+v, want 100 jobs, 142 steps, 3 running", stats)
	}
	if want := time.Date(2024, 4, 19, 13, 11, 52, 0, ams); !stats.AsOf.Equal(want) || !stats.AsOfFromDump {
		t.Errorf("running jobs charged up to %v, want %v (the last running job's Start + Elapsed)", stats.AsOf, want)
	}
	recs := byKey(out)
	longerStep, compared := 0, 0
	stepState, memDiffers := map[string]string{}, map[string]string{}
	for id, rep := range reports {
		cpu := recs[key{id, ledger.ResourceCPU}]
		if strings.HasPrefix(rep["State"], "PENDING") || rep["Start"] == "None" || rep["Used walltime"] == "00:00:00" {
			if len(cpu) != 0 {
				t.Errorf("%s (%s) billed: %+v", id, rep["State"], cpu)
			}
			continue
		}
		if len(cpu) != 1 {
			t.Errorf("%s: %d cpu records, want 1 (%s)", id, len(cpu), rep["State"])
			continue
		}
		compared++
		r := cpu[0]
		secs := int64(r.End.Sub(r.Start) / time.Second)
		cores, _ := strconv.ParseInt(rep["Cores"], 10, 64)
		if r.Allocated != cores*secs {
			t.Errorf("%s: %d core-seconds, want %d cores × %d s", id, r.Allocated, cores, secs)
		}
		if got := r.Start.In(ams).Format("2006-01-02T15:04:05"); got != rep["Start"] {
			t.Errorf("%s: start %s, want %s", id, got, rep["Start"])
		}
		wall, err := ParseDuration(rep["Used walltime"])
		if err != nil {
			t.Fatalf("%s: walltime %q: %v", id, rep["Used walltime"], err)
		}
		diff := int64(wall/time.Second) - secs
		switch {
		case rep["State"] == "RUNNING":
			if diff > 0 || diff < -3 {
				t.Errorf("%s (running): %d s, jobinfo %d s: more than the 3 s between sacct's lines", id, secs, int64(wall/time.Second))
			}
		case diff > 0:
			longerStep++ // jobinfo's walltime and End are a step's, later than the allocation's
		case diff < 0:
			t.Errorf("%s: walltime %d s, jobinfo %d s", id, secs, int64(wall/time.Second))
		}
		// jobinfo's End is the latest of the job's and its steps' (a step may end
		// seconds after its allocation): later than the allocation's where its
		// walltime is a step's, else the same.
		if rep["End"] != "--" {
			end, err := time.ParseInLocation("2006-01-02T15:04:05", rep["End"], ams)
			if err != nil {
				t.Fatal(err)
			}
			if !end.Equal(r.End) && (diff <= 0 || end.Before(r.End)) {
				t.Errorf("%s: end %s, want %s", id, r.End.In(ams).Format(time.DateTime), rep["End"])
			}
		}
		// jobinfo merges the steps' states into the job's (a failed step makes the
		// job FAILED); Parsimony keeps the allocation's, as sacct and sreport do.
		if !strings.Contains(rep["State"], r.State) && !(r.State == "CANCELLED" && strings.HasPrefix(rep["State"], "CANCELLED")) {
			stepState[id] = r.State + " (jobinfo " + rep["State"] + ")"
		}
		if v, _, _ := strings.Cut(rep["Used CPU time"], " ("); v != "--" {
			d, err := ParseDuration(v)
			if err != nil {
				t.Fatalf("%s: CPU time %q: %v", id, v, err)
			}
			if math.Abs(float64(r.Used)-d.Seconds()) > 1 {
				t.Errorf("%s: CPU used %d s, jobinfo %s", id, r.Used, v)
			}
		}
		if v := rep["Maximum memory used"]; v != "--" {
			m := recs[key{id, ledger.ResourceMemory}]
			if len(m) != 1 || jobinfoSize(float64(m[0].Used)/float64(secs)) != v {
				t.Errorf("%s: peak memory %v, jobinfo %s", id, m, v)
			}
		}
		// jobinfo's "Total memory reserved" is ReqMem; Parsimony bills AllocTRES's
		// mem, as sreport does. They agree but for 2344446_26 (4G requested, 8G
		// allocated on its two nodes).
		if v := rep["Total memory reserved"]; v != "--" {
			want, _, err := ParseSize(v)
			m := recs[key{id, ledger.ResourceMemory}]
			if err != nil || len(m) != 1 {
				t.Errorf("%s: memory %v, jobinfo reserved %s", id, m, v)
			} else if m[0].Allocated != want*secs {
				memDiffers[id] = fmt.Sprintf("%d B (jobinfo %s)", m[0].Allocated/secs, v)
			}
		}
		gpus := int64(0)
		if v := rep["Allocated GPUs"]; v != "--" {
			for _, item := range strings.Split(v, ",") {
				_, n, _ := strings.Cut(item, "=")
				c, _ := strconv.ParseInt(n, 10, 64)
				gpus += c
			}
		}
		if g := recs[key{id, ledger.ResourceGPU}]; (gpus == 0) != (len(g) == 0) || (gpus > 0 && g[0].Allocated != gpus*secs) {
			t.Errorf("%s: GPU records %+v, jobinfo %d GPUs", id, g, gpus)
		}
	}
	if len(stepState) != 1 || stepState["7971484"] == "" {
		t.Errorf("states differing from jobinfo's: %v, want only 7971484 (COMPLETED; its step .0 FAILED)", stepState)
	}
	if len(memDiffers) != 1 || memDiffers["2344446_26"] != "8589934592 B (jobinfo 4G)" {
		t.Errorf("reserved memory differing from jobinfo's: %v, want only 2344446_26", memDiffers)
	}
	t.Logf("compared %d jobs with usage; %d where jobinfo's walltime is a longer step's (Parsimony bills the allocation line, as sreport)", compared, longerStep)
	if compared < 80 {
		t.Errorf("only %d jobs compared", compared)
	}
}

// reportseffJobs reads a reportseff fixture file into its "## KEY" sections' lines.
func reportseffJobs(t *testing.T, name string) map[string]string {
	t.Helper()
	jobs := map[string]string{}
	key := ""
	sc := bufio.NewScanner(openPeer(t, name))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			key = strings.TrimPrefix(line, "## ")
		case strings.HasPrefix(line, "#") || key == "":
		default:
			jobs[key] += line + "\n"
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return jobs
}

// reportseffEff computes, from one job's lines, what reportseff's CPUEff and
// MemEff measure, with Parsimony's own reading: used core-seconds (the steps'
// TotalCPU, whole seconds) over AllocCPUS × Elapsed, and the largest step's peak
// memory (MaxRSS × NTasks) over what was reserved (for a dump without AllocTRES,
// ReqMem: per CPU with c, per node with n).
func reportseffEff(t *testing.T, lines string, fields []string) (state, elapsed, cpuEff, memEff string) {
	t.Helper()
	rd, err := NewDumpReader(strings.NewReader(lines), Format{Fields: fields, anyFields: true})
	if err != nil {
		t.Fatal(err)
	}
	var j *job
	for {
		row, bad, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil || bad != nil {
			t.Fatalf("%v %+v", err, bad)
		}
		if !row.isStep() {
			if j != nil {
				t.Fatalf("two allocations in %q", lines)
			}
			j = &job{alloc: row}
			continue
		}
		if reason := j.addStep(&row); reason != "" {
			t.Fatal(reason)
		}
	}
	a := &j.alloc
	state = baseState(a.f[fState])
	if state == "PENDING" {
		return state, "---", "---", "---"
	}
	secs, err := a.elapsed()
	if err != nil {
		t.Fatal(err)
	}
	cpus, _ := strconv.ParseInt(a.f[fAllocCPUS], 10, 64)
	nodes, _ := strconv.ParseInt(a.f[fNNodes], 10, 64)
	var conv Converter
	tres, reason := conv.billedTRES(a, cpus, nodes)
	if reason != "" || conv.Stats.ReqFallback != 1 {
		t.Fatalf("reserved memory: %s, fallback %d", reason, conv.Stats.ReqFallback)
	}
	elapsed = a.f[fElapsed]
	cpuEff = "---"
	if secs > 0 {
		cpuEff = fmt.Sprintf("%.1f", 100*float64(j.totalCPU/time.Second)/float64(cpus*secs))
	}
	memEff = fmt.Sprintf("%.1f", 100*float64(j.maxRSS)/float64(tres.MemB))
	return state, elapsed, cpuEff, memEff
}

// Princeton's sacct lines, as reportseff's tests hold them (^|^ and --parsable's
// trailing one, no header, no User, Account, Start or End): as a dump they are
// refused naming exactly what billing lacks; read for efficiency they give
// reportseff's asserted CPU and memory efficiency for every job it asserts.
// Deliberate difference: none in the values; reportseff shows the array task
// 24221219 as 24220929_421, Parsimony keys it by JobIDRaw and keeps the JobID.
func TestPeerReportseff(t *testing.T) {
	console := reportseffJobs(t, "reportseff/console_jobs.txt")
	conftest := reportseffJobs(t, "reportseff/conftest_jobs.txt")
	withTime := strings.Split("AdminComment,AllocCPUS,Elapsed,JobID,JobIDRaw,MaxRSS,NNodes,NTasks,ReqMem,State,Timelimit,TotalCPU", ",")
	noTime := strings.Split("AdminComment,AllocCPUS,Elapsed,JobID,JobIDRaw,MaxRSS,NNodes,NTasks,ReqMem,State,TotalCPU", ",")
	conftestFields := strings.Split("AdminComment,AllocCPUS,Elapsed,JobID,JobIDRaw,MaxRSS,NNodes,ReqMem,State,Timelimit,TotalCPU,NTasks", ",")

	_, err := NewDumpReader(strings.NewReader(console["24418435"]), Format{Fields: withTime})
	if err == nil || !strings.Contains(err.Error(), "lacks User, Account, Start, End, which billing needs") {
		t.Errorf("reportseff's dump as a billing dump: %v; want it refused naming User, Account, Start, End", err)
	}

	expected := bufio.NewScanner(openPeer(t, "reportseff/expected.tsv"))
	checked := 0
	for expected.Scan() {
		line := expected.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		col := strings.Split(line, "\t")
		raw, state, elapsed, cpuEff, memEff := col[0], col[2], col[3], col[4], col[5]
		var lines string
		var fields []string
		switch raw {
		case "25569410":
			lines = console["25569410_notime"]
		case "6196869":
			lines, fields = conftest["multinode_job"], conftestFields[:11]
		case "131042":
			lines, fields = conftest["issue_41"], conftestFields
		case "8205464":
			lines, fields = conftest["short_job"], conftestFields[:11]
		default:
			lines = console[raw]
		}
		if lines == "" {
			t.Fatalf("no fixture lines for %s", raw)
		}
		if fields == nil {
			// console_jobs' format has Timelimit for some jobs only: 12 fields
			// (12 delimiters with --parsable's trailing one) with it, 11 without.
			fields = noTime
			if first, _, _ := strings.Cut(lines, "\n"); strings.Count(first, "^|^") == len(withTime) {
				fields = withTime
			}
		}
		gotState, gotElapsed, gotCPU, gotMem := reportseffEff(t, lines, fields)
		if memEff == "-" {
			gotMem = "-" // not asserted by reportseff
		}
		if gotState != state || (elapsed != "---" && gotElapsed != elapsed) || gotCPU != cpuEff || gotMem != memEff {
			t.Errorf("%s: %s %s CPU %s%% mem %s%%, reportseff %s %s %s%% %s%%", raw, gotState, gotElapsed, gotCPU, gotMem, state, elapsed, cpuEff, memEff)
		}
		checked++
	}
	if checked != 8 {
		t.Errorf("checked %d jobs, want the 8 of expected.tsv", checked)
	}
}
