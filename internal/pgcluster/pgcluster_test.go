package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// testSettings are what the test harness passes: durability off, room for
// many parallel connections.
var testSettings = map[string]string{
	"fsync":              "off",
	"synchronous_commit": "off",
	"full_page_writes":   "off",
	"max_connections":    "300",
}

func startCluster(t *testing.T, dataDir string) *Cluster {
	t.Helper()
	began := time.Now()
	c, err := Start(t.Context(), Options{
		DataDir:  dataDir,
		Settings: testSettings,
		Logger:   slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start took %v", time.Since(began).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := c.Destroy(context.Background()); err != nil {
			t.Errorf("Destroy: %v", err)
		}
	})
	return c
}

func connect(t *testing.T, c *Cluster, db string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), c.URL(db))
	if err != nil {
		t.Fatalf("connect to %s: %v", c.URL(db), err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func selectOne(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT 1`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("select 1: got %d, %v", n, err)
	}
}

func stop(t *testing.T, c *Cluster) {
	t.Helper()
	began := time.Now()
	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	t.Logf("Stop took %v", time.Since(began).Round(time.Millisecond))
}

func TestStartStopReuse(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	c := startCluster(t, dir)
	conn := connect(t, c, appDatabase)
	selectOne(t, conn)

	var listen string
	if err := conn.QueryRow(t.Context(), `SHOW listen_addresses`).Scan(&listen); err != nil || listen != "" {
		t.Errorf("listen_addresses = %q, %v; want empty (no TCP)", listen, err)
	}
	var fsync string
	if err := conn.QueryRow(t.Context(), `SHOW fsync`).Scan(&fsync); err != nil || fsync != "off" {
		t.Errorf("fsync = %q, %v; want the caller's setting, off", fsync, err)
	}
	if os.Geteuid() == 0 {
		// t.TempDir's parent is mode 0700, so the postgres user cannot
		// reach it and the cluster must have been placed elsewhere.
		fi, err := os.Lstat(filepath.Join(dir, linkName))
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("as root with an unreachable DataDir, want %s to be a symlink; got %v, %v", linkName, fi, err)
		}
	}
	if _, err := conn.Exec(t.Context(), `CREATE TABLE kept (note text); INSERT INTO kept VALUES ('survives restarts')`); err != nil {
		t.Fatalf("create table: %v", err)
	}
	conn.Close(t.Context())
	firstURL := c.URL(appDatabase)
	stop(t, c)
	if err := c.Stop(t.Context()); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if _, err := pgx.Connect(t.Context(), firstURL); err == nil {
		t.Fatalf("connected after Stop")
	}

	c2 := startCluster(t, dir)
	if c2.URL(appDatabase) != firstURL {
		t.Errorf("URL changed across restarts: %s, then %s", firstURL, c2.URL(appDatabase))
	}
	var note string
	if err := connect(t, c2, appDatabase).QueryRow(t.Context(), `SELECT note FROM kept`).Scan(&note); err != nil || note != "survives restarts" {
		t.Fatalf("after restart: note = %q, %v", note, err)
	}

	if err := c2.Destroy(t.Context()); err != nil {
		t.Fatalf("Destroy: %v", err)
	}
	if c2.layout.home != "" {
		if _, err := os.Stat(c2.layout.home); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Destroy left the relocated cluster %s behind: %v", c2.layout.home, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, linkName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Destroy left %s behind: %v", linkName, err)
	}
}

func TestStartAfterKill(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	c := startCluster(t, dir)
	// An open session means a backend that outlives the postmaster for a
	// moment, like in a real crash.
	conn := connect(t, c, appDatabase)
	selectOne(t, conn)

	if err := syscall.Kill(c.pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill postmaster %d: %v", c.pid, err)
	}
	for deadline := time.Now().Add(10 * time.Second); isServerProcess(c.pid, c.layout.pgdata); {
		if time.Now().After(deadline) {
			t.Fatalf("postmaster %d still alive after SIGKILL", c.pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(c.layout.pgdata, "postmaster.pid")); err != nil {
		t.Fatalf("want a stale postmaster.pid after kill -9: %v", err)
	}

	c2 := startCluster(t, dir)
	if c2.pid == c.pid {
		t.Fatalf("second start reports the dead postmaster's PID %d", c.pid)
	}
	selectOne(t, connect(t, c2, appDatabase))

	// The first handle must not stop the server that replaced its own.
	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("Stop of the killed cluster: %v", err)
	}
	selectOne(t, connect(t, c2, appDatabase))
}

// TestStartWithReusedPID covers a container restart: postmaster.pid and the
// socket lock name a PID that now belongs to some other live process, which
// PostgreSQL alone would take for a running server.
func TestStartWithReusedPID(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := startCluster(t, dir)
	stop(t, c)

	// The test binary stands in for the unrelated process.
	stale := fmt.Sprintf("%d\n%s\n1700000000\n5432\n%s\n\n  5432001         0\nready   \n", os.Getpid(), c.layout.pgdata, c.SocketDir())
	if err := os.WriteFile(filepath.Join(c.layout.pgdata, "postmaster.pid"), []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	lock := fmt.Sprintf("%d\n%s\n1700000000\n5432\n%s\n", os.Getpid(), c.layout.pgdata, c.SocketDir())
	if err := os.WriteFile(filepath.Join(c.SocketDir(), ".s.PGSQL.5432.lock"), []byte(lock), 0o600); err != nil {
		t.Fatal(err)
	}

	c2 := startCluster(t, dir)
	selectOne(t, connect(t, c2, appDatabase))
}

func TestStartWhileRunning(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := startCluster(t, dir)

	_, err := Start(t.Context(), Options{DataDir: dir, Settings: testSettings})
	if !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second Start on a running folder: got %v, want ErrAlreadyRunning", err)
	}
	t.Logf("second Start: %v", err)
	selectOne(t, connect(t, c, appDatabase))
}

func TestStartLongDataDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), strings.Repeat("a-long-folder-name-", 6))
	c := startCluster(t, dir)

	// As root the cluster is relocated (t.TempDir is not reachable by the
	// postgres user) and its socket folder with it; otherwise the socket
	// folder must fall back to a short temporary one.
	if len(c.SocketDir())+len("/.s.PGSQL.5432") > maxSocketPath {
		t.Errorf("socket folder %s is too long for a Unix socket", c.SocketDir())
	}
	if c.layout.home == "" && !c.layout.sockTemp {
		t.Errorf("socket folder %s: want a temporary one for a long DataDir", c.SocketDir())
	}
	selectOne(t, connect(t, c, "postgres"))

	sock := c.SocketDir()
	stop(t, c)
	if _, err := os.Stat(sock); c.layout.sockTemp && !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stop left the temporary socket folder %s: %v", sock, err)
	}
}

func TestSocketDirFallback(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), strings.Repeat("a-long-folder-name-", 6))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var l layout
	if err := l.makeSockDir(dir, account{name: "current user"}, port); err != nil {
		t.Fatalf("makeSockDir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(l.sockDir) })
	if !l.sockTemp || !usableSockDir(l.sockDir, port) {
		t.Errorf("got socket folder %s (temporary: %v); want a short temporary one", l.sockDir, l.sockTemp)
	}
}

// TestStartReachableDataDir covers the plain layout as root: when the
// postgres user can reach DataDir, the cluster lives right in it.
func TestStartReachableDataDir(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	c := startCluster(t, dir)
	fi, err := os.Lstat(filepath.Join(dir, linkName))
	if err != nil || !fi.IsDir() {
		t.Fatalf("want %s to be a folder in DataDir: %v, %v", linkName, fi, err)
	}
	if c.SocketDir() != filepath.Join(dir, sockName) {
		t.Errorf("socket folder %s; want %s", c.SocketDir(), filepath.Join(dir, sockName))
	}
	selectOne(t, connect(t, c, appDatabase))
}

func TestStartRejectsManagedSettings(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"port", "listen_addresses", "Unix_Socket_Directories", "bad name"} {
		_, err := Start(t.Context(), Options{DataDir: t.TempDir(), Settings: map[string]string{k: "x"}})
		if err == nil {
			t.Errorf("Start with setting %q: want an error", k)
		}
	}
}

func TestStartFailureShowsLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	t.Cleanup(func() {
		// The cluster was made before the start failed; when it was
		// relocated, remove it now rather than at the next Start's sweep.
		if target, err := os.Readlink(filepath.Join(dir, linkName)); err == nil {
			os.RemoveAll(filepath.Dir(target))
		}
	})
	_, err := Start(t.Context(), Options{DataDir: dir, Settings: map[string]string{"shared_buffers": "not-a-size"}})
	if err == nil {
		t.Fatal("Start with an invalid setting: want an error")
	}
	if !strings.Contains(err.Error(), "shared_buffers") {
		t.Errorf("error should quote the server log about shared_buffers; got: %v", err)
	}
	t.Logf("error: %v", err)
}

func TestFindBinaries(t *testing.T) {
	dir, err := FindBinaries()
	if err != nil {
		t.Fatalf("FindBinaries: %v", err)
	}
	if !hasServerPrograms(dir) {
		t.Errorf("FindBinaries returned %s, which lacks one of %v", dir, serverPrograms)
	}
	t.Logf("binaries in %s", dir)

	notOnPath := func(string) (string, error) { return "", errors.New("not on PATH") }
	dir, err = findBinaries(notOnPath, debianRoot)
	if err != nil || !strings.HasPrefix(dir, debianRoot+"/") {
		t.Errorf("without PATH: got %q, %v; want a folder under %s", dir, err, debianRoot)
	}
}

func TestFindBinariesPicksNewestVersion(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9.6", "10", "15", "notes"} {
		bin := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range serverPrograms {
			if err := os.WriteFile(filepath.Join(bin, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A newer version without the server package installed.
	if err := os.MkdirAll(filepath.Join(root, "16", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}

	notOnPath := func(string) (string, error) { return "", errors.New("not on PATH") }
	dir, err := findBinaries(notOnPath, root)
	if want := filepath.Join(root, "15", "bin"); err != nil || dir != want {
		t.Errorf("got %q, %v; want %s", dir, err, want)
	}
}

func TestFindBinariesNone(t *testing.T) {
	notOnPath := func(string) (string, error) { return "", errors.New("not on PATH") }
	_, err := findBinaries(notOnPath, t.TempDir())
	if !errors.Is(err, ErrNoBinaries) {
		t.Fatalf("got %v, want ErrNoBinaries", err)
	}
	if !strings.Contains(err.Error(), "install them with: sudo apt-get install -y postgresql") {
		t.Errorf("error lacks the install hint: %v", err)
	}
}
