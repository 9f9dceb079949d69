package csvimport_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/collectors/csvimport"
	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/ledger"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// header is the required columns in their documented order.
const header = "source,cluster,external_id,resource,start,end,quantity\n"

// good is a data line for header.
const good = "slurm,c1,42,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,3600\n"

// result is everything Read handed out.
type result struct {
	batches []ledger.Batch
	records []ledger.Record
	rejects []ledger.Reject
	stats   csvimport.Stats
	err     error
}

func read(t *testing.T, input string, opts csvimport.Options) result {
	t.Helper()
	var res result
	res.stats, res.err = csvimport.Read(context.Background(), strings.NewReader(input), opts, func(b ledger.Batch) error {
		res.batches = append(res.batches, b)
		res.records = append(res.records, b.Records...)
		res.rejects = append(res.rejects, b.Rejects...)
		return nil
	})
	if res.err == nil {
		if got := res.stats.Records + res.stats.Rejected; got != res.stats.Lines {
			t.Errorf("stats %+v: records + rejected = %d, want lines", res.stats, got)
		}
		if int64(len(res.records)) != res.stats.Records || int64(len(res.rejects)) != res.stats.Rejected {
			t.Errorf("emitted %d records and %d rejects, stats say %+v", len(res.records), len(res.rejects), res.stats)
		}
	}
	return res
}

func mustRead(t *testing.T, input string, opts csvimport.Options) result {
	t.Helper()
	res := read(t, input, opts)
	if res.err != nil {
		t.Fatalf("Read: %v", res.err)
	}
	return res
}

func TestHeaderInAnyOrder(t *testing.T) {
	want := ledger.Record{
		Source: "slurm", Cluster: "c1", ExternalID: "42", Resource: "cpu",
		Start: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC),
		Quantity: 3600, Allocated: 3600, Used: 0,
	}
	tests := []struct {
		name, input string
		want        func(*ledger.Record)
	}{
		{"documented order", header + good, nil},
		{"reversed",
			"quantity,end,start,resource,external_id,cluster,source\n" +
				"3600,2026-03-01T10:00:00Z,2026-03-01T09:00:00Z,cpu,42,c1,slurm\n", nil},
		{"shuffled with optional columns and attributes",
			"user,end,gpu_model,quantity,used,cluster,Site Code,start,nodes,source,allocated,resource,account,external_id,job_name,state,qos,partition\n" +
				"ada,2026-03-01T10:00:00Z,A100,3600,1800,c1,ZH-1,2026-03-01T09:00:00Z,2,slurm,7200,cpu,lab-a,42,train,COMPLETED,normal,gpu\n",
			func(r *ledger.Record) {
				r.User, r.Account, r.Partition, r.QoS, r.JobName, r.State = "ada", "lab-a", "gpu", "normal", "train", "COMPLETED"
				r.Nodes, r.Allocated, r.Used = 2, 7200, 1800
				r.Attrs = map[string]string{"gpu_model": "A100", "Site Code": "ZH-1"}
			}},
		{"names in any case, padded, quoted, after a byte order mark",
			"\uFEFF\"Source\", CLUSTER ,External_ID,resource,start,end,quantity\n" + good, nil},
		{"empty optional values take their defaults",
			"source,cluster,external_id,resource,start,end,quantity,allocated,used,nodes,note\n" +
				"slurm,c1,42,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,3600,,,,\n", nil},
		{"spaces around numbers, times and names of things",
			header + "slurm , c1,42, cpu , 2026-03-01T09:00:00Z ,2026-03-01T10:00:00Z, 3600 \n",
			func(r *ledger.Record) { r.Cluster = " c1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustRead(t, tt.input, csvimport.Options{})
			if len(res.rejects) > 0 || len(res.records) != 1 {
				t.Fatalf("got %d records and rejects %+v, want one record", len(res.records), res.rejects)
			}
			w := want
			if tt.want != nil {
				tt.want(&w)
			}
			got := res.records[0]
			if got.Raw == "" || strings.HasSuffix(got.Raw, "\n") {
				t.Errorf("Raw = %q, want the line without its line break", got.Raw)
			}
			got.Raw = ""
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", w) || !got.Start.Equal(w.Start) || !got.End.Equal(w.End) {
				t.Errorf("record\n got %+v\nwant %+v", got, w)
			}
		})
	}
}

