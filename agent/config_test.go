package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "agent.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	token := tokenFile(t)
	cfg, err := LoadConfig(writeConfig(t, `
server = "https://parsimony.example.edu"
token_file = "`+token+`"
host = "ws-01"
interval = "15s"
window = "30m"
roots = ["user.slice/user-*.slice", "system.slice/jupyter-*.service"]
allowed_cores = 4.5
allowed_memory = "16GiB"
state_dir = "/var/lib/pa"
spool_max_bytes = 1048576
metrics_listen = "127.0.0.1:9464"
nvidia_smi = "off"
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Interval != 15*time.Second || cfg.Window != 30*time.Minute || cfg.AllowedCores != 4.5 ||
		cfg.AllowedMemoryBytes != 16<<30 || cfg.SpoolMaxBytes != 1<<20 || len(cfg.Roots) != 2 || cfg.NvidiaSMI != "off" ||
		cfg.Mountinfo != "/proc/self/mountinfo" || cfg.RequestTimeout != 30*time.Second {
		t.Errorf("loaded %+v", cfg)
	}
	if err := cfg.Validate(true); err != nil {
		t.Error(err)
	}

	// Defaults, and what --once needs (no server, token or state).
	d := Defaults()
	if d.Interval != 30*time.Second || d.Window != time.Hour || d.StateDir != "/var/lib/parsimony-agent" || d.SpoolMaxBytes != 256<<20 {
		t.Errorf("defaults %+v", d)
	}
	d.Host = "ws-01"
	if err := d.Validate(false); err != nil {
		t.Errorf("defaults for --once: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ body, want string }{
		{`servr = "x"`, "servr"},
		{`interval = "30"`, "interval"},
		{`spool_max_bytes = "lots"`, "spool_max_bytes"},
		{`allowed_memory = -5`, "negative"},
		{`interval = 30`, "agent.toml"},
		{`roots = "user.slice"`, "agent.toml"},
	} {
		_, err := LoadConfig(writeConfig(t, tt.body))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %q", tt.body, err, tt.want)
		}
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "missing.toml")); err == nil {
		t.Error("a missing file is no error")
	}

	bad := Defaults()
	bad.Server, bad.TokenFile, bad.Host = "ftp://x", filepath.Join(t.TempDir(), "none"), "ws 01"
	bad.Interval, bad.Window = 7*time.Second, 30*time.Second
	bad.StateDir, bad.SpoolMaxBytes, bad.MetricsListen = "state", 10, "9464"
	bad.AllowedCores, bad.Roots = -1, []string{"../etc", "[", ""}
	err := bad.Validate(true)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"server:", "token_file:", "host:", "window:", "state_dir:", "spool_max_bytes:",
		"metrics_listen:", "allowed_cores:", `roots: "../etc"`, `roots: "["`, `roots: ""`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	empty := Defaults()
	empty.Host = "ws-01"
	if err := empty.Validate(true); err == nil || !strings.Contains(err.Error(), "server: required") || !strings.Contains(err.Error(), "token_file: required") {
		t.Errorf("no server nor token: %v", err)
	}
	odd := Defaults()
	odd.Host, odd.Window = "ws-01", 7*time.Minute
	if err := odd.Validate(false); err == nil || !strings.Contains(err.Error(), "does not divide a day") {
		t.Errorf("7m window: %v", err)
	}
}

func TestParseBytes(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int64{"0": 0, "1024": 1024, "256MiB": 256 << 20, "16GiB": 16 << 30, "1.5G": 3 << 29, "2 MB": 2e6, "7B": 7} {
		if got, err := ParseBytes(in); err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "MiB", "lots", "NaN", "1e30"} {
		if _, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q): no error", in)
		}
	}
}
