// Package pgcluster runs a private, throwaway PostgreSQL cluster from the
// system's PostgreSQL server binaries: `parsimony demo` keeps one in its data
// folder across runs, and tests make one per run in a temp folder.
//
// The server listens only on a Unix socket in a folder of its own (never on
// TCP), trusts whoever can reach that socket, and has one superuser,
// "parsimony", and one extra database, "parsimony". When the caller is root,
// the PostgreSQL programs run as the "postgres" (or else "nobody") user,
// because initdb and postgres refuse to run as root; see layout.go for where
// the cluster goes when that user cannot reach the data folder.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const (
	superuser   = "parsimony"
	appDatabase = "parsimony"
	// Every cluster has its own socket folder, so they can all use the
	// default port without clashing.
	port = 5432

	// pgCtlWait bounds pg_ctl's own waiting (-t) for start and stop; ctx
	// can cut it shorter.
	pgCtlWait = 60 * time.Second
	// readyWait bounds how long we keep trying to connect after pg_ctl
	// reported the server up.
	readyWait = 30 * time.Second
	// stopWait bounds Stop, which ignores cancellation (see Stop).
	stopWait = 90 * time.Second
	// leftoverWait is how long the children of a killed postmaster get to
	// exit before Start gives up on them.
	leftoverWait = 10 * time.Second
)

// ErrAlreadyRunning is returned (wrapped) by Start when a server, usually
// another process's, already runs on the data folder.
var ErrAlreadyRunning = errors.New("a PostgreSQL server is already running on this data folder")

// Options configure Start.
type Options struct {
	// DataDir is the caller's folder; the cluster lives in DataDir/pgdata
	// and its output goes to DataDir/postgres.log. Created if missing.
	DataDir string
	// Settings are extra server settings, passed as -c key=value (tests
	// pass fsync=off and the like). listen_addresses,
	// unix_socket_directories and port are managed here and rejected.
	// With fsync off, initdb also skips its fsync.
	Settings map[string]string
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
}

// Cluster is a running server started by Start.
type Cluster struct {
	binDir  string
	dataDir string
	logPath string
	layout  layout
	acct    account
	logger  *slog.Logger

	mu      sync.Mutex
	pid     int // the postmaster we started; Stop leaves any other alone
	stopped bool
}

// Start initializes the cluster in opts.DataDir/pgdata on first use, starts
// the server, waits until it accepts connections and creates the
// "parsimony" database if missing. A postmaster.pid left by a killed server
// does not stop it; a server still running on the folder does, with
// ErrAlreadyRunning.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	began := time.Now()
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.DataDir == "" {
		return nil, errors.New("start PostgreSQL: Options.DataDir is empty")
	}
	settings, err := serverSettings(opts.Settings)
	if err != nil {
		return nil, err
	}
	binDir, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	acct, err := serverAccount()
	if err != nil {
		return nil, err
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("absolute path of %s: %w", opts.DataDir, err)
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	dataDir = realPath(dataDir)

	// Two Starts on one folder must not initdb or start over each other.
	unlock, err := lockDataDir(ctx, dataDir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	l, err := planLayout(dataDir, acct, port, logger)
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		binDir:  binDir,
		dataDir: dataDir,
		logPath: filepath.Join(dataDir, logName),
		layout:  l,
		acct:    acct,
		logger:  logger,
	}
	settings["unix_socket_directories"] = l.sockDir
	fresh, err := c.start(ctx, settings)
	if err != nil {
		c.removeTempSockDir()
		return nil, err
	}
	logger.Info("PostgreSQL cluster started",
		"data_dir", dataDir, "pgdata", l.pgdata, "socket_dir", l.sockDir, "pid", c.pid,
		"run_as", acct.name, "bin_dir", binDir, "initialized", fresh, "took", time.Since(began).Round(time.Millisecond))
	return c, nil
}