func TestHeaderErrors(t *testing.T) {
	type test struct {
		name, input string
		want        []string // substrings of the error
	}
	required := strings.Split(strings.TrimSpace(header), ",")
	var tests []test
	for i, col := range required {
		cols := append(append([]string{}, required[:i]...), required[i+1:]...)
		tests = append(tests, test{"without " + col, strings.Join(cols, ",") + ",account\n" + good,
			[]string{fmt.Sprintf("required column %q is missing", col)}})
	}
	tests = append(tests, []test{
		{"without two", "source,cluster,external_id,resource,start\n", []string{`required columns "end", "quantity" are missing`}},
		{"a data line for a header", good + good, []string{`required columns "source", "cluster"`}},
		{"a column twice", "source,cluster,external_id,resource,start,end,quantity,Cluster\n" + good, []string{`columns 2 and 8 are both named "cluster"`}},
		{"an attribute twice", "source,cluster,external_id,resource,start,end,quantity,x,x\n", []string{`columns 8 and 9 are both named "x"`}},
		{"a column without a name", "source,cluster,external_id,resource,start,end,quantity,\n" + good, []string{"column 8 has no name"}},
		{"a name that is not UTF-8", "source,cluster,external_id,resource,start,end,quantity,\xff\n", []string{"column 8", "not valid UTF-8"}},
		{"empty input", "", []string{"empty", "header row"}},
		{"only blank lines", "\n\r\n\n", []string{"empty", "header row"}},
		{"a broken header", "source,\"cluster\"x,external_id\n" + good, []string{"read csv header", "line 1"}},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emitted := false
			st, err := csvimport.Read(context.Background(), strings.NewReader(tt.input), csvimport.Options{},
				func(ledger.Batch) error { emitted = true; return nil })
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if emitted || st != (csvimport.Stats{}) {
				t.Errorf("read data despite the header error: emitted %v, stats %+v", emitted, st)
			}
		})
	}
}

