package main

import (
	"flag"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Flags after a positional argument are honoured (or refused), never ignored: a
// --config after the period must be the file the command reads, not silently
// dropped in favour of DATABASE_URL.
func TestFlagsAfterPositionals(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("PARSIMONY_DATABASE_URL", "")
	missing := filepath.Join(t.TempDir(), "missing.toml")
	prices := filepath.Join(t.TempDir(), "prices.csv")
	for _, tt := range []struct {
		name     string
		args     []string
		wantCode int
		want     string // in stderr
	}{
		// The config file is read, so its absence is the error (not "no DATABASE_URL").
		{"close period then --config", []string{"close", "2026-10", "--config", missing}, 1, "missing.toml"},
		{"close period then --config=", []string{"close", "2026-10", "--config=" + missing}, 1, "missing.toml"},
		{"migrate verb then --config", []string{"migrate", "up", "--config", missing}, 1, "missing.toml"},
		{"migrate force -1 then --config", []string{"migrate", "force", "-1", "--config", missing}, 1, "missing.toml"},
		// An unknown flag after a positional is refused with the usage.
		{"unknown flag after a positional", []string{"close", "2026-10", "--confg", missing}, 2, "flag provided but not defined: -confg"},
		{"unknown flag after rates import FILE", []string{"rates", "import", prices, "--confg", missing}, 2, "flag provided but not defined: -confg"},
		{"unknown flag after config check FILE", []string{"config", "check", "../../parsimony.example.toml", "--strict"}, 2, "flag provided but not defined: -strict"},
		// A second positional after the flags is still counted.
		{"positional after the flag", []string{"close", "--config", missing, "2026-10", "2026-11"}, 2, "the period to close is required"},
		// A command that takes only flags refuses a stray word instead of ignoring it.
		{"serve with a stray word", []string{"serve", "--config", missing, "8080"}, 2, `unexpected argument "8080"`},
		{"export with a value whose flag was forgotten", []string{"export", "--period", "2026-10", "pdf"}, 2, `unexpected argument "pdf"`},
		{"rate with a period but no --period", []string{"rate", "2026-10"}, 2, `unexpected argument "2026-10"`},
		{"collect csv with the file but no --file", []string{"collect", "csv", "usage.csv"}, 2, `unexpected argument "usage.csv"`},
		{"report with a stray word", []string{"report", "--from", "2026-10-01", "--to", "2026-11-01", "everything"}, 2, `unexpected argument "everything"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := cli(t, tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.want) {
				t.Errorf("parsimony %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tt.args, " "), code, stderr, tt.wantCode, tt.want)
			}
		})
	}
	// "--" ends the flags: a file named like a flag is a positional after it.
	if code, out, stderr := cli(t, "config", "check", "--", "../../parsimony.example.toml"); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("config check -- FILE: exit %d, %q %q", code, out, stderr)
	}
}

func TestParseIntersperses(t *testing.T) {
	for _, tt := range []struct {
		args       []string
		wantConfig string
		wantDry    bool
		wantArgs   []string
	}{
		{[]string{"a", "b"}, "", false, []string{"a", "b"}},
		{[]string{"--config", "c", "a"}, "c", false, []string{"a"}},
		{[]string{"a", "--config", "c", "b"}, "c", false, []string{"a", "b"}},
		{[]string{"a", "--dry-run", "b", "--config=c"}, "c", true, []string{"a", "b"}},
		{[]string{"a", "-", "--dry-run"}, "", true, []string{"a", "-"}},
		{[]string{"force", "-1"}, "", false, []string{"force", "-1"}},
		{[]string{"a", "--", "--config", "c"}, "", false, []string{"a", "--config", "c"}},
		{[]string{"--", "-x"}, "", false, []string{"-x"}},
		{nil, "", false, []string{}},
	} {
		fs := newFlags(&env{stderr: io.Discard}, "test", "")
		cfg := fs.String("config", "", "")
		dry := fs.Bool("dry-run", false, "")
		if err := parse(fs, tt.args); err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if *cfg != tt.wantConfig || *dry != tt.wantDry || !slices.Equal(fs.Args(), tt.wantArgs) {
			t.Errorf("%q: config %q dry-run %v args %q; want %q %v %q", tt.args, *cfg, *dry, fs.Args(), tt.wantConfig, tt.wantDry, tt.wantArgs)
		}
	}
	fs := newFlags(&env{stderr: io.Discard}, "test", "")
	if err := parse(fs, []string{"a", "--help"}); err != flag.ErrHelp {
		t.Errorf("--help after a positional: %v, want flag.ErrHelp", err)
	}
}

// The demo's sign-in lets anyone act as anyone: it refuses to listen beyond
// loopback unless told the sign-in is meant to be open.
func TestDemoListenRefusesNonLoopback(t *testing.T) {
	for _, tt := range []struct {
		listen  string
		open    bool
		wantErr bool
	}{
		{"127.0.0.1:8080", false, false},
		{"127.0.0.2:8080", false, false},
		{"[::1]:8080", false, false},
		{"localhost:8080", false, false},
		{"0.0.0.0:8080", false, true},
		{":8080", false, true},
		{"[::]:8080", false, true},
		{"192.0.2.7:8080", false, true},
		{"demo.example.edu:8080", false, true},
		{"0.0.0.0:8080", true, false},
		{":8080", true, false},
		{"no-port", true, true},
	} {
		err := checkDemoListen(tt.listen, tt.open)
		if (err != nil) != tt.wantErr {
			t.Errorf("checkDemoListen(%q, %v) = %v, want error %v", tt.listen, tt.open, err, tt.wantErr)
		}
	}
	// The command refuses before it starts PostgreSQL or creates its folder.
	dir := filepath.Join(t.TempDir(), "demo")
	code, _, stderr := cli(t, "demo", "--data", dir, "--listen", "0.0.0.0:0")
	if code != 2 || !strings.Contains(stderr, "--i-know-demo-sign-in-is-open") {
		t.Errorf("demo --listen 0.0.0.0:0: exit %d, %q", code, stderr)
	}
	if matches, _ := filepath.Glob(dir); len(matches) != 0 {
		t.Errorf("a refused demo created its data folder")
	}
}
