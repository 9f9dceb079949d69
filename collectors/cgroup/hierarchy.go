package cgroup

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Hierarchy is where this machine's cgroup accounting is mounted, as
// /proc/self/mountinfo says. Version 2 reads everything under Unified; version 1
// reads CPU time under CPUAcct, CFS quotas under CPU (the same mount when
// co-mounted as "cpu,cpuacct") and memory under Memory (zero when there is no
// memory hierarchy: memory is then absent from every Reading).
type Hierarchy struct {
	Version int // 1 or 2

	Unified Mount // version 2

	CPUAcct Mount // version 1
	CPU     Mount
	Memory  Mount
}

// Mount is one cgroup file system's mount point and its root: the cgroup the
// mount point shows, from the root of the hierarchy the process can see. Root is
// "/" on a host; inside a container that mounted only its own cgroup it is that
// cgroup's path, and paths in /proc/PID/cgroup start with it.
type Mount struct {
	Point string
	Root  string
}

// ErrNoCgroup is FindHierarchy's answer on a machine with neither a cgroup v2
// mount nor a v1 cpuacct hierarchy: there is nothing to account.
var ErrNoCgroup = errors.New("no cgroup v2 mount and no cgroup v1 cpuacct mount")

// mountEntry is one line of mountinfo, the fields this package needs.
type mountEntry struct {
	Root, Point, FSType string
	SuperOptions        []string
}

// FindHierarchy reads a mountinfo file (normally /proc/self/mountinfo) and
// returns the cgroup v2 mount if there is one, wherever it is mounted (a hybrid
// machine has it at /sys/fs/cgroup/unified), else the v1 cpuacct, cpu and
// memory mounts. On a hybrid machine v2 wins even when its children show only
// cpu.stat: the v1 controllers would need a second listing of every cgroup.
func FindHierarchy(mountinfoPath string) (Hierarchy, error) {
	data, err := os.ReadFile(mountinfoPath)
	if err != nil {
		return Hierarchy{}, fmt.Errorf("cgroup: reading mount table: %w", err)
	}
	mounts, err := parseMountinfo(data)
	if err != nil {
		return Hierarchy{}, fmt.Errorf("cgroup: %s: %w", mountinfoPath, err)
	}
	return hierarchyFromMounts(mounts)
}

func hierarchyFromMounts(mounts []mountEntry) (Hierarchy, error) {
	var h Hierarchy
	for _, m := range mounts {
		if m.FSType == "cgroup2" {
			// The first cgroup2 mount: the host's own is mounted at boot, before
			// any a container runtime or a user adds.
			return Hierarchy{Version: 2, Unified: Mount{Point: m.Point, Root: m.Root}}, nil
		}
		if m.FSType != "cgroup" {
			continue
		}
		mount := Mount{Point: m.Point, Root: m.Root}
		for _, opt := range m.SuperOptions {
			switch {
			case opt == "cpuacct" && h.CPUAcct.Point == "":
				h.CPUAcct = mount
			case opt == "cpu" && h.CPU.Point == "":
				h.CPU = mount
			case opt == "memory" && h.Memory.Point == "":
				h.Memory = mount
			}
		}
	}
	if h.CPUAcct.Point == "" {
		return Hierarchy{}, ErrNoCgroup
	}
	h.Version = 1
	return h, nil
}

// parseMountinfo parses proc(5)'s mountinfo format:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// mount ID, parent ID, major:minor, root, mount point, mount options, zero or
// more optional fields ended by a lone "-", then the file system type, the
// source and the super-block options. Root and mount point escape space, tab,
// newline and backslash as octal (\040).
func parseMountinfo(data []byte) ([]mountEntry, error) {
	var out []mountEntry
	for n, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		fields := strings.Fields(line)
		sep := -1
		for i := 6; i < len(fields); i++ {
			if fields[i] == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 6 || sep < 0 || sep+2 >= len(fields) {
			return nil, fmt.Errorf("mountinfo line %d: malformed: %q", n+1, line)
		}
		e := mountEntry{
			Root:   unescapeMountinfo(fields[3]),
			Point:  unescapeMountinfo(fields[4]),
			FSType: fields[sep+1],
		}
		if sep+3 < len(fields) {
			e.SuperOptions = strings.Split(fields[sep+3], ",")
		}
		out = append(out, e)
	}
	return out, nil
}

// unescapeMountinfo turns the kernel's \ooo octal escapes back into bytes; a
// backslash not followed by three octal digits is kept as it is.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (int(s[i+1]-'0') << 6) | (int(s[i+2]-'0') << 3) | int(s[i+3]-'0')
			if v <= 0xff {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
