// Package collectors holds one package per source of usage (slurm, slurmassoc,
// csvimport; next the cgroup agent, Kubernetes and storage). This file is their
// contract: what a new collector must do to take its seat. It has no code.
//
// # What a collector imports
//
// Only the ledger (github.com/parsimony-hpc/parsimony/ledger) and its own
// source's libraries. Never server, views, config or another collector: a
// collector turns its source into ledger records and knows nothing of HTTP,
// flags or files it was not handed. cmd/parsimony wires configuration to it.
//
// # What a collector emits
//
// ledger.Records and ledger.Rejects, nothing else. Every unit of input it reads
// ends as exactly one of the two (nothing is lost): a Record with its natural key
// (source, cluster or host, external id, resource, interval), so that reading the
// same input again changes no total; or a Reject with the raw input and the
// reason, which the ledger quarantines for an admin to see. A collector never
// writes tables, never maps accounts to groups and never prices anything: the
// ledger's ingest does that, the same way for every source.
//
// # Where a collector runs
//
// Inside ledger.Collect, which owns the run's record: it starts the run before the
// collector reads anything (holding an advisory lock, so a run whose process
// dies is later marked abandoned), hands the collector a *ledger.Sink bound to
// the run, and finishes the run with its counts and the collector's error even
// when the collector is cancelled or panics. The collector stores every batch
// through the sink, returns the watermark it has read up to (zero for a file or
// anything without one), and returns its error rather than logging it; it does
// not call StartRun or FinishRun. A run that fails moves no watermark, so the
// next run reads its window again. A collector that runs elsewhere (the cgroup
// agent) posts the same records to the ingest API instead.
//
// slurmassoc is the one package here that is not a usage collector: it syncs
// Slurm's association tree into groups, mappings and memberships through the
// ledger's own functions (its Plan and Apply), and only its rejects go to ingest.
//
// # What a collector keeps
//
// Recorded testdata from real sources (testdata/: dumps as the source prints
// them, with their quirks, and what the ledger should hold after ingesting them),
// tests that run them through a real PostgreSQL twice and find the totals
// unchanged, and a fuzz target over its parser (fuzz_test.go): no input may
// panic it, and every line must come out as a record or a reject.
package collectors
