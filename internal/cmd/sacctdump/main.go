// Command sacctdump writes a synthetic sacct --parsable2 dump (with its header) of
// a busy cluster, for measuring `parsimony collect slurm --from-file`: each job is
// an allocation line and its .batch and .0 steps, in time order.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
)

func main() {
	lines := flag.Int("lines", 10_000_000, "lines to write (three per job)")
	flag.Parse()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer w.Flush()
	fmt.Fprintln(w, "JobID|JobIDRaw|JobName|User|Account|Partition|QOS|State|ExitCode|Submit|Start|End|ElapsedRaw|Timelimit|NNodes|AllocCPUS|ReqMem|MaxRSS|TotalCPU|AllocTRES|TRESUsageInTot|NodeList|Reservation")
	rng := rand.New(rand.NewPCG(1, 2))
	t := int64(1_767_225_600) // 2026-01-01T00:00:00Z
	for i := 0; i < *lines; i += 3 {
		id := 1_000_000 + i/3
		t += int64(rng.IntN(4))
		elapsed := int64(rng.ExpFloat64() * 3600)
		cpus := 1 << rng.IntN(6)
		mem := cpus * 4
		user := fmt.Sprintf("user%03d", rng.IntN(400))
		acct := fmt.Sprintf("lab-%02d", rng.IntN(40))
		alloc := []string{fmt.Sprint(id), fmt.Sprint(id), "job.sh", user, acct, "cpu", "normal", "COMPLETED", "0:0",
			fmt.Sprint(t - 60), fmt.Sprint(t), fmt.Sprint(t + elapsed), fmt.Sprint(elapsed), "04:00:00", "1",
			fmt.Sprint(cpus), fmt.Sprintf("%dG", mem), "", "", fmt.Sprintf("billing=%d,cpu=%d,mem=%dG,node=1", cpus, cpus, mem), "", "n001", ""}
		fmt.Fprintln(w, strings.Join(alloc, "|"))
		for _, step := range []string{".batch", ".0"} {
			s := append([]string(nil), alloc...)
			s[0], s[1], s[3], s[5], s[6] = fmt.Sprint(id)+step, fmt.Sprint(id)+step, "", "", ""
			used := elapsed * int64(cpus) / 3
			s[17], s[18], s[20] = fmt.Sprint(int64(mem)<<29), fmt.Sprintf("%02d:%02d:%02d", used/3600, used/60%60, used%60), ""
			fmt.Fprintln(w, strings.Join(s, "|"))
		}
	}
}
