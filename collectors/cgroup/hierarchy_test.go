package cgroup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// This machine's own mount table: hybrid, v1 controllers each on its own
// mount, v2 at /sys/fs/cgroup/unified.
const hybridMountinfo = `22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`

func TestFindHierarchy(t *testing.T) {
	tests := []struct {
		name      string
		mountinfo string
		want      Hierarchy
		wantErr   error
	}{
		{
			name:      "hybrid: v2 nested under the v1 tmpfs",
			mountinfo: hybridMountinfo,
			want:      Hierarchy{Version: 2, Unified: Mount{Point: "/sys/fs/cgroup/unified", Root: "/"}},
		},
		{
			name: "unified only, with optional fields and a container's root",
			mountinfo: `29 23 0:26 /../.. /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 master:2 propagate_from:1 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`,
			want: Hierarchy{Version: 2, Unified: Mount{Point: "/sys/fs/cgroup", Root: "/../.."}},
		},
		{
			name: "v1 with cpu,cpuacct co-mounted",
			mountinfo: `33 31 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 /docker/abc /sys/fs/cgroup/memory rw,relatime shared:12 - cgroup cgroup rw,memory
`,
			want: Hierarchy{
				Version: 1,
				CPUAcct: Mount{Point: "/sys/fs/cgroup/cpu,cpuacct", Root: "/"},
				CPU:     Mount{Point: "/sys/fs/cgroup/cpu,cpuacct", Root: "/"},
				Memory:  Mount{Point: "/sys/fs/cgroup/memory", Root: "/docker/abc"},
			},
		},
		{
			name: "v1 without memory",
			mountinfo: `33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
`,
			want: Hierarchy{Version: 1, CPUAcct: Mount{Point: "/sys/fs/cgroup/cpuacct", Root: "/"}},
		},
		{
			name: "octal escapes in the mount point",
			mountinfo: `41 31 0:38 / /mnt/my\040cgroups\011tab\134x rw - cgroup2 none rw
`,
			want: Hierarchy{Version: 2, Unified: Mount{Point: "/mnt/my cgroups\ttab\\x", Root: "/"}},
		},
		{
			name:      "no cgroup at all",
			mountinfo: "22 1 259:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n",
			wantErr:   ErrNoCgroup,
		},
		{
			name:      "v1 memory but no cpuacct",
			mountinfo: "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n",
			wantErr:   ErrNoCgroup,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "mountinfo")
			if err := os.WriteFile(file, []byte(tt.mountinfo), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := FindHierarchy(file)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseMountinfoMalformed(t *testing.T) {
	for _, in := range []string{
		"22 1 259:1 / / rw",                   // no separator
		"22 1 259:1 / / rw - ext4",            // no source
		"22 1 - ext4 /dev/vda rw",             // too few fields before the separator
		"41 31 0:38 / /x rw shared:1 cgroup2", // separator missing, optional field present
	} {
		if _, err := parseMountinfo([]byte(in)); err == nil {
			t.Errorf("parseMountinfo(%q) = nil error", in)
		}
	}
	if _, err := FindHierarchy(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("FindHierarchy of a missing file: nil error")
	}
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:       "/plain",
		`/a\040b`:      "/a b",
		`/trailing\04`: `/trailing\04`,
		`/bad\089`:     `/bad\089`,
		`/big\777`:     `/big\777`,
		`\`:            `\`,
		`/nl\012`:      "/nl\n",
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

// fixtureHierarchy finds the hierarchy of testdata/<version>: its mountinfo
// names the tree as TESTDATA, replaced here by the absolute path (escaped as
// the kernel would, in case the checkout's path has a space).
func fixtureHierarchy(t testing.TB, version string) Hierarchy {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", version))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "mountinfo"))
	if err != nil {
		t.Fatal(err)
	}
	escaped := strings.NewReplacer(`\`, `\134`, " ", `\040`, "\t", `\011`, "\n", `\012`).Replace(dir)
	file := filepath.Join(t.TempDir(), "mountinfo")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(data), "TESTDATA", escaped)), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := FindHierarchy(file)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