// start does the work of Start once the folders are in place. It reports
// whether it had to initdb.
func (c *Cluster) start(ctx context.Context, settings map[string]string) (fresh bool, err error) {
	pgdata := c.layout.pgdata
	st, err := inspectServer(pgdata)
	if err != nil {
		return false, err
	}
	if st.running {
		return false, fmt.Errorf("%w: postmaster PID %d serves %s (socket folder %s); stop that server first or use another data folder",
			ErrAlreadyRunning, st.pid, pgdata, st.sockDir)
	}
	if err := c.clearStaleServer(ctx, st); err != nil {
		return false, err
	}
	if err := c.logHeader("start"); err != nil {
		return false, err
	}

	if _, err := os.Stat(filepath.Join(pgdata, "PG_VERSION")); isNotExist(err) {
		if err := c.initdb(ctx, settings); err != nil {
			return false, err
		}
		fresh = true
	} else if err != nil {
		return false, fmt.Errorf("check for a cluster in %s: %w", pgdata, err)
	}

	err = c.run(ctx, "pg_ctl", "start", "-D", pgdata, "-w", "-t", strconv.Itoa(int(pgCtlWait.Seconds())), "-o", postgresOptions(settings))
	if err != nil {
		c.abandon(ctx)
		return fresh, fmt.Errorf("start PostgreSQL in %s: %w%s", pgdata, err, c.logTail())
	}
	if st, err := inspectServer(pgdata); err == nil {
		c.pid = st.pid
	}
	if err := c.ensureDatabase(ctx); err != nil {
		c.abandon(ctx)
		return fresh, fmt.Errorf("PostgreSQL in %s started but is not usable: %w%s", pgdata, err, c.logTail())
	}
	return fresh, nil
}

// clearStaleServer deals with what a server that did not shut down leaves
// behind. PostgreSQL clears a stale postmaster.pid itself, using the
// shared-memory key recorded in it to make sure no old backend is still at
// work; but it refuses when the recorded PID is alive as a zombie or as an
// unrelated process that inherited the number (common after a container
// restart), so only then do we remove the file.
func (c *Cluster) clearStaleServer(ctx context.Context, st serverState) error {
	if st.pidFile {
		c.logger.Info("found postmaster.pid of a server that is not running; recovering", "pgdata", c.layout.pgdata, "stale_pid", st.pid)
		if err := waitForLeftovers(ctx, c.layout.pgdata, leftoverWait); err != nil {
			return err
		}
		if st.pid > 0 && pidExists(st.pid) {
			if err := os.Remove(filepath.Join(c.layout.pgdata, "postmaster.pid")); err != nil && !isNotExist(err) {
				return fmt.Errorf("remove stale postmaster.pid: %w", err)
			}
		}
	}
	// The socket folder is ours alone and no server runs, so anything in it
	// is left over; a lock file naming a reused PID would block the server.
	for _, name := range []string{fmt.Sprintf(".s.PGSQL.%d", port), fmt.Sprintf(".s.PGSQL.%d.lock", port)} {
		if err := os.Remove(filepath.Join(c.layout.sockDir, name)); err != nil && !isNotExist(err) {
			return fmt.Errorf("remove stale socket file: %w", err)
		}
	}
	return nil
}

func pidExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// initdb creates the cluster in a scratch folder and renames it into place
// only once complete, so an interrupted first start never leaves a
// half-made cluster that later starts would trip over.
func (c *Cluster) initdb(ctx context.Context, settings map[string]string) error {
	pgdata := c.layout.pgdata
	scratch := pgdata + ".init"
	if err := os.RemoveAll(scratch); err != nil {
		return fmt.Errorf("remove unfinished cluster %s: %w", scratch, err)
	}
	// initdb may not be able to create folders in DataDir (it runs as
	// another user when we are root), so hand it an empty one.
	if err := os.Mkdir(scratch, 0o700); err != nil {
		return fmt.Errorf("create cluster folder: %w", err)
	}
	if err := c.acct.chown(scratch); err != nil {
		return err
	}
	args := []string{"-D", scratch, "-U", superuser, "-E", "UTF8", "--locale=C", "--auth=trust"}
	if isOff(settings["fsync"]) {
		// The server will not fsync either, so syncing here buys nothing.
		args = append(args, "--no-sync")
	}
	if err := c.run(ctx, "initdb", args...); err != nil {
		return fmt.Errorf("initialize cluster in %s: %w%s", pgdata, err, c.logTail())
	}

	// Trust only the Unix socket. Its folder is mode 0700, so whoever can
	// reach it is the cluster's owner or root already.
	const hba = "# Written by parsimony's pgcluster: Unix socket only, no TCP.\n" +
		"local all all trust\n" +
		"local replication all trust\n"
	if err := os.WriteFile(filepath.Join(scratch, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return fmt.Errorf("write pg_hba.conf: %w", err)
	}
	// Start passes listen_addresses itself; this keeps TCP off when someone
	// starts the cluster by hand with pg_ctl.
	conf, err := os.OpenFile(filepath.Join(scratch, "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("open postgresql.conf: %w", err)
	}
	_, err = conf.WriteString("\n# Added by parsimony's pgcluster: Unix socket only.\nlisten_addresses = ''\n")
	if cerr := conf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write postgresql.conf: %w", err)
	}

	if err := os.Rename(scratch, pgdata); err != nil {
		return fmt.Errorf("move new cluster into %s (if that folder is not empty, it holds something other than a cluster: remove it or pick another data folder): %w", pgdata, err)
	}
	return nil
}

func (c *Cluster) ensureDatabase(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyWait)
	defer cancel()
	conn, err := c.connectWhenReady(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))

	const exists = `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`
	var found bool
	if err := conn.QueryRow(ctx, exists, appDatabase).Scan(&found); err != nil {
		return fmt.Errorf("look up database %s: %w", appDatabase, err)
	}
	if found {
		return nil
	}
	_, err = conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{appDatabase}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" {
		// duplicate_database: someone else created it in the meantime.
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", appDatabase, err)
	}
	return nil
}

