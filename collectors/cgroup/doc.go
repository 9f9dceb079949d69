// Package cgroup accounts the people of a shared machine (a big workstation, a
// login node, a JupyterHub host) from the kernel's cgroup accounting. It is the
// collector half of `parsimony agent`: it reads, it does not send. The agent
// package spools and posts what it makes to the ingest API.
//
// Two halves, joined by Snapshot:
//
//   - Reading (hierarchy.go, read.go, gpu.go): find the cgroup v2 mount in
//     /proc/self/mountinfo (never assume /sys/fs/cgroup; hybrid machines have it
//     at /sys/fs/cgroup/unified), fall back to v1's cpuacct and memory
//     hierarchies; list the accounted cgroups (systemd's user-UID.slice and the
//     configured roots, never a parent and its child both); read each one's
//     counters and limits into a Reading, keyed by path and inode.
//   - Accounting (account.go): successive Snapshots become per-window usage
//     records. Counters are cumulative, so a record is the window's running
//     total and is sent again, revised, until its window ends: the ledger keeps
//     the latest version of a natural key (source, host, cgroup path, resource,
//     window start), so resending never doubles anything. A re-created cgroup
//     (new inode) starts from zero; a counter that goes down is a reset, never
//     negative usage; a cgroup that vanished keeps the usage read before it did.
//
// The package imports only the ledger (records are ledger.Records, as every
// collector's are) and the standard library.
package cgroup
