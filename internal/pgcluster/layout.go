package pgcluster

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Where a cluster's pieces live.
//
// Normally everything is inside the caller's DataDir:
//
//	DataDir/pgdata        the PostgreSQL data directory
//	DataDir/run           the Unix socket directory
//	DataDir/postgres.log  initdb, pg_ctl and server output
//
// When we run as root the server runs as an unprivileged user, which must be
// able to walk down to pgdata. If it cannot (DataDir below /root, or below the
// 0700 folder `go test` makes for t.TempDir), the data directory and socket
// directory move to a "home" outside DataDir and DataDir/pgdata becomes a
// symlink to it, so the caller still finds the cluster in DataDir/pgdata:
//
//	/var/lib/parsimony/pgcluster/<name>-<hash>/   for DataDirs elsewhere
//	$TMPDIR/parsimony-pgcluster/<name>-<hash>/    for DataDirs under $TMPDIR
//
// A home records its DataDir in .pgcluster-origin. Start sweeps away homes
// whose DataDir/pgdata link no longer points at them (the caller deleted the
// data folder) and whose server is not running; Destroy removes one at once.
// The log stays in DataDir: we open it as root and pass the open file down.
const (
	linkName       = "pgdata"
	sockName       = "run"
	logName        = "postgres.log"
	lockName       = ".pgcluster.lock"
	originName     = ".pgcluster-origin"
	persistentBase = "/var/lib/parsimony/pgcluster"
	tempBaseName   = "parsimony-pgcluster"
	// maxSocketPath is sizeof(sockaddr_un.sun_path) minus the NUL byte; the
	// server cannot bind a longer socket path.
	maxSocketPath = 107
)

type layout struct {
	link     string // DataDir/pgdata, as the caller sees it
	pgdata   string // the data directory the server uses; differs from link when relocated
	home     string // when relocated: the folder outside DataDir holding pgdata and the socket dir
	sockDir  string
	sockTemp bool // sockDir was made for this run only and goes away on Stop
}

// planLayout decides where pgdata and the socket directory live, creating
// the folders (but not the cluster) as needed.
func planLayout(dataDir string, acct account, port int, logger *slog.Logger) (layout, error) {
	l := layout{link: filepath.Join(dataDir, linkName)}
	l.pgdata = l.link
	fi, err := os.Lstat(l.link)
	switch {
	case err == nil && fi.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(l.link)
		if err != nil {
			return layout{}, fmt.Errorf("read link %s: %w", l.link, err)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(dataDir, target)
		}
		l.pgdata = filepath.Clean(target)
	case err == nil && !fi.IsDir():
		return layout{}, fmt.Errorf("%s exists but is not a folder", l.link)
	case err != nil && !isNotExist(err):
		return layout{}, fmt.Errorf("inspect %s: %w", l.link, err)
	}
	if isHome(filepath.Dir(l.pgdata)) {
		l.home = filepath.Dir(l.pgdata)
	}

	if acct.dropsPrivileges() {
		for _, base := range relocationBases() {
			sweepHomes(base, logger)
		}
		if l.pgdata != l.link && l.home == "" && isUnderRelocationBase(l.pgdata) {
			// Our link survived but its home did not (swept, or a reboot
			// cleared $TMPDIR): start over in the same place.
			l.home = filepath.Dir(l.pgdata)
			if err := makeHome(l.home, dataDir); err != nil {
				return layout{}, err
			}
		}
		blocker, err := acct.blocker(filepath.Dir(l.pgdata))
		if err != nil {
			return layout{}, err
		}
		if blocker != "" {
			if l.pgdata != l.link || fi != nil {
				return layout{}, fmt.Errorf("PostgreSQL must run as user %s (not root), which cannot enter %s on the way to the existing cluster %s: "+
					"move the cluster to a folder that user can reach, or let it through (e.g. chmod o+x %s, or setfacl -m u:%s:x %s)",
					acct.name, blocker, l.pgdata, blocker, acct.name, blocker)
			}
			home, err := relocate(dataDir, l.link, acct)
			if err != nil {
				return layout{}, err
			}
			logger.Info("data folder is not reachable by the PostgreSQL user; keeping the cluster elsewhere and linking it",
				"data_dir", dataDir, "user", acct.name, "blocked_at", blocker, "cluster", filepath.Join(home, linkName))
			l.home = home
			l.pgdata = filepath.Join(home, linkName)
		}
	}

	if err := l.makeSockDir(dataDir, acct, port); err != nil {
		return layout{}, err
	}
	return l, nil
}

// makeSockDir prefers a socket directory next to pgdata, so the URL stays
// the same from one start to the next, and falls back to a fresh short
// folder under the temp dir when that path is too long for a Unix socket
// (or has characters unix_socket_directories would misparse).
func (l *layout) makeSockDir(dataDir string, acct account, port int) error {
	preferred := filepath.Join(dataDir, sockName)
	if l.home != "" {
		preferred = filepath.Join(l.home, sockName)
	}
	if usableSockDir(preferred, port) {
		if blocker, err := acct.blocker(filepath.Dir(preferred)); err == nil && blocker == "" {
			if err := os.Mkdir(preferred, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("create socket folder: %w", err)
			}
			if err := acct.chown(preferred); err != nil {
				return err
			}
			l.sockDir = preferred
			return nil
		}
	}
	for _, parent := range []string{os.TempDir(), "/tmp"} {
		if blocker, err := acct.blocker(parent); err != nil || blocker != "" {
			continue
		}
		dir, err := os.MkdirTemp(parent, "pgsock-")
		if err != nil {
			continue
		}
		if !usableSockDir(dir, port) {
			os.Remove(dir)
			continue
		}
		if err := acct.chown(dir); err != nil {
			os.Remove(dir)
			return err
		}
		l.sockDir, l.sockTemp = dir, true
		return nil
	}
	return fmt.Errorf("no usable socket folder: %s is too long for a Unix socket and %s and /tmp are unusable", preferred, os.TempDir())
}