func TestMalformedLinesAreRejected(t *testing.T) {
	const full = "source,cluster,external_id,resource,start,end,quantity,allocated,used,nodes,user,job_name,note\n"
	const fullGood = "slurm,c1,42,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,3600,3600,1800,1,ada,train,hi\n"
	const start, end = "2026-03-01T09:00:00Z", "2026-03-01T10:00:00Z"
	line := func(source, cluster, id, resource, start, end, qty, alloc, used, nodes, user, job, note string) string {
		return strings.Join([]string{source, cluster, id, resource, start, end, qty, alloc, used, nodes, user, job, note}, ",")
	}
	tests := []struct {
		name        string
		bad         string   // the malformed line, without its line break
		last        bool     // the line must be the file's last (it would swallow what follows)
		want        []string // substrings of the reason
		wantSource  string
		wantCluster string
	}{
		{"too few fields", "slurm,c1,43,cpu", false, []string{"line 3: 4 fields, but the header has 13 columns"}, "slurm", "file.csv"},
		{"too many fields", fullGood[:len(fullGood)-1] + ",extra", false, []string{"line 3: 14 fields, but the header has 13"}, "slurm", "file.csv"},
		{"a bare quote", `slurm,c1,43,cpu,` + start + `,` + end + `,3600,,,,ada,say "hi",`, false,
			[]string{`line 3, column "job_name": a " inside a field that is not quoted`}, "slurm", "c1"},
		{"text after a closing quote", `slurm,c1,43,cpu,` + start + `,` + end + `,3600,,,,"ada"x,,`, false,
			[]string{`line 3, column "user": a quoted field is not closed, or its closing " is followed by more text`}, "slurm", "c1"},
		{"an unclosed quote", `slurm,c1,43,cpu,` + start + `,` + end + `,3600,,,,ada,"train,x` + "\nmore", true,
			[]string{`line 3, column "job_name": a quoted field is not closed by line 4`}, "slurm", "c1"},
		{"a quantity that is not a number", line("slurm", "c1", "43", "cpu", start, end, "12x", "", "", "", "", "", ""), false,
			[]string{`line 3, column "quantity": "12x" is not a whole number of base units`}, "slurm", "c1"},
		{"a fractional quantity", line("slurm", "c1", "43", "cpu", start, end, "1.5", "", "", "", "", "", ""), false,
			[]string{`column "quantity": "1.5" is not a whole number`}, "slurm", "c1"},
		{"a quantity past int64", line("slurm", "c1", "43", "cpu", start, end, "9223372036854775808", "", "", "", "", "", ""), false,
			[]string{`column "quantity": "9223372036854775808" is too large (at most 9223372036854775807)`}, "slurm", "c1"},
		{"a negative quantity", line("k8s", "c1", "43", "cpu", start, end, "-1", "", "", "", "", "", ""), false,
			[]string{`column "quantity": "-1" is negative`}, "k8s", "c1"},
		{"an empty quantity", line("slurm", "c1", "43", "cpu", start, end, "", "", "", "", "", "", ""), false,
			[]string{`column "quantity": is empty`}, "slurm", "c1"},
		{"a bad allocation", line("slurm", "c1", "43", "cpu", start, end, "1", "lots", "", "", "", "", ""), false,
			[]string{`column "allocated": "lots" is not a whole number`}, "slurm", "c1"},
		{"a negative use", line("slurm", "c1", "43", "cpu", start, end, "1", "", "-5", "", "", "", ""), false,
			[]string{`column "used": "-5" is negative`}, "slurm", "c1"},
		{"a node count past int32", line("slurm", "c1", "43", "cpu", start, end, "1", "", "", "2147483648", "", "", ""), false,
			[]string{`column "nodes": "2147483648" is too large (at most 2147483647)`}, "slurm", "c1"},
		{"a bad start", line("slurm", "c1", "43", "cpu", "yesterday", end, "1", "", "", "", "", "", ""), false,
			[]string{`column "start": "yesterday" is not a time`}, "slurm", "c1"},
		{"a bad end", line("slurm", "c1", "43", "cpu", start, "2026-02-30T10:00:00Z", "1", "", "", "", "", "", ""), false,
			[]string{`column "end": "2026-02-30T10:00:00Z" is not a time`}, "slurm", "c1"},
		{"an empty start", line("slurm", "c1", "43", "cpu", "", end, "1", "", "", "", "", "", ""), false,
			[]string{`column "start": is empty`}, "slurm", "c1"},
		{"an end before the start", line("slurm", "c1", "43", "cpu", end, start, "1", "", "", "", "", "", ""), false,
			[]string{`column "end": 2026-03-01T09:00:00Z is before the start, 2026-03-01T10:00:00Z`}, "slurm", "c1"},
		{"a time before 1970", line("slurm", "c1", "43", "cpu", "1969-12-31T00:00:00Z", end, "1", "", "", "", "", "", ""), false,
			[]string{`column "start": "1969-12-31T00:00:00Z" is out of range`}, "slurm", "c1"},
		{"an unknown source", line("lsf", "c1", "43", "cpu", start, end, "1", "", "", "", "", "", ""), false,
			[]string{`column "source": "lsf" is not one of slurm, cgroup, k8s, storage, api`}, "csv", "c1"},
		{"an unknown resource", line("slurm", "c1", "43", "disk", start, end, "1", "", "", "", "", "", ""), false,
			[]string{`column "resource": "disk" is not one of cpu, gpu, memory, storage, billing`}, "slurm", "c1"},
		{"an empty cluster", line("slurm", "", "43", "cpu", start, end, "1", "", "", "", "", "", ""), false,
			[]string{`column "cluster": is empty`}, "slurm", "file.csv"},
		{"an empty external id", line("slurm", "c1", "", "cpu", start, end, "1", "", "", "", "", "", ""), false,
			[]string{`column "external_id": is empty`}, "slurm", "c1"},
		{"a job name that is not UTF-8", line("slurm", "c1", "43", "cpu", start, end, "1", "", "", "", "", "tr\xffin", ""), false,
			[]string{`column "job_name": "tr\xffin" is not valid UTF-8 text`}, "slurm", "c1"},
		{"a user with a NUL", line("slurm", "c1", "43", "cpu", start, end, "1", "", "", "", "a\x00b", "", ""), false,
			[]string{`column "user": "a\x00b" contains a NUL byte`}, "slurm", "c1"},
		{"an attribute that is not UTF-8", line("slurm", "c1", "43", "cpu", start, end, "1", "", "", "", "", "", "\xc3("), false,
			[]string{`column "note": "\xc3(" is not valid UTF-8 text`}, "slurm", "c1"},
		{"several problems at once", line("slurm", "c1", "43", "cpu", "soon", end, "x", "", "", "", "", "", ""), false,
			[]string{`line 3, column "start": "soon" is not a time`, `; column "quantity": "x" is not a whole number`}, "slurm", "c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := full + fullGood + tt.bad + "\n"
			wantRecords := int64(1)
			if !tt.last {
				input += strings.Replace(fullGood, ",42,", ",44,", 1)
				wantRecords = 2
			}
			res := mustRead(t, input, csvimport.Options{Cluster: "file.csv", RunID: 7})
			want := csvimport.Stats{Lines: wantRecords + 1, Records: wantRecords, Rejected: 1}
			if res.stats != want {
				t.Errorf("stats %+v, want %+v", res.stats, want)
			}
			if len(res.rejects) != 1 {
				t.Fatalf("rejects %+v, want one", res.rejects)
			}
			rej := res.rejects[0]
			for _, w := range tt.want {
				if !strings.Contains(rej.Reason, w) {
					t.Errorf("reason %q does not say %q", rej.Reason, w)
				}
			}
			if rej.Raw != tt.bad {
				t.Errorf("raw %q, want the line as it was, %q", rej.Raw, tt.bad)
			}
			if rej.Source != tt.wantSource || rej.Cluster != tt.wantCluster {
				t.Errorf("reject filed under %s/%s, want %s/%s", rej.Source, rej.Cluster, tt.wantSource, tt.wantCluster)
			}
			for _, b := range res.batches {
				if b.RunID != 7 {
					t.Errorf("batch run id %d, want 7", b.RunID)
				}
			}
		})
	}
}

