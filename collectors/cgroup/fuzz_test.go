package cgroup

import (
	"math"
	"strings"
	"testing"
)

// The parsers of everything the agent reads from the kernel and nvidia-smi:
// no input may panic them. Interesting inputs found are kept in testdata/fuzz.

func FuzzParseMountinfo(f *testing.F) {
	f.Add([]byte(hybridMountinfo))
	f.Add([]byte(`29 23 0:26 /../.. /sys/fs/cgroup rw shared:4 master:2 - cgroup2 cgroup2 rw,nsdelegate`))
	f.Add([]byte(`41 31 0:38 / /mnt/my\040cgroups\134 rw - cgroup cgroup rw,cpu,cpuacct`))
	f.Fuzz(func(t *testing.T, data []byte) {
		mounts, err := parseMountinfo(data)
		if err != nil {
			return
		}
		h, err := hierarchyFromMounts(mounts)
		if err == nil && h.Version == 2 && h.Unified.Point == "" && !hasEmptyPoint(mounts) {
			t.Errorf("v2 hierarchy with no mount point from %q", data)
		}
	})
}

func hasEmptyPoint(mounts []mountEntry) bool {
	for _, m := range mounts {
		if m.Point == "" {
			return true
		}
	}
	return false
}

func FuzzUnescapeMountinfo(f *testing.F) {
	f.Add(`/a\040b\011c\012d\134e`)
	f.Add(`\0`)
	f.Fuzz(func(t *testing.T, s string) {
		got := unescapeMountinfo(s)
		if len(got) > len(s) {
			t.Errorf("unescape grew %q to %q", s, got)
		}
		if !strings.Contains(s, `\`) && got != s {
			t.Errorf("unescape changed %q to %q", s, got)
		}
	})
}

func FuzzParseCPUStat(f *testing.F) {
	f.Add([]byte("usage_usec 123456789\nuser_usec 100000000\nsystem_usec 23456789\nnr_periods 5\ncore_sched.force_idle_usec 0\n"))
	f.Add([]byte("usage_usec twelve\n\x00garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parseCPUStat(data)
	})
}

func FuzzParseIOStat(f *testing.F) {
	f.Add([]byte("8:0 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n259:0 rbytes=4096 wbytes=8192 future=7\n"))
	f.Add([]byte("8:0  rbytes=1\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		devices, err := parseIOStat(data)
		if err == nil && devices == nil {
			t.Error("nil map without an error")
		}
	})
}

func FuzzParseCPUMax(f *testing.F) {
	for _, s := range []string{"max 100000\n", "200000 100000", "max", "1 0", "18446744073709551615 1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cores, err := parseCPUMax(data)
		if err == nil && (cores < 0 || math.IsNaN(cores) || math.IsInf(cores, 0)) {
			t.Errorf("parseCPUMax(%q) = %v", data, cores)
		}
		_, _, _ = parseValue(data)
		_, _ = parseInt(data)
	})
}

func FuzzParseComputeApps(f *testing.F) {
	f.Add([]byte("14211, GPU-3b4c1d2e-5f60-7182-93a4-b5c6d7e8f901, 10240\n4201, GPU-9e8d, [N/A]\n"))
	f.Add([]byte("No running processes found\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		apps, _ := parseComputeApps(data)
		for _, a := range apps {
			if a.UUID == "" {
				t.Errorf("app without a GPU from %q", data)
			}
		}
	})
}

func FuzzParseGPUUtilization(f *testing.F) {
	f.Add([]byte("GPU-3b4c, 87\nGPU-9e8d, [Not Supported]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		util, _ := parseGPUUtilization(data)
		for uuid, u := range util {
			if u != -1 && (u < 0 || u > 1) {
				t.Errorf("%s: utilisation %v from %q", uuid, u, data)
			}
		}
	})
}
