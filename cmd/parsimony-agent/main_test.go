package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// The slim binary runs the agent's command line as `parsimony agent` does
// (whose tests in cmd/parsimony cover the agent itself): help, wording
// problems and failures exit 0, 2 and 1.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, 0, "Usage: parsimony-agent [--config FILE]"},
		{[]string{"run"}, 2, "unexpected argument"},
		{[]string{"--spool-max", "lots"}, 2, "--spool-max"},
		{[]string{"--host", "ws-01"}, 1, "parsimony-agent: "},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, &stdout, &stderr)
		if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d naming %q", tt.args, code, stderr.String(), tt.code, tt.want)
		}
	}
}
