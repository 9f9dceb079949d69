package pgcluster

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// account is the operating-system user the PostgreSQL programs run as.
// initdb and postgres refuse to run as root, so a root caller hands them to
// an unprivileged user; anyone else runs them as themselves.
type account struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32
	home   string
	// switchTo is set only when we are root and must drop privileges for
	// every PostgreSQL program we start.
	switchTo *syscall.Credential
}

// serverAccount picks who runs the server: ourselves unless we are root,
// then the "postgres" system user (Debian's package creates it) or, failing
// that, "nobody".
func serverAccount() (account, error) {
	if os.Geteuid() != 0 {
		return account{name: "current user", uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}, nil
	}
	var lookupErrs []string
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			lookupErrs = append(lookupErrs, err.Error())
			continue
		}
		a, err := accountFromUser(u)
		if err != nil {
			return account{}, err
		}
		return a, nil
	}
	return account{}, fmt.Errorf("running as root, but no unprivileged user to run PostgreSQL as (%s); create one with: sudo adduser --system postgres",
		strings.Join(lookupErrs, "; "))
}

func accountFromUser(u *user.User) (account, error) {
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return account{}, fmt.Errorf("parse uid %q of user %s: %w", u.Uid, u.Username, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return account{}, fmt.Errorf("parse gid %q of user %s: %w", u.Gid, u.Username, err)
	}
	a := account{name: u.Username, uid: uint32(uid), gid: uint32(gid), home: u.HomeDir}
	groupIDs, err := u.GroupIds()
	if err != nil {
		return account{}, fmt.Errorf("list groups of user %s: %w", u.Username, err)
	}
	for _, g := range groupIDs {
		n, err := strconv.ParseUint(g, 10, 32)
		if err != nil {
			return account{}, fmt.Errorf("parse group id %q of user %s: %w", g, u.Username, err)
		}
		a.groups = append(a.groups, uint32(n))
	}
	a.switchTo = &syscall.Credential{Uid: a.uid, Gid: a.gid, Groups: a.groups}
	return a, nil
}

// dropsPrivileges reports whether programs must run as another user, which
// also means every folder they use has to be reachable by, and owned by,
// that user.
func (a account) dropsPrivileges() bool { return a.switchTo != nil }

// chown hands a file or folder we created to the server's user. It is a
// no-op when the server runs as ourselves.
func (a account) chown(path string) error {
	if !a.dropsPrivileges() {
		return nil
	}
	if err := os.Lchown(path, int(a.uid), int(a.gid)); err != nil {
		return fmt.Errorf("hand %s to user %s: %w", path, a.name, err)
	}
	return nil
}

// blocker returns the first folder on the way to dir (dir included) that
// the account cannot enter, or "" when it can reach dir. It applies the
// classic owner/group/other rules; ACLs are ignored, so a folder opened up
// only by an ACL is reported as blocking, which merely costs a relocation.
func (a account) blocker(dir string) (string, error) {
	if !a.dropsPrivileges() {
		return "", nil
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("absolute path of %s: %w", dir, err)
	}
	// Walk from / down and report the first folder that stops the user:
	// that is the one an administrator has to open first.
	var chain []string
	for p := dir; ; p = filepath.Dir(p) {
		chain = append(chain, p)
		if p == filepath.Dir(p) {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		fi, err := os.Stat(chain[i])
		if err != nil {
			return "", fmt.Errorf("check access to %s: %w", chain[i], err)
		}
		if !a.canEnter(fi) {
			return chain[i], nil
		}
	}
	return "", nil
}

func (a account) canEnter(fi os.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return true
	}
	perm := fi.Mode().Perm()
	switch {
	case st.Uid == a.uid:
		return perm&0o100 != 0
	case st.Gid == a.gid || slices.Contains(a.groups, st.Gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

// env is the environment for PostgreSQL programs: ours, minus PG* variables
// (PGDATA, PGPORT, PGHOST... would silently redirect initdb, pg_ctl or the
// server), with HOME pointing at the server user's home when we switch users.
func (a account) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") || (a.dropsPrivileges() && strings.HasPrefix(kv, "HOME=")) {
			continue
		}
		env = append(env, kv)
	}
	if a.dropsPrivileges() && a.home != "" {
		env = append(env, "HOME="+a.home)
	}
	return env
}
