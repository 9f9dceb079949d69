package slurm

import (
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchDump makes n lines of sacct output like Parsimony's own live runs produce:
// an allocation and two steps per job, epoch times, the unit-separator delimiter.
func benchDump(n int) string {
	var b strings.Builder
	for i := 0; i < n; i += 3 {
		id := 2_000_000 + i
		start := 1790000000 + i
		alloc := []string{fmt.Sprint(id), fmt.Sprint(id), "job.sh", "user42", "lab-7", "cpu", "normal", "COMPLETED", "0:0",
			fmt.Sprint(start - 60), fmt.Sprint(start), fmt.Sprint(start + 3600), "3600", "01:00:00", "1", "8", "16G", "",
			"05:00:00", "billing=8,cpu=8,mem=16G,node=1", "", "node17", "", ""}
		b.WriteString(strings.Join(alloc, Delimiter) + "\n")
		for _, step := range []string{".batch", ".0"} {
			s := append([]string(nil), alloc...)
			s[0], s[1], s[3], s[5], s[6] = fmt.Sprint(id)+step, fmt.Sprint(id)+step, "", "", ""
			s[17], s[18], s[20] = "2147483648", "02:30:00", "cpu=02:30:00,mem=2G"
			b.WriteString(strings.Join(s, Delimiter) + "\n")
		}
	}
	return b.String()
}

// BenchmarkParse measures reading and converting sacct lines on one core (lines/s
// is reported as a metric, and lines per CPU-second: on a shared machine the wall
// clock counts other processes' time too).
func BenchmarkParse(b *testing.B) {
	const lines = 300_000
	dump := benchDump(lines)
	b.SetBytes(int64(len(dump)))
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		rd := NewHeaderlessReader(strings.NewReader(dump), Delimiter)
		conv := NewConverter(Options{Cluster: "c", Now: time.Unix(1800000000, 0)})
		var out Output
		for {
			row, bad, err := rd.Next()
			if err == io.EOF {
				break
			}
			if bad != nil {
				b.Fatal(bad.Reason)
			}
			conv.Add(row, &out)
			if len(out.Records) > 20_000 {
				out.Records = out.Records[:0]
			}
		}
		conv.Finish(&out)
	}
	b.ReportMetric(float64(lines)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(lines)*float64(b.N)/(cpuTime()-cpu0).Seconds(), "lines/cpu-s")
}

// cpuTime is the CPU time the process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
