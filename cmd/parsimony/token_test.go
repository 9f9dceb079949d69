package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/ledger"
)

// `token create` makes bound ingest tokens for admins, and refuses what the
// server would refuse.
func TestTokenCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	cfg := configFor(t, url, "UTC")
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	l, err := ledger.Open(ctx, pool, ledger.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := l.UpsertUser(ctx, "t", ledger.User{Login: "root-admin"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.GrantGlobalRole(ctx, "t", admin.ID, ledger.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if _, err := l.UpsertUser(ctx, "t", ledger.User{Login: "ada"}); err != nil {
		t.Fatal(err)
	}

	code, out, stderr := cli(t, "token", "create", "--config", cfg, "--user", "root-admin", "--name", "agent ws-01",
		"--scope", "ingest", "--source", "cgroup", "--cluster", "ws-01")
	if code != 0 || !strings.HasPrefix(out, "pat_") {
		t.Fatalf("create: exit %d, out %q, err %q", code, out, stderr)
	}
	p, err := auth.NewStore(pool, time.Now, 0).TokenPrincipal(ctx, strings.TrimSpace(out))
	if err != nil || p.Binding != (auth.Binding{Source: "cgroup", Cluster: "ws-01"}) || !p.HasScope("ingest") {
		t.Fatalf("the printed token: %+v, %v", p, err)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--user", "ada", "--name", "x", "--scope", "ingest"}, 1, "not an admin"},
		{[]string{"--user", "root-admin", "--name", "x", "--scope", "read", "--source", "cgroup", "--cluster", "h"}, 1, "only a token with the ingest scope"},
		{[]string{"--user", "root-admin", "--name", "x", "--scope", "ingest", "--source", "cgroup"}, 2, "give both or neither"},
		{[]string{"--user", "root-admin", "--name", "x", "--scope", "ingest", "--source", "lsf", "--cluster", "h"}, 2, "is not one of"},
		{[]string{"--user", "nobody", "--name", "x", "--scope", "read"}, 1, "no such user"},
	} {
		code, _, stderr := cli(t, append([]string{"token", "create", "--config", cfg}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}
