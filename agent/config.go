package agent

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// Config is the agent's configuration: a TOML file (docs/agent.md lists every
// key) with flags overriding it.
type Config struct {
	// Server is the Parsimony server's base URL; records go to {Server}/api/v1/usage.
	Server string
	// TokenFile holds the bearer token (an ingest token bound to source cgroup
	// and this host). It is read on every push, so a rotated token needs no restart.
	TokenFile string
	// Host is the machine's name as the ledger's cluster: by default the
	// short host name, lower-cased.
	Host string
	// Interval is the sampling interval; samples are aligned to it.
	Interval time.Duration
	// Window is the span of one usage record (aligned to the Unix epoch); a
	// window's record is revised every interval until the window ends.
	Window time.Duration
	// MaxGap is the longest gap between two samples that is integrated
	// (memory byte-seconds); 0 leaves it to the accountant's default.
	MaxGap time.Duration
	// Roots are glob patterns of the cgroups to account, relative to the
	// hierarchy's root: "user.slice/user-*.slice" (systemd's one slice per
	// user, the default when empty), "system.slice/jupyter-*.service"
	// (JupyterHub's systemdspawner), "machine.slice/*" (containers).
	Roots []string
	// AllowedCores and AllowedMemoryBytes are each user's share of the machine
	// where no cgroup limit says it: the allocated side of the records, so an
	// idle reservation shows as waste. 0 for none.
	AllowedCores       float64
	AllowedMemoryBytes int64
	// StateDir holds the spool, its cursor and the accountant's state.
	StateDir string
	// SpoolMaxBytes bounds the spool file.
	SpoolMaxBytes int64
	// MetricsListen is the address to serve Prometheus metrics on ("" for none).
	MetricsListen string
	// NvidiaSMI is the nvidia-smi program for GPU use: "" looks it up on PATH
	// (a machine without it has no GPUs), "off" never runs it.
	NvidiaSMI string
	// Mountinfo is where the cgroup mounts are found.
	Mountinfo string
	// RequestTimeout bounds one push.
	RequestTimeout time.Duration
	// ShutdownPush bounds the last push attempt when the agent is stopped.
	ShutdownPush time.Duration
}

// Defaults is the configuration before the file and the flags.
func Defaults() Config {
	return Config{
		Interval:       30 * time.Second,
		Window:         time.Hour,
		StateDir:       "/var/lib/parsimony-agent",
		SpoolMaxBytes:  DefaultSpoolMaxBytes,
		Mountinfo:      "/proc/self/mountinfo",
		RequestTimeout: 30 * time.Second,
		ShutdownPush:   5 * time.Second,
	}
}

// fileConfig is the file's form of Config: durations as "30s", sizes as
// "256MiB" or a number of bytes.
type fileConfig struct {
	Server         string   `toml:"server"`
	TokenFile      string   `toml:"token_file"`
	Host           string   `toml:"host"`
	Interval       string   `toml:"interval"`
	Window         string   `toml:"window"`
	MaxGap         string   `toml:"max_gap"`
	Roots          []string `toml:"roots"`
	AllowedCores   *float64 `toml:"allowed_cores"`
	AllowedMemory  any      `toml:"allowed_memory"`
	StateDir       string   `toml:"state_dir"`
	SpoolMaxBytes  any      `toml:"spool_max_bytes"`
	MetricsListen  string   `toml:"metrics_listen"`
	NvidiaSMI      string   `toml:"nvidia_smi"`
	Mountinfo      string   `toml:"mountinfo"`
	RequestTimeout string   `toml:"request_timeout"`
	ShutdownPush   string   `toml:"shutdown_push"`
}

// LoadConfig reads a configuration file over the defaults. It does not
// validate: flags may still change it (see Validate).
func LoadConfig(path string) (Config, error) {
	cfg := Defaults()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("agent config: %w", err)
	}
	var f fileConfig
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) {
			return cfg, fmt.Errorf("agent config %s: unknown keys (see docs/agent.md):\n%s", path, strict.String())
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return cfg, fmt.Errorf("agent config %s:%d:%d: %s", path, row, col, de.Error())
		}
		return cfg, fmt.Errorf("agent config %s: %w", path, err)
	}
	var problems []string
	bad := func(key string, err error) { problems = append(problems, key+": "+err.Error()) }
	setString := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	setDuration := func(key string, dst *time.Duration, v string) {
		if v == "" {
			return
		}
		d, err := ParseDuration(v)
		if err != nil {
			bad(key, err)
			return
		}
		*dst = d
	}
	setBytes := func(key string, dst *int64, v any) {
		if v == nil {
			return
		}
		n, err := byteSize(v)
		if err != nil {
			bad(key, err)
			return
		}
		*dst = n
	}
	setString(&cfg.Server, f.Server)
	setString(&cfg.TokenFile, f.TokenFile)
	setString(&cfg.Host, f.Host)
	setDuration("interval", &cfg.Interval, f.Interval)
	setDuration("window", &cfg.Window, f.Window)
	setDuration("max_gap", &cfg.MaxGap, f.MaxGap)
	if f.Roots != nil {
		cfg.Roots = f.Roots
	}
	if f.AllowedCores != nil {
		cfg.AllowedCores = *f.AllowedCores
	}
	setBytes("allowed_memory", &cfg.AllowedMemoryBytes, f.AllowedMemory)
	setString(&cfg.StateDir, f.StateDir)
	setBytes("spool_max_bytes", &cfg.SpoolMaxBytes, f.SpoolMaxBytes)
	setString(&cfg.MetricsListen, f.MetricsListen)
	setString(&cfg.NvidiaSMI, f.NvidiaSMI)
	setString(&cfg.Mountinfo, f.Mountinfo)
	setDuration("request_timeout", &cfg.RequestTimeout, f.RequestTimeout)
	setDuration("shutdown_push", &cfg.ShutdownPush, f.ShutdownPush)
	if len(problems) > 0 {
		return cfg, fmt.Errorf("agent config %s:\n  %s", path, strings.Join(problems, "\n  "))
	}
	return cfg, nil
}

