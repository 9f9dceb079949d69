// Package agentcmd is the agent's command line, shared by `parsimony agent` and
// the slim `parsimony-agent` binary (cmd/parsimony-agent): flags over the
// configuration file, the cgroup collector wired in as the agent's Sampler, and
// the runtime's memory settings for a small resident footprint (docs/agent.md,
// Footprint).
package agentcmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/agent"
	"github.com/parsimony-hpc/parsimony/collectors/cgroup"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/usagebatch"
)

// ErrUsage marks a wording problem on the command line; it has been printed
// with the usage, and the caller exits 2.
var ErrUsage = errors.New("usage")

// Env is where the command writes and logs.
type Env struct {
	Stdout, Stderr io.Writer
	Log            *slog.Logger
	// Name is how the command is invoked, for its usage text:
	// "parsimony agent" or "parsimony-agent".
	Name string
}

// The runtime's memory settings for a long-running agent, unless the
// environment sets them (GOGC, GOMEMLIMIT). Its live heap is 2–3 MB at 500
// cgroups: collecting at half the default growth and towards a soft limit of
// 12 MiB keeps the heap's peak low for a little more CPU. The limit is soft: a
// larger need (compacting a full spool) goes over it rather than failing.
const (
	gcPercent       = 50
	softMemoryLimit = 12 << 20
)

// tuneMemory applies the agent's runtime memory settings where the
// environment has not chosen its own.
func tuneMemory() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(softMemoryLimit)
	}
}

// Run is the agent command: args are its flags (without the command's name).
// With --once it samples twice, --once-wait apart, prints the records as JSON
// lines and exits, touching neither the spool nor the server. Otherwise it
// runs until ctx ends. It returns flag.ErrHelp for --help and an error
// wrapping ErrUsage for a wording problem (both already printed).
func Run(ctx context.Context, e Env, version string, args []string) error {
	fs := flag.NewFlagSet(e.Name, flag.ContinueOnError)
	fs.SetOutput(e.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.Stderr, "Usage: %s [--config FILE] [--once] [flags overriding the file]\n\nFlags:\n", e.Name)
		fs.PrintDefaults()
	}
	usageError := func(format string, args ...any) error {
		fmt.Fprintf(e.Stderr, "%s: %s\n", e.Name, fmt.Sprintf(format, args...))
		fs.Usage()
		return ErrUsage
	}
	cfgPath := fs.String("config", "", "the agent's configuration `file` (TOML; docs/agent.md)")
	once := fs.Bool("once", false, "sample once, print the records as JSON lines on stdout and exit (to check a machine)")
	onceWait := fs.Duration("once-wait", 2*time.Second, "with --once, the time between the baseline reading and the sample")
	server := fs.String("server", "", "the Parsimony server's base `URL`")
	tokenFile := fs.String("token-file", "", "`file` holding the ingest token")
	host := fs.String("host", "", "this machine's name in the ledger (default: the short host name, lower-cased)")
	interval := fs.Duration("interval", 0, "sampling interval (default 30s)")
	window := fs.Duration("window", 0, "span of one usage record, aligned to the Unix epoch (default 1h)")
	var roots stringList
	fs.Var(&roots, "root", "glob `pattern` of cgroups to account (repeatable; default user.slice/user-*.slice)")
	allowedCores := fs.Float64("allowed-cores", 0, "each user's share of the machine in cores where no cgroup limit says (0: none)")
	allowedMemory := fs.String("allowed-memory", "", "each user's share of memory where no cgroup limit says, like 16GiB")
	stateDir := fs.String("state-dir", "", "`directory` for the spool and the accounting state (default /var/lib/parsimony-agent)")
	spoolMax := fs.String("spool-max", "", "bound of the spool file, like 256MiB")
	metricsListen := fs.String("metrics-listen", "", "`address` to serve Prometheus metrics on, like 127.0.0.1:9464")
	nvidiaSMI := fs.String("nvidia-smi", "", "path of nvidia-smi (default: looked up on PATH; \"off\" never runs it)")
	mountinfo := fs.String("mountinfo", "", "mount table to find the cgroup hierarchy in (default /proc/self/mountinfo)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return ErrUsage
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q: this command takes only flags", fs.Arg(0))
	}

	cfg := agent.Defaults()
	if *cfgPath != "" {
		var err error
		if cfg, err = agent.LoadConfig(*cfgPath); err != nil {
			return err
		}
	}
	var problems []string
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "server":
			cfg.Server = *server
		case "token-file":
			cfg.TokenFile = *tokenFile
		case "host":
			cfg.Host = *host
		case "interval":
			cfg.Interval = *interval
		case "window":
			cfg.Window = *window
		case "root":
			cfg.Roots = roots
		case "allowed-cores":
			cfg.AllowedCores = *allowedCores
		case "allowed-memory":
			n, err := agent.ParseBytes(*allowedMemory)
			if err != nil {
				problems = append(problems, "--allowed-memory: "+err.Error())
			}
			cfg.AllowedMemoryBytes = n
		case "state-dir":
			cfg.StateDir = *stateDir
		case "spool-max":
			n, err := agent.ParseBytes(*spoolMax)
			if err != nil {
				problems = append(problems, "--spool-max: "+err.Error())
			}
			cfg.SpoolMaxBytes = n
		case "metrics-listen":
			cfg.MetricsListen = *metricsListen
		case "nvidia-smi":
			cfg.NvidiaSMI = *nvidiaSMI
		case "mountinfo":
			cfg.Mountinfo = *mountinfo
		}
	})
	if len(problems) > 0 {
		return usageError("%s", strings.Join(problems, "; "))
	}
	if cfg.Host == "" {
		h, err := agent.DefaultHost()
		if err != nil {
			return err
		}
		cfg.Host = h
	}
	if err := cfg.Validate(!*once); err != nil {
		return err
	}

	h, err := cgroup.FindHierarchy(cfg.Mountinfo)
	if err != nil {
		return err
	}
	reader := cgroup.NewReader(h, readerConfig(cfg))
	acctCfg := cgroup.AccountConfig{Host: cfg.Host, Window: cfg.Window, AllowedCores: cfg.AllowedCores,
		AllowedMemoryBytes: uint64(cfg.AllowedMemoryBytes), MaxGap: cfg.MaxGap}
	if *once {
		return runOnce(ctx, e, reader, cgroup.NewAccountant(acctCfg), *onceWait)
	}

	tuneMemory()
	acct, err := restoreAccountant(e.Log, cfg, acctCfg)
	if err != nil {
		return err
	}
	a, err := agent.New(cfg, &Sampler{Reader: reader, Acct: acct}, e.Log, version)
	if err != nil {
		return err
	}
	runErr := a.Run(ctx)
	if err := a.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// readerConfig is the cgroup reader's part of the agent's configuration.
