package agent

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/usagebatch"
)

// fakeServer stands in for the ingest API on 127.0.0.1: it checks a request as
// the server would, keeps the latest version of each record by natural key
// (as the ledger does) and answers what the test tells it to.
type fakeServer struct {
	t    *testing.T
	addr string
	srv  *httptest.Server

	mu       sync.Mutex
	down     bool
	answers  []int // statuses to answer next, in order; 200 once they run out
	delay    time.Duration
	latest   map[string]usagebatch.Record
	versions map[string][]int64 // each key's quantities in the order they arrived
	posts    int
	accepted int
	problems []string
}

const testToken = "pat_test"

func newFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	f := &fakeServer{t: t, latest: map[string]usagebatch.Record{}, versions: map[string][]int64{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.handle))
	f.addr = f.srv.Listener.Addr().String()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) url() string { return "http://" + f.addr }

// stop takes the server away: every connection is closed at once, unanswered,
// until restart. (Closing the listener instead would free the port for
// another test's server, which would then answer this test's agent.)
func (f *fakeServer) stop() {
	f.mu.Lock()
	f.down = true
	f.mu.Unlock()
	f.srv.CloseClientConnections()
}

// restart brings the server back.
func (f *fakeServer) restart() {
	f.mu.Lock()
	f.down = false
	f.mu.Unlock()
}

func (f *fakeServer) answer(statuses ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers = append(f.answers, statuses...)
}

func (f *fakeServer) handle(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	if f.down {
		f.mu.Unlock()
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.Close()
		}
		return
	}
	f.posts++
	status := http.StatusOK
	if len(f.answers) > 0 {
		status, f.answers = f.answers[0], f.answers[1:]
	}
	delay := f.delay
	f.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	problem := func(format string, args ...any) {
		f.mu.Lock()
		f.problems = append(f.problems, fmt.Sprintf(format, args...))
		f.mu.Unlock()
		http.Error(w, `{"error": "bad request"}`, http.StatusBadRequest)
	}
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/api/v1/usage":
		problem("%s %s", r.Method, r.URL.Path)
		return
	case r.Header.Get("Authorization") != "Bearer "+testToken:
		problem("authorization %q", r.Header.Get("Authorization"))
		return
	case r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Content-Encoding") != "gzip":
		problem("headers %v", r.Header)
		return
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil {
		problem("gzip: %v", err)
		return
	}
	body, err := io.ReadAll(zr)
	if err != nil || len(body) > usagebatch.MaxBodyBytes {
		problem("body: %v, %d bytes", err, len(body))
		return
	}
	raws, err := usagebatch.Split(body)
	if err != nil {
		problem("batch: %v", err)
		return
	}
	if status != http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		if status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error": "answer %d, as the test asked"}`, status)
		return
	}
	f.mu.Lock()
	for i, raw := range raws {
		rec, err := usagebatch.DecodeRecord(raw) // strictly, as the server does
		if err != nil {
			f.problems = append(f.problems, fmt.Sprintf("record %d: %v", i, err))
			continue
		}
		k := rec.Key()
		f.latest[k] = rec
		f.versions[k] = append(f.versions[k], rec.Quantity)
	}
	f.accepted++
	f.mu.Unlock()
	fmt.Fprintf(w, `{"read": %d, "ingested": %d, "revised": 0, "unchanged": 0, "quarantined": 0, "unmapped": 0, "rejected": []}`, len(raws), len(raws))
}

func (f *fakeServer) check() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.problems {
		f.t.Errorf("server saw a bad request: %s", p)
	}
}

// tokenFile writes the test token to a file.
func tokenFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
