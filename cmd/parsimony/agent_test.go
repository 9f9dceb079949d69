package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/usagebatch"
)

// cgroupFixture lays out a cgroup v2 tree like cgroupfs (a root and one user
// slice) and a mountinfo naming it, and returns the mountinfo's path and a
// function that sets the user's cumulative CPU time.
func cgroupFixture(t *testing.T) (mountinfo string, setUsage func(usec int)) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "cgroup")
	user := filepath.Join(root, "user.slice", "user-1000.slice")
	if err := os.MkdirAll(user, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, body string) {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "cgroup.controllers"), "cpu io memory pids\n")
	write(filepath.Join(user, "memory.current"), "104857600\n")
	write(filepath.Join(user, "memory.max"), "max\n")
	write(filepath.Join(user, "cpu.max"), "max 100000\n")
	setUsage = func(usec int) {
		write(filepath.Join(root, "cpu.stat"), fmt.Sprintf("usage_usec %d\nuser_usec 0\nsystem_usec 0\n", 10*usec))
		write(filepath.Join(user, "cpu.stat"), fmt.Sprintf("usage_usec %d\nuser_usec %d\nsystem_usec 0\n", usec, usec))
	}
	setUsage(1_000_000)
	mountinfo = filepath.Join(dir, "mountinfo")
	write(mountinfo, "22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"+
		"30 22 0:27 / "+root+" rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n")
	return mountinfo, setUsage
}

func TestAgentCommandValidation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.toml")
	os.WriteFile(unknown, []byte("server = \"http://x\"\nservr = \"typo\"\n"), 0o600)
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"agent", "--host", "ws-01"}, 1, "server: required"},
		{[]string{"agent", "--host", "ws-01"}, 1, "token_file: required"},
		{[]string{"agent", "--config", unknown}, 1, "servr"},
		{[]string{"agent", "--config", filepath.Join(dir, "missing.toml")}, 1, "missing.toml"},
		{[]string{"agent", "--once", "--host", "ws-01", "--interval", "7s", "--window", "30s"}, 1, "window"},
		{[]string{"agent", "--once", "--host", "ws 01"}, 1, "host"},
		{[]string{"agent", "--once", "--root", "../etc"}, 1, "roots"},
		{[]string{"agent", "--spool-max", "lots"}, 2, "--spool-max"},
		{[]string{"agent", "--allowed-memory", "-1"}, 2, "--allowed-memory"},
		{[]string{"agent", "run"}, 2, "unexpected argument"},
		{[]string{"agent", "--once", "--host", "ws-01", "--mountinfo", filepath.Join(dir, "none")}, 1, "mount table"},
	} {
		code, _, stderr := cli(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d naming %q", tt.args, code, stderr, tt.code, tt.want)
		}
	}
}

// --once reads a baseline, samples, prints JSON lines and writes nothing.
func TestAgentOnce(t *testing.T) {
	t.Parallel()
	mountinfo, setUsage := cgroupFixture(t)
	state := filepath.Join(t.TempDir(), "state")
	go func() {
		time.Sleep(100 * time.Millisecond)
		setUsage(3_000_000)
	}()
	code, stdout, stderr := cli(t, "agent", "--once", "--once-wait", "400ms", "--host", "ws-01", "--mountinfo", mountinfo,
		"--nvidia-smi", "off", "--state-dir", state)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var cpu *usagebatch.Record
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		rec, err := usagebatch.DecodeRecord(sc.Bytes()) // strictly, as the server will
		if err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if rec.Cluster != "ws-01" || rec.Source != "cgroup" {
			t.Errorf("record %+v", rec)
		}
		if rec.ExternalID == "/user.slice/user-1000.slice" && rec.Resource == "cpu" {
			cpu = &rec
		}
	}
	if cpu == nil || cpu.Quantity != 2 {
		t.Fatalf("no cpu record of 2 core-seconds for user-1000.slice in:\n%s", stdout)
	}
	if _, err := os.Stat(state); err == nil {
		t.Error("--once wrote a state directory")
	}
}

