package cgroup

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeNvidiaSMI writes a script answering the two queries with recorded
// outputs (testdata/nvidia-smi), logging its arguments, and exiting with code
// when it is not 0 (9 is nvidia-smi's "driver not loaded").
func fakeNvidiaSMI(t *testing.T, apps, gpus string, code int) (bin, calls string) {
	t.Helper()
	dir := t.TempDir()
	abs := func(name string) string {
		p, err := filepath.Abs(filepath.Join("testdata", "nvidia-smi", name))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	bin, calls = filepath.Join(dir, "nvidia-smi"), filepath.Join(dir, "calls")
	script := "#!/bin/sh\necho \"$@\" >> '" + calls + "'\n"
	if code != 0 {
		script += "echo 'NVIDIA-SMI has failed because it couldn'\\''t communicate with the NVIDIA driver.' >&2\nexit 9\n"
	}
	script += "case \"$1\" in\n--query-compute-apps=*) cat '" + abs(apps) + "' ;;\n--query-gpu=*) cat '" + abs(gpus) + "' ;;\n*) exit 2 ;;\nesac\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, calls
}

const (
	gpuA = "GPU-3b4c1d2e-5f60-7182-93a4-b5c6d7e8f901"
	gpuB = "GPU-9e8d7c6b-5a49-3827-1605-f4e3d2c1b0a9"
	gpuC = "GPU-0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
)

func TestReadGPUsAttachedToAccountedCgroups(t *testing.T) {
	h := fixtureHierarchy(t, "v2")
	proc, _ := filepath.Abs("testdata/v2/proc")
	bin, _ := fakeNvidiaSMI(t, "compute-apps.csv", "gpus.csv", 0)
	cfg := testConfig(proc, "user.slice/user-*.slice", "system.slice/jupyter-*.service", "machine.slice/*")
	cfg.NoGPU, cfg.NvidiaSMI, cfg.Host = false, bin, true
	snap, err := NewReader(h, cfg).Read(context.Background(), testTime)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range snap.Errors {
		if !strings.Contains(err.Error(), "user-1002") { // the fixture's garbage cpu.stat
			t.Errorf("error: %v", err)
		}
	}
	got := map[string][]GPUUse{}
	for _, rd := range snap.Cgroups {
		if rd.GPUs != nil {
			got[rd.Path] = rd.GPUs
		}
	}
	want := map[string][]GPUUse{
		// session-3.scope's process on two GPUs, attached to its user slice
		"/user.slice/user-1000.slice":         {{UUID: gpuA, Utilization: 0.87, MemoryBytes: 10240 << 20}, {UUID: gpuB, Utilization: 1, MemoryBytes: 512 << 20}},
		"/system.slice/jupyter-alice.service": {{UUID: gpuA, Utilization: 0.87, MemoryBytes: 2048 << 20}},
		// two processes on one GPU, one with [N/A] memory: one GPUUse
		"/machine.slice/libpod-abc123.scope": {{UUID: gpuB, Utilization: 1, MemoryBytes: 30500 << 20}},
		// utilisation [Not Supported]; the session scope itself is not in the tree
		"/user.slice/user-1001.slice": {{UUID: gpuC, Utilization: -1, MemoryBytes: 1024 << 20}},
		// sshd is not accounted: the host's own; PID 31337 has exited: nobody's
		"/": {{UUID: gpuC, Utilization: -1, MemoryBytes: 64 << 20}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GPUs:\n got %+v\nwant %+v", got, want)
	}
}

func TestReadGPUsNoProcessesRunsOneQuery(t *testing.T) {
	tr, h := newTree(t)
	tr.slice(1000, 1)
	bin, calls := fakeNvidiaSMI(t, "compute-apps-none.csv", "gpus.csv", 0)
	cfg := testConfig(t.TempDir())
	cfg.NoGPU, cfg.NvidiaSMI = false, bin
	got := readOK(t, NewReader(h, cfg))
	for _, rd := range got {
		if rd.GPUs != nil {
			t.Errorf("%s: GPUs %+v", rd.Path, rd.GPUs)
		}
	}
	log, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "\n"); n != 1 {
		t.Errorf("nvidia-smi ran %d times, want once (no GPU query without processes):\n%s", n, log)
	}
}

func TestReadGPUsNvidiaSMIAbsent(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	tr, h := newTree(t)
	tr.slice(1000, 1)
	cfg := testConfig(t.TempDir())
	cfg.NoGPU = false
	r := NewReader(h, cfg)
	if r.nvidiaSMI != "" {
		t.Fatalf("found nvidia-smi at %q", r.nvidiaSMI)
	}
	readOK(t, r) // no error
}

func TestReadGPUsNvidiaSMIFails(t *testing.T) {
	tr, h := newTree(t)
	tr.slice(1000, 1)
	bin, _ := fakeNvidiaSMI(t, "compute-apps.csv", "gpus.csv", 9)
	cfg := testConfig(t.TempDir())
	cfg.NoGPU, cfg.NvidiaSMI = false, bin
	snap, err := NewReader(h, cfg).Read(context.Background(), testTime)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Errors) != 1 || !strings.Contains(snap.Errors[0].Error(), "communicate with the NVIDIA driver") {
		t.Errorf("Errors = %v", snap.Errors)
	}
	if len(snap.Cgroups) != 1 {
		t.Errorf("the cgroups are still read: %+v", snap.Cgroups)
	}
}