func TestQuotedFields(t *testing.T) {
	const job = "say \"hi\", then\nleave,\r\nok"
	input := "source,cluster,external_id,resource,start,end,quantity,job_name\r\n" +
		"slurm,c1,42,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,3600,\"say \"\"hi\"\", then\nleave,\r\nok\"\r\n" +
		"slurm,c1,43,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,3600,\",\"\r\n" +
		"slurm,c1,44,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,oops,plain\r\n"
	res := mustRead(t, input, csvimport.Options{})
	if len(res.records) != 2 || len(res.rejects) != 1 {
		t.Fatalf("records %+v, rejects %+v", res.records, res.rejects)
	}
	// encoding/csv turns a \r\n inside a quoted field into \n.
	if got, want := res.records[0].JobName, strings.ReplaceAll(job, "\r\n", "\n"); got != want {
		t.Errorf("job name %q, want %q", got, want)
	}
	if got, want := res.records[0].Raw, "slurm,c1,42,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,3600,\"say \"\"hi\"\", then\nleave,\r\nok\""; got != want {
		t.Errorf("raw %q, want %q", got, want)
	}
	if got := res.records[1].JobName; got != "," {
		t.Errorf("job name %q, want a comma", got)
	}
	// The multi-line field does not throw the line numbers off.
	if r := res.rejects[0].Reason; !strings.HasPrefix(r, `line 6, column "quantity"`) {
		t.Errorf("reason %q, want it on line 6", r)
	}
}

func TestBlankLinesAndLineBreaks(t *testing.T) {
	input := "\n" + header + "\n\r\n   \n\t\r\n" +
		strings.ReplaceAll(good, "\n", "\r\n") + "\n \n" +
		strings.Replace(good, ",42,", ",43,", 1) + "\n" +
		strings.TrimSuffix(strings.Replace(good, ",42,", ",44,", 1), "\n") + "\r"
	res := mustRead(t, input, csvimport.Options{})
	if res.stats != (csvimport.Stats{Lines: 3, Records: 3}) {
		t.Errorf("stats %+v, want three lines, all records", res.stats)
	}
	for i, r := range res.records {
		want := strings.Replace(strings.TrimSuffix(good, "\n"), ",42,", fmt.Sprintf(",%d,", 42+i), 1)
		if r.Raw != want {
			t.Errorf("raw %q, want %q", r.Raw, want)
		}
	}
}