// `parsimony agent --config F` runs until stopped, pushing to the server, and
// exits 0 on SIGTERM (here: its context cancelled) after a last sample.
func TestAgentRunsAndStops(t *testing.T) {
	t.Parallel()
	mountinfo, setUsage := cgroupFixture(t)
	var mu sync.Mutex
	got := map[string]int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer pat_agent" {
			http.Error(w, `{"error": "no"}`, http.StatusUnauthorized)
			return
		}
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, `{"error": "gzip"}`, http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(zr)
		var b usagebatch.Batch
		if err := json.Unmarshal(body, &b); err != nil {
			http.Error(w, `{"error": "json"}`, http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rec := range b.Records {
			got[rec.ExternalID+" "+rec.Resource] = rec.Quantity
		}
		mu.Unlock()
		fmt.Fprintf(w, `{"read": %d, "quarantined": 0, "rejected": []}`, len(b.Records))
	}))
	defer srv.Close()
	dir := t.TempDir()
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("pat_agent\n"), 0o600)
	cfg := filepath.Join(dir, "agent.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server = %q
token_file = %q
host = "ws-01"
interval = "1s"
state_dir = %q
mountinfo = %q
nvidia_smi = "off"
`, srv.URL, token, filepath.Join(dir, "state"), mountinfo)), 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr bytes.Buffer
	go func() { done <- run(ctx, []string{"agent", "--config", cfg}, io.Discard, &stderr) }()
	time.Sleep(300 * time.Millisecond)
	setUsage(4_000_000)
	time.Sleep(1500 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the agent did not stop")
	}
	mu.Lock()
	defer mu.Unlock()
	if got["/user.slice/user-1000.slice cpu"] != 3 {
		t.Errorf("server got %v; want 3 core-seconds for user-1000.slice\n%s", got, stderr.String())
	}
	for _, f := range []string{"spool.log", "sampler.state"} {
		if _, err := os.Stat(filepath.Join(dir, "state", f)); err != nil {
			t.Errorf("state directory: %v", err)
		}
	}
}

// The systemd unit keeps its hardening; systemd-analyze verifies it where it
// is installed.
func TestAgentSystemdUnit(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "contrib", "systemd", "parsimony-agent.service")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{} // "Section.Key" → values
	section := ""
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Errorf("unit line %q is not Key=Value", line)
				continue
			}
			keys[section+"."+strings.TrimSpace(k)] = append(keys[section+"."+strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	for k, want := range map[string]string{
		"Service.Type": "simple", "Service.DynamicUser": "yes", "Service.ProtectSystem": "strict",
		"Service.ProtectHome": "yes", "Service.PrivateTmp": "yes", "Service.NoNewPrivileges": "yes",
		"Service.ReadOnlyPaths": "/sys/fs/cgroup", "Service.StateDirectory": "parsimony-agent",
		"Service.RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "Service.CapabilityBoundingSet": "",
		"Service.SystemCallFilter": "@system-service", "Service.MemoryMax": "64M", "Service.Restart": "on-failure",
		"Install.WantedBy": "multi-user.target",
	} {
		if v := keys[k]; len(v) != 1 || v[0] != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	if start := keys["Service.ExecStart"]; len(start) != 1 || !strings.HasPrefix(start[0], "/usr/local/bin/parsimony-agent --config ") ||
		!strings.Contains(start[0], "--state-dir /var/lib/parsimony-agent") {
		t.Errorf("ExecStart %q", start)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed: the unit was only parsed")
		return
	}
	// verify insists that ExecStart's program exists: point it at this test binary.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "parsimony-agent.service")
	os.WriteFile(unit, bytes.ReplaceAll(data, []byte("/usr/local/bin/parsimony-agent"), []byte(self)), 0o644)
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
