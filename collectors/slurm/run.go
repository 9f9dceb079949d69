package slurm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Run describes one collection from one cluster.
type Run struct {
	Cluster  string         // Parsimony's cluster name
	Sacct    Sacct          // how to run sacct (live runs)
	Location *time.Location // zone of local times in dumps (live runs use epoch times)
	// Overlap is how far before the last watermark a live run starts reading, to
	// catch jobs whose state changed late. Default 6h.
	Overlap time.Duration
	// Since and Until override the live window; zero means: from the watermark less
	// the overlap (or, on the first run, the start of the current month) until now.
	Since, Until time.Time
	Now          func() time.Time
	Progress     func(Stats)
	// Sacctmgr is the command line that runs sacctmgr, for reservations and
	// association ids (default "sacctmgr").
	Sacctmgr []string
	// Reservations and Assocs are, for a file run, saved `sacctmgr -P show
	// reservation …` and `sacctmgr -P show associations format=ID,Account,User`
	// output (see ReservationArgs and AssocIDArgs); nil for none.
	Reservations, Assocs io.Reader
	// Format says how a dump was written (delimiter, field list of a headerless
	// dump, the account of a dump without one); zero detects what it can.
	Format Format
}

// Result says what a run did.
type Result struct {
	RunID    int64
	From, To time.Time
	Counts   ledger.Counts
	Stats    Stats
}

// Summary is the run's one line: read, ingested, revised, quarantined, unmapped;
// then, each on its own line, what the reader should know about how it was billed.
func (r Result) Summary(cluster string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "slurm %s: read %d lines (%d jobs, %d steps, %d without usage), ingested %d, revised %d, unchanged %d, quarantined %d, unmapped %d",
		cluster, r.Stats.Lines, r.Stats.Jobs, r.Stats.Steps, r.Stats.NoUsage,
		r.Counts.Ingested, r.Counts.Revised, r.Counts.Unchanged, r.Counts.Quarantined, r.Counts.Unmapped)
	for _, note := range r.Stats.Notes() {
		b.WriteString("\n" + note)
	}
	return b.String()
}

// Notes say what a conversion had to decide: what running jobs were charged up to,
// and warnings about what it billed from less than the allocation.
func (s Stats) Notes() []string {
	var notes []string
	if s.Running > 0 {
		from := "given"
		if s.AsOfFromDump {
			from = "the latest time in the dump; --as-of sets another"
		}
		notes = append(notes, fmt.Sprintf("  %d running job(s) charged up to %s (%s)", s.Running, s.AsOf.UTC().Format(time.RFC3339), from))
	}
	if s.PastLimit > 0 {
		notes = append(notes, fmt.Sprintf("  warning: %d running job(s) charged past their time limit (first: %s): is the as-of time right?", s.PastLimit, s.PastLimitJob))
	}
	if s.ReqFallback > 0 {
		notes = append(notes, fmt.Sprintf("  warning: %d job(s) without AllocTRES: memory, GPUs and billing taken from ReqTRES/ReqMem (what was requested)", s.ReqFallback))
	}
	if s.GPUMeasured > 0 {
		notes = append(notes, fmt.Sprintf("  %d GPU job(s) with measured use (gres/gpuutil)", s.GPUMeasured))
	}
	return notes
}

func (run *Run) now() time.Time {
	if run.Now != nil {
		return run.Now()
	}
	return time.Now()
}