func TestZonelessTimesUseLocation(t *testing.T) {
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		start string
		loc   *time.Location
		want  time.Time
	}{
		{"2026-03-01 09:30:00", zurich, time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)},
		{"2026-03-01T09:30:00", zurich, time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)},
		{"2026-07-01 09:30:00", zurich, time.Date(2026, 7, 1, 7, 30, 0, 0, time.UTC)}, // summer time
		{"2026-03-01 09:30:00.25", zurich, time.Date(2026, 3, 1, 8, 30, 0, 250e6, time.UTC)},
		{"2026-03-01 09:30:00", nil, time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)}, // nil is UTC
		{"2026-03-01T09:30:00Z", zurich, time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)},
		{"2026-03-01T09:30:00+05:00", zurich, time.Date(2026, 3, 1, 4, 30, 0, 0, time.UTC)},
		{"2026-03-01 09:30:00-03:00", zurich, time.Date(2026, 3, 1, 12, 30, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s in %v", tt.start, tt.loc), func(t *testing.T) {
			input := header + "slurm,c1,42,cpu," + tt.start + ",2026-12-01T00:00:00Z,1\n"
			res := mustRead(t, input, csvimport.Options{Location: tt.loc})
			if len(res.records) != 1 {
				t.Fatalf("rejects %+v", res.rejects)
			}
			if got := res.records[0].Start; !got.Equal(tt.want) {
				t.Errorf("start %s, want %s", got, tt.want)
			}
		})
	}
}

func TestBatches(t *testing.T) {
	var b strings.Builder
	b.WriteString(header)
	for i := range 10 {
		qty := "1"
		if i%3 == 0 {
			qty = "bad"
		}
		fmt.Fprintf(&b, "slurm,c1,%d,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,%s\n", i, qty)
	}
	tests := []struct {
		size int
		want []int // lines per batch
	}{
		{4, []int{4, 4, 2}},
		{5, []int{5, 5}},
		{1, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
		{0, []int{10}},
		{100, []int{10}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			res := mustRead(t, b.String(), csvimport.Options{BatchSize: tt.size, RunID: 3})
			var got []int
			for _, bt := range res.batches {
				got = append(got, len(bt.Records)+len(bt.Rejects))
				if bt.RunID != 3 {
					t.Errorf("run id %d", bt.RunID)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("batch sizes %v, want %v", got, tt.want)
			}
			if res.stats != (csvimport.Stats{Lines: 10, Records: 6, Rejected: 4}) {
				t.Errorf("stats %+v", res.stats)
			}
			// In file order.
			for i, r := range res.records {
				if want := fmt.Sprint([]int{1, 2, 4, 5, 7, 8}[i]); r.ExternalID != want {
					t.Errorf("record %d is %s, want %s", i, r.ExternalID, want)
				}
			}
		})
	}
}

// endless is a CSV file that never ends.
type endless struct {
	n   int
	buf []byte
}

func (e *endless) Read(p []byte) (int, error) {
	if len(e.buf) == 0 {
		if e.n == 0 {
			e.buf = []byte(header)
		} else {
			e.buf = fmt.Appendf(nil, "slurm,c1,%d,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,1\n", e.n)
		}
		e.n++
	}
	n := copy(p, e.buf)
	e.buf = e.buf[n:]
	return n, nil
}

// failing is input that breaks after some good lines.
type failing struct{ r io.Reader }

var errDisk = errors.New("disk on fire")

func (f failing) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, errDisk
	}
	return n, err
}

