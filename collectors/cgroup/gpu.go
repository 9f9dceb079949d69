package cgroup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"time"
)

// nvidiaSMITimeout bounds one nvidia-smi run: a wedged driver makes it hang,
// and the agent's next interval must not wait on it.
const nvidiaSMITimeout = 10 * time.Second

// The two queries, in NVIDIA's documented --query-* form (nvidia-smi
// --help-query-compute-apps, --help-query-gpu): one line per process on a GPU,
// one line per GPU. used_gpu_memory is in MiB, utilization.gpu in percent;
// either may be "[N/A]" or "[Not Supported]".
var (
	queryComputeApps = []string{"--query-compute-apps=pid,gpu_uuid,used_gpu_memory", "--format=csv,noheader,nounits"}
	queryGPUs        = []string{"--query-gpu=uuid,utilization.gpu", "--format=csv,noheader,nounits"}
)

// findNvidiaSMI returns the nvidia-smi to run: the configured path, or the one
// on PATH, or "" when there is none (a machine without GPUs).
func findNvidiaSMI(configured string) string {
	if configured != "" {
		return configured
	}
	p, err := exec.LookPath("nvidia-smi")
	if err != nil {
		return ""
	}
	return p
}

// gpuApp is one process on one GPU.
type gpuApp struct {
	PID         uint64
	UUID        string
	MemoryBytes uint64
}

// attachGPUs asks nvidia-smi which processes are on which GPU and gives each
// process's GPU to the accounted cgroup containing it (the nearest accounted
// ancestor of the process's cgroup; the host's Reading, path "/", when Host is
// on and no accounted cgroup contains it). Processes outside every accounted
// cgroup are otherwise not counted.
func (r *Reader) attachGPUs(ctx context.Context, snap *Snapshot) error {
	out, err := r.runNvidiaSMI(ctx, queryComputeApps)
	if err != nil {
		return err
	}
	apps, parseErr := parseComputeApps(out)
	if len(apps) == 0 {
		return parseErr
	}
	util := map[string]float64{}
	if out, err := r.runNvidiaSMI(ctx, queryGPUs); err != nil {
		parseErr = errors.Join(parseErr, err) // usage without utilisation is still worth sending
	} else {
		var err error
		util, err = parseGPUUtilization(out)
		parseErr = errors.Join(parseErr, err)
	}

	byPath := make(map[string]int, len(snap.Cgroups))
	for i, rd := range snap.Cgroups {
		byPath[rd.Path] = i
	}
	for _, app := range apps {
		cg, ok := r.processCgroup(app.PID)
		if !ok {
			continue // exited since nvidia-smi listed it, or outside this hierarchy
		}
		i, ok := nearestAccounted(cg, byPath)
		if !ok {
			continue
		}
		u, known := util[app.UUID]
		if !known {
			u = -1
		}
		rd := &snap.Cgroups[i]
		found := false
		for j := range rd.GPUs {
			if rd.GPUs[j].UUID == app.UUID {
				rd.GPUs[j].MemoryBytes += app.MemoryBytes
				found = true
				break
			}
		}
		if !found {
			rd.GPUs = append(rd.GPUs, GPUUse{UUID: app.UUID, Utilization: u, MemoryBytes: app.MemoryBytes})
		}
	}
	if parseErr != nil {
		return fmt.Errorf("cgroup: nvidia-smi: %w", parseErr)
	}
	return nil
}

// nearestAccounted finds p or its nearest ancestor among the Readings.
func nearestAccounted(p string, byPath map[string]int) (int, bool) {
	for {
		if i, ok := byPath[p]; ok {
			return i, true
		}
		if p == "/" || p == "." || p == "" {
			return 0, false
		}
		p = path.Dir(p)
	}
}

func (r *Reader) runNvidiaSMI(ctx context.Context, args []string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, nvidiaSMITimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.nvidiaSMI, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return nil, fmt.Errorf("cgroup: %s %s: %w: %s", r.nvidiaSMI, args[0], err, msg)
	}
	return stdout.Bytes(), nil
}

