// Command parsimony-agent is the cgroup agent alone (docs/agent.md): the same
// code as `parsimony agent`, in a binary without the server, the web app and
// the database driver, so that it stays small in memory on every machine it
// runs on. main only sets up logging and signals and runs the command.
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
	"syscall"

	"github.com/parsimony-hpc/parsimony/agent/agentcmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	level := slog.LevelInfo
	if os.Getenv("PARSIMONY_DEBUG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	e := agentcmd.Env{Stdout: stdout, Stderr: stderr, Log: log, Name: "parsimony-agent"}
	err := agentcmd.Run(ctx, e, agentcmd.Version(), args)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, agentcmd.ErrUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "parsimony-agent: %v\n", err)
		return 1
	}
}
