package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/collectors/slurm"
	"github.com/parsimony-hpc/parsimony/collectors/slurmassoc"
	"github.com/parsimony-hpc/parsimony/config"
	"github.com/parsimony-hpc/parsimony/report"

	"github.com/parsimony-hpc/parsimony/ledger"

	"github.com/parsimony-hpc/parsimony/collectors/csvimport"
)

// runCollect dispatches `parsimony collect SOURCE`.
func runCollect(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "collect", "SOURCE [flags]   (sources: slurm, slurm-accounts, csv)")
	return runSubcommand(ctx, e, fs, args, "source", map[string]commandFunc{
		"csv":            runCollectCSV,
		"slurm":          runCollectSlurm,
		"slurm-accounts": runCollectSlurmAccounts,
	})
}

// commandFunc runs a command or subcommand with its arguments.
type commandFunc func(ctx context.Context, e *env, args []string) error

// runSubcommand runs the subcommand args[0] names, with the rest of args.
func runSubcommand(ctx context.Context, e *env, fs *flag.FlagSet, args []string, what string, subs map[string]commandFunc) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fs.Usage()
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	if run, ok := subs[args[0]]; ok {
		return run(ctx, e, args[1:])
	}
	return usageError(e, fs, "unknown %s %q", what, args[0])
}

// runCollectCSV imports usage from a CSV file (docs/csv-import.md).
func runCollectCSV(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "collect csv", "--file PATH|- [--config FILE]")
	cfgPath := configFlag(fs)
	file := fs.String("file", "", "CSV `file` to import (docs/csv-import.md), or - for standard input")
	if err := parseFlagsOnly(e, fs, args); err != nil {
		return err
	}
	if *file == "" {
		return usageError(e, fs, "--file is required")
	}
	return withLedger(ctx, e, *cfgPath, func(l *ledger.Ledger, _ config.Config) error {
		var in io.Reader = os.Stdin
		name := "stdin"
		if *file != "-" {
			f, err := os.Open(*file)
			if err != nil {
				return err
			}
			defer f.Close()
			in, name = f, *file
		}
		c, err := csvimport.Import(ctx, l, in, name, csvimport.Options{})
		fmt.Fprintf(e.stdout, "%s: read %d, ingested %d, revised %d, unchanged %d, quarantined %d, unmapped %d\n",
			name, c.Read, c.Ingested, c.Revised, c.Unchanged, c.Quarantined, c.Unmapped)
		return err
	})
}

// collectMemoryLimit is the soft memory limit of collector runs.
const collectMemoryLimit = 150 << 20