func TestReadStops(t *testing.T) {
	t.Run("streams, and stops on an emit error", func(t *testing.T) {
		errStop := errors.New("stop")
		batches := 0
		st, err := csvimport.Read(context.Background(), &endless{}, csvimport.Options{BatchSize: 1000}, func(b ledger.Batch) error {
			if batches++; batches == 3 {
				return errStop
			}
			return nil
		})
		if !errors.Is(err, errStop) || st.Records != 3000 {
			t.Errorf("err %v, stats %+v; want the emit error after 3000 records", err, st)
		}
	})
	t.Run("context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		st, err := csvimport.Read(ctx, &endless{}, csvimport.Options{BatchSize: 100}, func(b ledger.Batch) error {
			cancel()
			return nil
		})
		if !errors.Is(err, context.Canceled) || st.Records > 1000 {
			t.Errorf("err %v, stats %+v; want cancelled soon", err, st)
		}
	})
	t.Run("a failing reader keeps what it read well", func(t *testing.T) {
		r := failing{strings.NewReader(header + good + strings.Replace(good, ",42,", ",43,", 1) + "slurm,c1,44")}
		var got []ledger.Record
		_, err := csvimport.Read(context.Background(), r, csvimport.Options{}, func(b ledger.Batch) error {
			got = append(got, b.Records...)
			return nil
		})
		if !errors.Is(err, errDisk) || !strings.Contains(err.Error(), "after line 3") || len(got) != 2 {
			t.Errorf("err %v, %d records; want the reader's error after line 3, and two records", err, len(got))
		}
	})
	t.Run("an unclosed quote in a long file", func(t *testing.T) {
		input := header + good + `slurm,c1,"43` + strings.Repeat("slurm,c1,42,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,3600\n", 20000)
		res := read(t, input, csvimport.Options{})
		if res.err == nil || !strings.Contains(res.err.Error(), "longer than") {
			t.Errorf("err %v, want a line too long", res.err)
		}
		if len(res.records) != 1 {
			t.Errorf("%d records, want the one before the quote", len(res.records))
		}
	})
}