// connectWhenReady retries because pg_ctl -w can report success a moment
// before the server takes connections (e.g. while it finishes recovery).
func (c *Cluster) connectWhenReady(ctx context.Context) (*pgx.Conn, error) {
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			return conn, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect over %s: %w", c.layout.sockDir, errors.Join(ctx.Err(), err))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// abandon shuts down a server whose start went wrong, so a failed Start
// leaves no process behind. It must work even when ctx is what went wrong.
func (c *Cluster) abandon(ctx context.Context) {
	st, err := inspectServer(c.layout.pgdata)
	if err != nil || !st.running {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := c.run(ctx, "pg_ctl", "stop", "-D", c.layout.pgdata, "-m", "immediate", "-w", "-t", "20"); err != nil {
		c.logger.Warn("could not stop server after failed start", "pgdata", c.layout.pgdata, "pid", st.pid, "err", err)
	}
}

// URL returns a pgx connection URL for database db over the Unix socket,
// as user parsimony, for example
// "postgres://parsimony@/db?host=/sock/dir&port=5432&sslmode=disable".
// The port is spelled out so that a PGPORT in the environment cannot
// redirect it.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable", superuser, url.PathEscape(db), c.layout.sockDir, port)
}

// SocketDir is the folder holding the server's Unix socket.
func (c *Cluster) SocketDir() string { return c.layout.sockDir }

// LogPath is the file that collects initdb, pg_ctl and server output.
func (c *Cluster) LogPath() string { return c.logPath }

// Stop shuts the server down cleanly (pg_ctl stop -m fast) and waits for it.
// It runs to completion even if ctx is already cancelled, because it is
// called from t.Cleanup (whose t.Context is cancelled by then) and from
// shutdown paths, and a server left running outlives us; it gives up after
// 90 s. Stopping a stopped cluster, or one whose server has died, is not an
// error.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopWait)
	defer cancel()

	st, err := inspectServer(c.layout.pgdata)
	if err != nil {
		return fmt.Errorf("stop PostgreSQL: %w", err)
	}
	switch {
	case !st.running:
		c.logger.Warn("PostgreSQL was no longer running", "pgdata", c.layout.pgdata, "pid", c.pid)
	case c.pid != 0 && st.pid != c.pid:
		// Ours died and another Start brought up a new server on the
		// folder; that one belongs to whoever started it.
		c.logger.Warn("PostgreSQL was restarted by someone else; leaving it running", "pgdata", c.layout.pgdata, "our_pid", c.pid, "pid", st.pid)
	default:
		if err := c.logHeader("stop"); err != nil {
			return err
		}
		if err := c.run(ctx, "pg_ctl", "stop", "-D", c.layout.pgdata, "-m", "fast", "-w", "-t", strconv.Itoa(int(pgCtlWait.Seconds()))); err != nil {
			return fmt.Errorf("stop PostgreSQL in %s: %w%s", c.layout.pgdata, err, c.logTail())
		}
		c.logger.Info("PostgreSQL cluster stopped", "pgdata", c.layout.pgdata, "pid", st.pid)
	}
	c.stopped = true
	c.removeTempSockDir()
	return nil
}