// ParseDuration reads a duration like "30s", "1h" or "90m".
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: write a number and a unit (s, m, h), like \"30s\" or \"1h\"", s)
	}
	return d, nil
}

// ParseBytes reads a size: a number of bytes, or one with a unit (KiB, MiB,
// GiB, TiB; or KB, MB, GB, TB in powers of ten): "256MiB", "16GiB".
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}, {"B", 1},
	}
	mult := 1.0
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 || math.IsNaN(v) || v*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("%q is not a size: write bytes, or a number and a unit, like \"256MiB\" or \"16GiB\"", s)
	}
	return int64(v * mult), nil
}

func byteSize(v any) (int64, error) {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return 0, fmt.Errorf("%d is negative", v)
		}
		return v, nil
	case string:
		return ParseBytes(v)
	}
	return 0, fmt.Errorf("%v is not a size: write bytes, or a string like \"256MiB\"", v)
}

// DefaultHost is the machine's short host name, lower-cased: the name the
// ledger knows it by unless configured otherwise.
func DefaultHost() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("host name: %w", err)
	}
	h, _, _ = strings.Cut(h, ".")
	return strings.ToLower(h), nil
}

// Validate says everything wrong with a configuration at once. push is false
// for `--once`, which neither pushes nor spools, so it needs no server, token
// or state directory.
func (c Config) Validate(push bool) error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if push {
		switch u, err := url.Parse(c.Server); {
		case c.Server == "":
			bad("server: required (the Parsimony server's URL, like https://parsimony.example.edu)")
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			bad("server: %q is not an http(s) URL like https://parsimony.example.edu", c.Server)
		case u.RawQuery != "" || u.Fragment != "":
			bad("server: %q: give the server's base URL, without a query", c.Server)
		}
		if c.TokenFile == "" {
			bad("token_file: required (a file holding an ingest token: parsimony token create --scope ingest --source cgroup --cluster HOST)")
		} else if data, err := os.ReadFile(c.TokenFile); err != nil {
			bad("token_file: %v", err)
		} else if strings.TrimSpace(string(data)) == "" {
			bad("token_file: %s is empty", c.TokenFile)
		}
		if !filepath.IsAbs(c.StateDir) {
			bad("state_dir: %q must be an absolute path", c.StateDir)
		}
		if c.SpoolMaxBytes < 1<<20 {
			bad("spool_max_bytes: %d is under 1MiB", c.SpoolMaxBytes)
		}
		if c.RequestTimeout <= 0 {
			bad("request_timeout: must be positive")
		}
		if c.ShutdownPush < 0 {
			bad("shutdown_push: must not be negative")
		}
		if c.MetricsListen != "" {
			if _, _, err := net.SplitHostPort(c.MetricsListen); err != nil {
				bad("metrics_listen: %q is not host:port (like 127.0.0.1:9464)", c.MetricsListen)
			}
		}
	}
	switch {
	case c.Host == "":
		bad("host: empty (and the host name could not be read)")
	case len(c.Host) > 256 || strings.ContainsAny(c.Host, " \t\n/\\\x00"):
		bad("host: %q is not a host name", c.Host)
	}
	switch {
	case c.Interval < time.Second:
		bad("interval: %s is under 1s", c.Interval)
	case c.Window < c.Interval:
		bad("window: %s is shorter than the interval %s", c.Window, c.Interval)
	case c.Window%c.Interval != 0:
		bad("window: %s is not a whole number of intervals (%s), so samples would not fall on window boundaries", c.Window, c.Interval)
	case (24*time.Hour)%c.Window != 0 && c.Window%(24*time.Hour) != 0:
		bad("window: %s does not divide a day (like 15m, 1h or 24h): windows are aligned to the Unix epoch", c.Window)
	}
	if c.MaxGap < 0 {
		bad("max_gap: must not be negative")
	}
	if c.AllowedCores < 0 || math.IsNaN(c.AllowedCores) || math.IsInf(c.AllowedCores, 0) {
		bad("allowed_cores: %v must be a number ≥ 0", c.AllowedCores)
	}
	if c.AllowedMemoryBytes < 0 {
		bad("allowed_memory: must not be negative")
	}
	for _, r := range c.Roots {
		_, err := path.Match(r, "")
		if rel := strings.Trim(r, "/"); rel == "" || err != nil || slices.Contains(strings.Split(rel, "/"), "..") {
			bad("roots: %q is not a glob pattern of cgroups below the hierarchy's root, like \"system.slice/jupyter-*.service\"", r)
		}
	}
	if c.Mountinfo == "" {
		bad("mountinfo: empty")
	}
	if len(problems) > 0 {
		return errors.New("invalid configuration:\n  " + strings.Join(problems, "\n  "))
	}
	return nil
}