// newLedger is a ledger on a fresh database of this test's own.
func newLedger(t *testing.T) *ledger.Ledger {
	t.Helper()
	t.Parallel()
	l, err := ledger.Open(context.Background(), pgtest.NewPool(t), ledger.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// totals are the ledger's sums over 2026 by cluster and resource, as
// "cluster/resource" → "quantity/allocated/used".
func totals(t *testing.T, l *ledger.Ledger) map[string]string {
	t.Helper()
	rows, err := l.Report(context.Background(), ledger.ReportQuery{
		From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		By: []string{ledger.ByCluster},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r.Keys[0]+"/"+r.Resource] = fmt.Sprintf("%s/%s/%s", r.Quantity, r.Allocated, r.Used)
	}
	return out
}

func quarantined(t *testing.T, l *ledger.Ledger) []ledger.QuarantinedInput {
	t.Helper()
	q, err := l.Quarantined(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestImport(t *testing.T) {
	const cols = "source,cluster,external_id,resource,start,end,quantity,allocated,used,account,user,job_name\n"
	tests := []struct {
		name       string
		input      string
		want       ledger.Counts
		wantTotals map[string]string
		wantQuar   []string // the quarantined lines' reasons contain these
	}{
		{
			name: "good and malformed lines",
			input: cols +
				"slurm,c1,1,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,3600,7200,1800,lab-a,ada,x\n" +
				"slurm,c1,1,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,oops,,,lab-a,ada,x\n" +
				"slurm,c1,2,gpu,2026-03-01 09:00:00,2026-03-02 09:00:00,86400,,,lab-a,ada,y\n" +
				"slurm,c1,3,gpu\n" +
				"k8s,hub,pod-1,memory,2026-03-31T23:00:00Z,2026-04-01T01:00:00Z,1000,,,ns,bob,\n" +
				"k8s,hub,pod-2,memory,2026-04-01T01:00:00Z,2026-04-01T00:00:00Z,1000,,,ns,bob,\n" +
				"lsf,c9,5,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,1,,,a,u,\"bare \"quote\"\n",
			want: ledger.Counts{Read: 7, Ingested: 3, Quarantined: 4},
			wantTotals: map[string]string{
				"c1/cpu": "3600/7200/1800", "c1/gpu": "86400/86400/0", "hub/memory": "1000/1000/0",
			},
			wantQuar: []string{
				`line 3, column "quantity": "oops"`,
				"line 5: 4 fields, but the header has 12 columns",
				`line 7, column "end": 2026-04-01T00:00:00Z is before the start`,
				`line 8, column "job_name": a quoted field is not closed`,
			},
		},
		{
			name: "text that is not UTF-8 ends in quarantine",
			input: cols +
				"slurm,c1,1,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,60,,,lab-a,ada,caf\xe9\n" +
				"slurm,c\xff,2,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,60,,,lab-a,ada,\n" +
				"slurm,c1,3,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,60,,,lab-a,ada,caf\u00e9\n",
			want:       ledger.Counts{Read: 3, Ingested: 1, Quarantined: 2},
			wantTotals: map[string]string{"c1/cpu": "60/60/0"},
			wantQuar: []string{
				`line 2, column "job_name": "caf\xe9" is not valid UTF-8 text`,
				`line 3, column "cluster": "c\xff" is not valid UTF-8 text`,
			},
		},
		{
			name: "quoted job names",
			input: cols +
				"slurm,c1,1,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,60,,,lab-a,ada,\"a, \"\"b\"\"\nc\"\n" +
				"slurm,c1,2,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,60,,,lab-a,ada,\"\"\n",
			want:       ledger.Counts{Read: 2, Ingested: 2},
			wantTotals: map[string]string{"c1/cpu": "120/120/0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLedger(t)
			ctx := context.Background()
			c, err := csvimport.Import(ctx, l, strings.NewReader(tt.input), "usage.csv", csvimport.Options{})
			if err != nil {
				t.Fatal(err)
			}
			c.Unmapped = 0 // no group claims any account here; not what is tested
			if c != tt.want {
				t.Errorf("counts %v, want %v", c, tt.want)
			}
			if got := totals(t, l); fmt.Sprint(got) != fmt.Sprint(tt.wantTotals) {
				t.Errorf("totals %v, want %v", got, tt.wantTotals)
			}
			q := quarantined(t, l)
			if len(q) != len(tt.wantQuar) {
				t.Fatalf("quarantined %+v, want %d", q, len(tt.wantQuar))
			}
			for _, w := range tt.wantQuar {
				found := false
				for _, r := range q {
					found = found || strings.Contains(r.Reason, ledger.SafeText(w))
				}
				if !found {
					t.Errorf("no quarantined reason says %q", w)
				}
			}
			for _, r := range q {
				// The raw text is the line as it was in the file.
				if r.Raw == "" || !strings.Contains(ledger.SafeText(tt.input), r.Raw+"\n") {
					t.Errorf("quarantined raw %q is not a line of the file", r.Raw)
				}
			}

			// The same file again changes nothing.
			before := totals(t, l)
			again, err := csvimport.Import(ctx, l, strings.NewReader(tt.input), "usage.csv", csvimport.Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := ledger.Counts{Read: tt.want.Read, Unchanged: tt.want.Ingested, Quarantined: tt.want.Quarantined}
			if again != want {
				t.Errorf("re-import counts %v, want %v", again, want)
			}
			if after := totals(t, l); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("re-import changed the totals from %v to %v", before, after)
			}
			q2 := quarantined(t, l)
			if len(q2) != len(q) {
				t.Errorf("re-import quarantined %d rows, want the same %d", len(q2), len(q))
			}
			for _, r := range q2 {
				if r.SeenCount != 2 {
					t.Errorf("quarantined %q seen %d times, want 2", r.Raw, r.SeenCount)
				}
			}

			runs, err := l.Runs(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != 2 {
				t.Fatalf("runs %+v, want two", runs)
			}
			for _, r := range runs {
				if r.Source != "csv" || r.Cluster != "usage.csv" || r.Error != "" || r.FinishedAt == nil || r.Counts.Read != tt.want.Read {
					t.Errorf("run %+v", r)
				}
			}
		})
	}
}

func TestImportKeepsQuotedTextExactly(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	input := "job_name,source,cluster,external_id,resource,start,end,quantity,comment\n" +
		"\"a, \"\"b\"\"\nc\",slurm,c1,1,cpu,2026-03-01T09:00:00Z,2026-03-01T10:00:00Z,60,\"x,y\"\n"
	if _, err := csvimport.Import(ctx, l, strings.NewReader(input), "f.csv", csvimport.Options{}); err != nil {
		t.Fatal(err)
	}
	var job, attrs string
	if err := l.Pool().QueryRow(ctx, `SELECT job_name, attrs::text FROM usage WHERE external_id = '1'`).Scan(&job, &attrs); err != nil {
		t.Fatal(err)
	}
	if job != "a, \"b\"\nc" || attrs != `{"comment": "x,y"}` {
		t.Errorf("job name %q, attributes %s", job, attrs)
	}
}

// An import cancelled mid-file still finishes its run, failed, with the counts
// of the batches it stored.
func TestImportCancelled(t *testing.T) {
	l := newLedger(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := &cancelling{r: &endless{}, after: 64 << 10, cancel: cancel}
	c, err := csvimport.Import(ctx, l, in, "endless.csv", csvimport.Options{BatchSize: 100})
	if !errors.Is(err, context.Canceled) || c.Read == 0 {
		t.Fatalf("cancelled import: %v, counts %+v", err, c)
	}
	runs, err := l.Runs(context.Background(), 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].State != ledger.RunFailed || runs[0].FinishedAt == nil || runs[0].Counts != c {
		t.Errorf("runs after a cancelled import: %+v (counts returned %+v)", runs, c)
	}
}

// cancelling cancels its context once after bytes have been read from r.
type cancelling struct {
	r      io.Reader
	after  int
	cancel context.CancelFunc
}

func (c *cancelling) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.after -= n; c.after <= 0 {
		c.cancel()
	}
	return n, err
}

func TestImportRevisesAndFails(t *testing.T) {
	l := newLedger(t)
	ctx := context.Background()
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name       string
		input      string
		opts       csvimport.Options
		want       ledger.Counts
		wantErr    string
		wantTotals map[string]string
	}{
		{"first", header +
			"slurm,c1,1,cpu,2026-03-01 09:00:00,2026-03-01 10:00:00,100\n" +
			"slurm,c1,2,cpu,2026-03-01 09:00:00,2026-03-01 10:00:00,10\n",
			csvimport.Options{Location: zurich}, ledger.Counts{Read: 2, Ingested: 2}, "",
			map[string]string{"c1/cpu": "110/110/0"}},
		{"a running job ran on", header +
			"slurm,c1,1,cpu,2026-03-01T08:00:00Z,2026-03-01T10:00:00Z,200\n" +
			"slurm,c1,2,cpu,2026-03-01 09:00:00,2026-03-01 10:00:00,10\n",
			csvimport.Options{Location: zurich}, ledger.Counts{Read: 2, Revised: 1, Unchanged: 1}, "",
			map[string]string{"c1/cpu": "210/210/0"}},
		{"zone-less times in another zone are other records", header +
			"slurm,c1,2,cpu,2026-03-01 09:00:00,2026-03-01 10:00:00,10\n",
			csvimport.Options{}, ledger.Counts{Read: 1, Ingested: 1}, "",
			map[string]string{"c1/cpu": "220/220/0"}},
		{"a broken header", "source,cluster\n", csvimport.Options{}, ledger.Counts{},
			`csv header: required columns "external_id", "resource"`,
			map[string]string{"c1/cpu": "220/220/0"}},
	}
	for _, s := range steps {
		name := "usage.csv"
		if s.wantErr != "" {
			name = "broken.csv"
		}
		c, err := csvimport.Import(ctx, l, strings.NewReader(s.input), name, s.opts)
		if s.wantErr == "" && err != nil || s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)) {
			t.Fatalf("%s: error %v, want %q", s.name, err, s.wantErr)
		}
		c.Unmapped = 0
		if c != s.want {
			t.Errorf("%s: counts %v, want %v", s.name, c, s.want)
		}
		if got := totals(t, l); fmt.Sprint(got) != fmt.Sprint(s.wantTotals) {
			t.Errorf("%s: totals %v, want %v", s.name, got, s.wantTotals)
		}
	}
	runs, err := l.Runs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Cluster != "broken.csv" || !strings.Contains(runs[0].Error, "csv header") || runs[0].FinishedAt == nil {
		t.Errorf("the failed run is recorded as %+v", runs)
	}
}

// TestDocExample imports the example of docs/csv-import.md, so that it stays right.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/csv-import.md")
	if err != nil {
		t.Fatal(err)
	}
	_, example, ok := strings.Cut(string(doc), "```csv\n")
	example, _, ok2 := strings.Cut(example, "```")
	if !ok || !ok2 {
		t.Fatal("docs/csv-import.md has no ```csv example")
	}
	l := newLedger(t)
	c, err := csvimport.Import(context.Background(), l, strings.NewReader(example), "usage-2026-03.csv", csvimport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.String(), "read 4, ingested 4, revised 0, unchanged 0, quarantined 0, unmapped 4"; got != want {
		t.Errorf("counts %q, want %q as the doc says", got, want)
	}
}