// Window is the live window: [watermark − overlap, now], unless overridden.
func (run *Run) Window(ctx context.Context, l *ledger.Ledger) (from, to time.Time, err error) {
	to = run.Until
	if to.IsZero() {
		to = run.now()
	}
	from = run.Since
	if from.IsZero() {
		mark, ok, err := l.Watermark(ctx, ledger.SourceSlurm, run.Cluster)
		if err != nil {
			return time.Time{}, time.Time{}, err
		}
		overlap := run.Overlap
		if overlap <= 0 {
			overlap = 6 * time.Hour
		}
		if ok {
			from = mark.Add(-overlap)
		} else {
			local := to.In(l.Location())
			from = time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, l.Location())
		}
	}
	if !to.After(from) {
		return time.Time{}, time.Time{}, fmt.Errorf("empty window %s – %s", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	return from, to, nil
}

// CollectLive runs sacct over the window and ingests what it prints, as one
// ledger.Collect run. Only a run that succeeds moves the watermark (to the
// window's end), so a failed or killed run is simply read again next time
// (ingest is idempotent).
func CollectLive(ctx context.Context, l *ledger.Ledger, run Run) (Result, error) {
	from, to, err := run.Window(ctx, l)
	if err != nil {
		return Result{}, err
	}
	res := Result{From: from, To: to}
	res.Counts, err = l.Collect(ctx, ledger.SourceSlurm, run.Cluster, from, to, func(ctx context.Context, sink *ledger.Sink) (time.Time, error) {
		res.RunID = sink.RunID()
		var reserved []ReservedJob
		err := run.Sacct.Run(ctx, from, to, func(out io.Reader) error {
			var err error
			_, res.Stats, err = Ingest(ctx, sink, NewHeaderlessReader(out, Delimiter),
				Options{Cluster: run.Cluster, Location: time.UTC, Now: to, Reserved: &reserved}, run.Progress)
			return err
		})
		if err != nil {
			return time.Time{}, err
		}
		resvOut, err := run.sacctmgr(ctx, ReservationArgs(run.Sacct.Cluster, from, to))
		if err != nil {
			return time.Time{}, err
		}
		assocOut, err := run.sacctmgr(ctx, AssocIDArgs(run.Sacct.Cluster))
		if err != nil {
			return time.Time{}, err
		}
		err = chargeReservations(ctx, sink, &res.Stats, run.Cluster, bytes.NewReader(resvOut), bytes.NewReader(assocOut), time.UTC, reserved, from, to)
		return to, err
	})
	return res, err
}

// sacctmgr runs sacctmgr (in UTC) and returns its output; a failure names the
// command and its stderr.
func (run *Run) sacctmgr(ctx context.Context, args []string) ([]byte, error) {
	command := run.Sacctmgr
	if len(command) == 0 {
		command = []string{"sacctmgr"}
	}
	argv := append(append([]string{}, command...), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 64 << 10}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s failed: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// chargeReservations ingests the idle time of the window's reservations.
func chargeReservations(ctx context.Context, sink *ledger.Sink, stats *Stats, cluster string, resvIn, assocIn io.Reader,
	loc *time.Location, reserved []ReservedJob, from, to time.Time) error {
	resvs, rejects, err := ParseReservations(resvIn, loc, cluster)
	if err != nil {
		return err
	}
	assocs, err := ParseAssocIDs(assocIn)
	if err != nil {
		return err
	}
	recs, more := IdleRecords(cluster, resvs, reserved, assocs, from, to)
	if _, err := sink.Ingest(ctx, ledger.Batch{Records: recs, Rejects: append(rejects, more...)}); err != nil {
		return err
	}
	stats.Records += int64(len(recs))
	return nil
}

// CollectFile ingests a dump, as one ledger.Collect run: sacct output with its
// header line (fields in any order, any delimiter) or without one (then
// run.Format's fields, else FormatList). Running jobs in it are charged up to
// asOf, or when asOf is zero up to the latest time the dump itself contains (see
// Converter.Finish).
func CollectFile(ctx context.Context, l *ledger.Ledger, in io.Reader, asOf time.Time, run Run) (Result, error) {
	var res Result
	var err error
	res.Counts, err = l.Collect(ctx, ledger.SourceSlurm, run.Cluster, time.Time{}, time.Time{}, func(ctx context.Context, sink *ledger.Sink) (time.Time, error) {
		res.RunID = sink.RunID()
		var reserved []ReservedJob
		rd, err := NewDumpReader(in, run.Format)
		if err != nil {
			return time.Time{}, err
		}
		_, res.Stats, err = Ingest(ctx, sink, rd, Options{Cluster: run.Cluster, Location: run.Location, Now: asOf, Reserved: &reserved}, run.Progress)
		if err != nil {
			return time.Time{}, err
		}
		if run.Reservations != nil {
			if run.Assocs == nil {
				return time.Time{}, fmt.Errorf("a reservations dump needs the association ids beside it (sacctmgr %s)", strings.Join(AssocIDArgs(""), " "))
			}
			// A dump covers whatever window it was made for: charge every hour of its
			// reservations up to when it was made.
			if err := chargeReservations(ctx, sink, &res.Stats, run.Cluster, run.Reservations, run.Assocs, run.Location, reserved, time.Time{}, res.Stats.AsOf); err != nil {
				return time.Time{}, err
			}
		}
		// A dump says nothing about what the live collector has seen: no watermark.
		return time.Time{}, nil
	})
	return res, err
}