func TestParseComputeApps(t *testing.T) {
	apps, err := parseComputeApps([]byte("1, GPU-a, 10\n\nNo running processes found\n2, GPU-b, [N/A]\n3, GPU-c, 7 MiB\nx, GPU-d, 1\n4, [N/A], 1\n5, GPU-e\n6, GPU-f, -3\n"))
	want := []gpuApp{{1, "GPU-a", 10 << 20}, {2, "GPU-b", 0}, {3, "GPU-c", 7 << 20}}
	if !reflect.DeepEqual(apps, want) {
		t.Errorf("apps = %+v, want %+v", apps, want)
	}
	if err == nil || strings.Count(err.Error(), "\n") != 3 {
		t.Errorf("err = %v, want four line errors", err)
	}
}

func TestParseGPUUtilization(t *testing.T) {
	got, err := parseGPUUtilization([]byte("GPU-a, 0\nGPU-b, 100 %\nGPU-c, [N/A]\nGPU-d, [Not Supported]\nGPU-e, 101\nGPU-f\n, 5\nGPU-g, 1, 2\n"))
	want := map[string]float64{"GPU-a": 0, "GPU-b": 1, "GPU-c": -1, "GPU-d": -1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if err == nil || strings.Count(err.Error(), "\n") != 3 {
		t.Errorf("err = %v, want four line errors", err)
	}
}

func TestProcessCgroupV1AndContainerRoot(t *testing.T) {
	proc := t.TempDir()
	write := func(pid, content string) {
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, pid, "cgroup"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("10", "12:memory:/user.slice/user-1000.slice/session-1.scope\n4:cpu,cpuacct:/user.slice/user-1000.slice/session-1.scope\n1:name=systemd:/user.slice/user-1000.slice/session-1.scope\n")
	write("11", "0::/docker/abc/app\n")
	write("12", "0::/elsewhere\n")
	v1 := NewReader(Hierarchy{Version: 1, CPUAcct: Mount{Point: "/x", Root: "/"}}, ReaderConfig{Proc: proc, NoGPU: true})
	if p, ok := v1.processCgroup(10); !ok || p != "/user.slice/user-1000.slice/session-1.scope" {
		t.Errorf("v1: %q %v", p, ok)
	}
	v2 := NewReader(Hierarchy{Version: 2, Unified: Mount{Point: "/x", Root: "/docker/abc"}}, ReaderConfig{Proc: proc, NoGPU: true})
	if p, ok := v2.processCgroup(11); !ok || p != "/app" {
		t.Errorf("container root: %q %v", p, ok)
	}
	if p, ok := v2.processCgroup(12); ok {
		t.Errorf("outside the mount: %q", p)
	}
	if p, ok := v2.processCgroup(13); ok {
		t.Errorf("no such process: %q", p)
	}
}
