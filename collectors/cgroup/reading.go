package cgroup

import "time"

// Snapshot is every accounted cgroup of one host read at one instant.
type Snapshot struct {
	At      time.Time
	Cgroups []Reading
	// Errors are cgroups that could not be read (other than vanishing between
	// listing and reading, which is normal and not an error): the agent logs and
	// counts them; their usage is read again next time.
	Errors []error
}

// Reading is one cgroup's counters and limits at Snapshot.At. Counters are
// cumulative since the cgroup was created; pointers are nil where the kernel
// has no such file (memory.peak before Linux 5.19, io.stat without the io
// controller, anything on this machine's v2 but cpu.stat).
type Reading struct {
	// Path is the cgroup's path from the hierarchy's root, "/user.slice/user-1000.slice".
	// Inode tells a re-created cgroup (every logout and login) from the old one.
	Path  string
	Inode uint64

	// Whose it is: UID -1 for the host's own (outside any per-user cgroup, or no
	// owner found). User is the login from NSS, or the UID in decimal when NSS
	// has no entry; Group the primary group's name (the ledger's group hint).
	UID   int
	User  string
	Group string

	CPUUsageUsec uint64  // cpu.stat usage_usec (v1: cpuacct.usage / 1000)
	MemoryBytes  *uint64 // memory.current (v1: memory.usage_in_bytes)
	MemoryPeak   *uint64 // memory.peak (v1: memory.max_usage_in_bytes)
	// IO is io.stat's cumulative bytes by device ("8:0"); a device may vanish.
	IO map[string]IOBytes

	// Limits, 0 where unlimited ("max"): what the cgroup was allowed, for the
	// allocated side of the records.
	CPULimitCores    float64 // cpu.max quota/period (v1: cfs_quota_us/cfs_period_us)
	MemoryLimitBytes uint64  // memory.max (v1: memory.limit_in_bytes below the page-counter max)

	// GPUs the cgroup's processes were using at this instant (nvidia-smi).
	GPUs []GPUUse
}

// IOBytes is one device's cumulative bytes read and written.
type IOBytes struct{ Read, Write uint64 }

// GPUUse is one GPU a cgroup's processes were on: the device's utilisation
// (0–1, or -1 where unknown) and the memory the cgroup's processes held on it.
// Where several cgroups share a GPU, each has its own GPUUse of it.
type GPUUse struct {
	UUID        string
	Utilization float64
	MemoryBytes uint64
}
