package slurm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Delimiter is what Parsimony asks sacct to separate fields with when it runs it:
// the ASCII unit separator, which no job name, path or comment contains in practice,
// so no value can shift a field. Dumps made by people use '|' (--parsable2).
const Delimiter = "\x1f"

// BatchSize is how many records go to the ledger per transaction.
const BatchSize = 50_000

// Sacct runs sacct for a window, as configured for one cluster.
type Sacct struct {
	// Command is the command line that runs sacct ("sacct", or a wrapper such as
	// "ssh head1 sacct"); Parsimony appends its arguments.
	Command []string
	// Cluster is the name slurmdbd knows the cluster by (--clusters); "" for the
	// local one.
	Cluster string
}

// Args are the arguments for [from, to): every job that was eligible or running in
// the window, every run of requeued jobs, all users, steps included (for TotalCPU
// and MaxRSS), memory in bytes, times in epoch seconds.
func (s Sacct) Args(from, to time.Time) []string {
	args := []string{
		"--parsable2", "--noheader", "--allusers", "--duplicates", "--noconvert",
		"--delimiter=" + Delimiter,
		"--format=" + FormatList(),
		"--starttime=" + from.UTC().Format("2006-01-02T15:04:05"),
		"--endtime=" + to.UTC().Format("2006-01-02T15:04:05"),
	}
	if s.Cluster != "" {
		args = append(args, "--clusters="+s.Cluster)
	}
	return args
}

// Run starts sacct and hands its output to read as it streams. TZ=UTC makes sacct
// read the window in UTC and SLURM_TIME_FORMAT=%s prints times as epoch seconds, so
// no local time (and no DST hour) is ever guessed. A failing or missing sacct is an
// error naming the command and what it printed on stderr.
func (s Sacct) Run(ctx context.Context, from, to time.Time, read func(io.Reader) error) error {
	if len(s.Command) == 0 {
		s.Command = []string{"sacct"}
	}
	argv := append(append([]string{}, s.Command...), s.Args(from, to)...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "TZ=UTC", "SLURM_TIME_FORMAT=%s")
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 64 << 10}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", strings.Join(s.Command, " "), err)
	}
	readErr := read(stdout)
	if readErr != nil {
		// Stop sacct rather than wait for output nobody reads.
		cmd.Process.Kill()
	}
	waitErr := cmd.Wait()
	if readErr != nil {
		return readErr
	}
	if waitErr != nil {
		return fmt.Errorf("%s failed: %w: %s", strings.Join(argv, " "), waitErr, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// limitedWriter keeps the first n bytes (a runaway stderr must not fill memory).
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// Ingest reads sacct output from rd and stores it through the run's sink in
// batches, each in one transaction. Malformed rows are quarantined with their raw text and
// the reason; the run goes on. Reading and converting the next batch overlaps with
// storing the last one (one batch in flight, so memory stays bounded).
func Ingest(ctx context.Context, sink *ledger.Sink, rd *Reader, opts Options, progress func(Stats)) (ledger.Counts, Stats, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conv := NewConverter(opts)
	type batch struct {
		out   Output
		stats Stats
	}
	batches := make(chan batch, 1)
	stored := make(chan error, 1)
	var total ledger.Counts
	go func() {
		var err error
		for b := range batches {
			if err != nil {
				continue // drain after a failure
			}
			var c ledger.Counts
			c, err = sink.Ingest(ctx, ledger.Batch{Records: b.out.Records, Rejects: b.out.Rejects})
			if err != nil {
				cancel()
				continue
			}
			total.Add(c)
			if progress != nil {
				progress(b.stats)
			}
		}
		stored <- err
	}()
	readErr := func() error {
		var out Output
		send := func() error {
			if len(out.Records) == 0 && len(out.Rejects) == 0 {
				return nil
			}
			select {
			case batches <- batch{out: out, stats: conv.Stats}:
			case <-ctx.Done():
				return ctx.Err()
			}
			out = Output{}
			return nil
		}
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			row, bad, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("read sacct output: %w", err)
			}
			if bad != nil {
				conv.BadLine(bad, &out)
			} else {
				conv.Add(row, &out)
			}
			// The job in progress lives in the converter, not in out: everything in
			// out belongs to finished jobs and can be stored.
			if len(out.Records)+len(out.Rejects) >= BatchSize {
				if err := send(); err != nil {
					return err
				}
			}
		}
		// Finish emits the running jobs a dump held back: send them in batches too.
		conv.Finish(&out)
		rest := out
		for len(rest.Records) > 0 || len(rest.Rejects) > 0 {
			nr, nj := min(len(rest.Records), BatchSize), min(len(rest.Rejects), BatchSize)
			out = Output{Records: rest.Records[:nr], Rejects: rest.Rejects[:nj]}
			rest = Output{Records: rest.Records[nr:], Rejects: rest.Rejects[nj:]}
			if err := send(); err != nil {
				return err
			}
		}
		return nil
	}()
	close(batches)
	storeErr := <-stored
	if storeErr != nil {
		return total, conv.Stats, storeErr
	}
	return total, conv.Stats, readErr
}
