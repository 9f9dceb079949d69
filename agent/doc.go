// Package agent is the cgroup agent (the parsimony-agent binary, or
// `parsimony agent`; its command line is package agentcmd): it runs on a
// shared machine (a big workstation, a login node, a JupyterHub host),
// samples the machine's usage on a fixed interval through a Sampler (the
// cgroup collector, wired in agent/agentcmd), and delivers the records to the
// server's ingest API (POST /api/v1/usage, docs/ingest-api.md).
//
// Delivery never depends on the server being there. Every sample is first
// appended to an on-disk spool (spool.go) and fsync'd; a separate pusher
// (push.go, pusher.go) sends what is pending, in order, and moves an
// acknowledgement cursor once the server has accepted it. The records are
// per-window running totals keyed by the ledger's natural key, so sending one
// again (a replay after a lost answer, a restart) changes nothing on the
// server: replays are safe, and only data the spool had to drop to stay within
// its size bound is ever lost, and that is logged and counted.
//
// The agent reads nothing but what its Sampler reads; it writes only its state
// directory (the spool, its cursor and the sampler's state).
package agent