func usableSockDir(dir string, port int) bool {
	if len(dir)+len(fmt.Sprintf("/.s.PGSQL.%d", port)) > maxSocketPath {
		return false
	}
	for _, r := range dir {
		ok := r == '/' || r == '.' || r == '_' || r == '-' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// relocationBases lists the folders homes go in: one under the temp dir for
// throwaway DataDirs (so they vanish with it on reboot) and one under
// /var/lib for the rest.
func relocationBases() []string {
	return []string{filepath.Join(realPath(os.TempDir()), tempBaseName), persistentBase}
}

func relocationBase(dataDir string) string {
	tmp := realPath(os.TempDir())
	if strings.HasPrefix(dataDir, tmp+string(filepath.Separator)) {
		return filepath.Join(tmp, tempBaseName)
	}
	return persistentBase
}

func isUnderRelocationBase(path string) bool {
	for _, base := range relocationBases() {
		if filepath.Dir(filepath.Dir(path)) == base {
			return true
		}
	}
	return false
}

func realPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

func isHome(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, originName))
	return err == nil
}

// relocate makes a home for dataDir's cluster and points link at it.
func relocate(dataDir, link string, acct account) (string, error) {
	base := relocationBase(dataDir)
	if err := ensureBase(base); err != nil {
		return "", err
	}
	blocker, err := acct.blocker(base)
	if err != nil {
		return "", err
	}
	if blocker != "" {
		return "", fmt.Errorf("user %s cannot enter %s, so it cannot use %s either", acct.name, blocker, base)
	}
	home := filepath.Join(base, homeName(dataDir))
	// The link goes first: sweepHomes keeps a home only while a link points
	// at it, so a home must never exist without its link.
	if err := os.Symlink(filepath.Join(home, linkName), link); err != nil {
		return "", fmt.Errorf("link %s to its cluster: %w", link, err)
	}
	if _, err := os.Lstat(home); err == nil {
		// An earlier data folder at this very path left it behind; that
		// folder was deleted, and its cluster with it.
		st, err := inspectServer(filepath.Join(home, linkName))
		if err != nil {
			return "", err
		}
		if st.running {
			return "", fmt.Errorf("%s belongs to a deleted data folder but its server (PID %d) still runs; stop it first", home, st.pid)
		}
		if err := os.RemoveAll(home); err != nil {
			return "", fmt.Errorf("remove abandoned cluster %s: %w", home, err)
		}
	}
	if err := makeHome(home, dataDir); err != nil {
		return "", err
	}
	return home, nil
}

func makeHome(home, dataDir string) error {
	if err := ensureBase(filepath.Dir(home)); err != nil {
		return err
	}
	if err := os.Mkdir(home, 0o711); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create cluster home: %w", err)
	}
	if err := os.WriteFile(filepath.Join(home, originName), []byte(dataDir+"\n"), 0o644); err != nil {
		return fmt.Errorf("record data folder of %s: %w", home, err)
	}
	return nil
}

// ensureBase creates a relocation base, and refuses one that another user
// could have planted: it sits in world-writable /tmp, and we are root.
func ensureBase(base string) error {
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(base), err)
	}
	if err := os.Mkdir(base, 0o711); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create %s: %w", base, err)
	}
	fi, err := os.Lstat(base)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", base, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("refusing to keep clusters in %s: it must be a folder owned by root and writable only by root", base)
	}
	return nil
}

// homeName is readable (the data folder's last two path elements) and
// unique (a hash of its full path), yet short enough that
// home/run/.s.PGSQL.5432 fits in a socket address.
func homeName(dataDir string) string {
	sum := sha256.Sum256([]byte(dataDir))
	name := filepath.Base(filepath.Dir(dataDir)) + "-" + filepath.Base(dataDir)
	name = strings.Map(func(r rune) rune {
		if r == '.' || r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return '_'
	}, name)
	if len(name) > 24 {
		name = name[len(name)-24:]
	}
	return name + "-" + hex.EncodeToString(sum[:6])
}

// sweepHomes removes homes whose data folder is gone or no longer links to
// them, so that test runs, which delete their temp DataDirs, leave nothing
// behind for long. Failures are only logged: sweeping is housekeeping.
func sweepHomes(base string, logger *slog.Logger) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		home := filepath.Join(base, e.Name())
		origin, err := os.ReadFile(filepath.Join(home, originName))
		if err != nil || !e.IsDir() {
			continue
		}
		pgdata := filepath.Join(home, linkName)
		target, err := os.Readlink(filepath.Join(strings.TrimSpace(string(origin)), linkName))
		if err == nil && filepath.Clean(target) == pgdata {
			continue
		}
		st, err := inspectServer(pgdata)
		if err != nil || st.running || len(leftoverProcesses(pgdata)) > 0 {
			continue
		}
		if err := os.RemoveAll(home); err != nil {
			logger.Warn("could not remove abandoned cluster", "cluster", home, "err", err)
			continue
		}
		logger.Info("removed abandoned cluster whose data folder is gone", "cluster", home, "data_dir", strings.TrimSpace(string(origin)))
	}
}
