package agente2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/collectors/cgroup"
	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/server"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// burnerUID is the unprivileged user the CPU burner runs as: nobody, which
// every Linux system's NSS knows.
const burnerUID = 65534

// kernelSlice is a per-user slice made for one test in the real cgroup v2
// hierarchy: <mount>/parsimony-test-<pid>-<name>/user.slice/user-65534.slice.
type kernelSlice struct {
	hierarchy cgroup.Hierarchy
	top       string // the test's own directory under the mount
	dir       string // the slice's directory
	root      string // the agent's root pattern for it
	path      string // the slice's cgroup path, the records' ExternalID
	login     string // NSS's name of burnerUID
	group     string // NSS's name of its primary group
}

// newKernelSlice makes the slice, and removes it when the test ends: every
// process in it killed first, then the directories deepest first (a cgroup
// with a process or a child cannot be removed).
func newKernelSlice(t *testing.T, name string) *kernelSlice {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this end-to-end test needs root: it makes cgroups in the real hierarchy and runs a process as nobody (CI runs make test as root)")
	}
	h, err := cgroup.FindHierarchy("/proc/self/mountinfo")
	if err != nil {
		t.Fatalf("finding the cgroup hierarchy: %v", err)
	}
	if h.Version != 2 {
		t.Fatalf("this machine has no cgroup v2 mount (only v1 at %s): the test starts its process in a cgroup with clone3's CLONE_INTO_CGROUP, which is v2 only", h.CPUAcct.Point)
	}
	u, err := user.LookupId(strconv.Itoa(burnerUID))
	if err != nil {
		t.Fatalf("uid %d (nobody) is unknown to NSS: %v", burnerUID, err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatalf("gid %s (nobody's group) is unknown to NSS: %v", u.Gid, err)
	}
	removeStale(t, h.Unified.Point)
	top := fmt.Sprintf("parsimony-test-%d-%s", os.Getpid(), name)
	rel := filepath.Join(top, "user.slice", fmt.Sprintf("user-%d.slice", burnerUID))
	s := &kernelSlice{
		hierarchy: h,
		top:       filepath.Join(h.Unified.Point, top),
		dir:       filepath.Join(h.Unified.Point, rel),
		root:      top + "/user.slice/user-*.slice",
		path:      "/" + rel,
		login:     u.Username,
		group:     g.Name,
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		t.Fatalf("making the test's cgroup: %v", err)
	}
	t.Cleanup(func() { s.remove(t) })
	return s
}

