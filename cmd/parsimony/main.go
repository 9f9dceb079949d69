// Command parsimony is Parsimony's one binary: usage accounting and chargeback for
// research computing. main only parses flags, builds the pieces and runs them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// command is one subcommand: `parsimony NAME …`.
type command struct {
	name    string
	summary string
	run     commandFunc
}

// env is what every command gets: where to write and how to log.
type env struct {
	stdout, stderr io.Writer
	log            *slog.Logger
}

func commands() []command {
	return []command{
		{"demo", "run the web app on a private PostgreSQL with a seeded institution (no configuration)", runDemo},
		{"serve", "serve the web app against DATABASE_URL", runServe},
		{"migrate", "apply or revert the database schema: up | down N | version | force V", runMigrate},
		{"collect", "collect usage from a source: collect csv --file PATH", runCollect},
		{"seed", "create a realistic institution with usage (demo or benchmark scale)", runSeed},
		{"report", "usage totals by group, user, cluster, resource over a window (like sreport)", runReport},
		{"rates", "import a price list (rates, subsidies, budgets) or list the rates: rates import FILE | rates list", runRates},
		{"rate", "(re)rate an open billing period: rate --period 2026-10", runRate},
		{"close", "close a billing period: final statements, frozen for good: close 2026-10", runClose},
		{"adjust", "add a manual credit or debit to a group's statement of an open period", runAdjust},
		{"export", "export a period's statements: csv, json, html, pdf, or Open OnDemand balances", runExport},
		{"config", "check a configuration file: config check FILE", runConfig},
		{"token", "create an API token (e.g. an agent's ingest token bound to its host): token create …", runToken},
		{"agent", "the cgroup agent of a shared machine: sample per-user usage, spool, push to the server (docs/agent.md)", runAgent},
		{"healthcheck", "exit 0 if a running server answers ready (for container health checks)", runHealthcheck},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks an error that is the caller's wording, not a failure; its message
// has been printed with the command's usage.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	level := slog.LevelInfo
	if os.Getenv("PARSIMONY_DEBUG") != "" {
		level = slog.LevelDebug
	}
	e := &env{stdout: stdout, stderr: stderr, log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		default:
			fmt.Fprintf(stderr, "parsimony %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "parsimony: unknown command %q\n\n", args[0])
	printUsage(stderr)
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "Parsimony — usage accounting and chargeback for research computing.")
	fmt.Fprintln(w, "\nUsage: parsimony COMMAND [flags]   (parsimony COMMAND --help for its flags)\n\nCommands:")
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-11s %s\n", c.name, c.summary)
	}
}

// newFlags makes a command's flag set, printing usage and errors to stderr.
func newFlags(e *env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("parsimony "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: parsimony %s %s\n\nFlags:\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, turning flag errors into errUsage (already printed).
//
// Flags may come before, between or after positional arguments: Go's flag
// package stops at the first positional, so `parsimony close 2026-10 --config
// x.toml` would otherwise leave --config unread and act on the default
// database. Here parsing resumes after each positional, so every flag is
// either honoured or refused as unknown, never ignored. "--" ends the flags:
// everything after it is positional. A lone "-" (standard input) and negative
// numbers (`migrate force -1`) are positionals, as they are for flag.
func parse(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return errUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		// fs.Parse consumed a "--" if one ended the flags: then rest is all
		// positional. It did if the argument before rest is "--".
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			positional = append(positional, rest...)
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
		for len(args) > 0 && isPositional(args[0]) {
			positional = append(positional, args[0])
			args = args[1:]
		}
	}
	// Parsing "--" and the positionals leaves them as fs.Args().
	if err := fs.Parse(append([]string{"--"}, positional...)); err != nil {
		return errUsage
	}
	return nil
}

// parseFlagsOnly is parse for a command that takes no positional arguments: a
// stray word (a mistyped flag without its dashes, a value whose flag was
// forgotten) is refused, never ignored.
func parseFlagsOnly(e *env, fs *flag.FlagSet, args []string) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(e, fs, "unexpected argument %q: this command takes only flags", fs.Arg(0))
	}
	return nil
}

// isPositional reports whether an argument met after a positional is one too
// rather than a flag: anything not starting with "-", a lone "-", and negative
// numbers.
func isPositional(arg string) bool {
	if arg == "-" || !strings.HasPrefix(arg, "-") {
		return true
	}
	_, err := strconv.ParseFloat(arg, 64)
	return err == nil
}

// usageError prints a wording problem with the command's usage.
func usageError(e *env, fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(e.stderr, "%s: %s\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return errUsage
}

func joinLines(lines []string) string { return strings.Join(lines, "\n") }
