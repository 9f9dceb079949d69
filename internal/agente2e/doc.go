// Package agente2e holds the end-to-end tests of `parsimony agent` on the real
// kernel: a per-user slice made in this machine's cgroup v2 hierarchy, a
// process burning CPU in it as an unprivileged user, the agent (in process, and
// as the built binary killed with SIGKILL) pushing to a real server on a real
// database, and the ledger's core-seconds compared with the kernel's counter.
//
// The tests need root (to make cgroups and start a process as another user);
// without it they fail and say so, because a skipped end-to-end test proves
// nothing. The package has no code of its own: this file only names it.
package agente2e