func readerConfig(cfg agent.Config) cgroup.ReaderConfig {
	rc := cgroup.ReaderConfig{Host: true, NvidiaSMI: cfg.NvidiaSMI}
	if cfg.NvidiaSMI == "off" {
		rc.NvidiaSMI, rc.NoGPU = "", true
	}
	for _, r := range cfg.Roots {
		rc.Roots = append(rc.Roots, strings.Trim(r, "/"))
	}
	return rc
}

// restoreAccountant goes on from the saved accounting state. A state that
// cannot be used (another host name or window length, damaged) is set aside
// with a warning: the agent then starts from a fresh baseline, losing at most
// the usage since that state's last sample, where refusing to start would
// lose everything from now on.
func restoreAccountant(log *slog.Logger, cfg agent.Config, acctCfg cgroup.AccountConfig) (*cgroup.Accountant, error) {
	state, err := agent.ReadState(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	if state == nil {
		return cgroup.NewAccountant(acctCfg), nil
	}
	acct, err := cgroup.RestoreAccountant(acctCfg, state)
	if err != nil {
		log.Warn("agent: the saved accounting state cannot be used; starting from a fresh baseline (usage since its last sample is not counted)",
			"state_dir", cfg.StateDir, "err", err)
		return cgroup.NewAccountant(acctCfg), nil
	}
	return acct, nil
}

// runOnce reads a baseline, waits, samples and prints the records.
func runOnce(ctx context.Context, e Env, reader *cgroup.Reader, acct *cgroup.Accountant, wait time.Duration) error {
	s := &Sampler{Reader: reader, Acct: acct}
	_, problems, err := s.Sample(ctx, time.Now())
	if err != nil {
		return err
	}
	logProblems(e.Log, problems)
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return ctx.Err()
	}
	recs, problems, err := s.Sample(ctx, time.Now())
	if err != nil {
		return err
	}
	logProblems(e.Log, problems)
	enc := json.NewEncoder(e.Stdout)
	for _, r := range recs {
		if err := enc.Encode(usagebatch.FromLedger(r)); err != nil {
			return fmt.Errorf("agent --once: %w", err)
		}
	}
	return nil
}

func logProblems(log *slog.Logger, problems []error) {
	for _, p := range problems {
		log.Warn("agent: a cgroup could not be read", "err", p)
	}
}

// Sampler is the agent's Sampler on this machine's cgroups: a reader and the
// accountant that turns its snapshots into records.
type Sampler struct {
	Reader *cgroup.Reader
	Acct   *cgroup.Accountant
}

// Sample reads the cgroups at `at` and accounts the snapshot.
func (s *Sampler) Sample(ctx context.Context, at time.Time) ([]ledger.Record, []error, error) {
	snap, err := s.Reader.Read(ctx, at)
	if err != nil {
		return nil, nil, err
	}
	return s.Acct.Add(snap), snap.Errors, nil
}

// State is the accountant's state, saved after each sample.
func (s *Sampler) State() ([]byte, error) { return s.Acct.MarshalState() }

// Version is the binary's module version, for the agent's User-Agent.
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "dev"
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
