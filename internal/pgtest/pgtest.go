// Package pgtest gives every test that needs PostgreSQL a fresh, migrated database of
// its own, so tests run in parallel against a real server.
//
// The server is PARSIMONY_TEST_DATABASE_URL when set (a role allowed to create
// databases); otherwise one throwaway cluster per test binary, started on first use
// from the system's PostgreSQL binaries (the same code as `parsimony demo`) and
// stopped by Main. Each test's database is cloned from a template migrated once per
// migration set (CREATE DATABASE … TEMPLATE takes a fraction of a second), and
// dropped when the test ends. With no PostgreSQL binaries the tests fail with the
// install hint: a skipped database test proves nothing.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/internal/pgcluster"
	"github.com/parsimony-hpc/parsimony/migrations"
)

// EnvURL names the variable that points the tests at an existing server.
const EnvURL = "PARSIMONY_TEST_DATABASE_URL"

// server is the one PostgreSQL of this test binary. A test binary is one process, so
// this is the one piece of process-wide state the harness needs.
var server struct {
	once     sync.Once
	err      error
	adminURL string // a URL of the server's maintenance database
	template string
	cluster  *pgcluster.Cluster
	dir      string
}

// Main runs the tests and stops the throwaway cluster, if one was started. Use it
// from TestMain: func TestMain(m *testing.M) { pgtest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if server.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		// Destroy, not Stop: as root the cluster may live outside dir (where the
		// postgres user can reach it), and that must go too.
		if err := server.cluster.Destroy(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: remove cluster:", err)
		}
		cancel()
	}
	if server.dir != "" {
		os.RemoveAll(server.dir)
	}
	os.Exit(code)
}

func start() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if u := os.Getenv(EnvURL); u != "" {
		server.adminURL = u
	} else {
		dir, err := os.MkdirTemp("", "parsimony-pgtest-")
		if err != nil {
			server.err = err
			return
		}
		server.dir = dir
		c, err := pgcluster.Start(ctx, pgcluster.Options{
			DataDir: dir,
			// Durability is worthless for a throwaway cluster; speed is not.
			Settings: map[string]string{
				"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
				"max_connections": "300", "shared_buffers": "128MB",
			},
		})
		if err != nil {
			server.err = fmt.Errorf("start a throwaway PostgreSQL for the tests (or set %s): %w", EnvURL, err)
			return
		}
		server.cluster = c
		server.adminURL = c.URL("postgres")
	}
	server.template, server.err = ensureTemplate(ctx, server.adminURL)
}

// ensureTemplate creates, once per migration set, a migrated database to clone. The
// name carries a hash of the migrations, so a changed migration gets a new template;
// an advisory lock keeps parallel test binaries from building it twice.
func ensureTemplate(ctx context.Context, adminURL string) (string, error) {
	h := sha256.New()
	files := migrations.FS()
	names, err := fs.Glob(files, "*.sql")
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := fs.ReadFile(files, n)
		if err != nil {
			return "", err
		}
		h.Write([]byte(n))
		h.Write(b)
	}
	name := "parsimony_tmpl_" + hex.EncodeToString(h.Sum(nil))[:16]

	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("connect to test server: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7355608)`); err != nil {
		return "", err
	}
	defer conn.Exec(context.Background(), `SELECT pg_advisory_unlock(7355608)`)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+building); err != nil {
		return "", err
	}
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+building); err != nil {
		return "", fmt.Errorf("create template database: %w", err)
	}
	m, err := migrations.New(withDatabase(adminURL, building))
	if err != nil {
		return "", err
	}
	err = m.Up()
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	// Renamed only when complete, so no one clones a half-migrated template.
	if _, err := conn.Exec(ctx, `ALTER DATABASE `+building+` RENAME TO `+name); err != nil {
		return "", fmt.Errorf("publish template: %w", err)
	}
	return name, nil
}

// withDatabase returns u pointing at database db.
func withDatabase(u, db string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return u
	}
	parsed.Path = "/" + db
	return parsed.String()
}

// NewDatabase returns the URL of a fresh, migrated database for this test only; it
// is dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return createDatabase(t, "test_", true)
}

// NewEmptyDatabase returns the URL of a fresh database with no schema at all, for
// tests of the migrations themselves.
func NewEmptyDatabase(t testing.TB) string {
	t.Helper()
	return createDatabase(t, "empty_", false)
}

// NewPool returns a pool on a fresh, migrated database, closed when the test ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), NewDatabase(t))
	if err != nil {
		t.Fatalf("pgtest: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func createDatabase(t testing.TB, prefix string, migrated bool) string {
	t.Helper()
	server.once.Do(start)
	if server.err != nil {
		t.Fatalf("pgtest: %v", server.err)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, server.adminURL)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	name := prefix + hex.EncodeToString(b[:])
	create := `CREATE DATABASE ` + name
	if migrated {
		create += ` TEMPLATE ` + server.template
	}
	// Two clones of one template at once can collide on PostgreSQL's check that
	// nobody else uses the template; a short retry rides over it.
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, create)
		if err == nil || attempt == 20 {
			break
		}
		time.Sleep(time.Duration(50*(attempt+1)) * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, server.adminURL)
		if err != nil {
			t.Errorf("pgtest: connect for cleanup: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database: %v", err)
		}
	})
	return withDatabase(server.adminURL, name)
}
