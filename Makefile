# Parsimony's make targets. The README's two commands are `make demo` and `make test`.
GO ?= go
PKGS := ./...

.PHONY: bench-agent bench-ingest-api bench-web bench-close test-slurm all build demo test vet generate check-generated fmt-check bench bench-ingest bench-seed bench-slurm clean

all: build

# bin/parsimony (server, web app, every command) and bin/parsimony-agent (the cgroup
# agent alone, the binary to install on shared machines; docs/agent.md).
build:
	$(GO) build -o bin/parsimony ./cmd/parsimony
	$(GO) build -o bin/parsimony-agent ./cmd/parsimony-agent

# The web app on a private PostgreSQL with a seeded institution; no configuration.
demo: build
	./bin/parsimony demo

# Vet, race-enabled tests of every package against real PostgreSQL, and a check that
# generated files (templ) are current.
test: vet fmt-check check-generated
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

generate:
	$(GO) tool templ generate

# templ generate must leave the committed _templ.go files as they are.
check-generated:
	@$(GO) tool templ generate >/dev/null 2>&1 || { echo "templ generate failed"; exit 1; }
	@if [ -n "$$(git status --porcelain -- '*_templ.go')" ]; then \
		echo "generated templ files are stale; run 'make generate' and commit:"; \
		git status --porcelain -- '*_templ.go'; exit 1; fi

# The Slurm collector against a real Slurm (Debian's packages, no systemd; needs
# root): brings up scripts/slurm-testbed, runs its job mix (~5 minutes), collects
# live and compares with sreport.
SLURM_DIR ?= /var/tmp/parsimony-slurm
test-slurm:
	./scripts/slurm-testbed install
	@set -e; dir=$(SLURM_DIR); \
	./scripts/slurm-testbed down --purge $$dir; \
	trap './scripts/slurm-testbed down '"$$dir" EXIT; \
	./scripts/slurm-testbed up $$dir; \
	./scripts/slurm-testbed accounts $$dir; \
	./scripts/slurm-testbed jobs $$dir; \
	SLURM_CONF=$$dir/etc/slurm.conf PARSIMONY_SLURM_DIR=$$dir \
	  $(GO) test -tags slurmtestbed -count=1 -timeout 30m -run 'Live' -v ./collectors/slurm/

# Go benchmarks: subtree totals at 10,000 groups, sacct parsing (lines/s on one core).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./ledger/...
	GOMAXPROCS=1 $(GO) test -run '^$$' -bench Parse -benchtime 3x ./collectors/slurm

# 2 million usage rows through Ingest vs a raw COPY of the same rows.
bench-ingest:
	$(GO) run ./internal/cmd/benchingest

# The ingest API: one server on 127.0.0.1, 100 pushers posting gzipped batches for 30 s.
bench-ingest-api:
	$(GO) run ./internal/cmd/benchingestapi

# The benchmark institution (10 million jobs) into a throwaway database, timed.
bench-seed:
	$(GO) run ./internal/cmd/benchseed

# The cgroup agent's footprint: parsimony-agent, built, on a fixture tree of 500 user slices,
# sampling every second for 60 s (compressed time), pushing to a local sink; prints its
# CPU per sample (as a share of one core at one sample every 30 s) and its peak RSS.
bench-agent:
	$(GO) run ./internal/cmd/benchagent

# A 10-million-line sacct dump through `collect slurm --from-file`, with peak RSS
# (needs DATABASE_URL pointing at a migrated database; /usr/bin/time from Debian's time).
bench-slurm: build
	$(GO) run ./internal/cmd/sacctdump -lines 10000000 > /tmp/parsimony-sacct-10m.txt
	/usr/bin/time -v ./bin/parsimony collect slurm --cluster bench --from-file /tmp/parsimony-sacct-10m.txt 2>&1 | grep -E 'slurm bench|Elapsed|Maximum resident'
	rm -f /tmp/parsimony-sacct-10m.txt

clean:
	rm -rf bin

# Closing one month of the benchmark institution, and its CSV export (seeds a fresh
# one, ~7 minutes, unless PARSIMONY_BENCH_DATABASE_URL names a seeded database).
bench-close:
	$(GO) run ./internal/cmd/benchclose

# The web app on the benchmark institution: dashboard and leaderboard server time of
# the largest group, then wrk against 127.0.0.1 (seeds first, ~7 minutes, unless
# PARSIMONY_BENCH_DATABASE_URL names a seeded database; JOBS=1000000 for a smaller one).
bench-web:
	$(GO) run ./internal/cmd/benchweb $(if $(JOBS),-jobs $(JOBS))
