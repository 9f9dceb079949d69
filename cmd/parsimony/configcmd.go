package main

import (
	"context"
	"fmt"

	"github.com/parsimony-hpc/parsimony/config"
)

func runConfig(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "config", "check FILE")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 || fs.Arg(0) != "check" {
		return usageError(e, fs, "say: config check FILE")
	}
	problems := config.Check(fs.Arg(1))
	for _, p := range problems {
		fmt.Fprintln(e.stdout, p.String())
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s: %d problem(s)", fs.Arg(1), len(problems))
	}
	fmt.Fprintf(e.stdout, "%s: ok\n", fs.Arg(1))
	return nil
}