// remove kills what is left in the slice (cgroup.kill, Linux ≥ 5.14; the
// burner's own cleanup normally did already) and removes the directories
// leaf first, retrying while the killed processes are reaped.
func (s *kernelSlice) remove(t *testing.T) {
	if err := os.WriteFile(filepath.Join(s.dir, "cgroup.kill"), []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Logf("cgroup.kill: %v", err)
	}
	dirs := []string{s.dir, filepath.Dir(s.dir), s.top}
	deadline := time.Now().Add(10 * time.Second)
	for _, d := range dirs {
		for {
			err := syscall.Rmdir(d)
			if err == nil || errors.Is(err, syscall.ENOENT) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("removing the test's cgroup %s: %v", d, err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// removeStale removes the slices of earlier test runs whose process is gone (a
// run killed by its timeout never runs its cleanups), so they do not pile up
// in the machine's hierarchy.
func removeStale(t *testing.T, mount string) {
	t.Helper()
	tops, err := filepath.Glob(filepath.Join(mount, "parsimony-test-*-*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, top := range tops {
		pidText, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(top), "parsimony-test-"), "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue
		}
		slices, _ := filepath.Glob(filepath.Join(top, "user.slice", "user-*.slice"))
		stale := &kernelSlice{top: top, dir: filepath.Join(top, "user.slice", "none")}
		for _, d := range slices {
			stale.dir = d
			stale.remove(t)
		}
		stale.remove(t)
		t.Logf("removed %s, left by an earlier run (pid %d) that did not clean up", top, pid)
	}
}

// usageUsec is the slice's cpu.stat usage_usec, read straight from the kernel.
func (s *kernelSlice) usageUsec(t *testing.T) uint64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(s.dir, "cpu.stat"))
	if err != nil {
		t.Fatalf("reading the kernel's counter: %v", err)
	}
	for line := range bytes.Lines(data) {
		if v, ok := bytes.CutPrefix(line, []byte("usage_usec ")); ok {
			n, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				t.Fatalf("cpu.stat usage_usec %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatalf("cpu.stat has no usage_usec: %q", data)
	return 0
}

// logAbsentControllers says which of the records' other figures this
// hierarchy cannot give (a hybrid machine's v2 mount has no controllers
// enabled: its children have cpu.stat only), and returns which files exist.
func (s *kernelSlice) logAbsentControllers(t *testing.T) (memory, io bool) {
	t.Helper()
	_, err := os.Stat(filepath.Join(s.dir, "memory.current"))
	memory = err == nil
	_, err = os.Stat(filepath.Join(s.dir, "io.stat"))
	io = err == nil
	if !memory {
		t.Log("no memory.current in the test's cgroup (the memory controller is not enabled on this v2 hierarchy): memory records are not checked")
	}
	if !io {
		t.Log("no io.stat in the test's cgroup (the io controller is not enabled on this v2 hierarchy): io bytes are not checked")
	}
	return memory, io
}

// burner is a process spinning on one core inside a slice, as nobody.
type burner struct {
	cmd  *exec.Cmd
	once sync.Once
	err  error
}

// startBurner starts `sh -c 'while :; do :; done'` straight into the slice
// (clone3 with CLONE_INTO_CGROUP: it never runs anywhere else, so all of its
// CPU time is the slice's) as nobody. It is killed when the test ends.
func startBurner(t *testing.T, s *kernelSlice) *burner {
	t.Helper()
	fd, err := syscall.Open(s.dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("opening the test's cgroup: %v", err)
	}
	defer syscall.Close(fd)
	cmd := exec.Command("/bin/sh", "-c", "while :; do :; done")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		UseCgroupFD: true,
		CgroupFD:    fd,
		Credential:  &syscall.Credential{Uid: burnerUID, Gid: burnerUID},
		Pdeathsig:   syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the CPU burner in %s as uid %d: %v", s.dir, burnerUID, err)
	}
	b := &burner{cmd: cmd}
	t.Cleanup(func() { b.stop() })
	return b
}

// stop kills the burner and waits for it, once.
func (b *burner) stop() error {
	b.once.Do(func() {
		b.cmd.Process.Kill()
		err := b.cmd.Wait()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			b.err = err
		}
	})
	return b.err
}

// ingestServer is the real server on a test database, serving the ingest API
// on a fixed 127.0.0.1 address that it can leave and come back to.
type ingestServer struct {
	pool    *pgxpool.Pool
	handler http.Handler
	addr    string
	token   string // an ingest token bound to source cgroup and the host

	mu       sync.Mutex
	srv      *http.Server
	requests chan struct{} // one value per ingest request, when set
}

// startIngestServer opens a ledger on a fresh database, makes an admin and
// its ingest token bound to (cgroup, host) as `parsimony token create
// --scope ingest --source cgroup --cluster host` does, and serves.
func startIngestServer(t *testing.T, host string) *ingestServer {
	t.Helper()
	ctx := t.Context()
	pool := pgtest.NewPool(t)
	l, err := ledger.Open(ctx, pool, ledger.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := l.UpsertUser(ctx, "test", ledger.User{Login: "admin", DisplayName: "Admin"})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.GrantGlobalRole(ctx, "test", admin.ID, ledger.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	store := auth.NewStore(pool, time.Now, 0)
	token, _, err := store.IssueToken(ctx, admin.ID, auth.TokenRequest{Name: "agent " + host, Scopes: []string{"ingest"},
		Binding: auth.Binding{Source: ledger.SourceCgroup, Cluster: host}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(server.Options{Ledger: l, SiteName: "agent e2e", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	is := &ingestServer{pool: pool, token: token}
	is.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.mu.Lock()
		ch := is.requests
		is.mu.Unlock()
		if ch != nil && r.URL.Path == "/api/v1/usage" {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		s.Handler().ServeHTTP(w, r)
	})
	is.up(t, "127.0.0.1:0")
	t.Cleanup(is.down)
	return is
}

// url is the server's base URL.
func (is *ingestServer) url() string { return "http://" + is.addr }

// up serves on addr (the same address again after down).
func (is *ingestServer) up(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("serving on %s again: %v", addr, err)
	}
	is.addr = ln.Addr().String()
	srv := &http.Server{Handler: is.handler, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	is.mu.Lock()
	is.srv = srv
	is.mu.Unlock()
}

// down stops serving: the listener is closed, so connections are refused,
// and requests in flight are cut.
func (is *ingestServer) down() {
	is.mu.Lock()
	srv := is.srv
	is.srv = nil
	is.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// notifyRequests makes every later ingest request send on the returned channel
// (without blocking).
func (is *ingestServer) notifyRequests() <-chan struct{} {
	ch := make(chan struct{}, 1)
	is.mu.Lock()
	is.requests = ch
	is.mu.Unlock()
	return ch
}

// writeToken writes the ingest token to a file the agent reads.
func (is *ingestServer) writeToken(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "token")
	if err := os.WriteFile(p, []byte(is.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// ledgerCPU is what the ledger holds of a cgroup's CPU on host: the
// core-seconds over every stored part of its records, and how many records
// (windows) they are. Usage of a user the ledger does not know is stored
// unassigned with the login kept, so it is found by that.
func (is *ingestServer) ledgerCPU(t *testing.T, host string, s *kernelSlice) (coreSeconds int64, records int) {
	t.Helper()
	err := is.pool.QueryRow(t.Context(), `
		SELECT coalesce(sum(quantity), 0), count(DISTINCT record_start)
		FROM usage
		WHERE source = $1 AND cluster = $2 AND external_id = $3 AND resource = 'cpu' AND username = $4 AND account = $5`,
		ledger.SourceCgroup, host, s.path, s.login, s.group).Scan(&coreSeconds, &records)
	if err != nil {
		t.Fatalf("reading the ledger's usage: %v", err)
	}
	return coreSeconds, records
}

// checkLedgerCPU compares the ledger's core-seconds of the slice with the
// kernel's counter delta over the run. Every record's quantity is its
// window's microseconds rounded to a core-second, so the two may differ by up
// to one core-second per record; below that, lost is the CPU time the agent
// may miss (one interval of one core, where the brief allows it), and
// above it nothing: more would be usage counted twice.
func checkLedgerCPU(t *testing.T, is *ingestServer, host string, s *kernelSlice, kernelUsec uint64, lost time.Duration) {
	t.Helper()
	got, records := is.ledgerCPU(t, host, s)
	if records == 0 {
		t.Fatalf("the ledger has no cpu record of %s (%s) on %s; the kernel counted %d µs", s.path, s.login, host, kernelUsec)
	}
	gotUsec := int64(got) * 1_000_000
	want := int64(kernelUsec)
	rounding := int64(records) * 1_000_000
	t.Logf("kernel usage_usec delta %d µs (%.3f core-s); ledger %d core-s in %d record(s); difference %+.3f s",
		want, float64(want)/1e6, got, records, float64(gotUsec-want)/1e6)
	if gotUsec > want+rounding {
		t.Errorf("the ledger holds %d core-s, more than the kernel's %.3f plus a second per record (%d): usage counted twice", got, float64(want)/1e6, records)
	}
	if gotUsec < want-rounding-lost.Microseconds() {
		t.Errorf("the ledger holds %d core-s, less than the kernel's %.3f less %s of CPU and a second per record (%d): usage lost", got, float64(want)/1e6, lost, records)
	}
}

// waitFor polls cond every 50 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("waited %s for %s", timeout, what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