// runCollectSlurm collects jobs from a Slurm cluster's accounting: live with sacct
// from the last watermark, or from a dump file.
func runCollectSlurm(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "collect slurm", "--cluster NAME [--from-file PATH|-] [--since T] [--until T] [--config FILE]")
	cfgPath := configFlag(fs)
	cluster := fs.String("cluster", "", "the cluster's `name` in Parsimony (required)")
	fromFile := fs.String("from-file", "", "ingest a sacct --parsable2 dump (with or without its header) from this `file`, or - for standard input, instead of running sacct")
	sinceS := fs.String("since", "", "start of the window (date or RFC 3339); default: the last watermark less the overlap")
	untilS := fs.String("until", "", "end of the window; default: now")
	zone := fs.String("time-zone", "", "zone of the local times in a dump (default: the cluster's configured zone, else the site's)")
	resvFile := fs.String("reservations-file", "", "with --from-file: saved `sacctmgr -P show reservation format=Cluster,Name,ID,TRES,TimeStart,TimeEnd,Associations,Flags` output, to charge idle reserved time as sreport does")
	assocFile := fs.String("assocs-file", "", "with --reservations-file: saved `sacctmgr -P show associations format=ID,Account,User` output")
	delim := fs.String("delimiter", "", "with --from-file: the dump's field `delimiter` (sacct --delimiter); default: read from its header, or for a headerless dump from its first line")
	format := fs.String("format", "", "with --from-file: the `fields` of a headerless dump, as given to sacct --format (e.g. jobid,jobidraw,…,ncpus,…); default: Parsimony's own list")
	asOfS := fs.String("as-of", "", "with --from-file: charge running jobs up to this `time` (date or RFC 3339); default: the latest time the dump contains")
	account := fs.String("account", "", "with --from-file: the `account` to charge for a dump without an Account column (one project's jobs)")
	if err := parseFlagsOnly(e, fs, args); err != nil {
		return err
	}
	if *cluster == "" {
		return usageError(e, fs, "--cluster is required")
	}
	if (*resvFile != "") != (*assocFile != "") || (*resvFile != "" && *fromFile == "") {
		return usageError(e, fs, "--reservations-file and --assocs-file go together, with --from-file")
	}
	if *fromFile == "" && (*delim != "" || *format != "" || *asOfS != "" || *account != "") {
		return usageError(e, fs, "--delimiter, --format, --as-of and --account describe a dump: they go with --from-file")
	}
	dumpFormat, err := slurmFormat(*delim, *format, *account)
	if err != nil {
		return usageError(e, fs, "%v", err)
	}
	// A backfill streams; what memory it holds is a batch or two in flight. A soft
	// limit makes the garbage collector keep the process near that instead of
	// letting the heap double (GOMEMLIMIT in the environment still wins).
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(collectMemoryLimit)
	}
	return withLedger(ctx, e, *cfgPath, func(l *ledger.Ledger, cfg config.Config) error {
		run := slurm.Run{Cluster: *cluster, Location: l.Location(), Sacct: slurm.Sacct{Command: []string{"sacct"}}}
		for _, c := range cfg.Clusters {
			if c.Name != *cluster {
				continue
			}
			if c.SacctCommand != "" {
				argv, err := config.SplitCommand(c.SacctCommand)
				if err != nil {
					return fmt.Errorf("cluster %s sacct_command: %w", c.Name, err)
				}
				run.Sacct.Command = argv
			}
			if c.SacctmgrCommand != "" {
				argv, err := config.SplitCommand(c.SacctmgrCommand)
				if err != nil {
					return fmt.Errorf("cluster %s sacctmgr_command: %w", c.Name, err)
				}
				run.Sacctmgr = argv
			}
			run.Sacct.Cluster = c.SlurmCluster
			run.Overlap = c.Overlap.Duration
			if c.TimeZone != "" {
				loc, err := time.LoadLocation(c.TimeZone)
				if err != nil {
					return err
				}
				run.Location = loc
			}
		}
		if *zone != "" {
			loc, err := time.LoadLocation(*zone)
			if err != nil {
				return usageError(e, fs, "--time-zone: %v", err)
			}
			run.Location = loc
		}
		run.Format = dumpFormat
		var err error
		if *sinceS != "" {
			if run.Since, err = report.ParseTime(*sinceS, l.Location()); err != nil {
				return usageError(e, fs, "--since: %v", err)
			}
		}
		if *untilS != "" {
			if run.Until, err = report.ParseTime(*untilS, l.Location()); err != nil {
				return usageError(e, fs, "--until: %v", err)
			}
		}
		var asOf time.Time // zero: the latest time in the dump
		if *asOfS != "" {
			if asOf, err = report.ParseTime(*asOfS, l.Location()); err != nil {
				return usageError(e, fs, "--as-of: %v", err)
			}
		}
		var res slurm.Result
		if *fromFile != "" {
			// A failed run must fail the command: err is the function's, not a new
			// one in this block (which once left the exit status 0).
			var in io.Reader
			var size int64
			var closeIn func()
			if in, size, closeIn, err = openInput(*fromFile); err != nil {
				return err
			}
			defer closeIn()
			for _, side := range []struct {
				path string
				into *io.Reader
			}{{*resvFile, &run.Reservations}, {*assocFile, &run.Assocs}} {
				if side.path == "" {
					continue
				}
				f, err := os.Open(side.path)
				if err != nil {
					return err
				}
				defer f.Close()
				*side.into = f
			}
			counted := &countingReader{r: in}
			run.Progress = progressLine(e, "lines", func() (int64, int64) { return counted.n, size })
			res, err = slurm.CollectFile(ctx, l, counted, asOf, run)
		} else {
			run.Progress = progressLine(e, "lines", nil)
			res, err = slurm.CollectLive(ctx, l, run)
		}
		if run.Progress != nil {
			fmt.Fprintln(e.stderr) // end the progress line
		}
		fmt.Fprintln(e.stdout, res.Summary(*cluster))
		if err != nil {
			return fmt.Errorf("collect slurm %s: %w", *cluster, err)
		}
		return nil
	})
}

// slurmFormat reads --delimiter (with \t, \x1f… escapes, as a shell's $'…' would
// give them), --format and --account into how a dump was written.
func slurmFormat(delim, format, account string) (slurm.Format, error) {
	f := slurm.Format{Account: account}
	if delim != "" {
		d, err := strconv.Unquote(`"` + strings.ReplaceAll(delim, `"`, `\"`) + `"`)
		if err != nil || d == "" {
			return f, fmt.Errorf("--delimiter %q: not a delimiter", delim)
		}
		f.Delimiter = d
	}
	if format != "" {
		format = strings.TrimPrefix(format, "--format=")
		for _, name := range strings.Split(format, ",") {
			if name = strings.TrimSpace(name); name != "" {
				f.Fields = append(f.Fields, name)
			}
		}
	}
	return f, nil
}