// processCgroup reads /proc/PID/cgroup and returns the process's cgroup in
// this Reader's hierarchy, as a path from the mount's root: the v2 line
// ("0::/user.slice/user-1000.slice/session-3.scope") or, on v1, the line of
// the controller list holding cpuacct ("4:cpu,cpuacct:/user.slice/...").
func (r *Reader) processCgroup(pid uint64) (string, bool) {
	data, err := r.readFile(r.cfg.Proc + "/" + strconv.FormatUint(pid, 10) + "/cgroup")
	if err != nil {
		return "", false
	}
	mount := r.h.Unified
	if r.h.Version == 1 {
		mount = r.h.CPUAcct
	}
	for len(data) > 0 {
		var line []byte
		line, data = cutLine(data)
		_, rest, ok := strings.Cut(string(line), ":")
		if !ok {
			continue
		}
		controllers, p, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		if r.h.Version == 2 && controllers != "" {
			continue
		}
		if r.h.Version == 1 && !hasController(controllers, "cpuacct") {
			continue
		}
		return relativeToMount(p, mount.Root)
	}
	return "", false
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// relativeToMount turns a path from /proc/PID/cgroup into one from the mount
// point: a container's mount shows only its own cgroup (mountinfo's root).
func relativeToMount(p, root string) (string, bool) {
	if !strings.HasPrefix(p, "/") {
		return "", false
	}
	if root == "" || root == "/" {
		return p, true
	}
	if p == root {
		return "/", true
	}
	rest, ok := strings.CutPrefix(p, root+"/")
	if !ok {
		return "", false // outside what the mount shows
	}
	return "/" + rest, true
}

// parseComputeApps parses `nvidia-smi --query-compute-apps=pid,gpu_uuid,used_gpu_memory
// --format=csv,noheader,nounits`:
//
//	14211, GPU-3b4c1d2e-5f60-7182-93a4-b5c6d7e8f901, 10240
//
// An unknown memory ("[N/A]", "[Not Supported]", the rule with MIG and in
// some containers) is 0. A line that does not parse is left out and reported;
// the others are kept.
func parseComputeApps(data []byte) ([]gpuApp, error) {
	var apps []gpuApp
	var errs []error
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "No running") {
			continue
		}
		fields := strings.Split(line, ",")
		if len(fields) != 3 {
			errs = append(errs, fmt.Errorf("compute apps line %d: %d fields, want 3: %q", n+1, len(fields), line))
			continue
		}
		pid, err := strconv.ParseUint(strings.TrimSpace(fields[0]), 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("compute apps line %d: pid: %w", n+1, err))
			continue
		}
		uuid := strings.TrimSpace(fields[1])
		if uuid == "" || isNotAvailable(uuid) {
			errs = append(errs, fmt.Errorf("compute apps line %d: no GPU UUID: %q", n+1, line))
			continue
		}
		var mem uint64
		if m := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(fields[2]), "MiB")); !isNotAvailable(m) {
			mib, err := strconv.ParseUint(m, 10, 64)
			if err != nil || mib > 1<<43 {
				errs = append(errs, fmt.Errorf("compute apps line %d: used_gpu_memory %q is not MiB", n+1, m))
				continue
			}
			mem = mib << 20
		}
		apps = append(apps, gpuApp{PID: pid, UUID: uuid, MemoryBytes: mem})
	}
	return apps, errors.Join(errs...)
}

// parseGPUUtilization parses `nvidia-smi --query-gpu=uuid,utilization.gpu
// --format=csv,noheader,nounits` ("GPU-3b4c…, 87") into a 0–1 fraction per
// GPU, -1 where the GPU does not say.
func parseGPUUtilization(data []byte) (map[string]float64, error) {
	out := map[string]float64{}
	var errs []error
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		uuid, value, ok := strings.Cut(line, ",")
		uuid, value = strings.TrimSpace(uuid), strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "%"))
		if !ok || uuid == "" || strings.Contains(value, ",") {
			errs = append(errs, fmt.Errorf("gpu line %d: want uuid, utilization: %q", n+1, line))
			continue
		}
		if isNotAvailable(value) {
			out[uuid] = -1
			continue
		}
		pct, err := strconv.ParseUint(strings.TrimSpace(value), 10, 8)
		if err != nil || pct > 100 {
			errs = append(errs, fmt.Errorf("gpu line %d: utilization %q is not a percentage", n+1, value))
			continue
		}
		out[uuid] = float64(pct) / 100
	}
	return out, errors.Join(errs...)
}

// isNotAvailable reports nvidia-smi's bracketed unknowns: "[N/A]",
// "[Not Supported]", "[Unknown Error]", "[Insufficient Permissions]".
func isNotAvailable(s string) bool {
	return strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]")
}
