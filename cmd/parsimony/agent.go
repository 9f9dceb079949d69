package main

import (
	"context"
	"errors"

	"github.com/parsimony-hpc/parsimony/agent/agentcmd"
)

// runAgent is `parsimony agent`: the cgroup agent of a shared machine
// (docs/agent.md), the same command as the slim parsimony-agent binary.
func runAgent(ctx context.Context, e *env, args []string) error {
	ae := agentcmd.Env{Stdout: e.stdout, Stderr: e.stderr, Log: e.log, Name: "parsimony agent"}
	err := agentcmd.Run(ctx, ae, agentcmd.Version(), args)
	if errors.Is(err, agentcmd.ErrUsage) {
		return errUsage
	}
	return err
}
