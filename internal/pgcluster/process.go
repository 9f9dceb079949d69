package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// serverState is what postmaster.pid says about a data directory, checked
// against the live process table.
type serverState struct {
	pidFile bool   // postmaster.pid exists
	pid     int    // postmaster PID recorded in it
	sockDir string // socket directory recorded in it
	running bool   // that PID is a live postgres serving this data directory
}

// inspectServer reads pgdata/postmaster.pid. A pid file whose process is
// gone, a zombie, or some other program that inherited the PID (common after
// a container restart) counts as not running.
func inspectServer(pgdata string) (serverState, error) {
	path := filepath.Join(pgdata, "postmaster.pid")
	b, err := os.ReadFile(path)
	if isNotExist(err) {
		return serverState{}, nil
	}
	if err != nil {
		return serverState{}, fmt.Errorf("read %s: %w", path, err)
	}
	st := serverState{pidFile: true}
	// Line 1 is the PID, line 5 the first socket directory (see
	// LOCK_FILE_LINE_* in PostgreSQL's miscadmin.h). A half-written file
	// from a crash parses as PID 0, i.e. stale.
	lines := strings.Split(string(b), "\n")
	st.pid, _ = strconv.Atoi(strings.TrimSpace(lines[0]))
	if len(lines) > 4 {
		st.sockDir = strings.TrimSpace(lines[4])
	}
	if st.pid > 0 {
		st.running = isServerProcess(st.pid, pgdata)
	}
	return st, nil
}

// isServerProcess reports whether pid is a live (not zombie) postgres
// process whose working directory is pgdata; every server process chdirs
// into its data directory. When the working directory cannot be read we
// assume it is ours: wrongly claiming "running" is the safe mistake.
func isServerProcess(pid int, pgdata string) bool {
	comm, state, err := procStat(pid)
	if err != nil {
		if !isNotExist(err) {
			// No /proc to consult: fall back to a bare existence check.
			err := syscall.Kill(pid, 0)
			return err == nil || errors.Is(err, syscall.EPERM)
		}
		return false
	}
	if state == "Z" || state == "X" || (comm != "postgres" && comm != "postmaster") {
		return false
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return true
	}
	return sameDir(cwd, pgdata)
}

// procStat returns the command name and state letter from /proc/PID/stat.
func procStat(pid int) (comm, state string, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", "", err
	}
	// The command name is parenthesised and may itself contain ") ", so
	// split at the last parenthesis.
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return "", "", fmt.Errorf("parse /proc/%d/stat: %q", pid, s)
	}
	fields := strings.Fields(s[closing+1:])
	if len(fields) == 0 {
		return "", "", fmt.Errorf("parse /proc/%d/stat: %q", pid, s)
	}
	return s[open+1 : closing], fields[0], nil
}

func sameDir(a, b string) bool {
	ra, errA := filepath.EvalSymlinks(a)
	rb, errB := filepath.EvalSymlinks(b)
	if errA != nil || errB != nil {
		return filepath.Clean(a) == filepath.Clean(b)
	}
	return ra == rb
}

// leftoverProcesses lists postgres processes still working in pgdata, such
// as backends of a postmaster that was killed with SIGKILL. Starting a new
// server beside them would corrupt data, so PostgreSQL refuses, and so do we.
func leftoverProcesses(pgdata string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		comm, state, err := procStat(pid)
		if err != nil || state == "Z" || state == "X" || comm != "postgres" {
			continue
		}
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err != nil || !sameDir(cwd, pgdata) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// waitForLeftovers gives the children of a killed postmaster a moment to
// notice and exit on their own, which they do within milliseconds normally.
func waitForLeftovers(ctx context.Context, pgdata string, patience time.Duration) error {
	deadline := time.Now().Add(patience)
	for {
		pids := leftoverProcesses(pgdata)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes of an earlier server are still running in %s (PIDs %v) although its postmaster is gone; stop them (kill %s) and start again",
				pgdata, pids, strings.Trim(fmt.Sprint(pids), "[]"))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for old server processes in %s to exit: %w", pgdata, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
