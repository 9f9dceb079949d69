package pgcluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ErrNoBinaries is returned (wrapped) when no directory holding initdb, pg_ctl
// and postgres can be found.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in /usr/lib/postgresql/*/bin; " +
	"install them with: sudo apt-get install -y postgresql")

// serverPrograms must all sit in one directory: initdb and pg_ctl find
// postgres next to themselves, not on PATH.
var serverPrograms = []string{"initdb", "pg_ctl", "postgres"}

// debianRoot is where Debian and Ubuntu install one bin directory per major
// version, deliberately off PATH.
const debianRoot = "/usr/lib/postgresql"

// FindBinaries returns the directory that holds initdb, pg_ctl and postgres.
// It looks on PATH first, then in /usr/lib/postgresql/*/bin, highest major
// version first.
func FindBinaries() (string, error) {
	return findBinaries(exec.LookPath, debianRoot)
}

func findBinaries(lookPath func(string) (string, error), versionsRoot string) (string, error) {
	var candidates []string
	for _, name := range serverPrograms {
		p, err := lookPath(name)
		if err != nil {
			continue
		}
		// A PATH entry is often a symlink (/usr/local/bin/initdb ->
		// /usr/lib/postgresql/15/bin/initdb). The programs locate each other
		// and their share files relative to the real file, so report the
		// directory the link points into.
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	candidates = append(candidates, versionBinDirs(versionsRoot)...)

	for _, dir := range candidates {
		if hasServerPrograms(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("find PostgreSQL server binaries: %w", ErrNoBinaries)
}

// versionBinDirs lists root/<version>/bin, newest version first. Versions
// compare numerically so that 15 beats 9.6.
func versionBinDirs(root string) []string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	type version struct {
		parts []int
		dir   string
	}
	var versions []version
	for _, e := range entries {
		var parts []int
		for _, s := range strings.Split(e.Name(), ".") {
			n, err := strconv.Atoi(s)
			if err != nil {
				parts = nil
				break
			}
			parts = append(parts, n)
		}
		if parts == nil {
			continue
		}
		versions = append(versions, version{parts: parts, dir: filepath.Join(root, e.Name(), "bin")})
	}
	slices.SortFunc(versions, func(a, b version) int { return slices.Compare(b.parts, a.parts) })

	dirs := make([]string, 0, len(versions))
	for _, v := range versions {
		dirs = append(dirs, v.dir)
	}
	return dirs
}

func hasServerPrograms(dir string) bool {
	for _, name := range serverPrograms {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// isNotExist is errors.Is(err, fs.ErrNotExist), shortened because the
// layout code asks it often.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
