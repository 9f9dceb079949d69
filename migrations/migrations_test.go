package migrations_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/migrations"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// tables lists the user tables of the database, to compare schemas.
func tables(t *testing.T, url string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out
}

// Up, all the way down, and up again, on a real database.
func TestUpDownUp(t *testing.T) {
	t.Parallel()
	url := pgtest.NewEmptyDatabase(t)
	m, err := migrations.New(url)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	latest, err := migrations.Latest()
	if err != nil || latest == 0 {
		t.Fatalf("latest = %d, %v", latest, err)
	}

	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	if v, dirty, _ := m.Version(); v != latest || dirty {
		t.Fatalf("after up: version %d dirty %v, want %d", v, dirty, latest)
	}
	first := tables(t, url)
	for _, want := range []string{"users", "groups", "memberships", "group_mappings", "usage", "rollup_daily", "quarantine", "collector_runs", "audit_log"} {
		if !first[want] {
			t.Errorf("table %s missing after up; have %v", want, first)
		}
	}
	if err := m.Up(); err != nil {
		t.Fatalf("up when current: %v", err)
	}

	if err := m.Down(0); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := m.Version(); v != 0 {
		t.Fatalf("after down: version %d, want 0", v)
	}
	if left := tables(t, url); len(left) != 0 {
		t.Fatalf("tables left after down: %v", left)
	}

	if err := m.Up(); err != nil {
		t.Fatalf("up again: %v", err)
	}
	again := tables(t, url)
	if len(again) != len(first) {
		t.Fatalf("up again gave %d tables, first up %d", len(again), len(first))
	}
}

// Force repairs the recorded version after a failed migration.
func TestForce(t *testing.T) {
	t.Parallel()
	url := pgtest.NewEmptyDatabase(t)
	m, err := migrations.New(url)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Up(); err != nil {
		t.Fatal(err)
	}
	if err := m.Force(1); err != nil {
		t.Fatal(err)
	}
	if v, dirty, _ := m.Version(); v != 1 || dirty {
		t.Fatalf("after force: %d dirty %v", v, dirty)
	}
}