// openInput opens a file (or standard input for "-") and says its size (0 when
// unknown). Its modification time is no guide to when a dump was made (cp and git
// checkout reset it): the dump's own times are.
func openInput(path string) (io.Reader, int64, func(), error) {
	if path == "-" {
		return os.Stdin, 0, func() {}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, nil, err
	}
	return f, fi.Size(), func() { f.Close() }, nil
}

// countingReader counts the bytes read through it, for progress and ETA.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// progressLine returns a progress callback that rewrites one line on a terminal:
// lines read, lines/s and, when position() knows the size, an ETA. Off a terminal
// it does nothing.
func progressLine(e *env, unit string, position func() (done, total int64)) func(slurm.Stats) {
	if !isTerminal(e.stderr) {
		return nil
	}
	start := time.Now()
	return func(s slurm.Stats) {
		rate := float64(s.Lines) / time.Since(start).Seconds()
		eta := ""
		if position != nil {
			if done, total := position(); total > 0 && done > 0 && done < total {
				left := time.Duration(float64(time.Since(start)) * float64(total-done) / float64(done))
				eta = fmt.Sprintf(", %d%%, ETA %s", done*100/total, left.Round(time.Second))
			}
		}
		fmt.Fprintf(e.stderr, "\r%d %s (%.0f/s%s)   ", s.Lines, unit, rate, eta)
	}
}

// runCollectSlurmAccounts syncs Slurm's association tree into nested groups,
// mappings and memberships, leaving what was made by hand alone.
func runCollectSlurmAccounts(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "collect slurm-accounts", "--cluster NAME [--from-file PATH|-] [--dry-run] [--config FILE]")
	cfgPath := configFlag(fs)
	cluster := fs.String("cluster", "", "the cluster's `name` in Parsimony (required)")
	fromFile := fs.String("from-file", "", "read saved `sacctmgr -P show assoc format=Cluster,Account,ParentName,User,Partition` output (with its header) from this file, or - for standard input")
	dryRun := fs.Bool("dry-run", false, "print the changes without making them")
	if err := parseFlagsOnly(e, fs, args); err != nil {
		return err
	}
	if *cluster == "" {
		return usageError(e, fs, "--cluster is required")
	}
	return withLedger(ctx, e, *cfgPath, func(l *ledger.Ledger, cfg config.Config) error {
		command, slurmName := []string{"sacctmgr"}, *cluster
		for _, c := range cfg.Clusters {
			if c.Name != *cluster {
				continue
			}
			if c.SacctmgrCommand != "" {
				argv, err := config.SplitCommand(c.SacctmgrCommand)
				if err != nil {
					return fmt.Errorf("cluster %s sacctmgr_command: %w", c.Name, err)
				}
				command = argv
			}
			if c.SlurmCluster != "" {
				slurmName = c.SlurmCluster
			}
		}
		var tree slurmassoc.Tree
		var rejects []ledger.Reject
		if *fromFile != "" {
			in, _, closeIn, err := openInput(*fromFile)
			if err != nil {
				return err
			}
			defer closeIn()
			if tree, rejects, err = slurmassoc.Parse(in); err != nil {
				return err
			}
		} else {
			argv := append(append([]string{}, command...), slurmassoc.Args(slurmName)...)
			cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				return fmt.Errorf("%s failed: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
			}
			if tree, rejects, err = slurmassoc.Parse(bytes.NewReader(out)); err != nil {
				return err
			}
		}
		// Mappings are scoped by Parsimony's cluster name (what usage records carry),
		// which may differ from the name slurmdbd uses.
		if slurmName != *cluster {
			if c, ok := tree.Clusters[slurmName]; ok {
				c.Name = *cluster
				tree.Clusters[*cluster] = c
				delete(tree.Clusters, slurmName)
			}
			for i := range tree.Assocs {
				if tree.Assocs[i].Cluster == slurmName {
					tree.Assocs[i].Cluster = *cluster
				}
			}
		}
		changes, err := slurmassoc.Plan(ctx, l, *cluster, tree)
		if err != nil {
			return err
		}
		for _, line := range changes.Lines() {
			fmt.Fprintln(e.stdout, line)
		}
		if len(rejects) > 0 && !*dryRun {
			if _, err := l.Ingest(ctx, ledger.Batch{Rejects: rejects}); err != nil {
				return err
			}
		}
		if *dryRun {
			fmt.Fprintf(e.stdout, "dry run: %s; %d malformed line(s) would be quarantined\n", changes.Summary(), len(rejects))
			return nil
		}
		if err := slurmassoc.Apply(ctx, l, "", changes); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "slurm-accounts %s: %s; %d malformed line(s) quarantined\n", *cluster, changes.Summary(), len(rejects))
		return nil
	})
}