// Destroy stops the server and deletes everything Start created for it:
// the cluster (also when kept outside DataDir, see layout.go), its socket
// folder and its log. DataDir itself stays. Tests use it so that relocated
// clusters do not wait for the next Start's sweep.
func (c *Cluster) Destroy(ctx context.Context) error {
	if err := c.Stop(ctx); err != nil {
		return err
	}
	st, err := inspectServer(c.layout.pgdata)
	if err != nil {
		return fmt.Errorf("destroy cluster: %w", err)
	}
	if st.running {
		return fmt.Errorf("destroy cluster in %s: %w: PID %d started after ours", c.layout.pgdata, ErrAlreadyRunning, st.pid)
	}
	paths := []string{c.layout.pgdata, c.layout.link, c.logPath, filepath.Join(c.dataDir, lockName)}
	if c.layout.home != "" {
		paths = append(paths, c.layout.home)
	}
	if !c.layout.sockTemp {
		paths = append(paths, c.layout.sockDir)
	}
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("destroy cluster: %w", err)
		}
	}
	c.logger.Info("PostgreSQL cluster destroyed", "data_dir", c.dataDir)
	return nil
}

func (c *Cluster) removeTempSockDir() {
	if !c.layout.sockTemp {
		return
	}
	if err := os.RemoveAll(c.layout.sockDir); err != nil {
		c.logger.Warn("could not remove socket folder", "dir", c.layout.sockDir, "err", err)
	}
}

// run runs one of the PostgreSQL programs as the server's user, with its
// output appended to the log. The log is opened here, as us, and handed
// down as an open file: the server's user may not be able to reach DataDir,
// and the postmaster pg_ctl leaves behind keeps writing to it.
func (c *Cluster) run(ctx context.Context, program string, args ...string) error {
	logFile, err := os.OpenFile(c.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	defer logFile.Close()

	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, program), args...)
	// Our working directory may be one the server's user cannot enter,
	// which some PostgreSQL programs complain about.
	cmd.Dir = "/"
	cmd.Env = c.acct.env()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if c.acct.switchTo != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.acct.switchTo}
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run %s: %w", program, err)
	}
	return nil
}

const logHeaderPrefix = "==== pgcluster "

// logHeader marks the start of an attempt in the log, so that logTail can
// show just the latest one.
func (c *Cluster) logHeader(what string) error {
	f, err := os.OpenFile(c.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	_, err = fmt.Fprintf(f, "%s%s %s (pgdata %s) ====\n", logHeaderPrefix, what, time.Now().Format(time.RFC3339), c.layout.pgdata)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	return nil
}

// logTail returns the end of the log since the latest header, formatted to
// be appended to an error message, or "" if there is nothing to show.
func (c *Cluster) logTail() string {
	const maxLines, maxBytes = 30, 8 << 10
	b, err := os.ReadFile(c.logPath)
	if err != nil {
		return ""
	}
	if i := bytes.LastIndex(b, []byte(logHeaderPrefix)); i >= 0 {
		b = b[i:]
	}
	if len(b) > maxBytes {
		b = b[len(b)-maxBytes:]
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return fmt.Sprintf("\n--- end of %s ---\n%s", c.logPath, strings.Join(lines, "\n"))
}

// lockDataDir holds an advisory lock on the data folder until the returned
// function is called.
func lockDataDir(ctx context.Context, dataDir string) (func(), error) {
	path := filepath.Join(dataDir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			// Closing the file releases the lock.
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("wait for another Start on %s to finish: %w", dataDir, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// managedSettings are set by Start itself: they make the server private.
var managedSettings = []string{"listen_addresses", "unix_socket_directories", "port"}

var settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// serverSettings validates the caller's settings and adds the managed ones,
// except unix_socket_directories, which is known only once the layout is.
func serverSettings(extra map[string]string) (map[string]string, error) {
	settings := make(map[string]string, len(extra)+len(managedSettings))
	for k, v := range extra {
		if !settingName.MatchString(k) {
			return nil, fmt.Errorf("invalid server setting name %q", k)
		}
		if slices.Contains(managedSettings, strings.ToLower(k)) {
			return nil, fmt.Errorf("server setting %s is managed by pgcluster and cannot be overridden", k)
		}
		settings[strings.ToLower(k)] = v
	}
	settings["listen_addresses"] = ""
	settings["port"] = strconv.Itoa(port)
	return settings, nil
}

// postgresOptions renders settings for pg_ctl -o, which pastes the string
// into a /bin/sh command line: every argument is single-quoted.
func postgresOptions(settings map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(settings)) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("-c ")
		b.WriteString(shellQuote(k + "=" + settings[k]))
	}
	return b.String()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// isOff reports whether a boolean setting value means off, in the usual
// spellings.
func isOff(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "off", "false", "no", "0":
		return true
	}
	return false
}
