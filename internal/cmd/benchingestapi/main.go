// Command benchingestapi measures the ingest API (POST /api/v1/usage) end to end:
// one server on 127.0.0.1 over a throwaway database, and 100 concurrent pushers,
// each a machine with its own bound ingest token, posting gzipped batches of
// cgroup records as fast as the server answers. It ends with one line:
// "ingest api: N records/s (P pushers, B records a batch, gzip G, D s)".
//
// It uses PARSIMONY_TEST_DATABASE_URL when set (a role that may create
// databases), otherwise a throwaway PostgreSQL of its own.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/internal/benchdb"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/server"
	"github.com/parsimony-hpc/parsimony/usagebatch"
)

func main() {
	pushers := flag.Int("pushers", 100, "concurrent pushers, each a machine with its own token")
	batch := flag.Int("batch", 1000, "records per batch")
	duration := flag.Duration("duration", 30*time.Second, "how long the pushers push")
	gz := flag.Bool("gzip", true, "gzip the batches, as agents do")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the push phase (server and pushers) to `file`")
	flag.Parse()
	if err := run(context.Background(), *pushers, *batch, *duration, *gz, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "benchingestapi:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, pushers, batchSize int, duration time.Duration, gz bool, cpuprofile string) error {
	level := slog.LevelWarn
	if os.Getenv("PARSIMONY_DEBUG") != "" {
		level = slog.LevelDebug // the ledger's timings of each batch's steps
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	db, err := benchdb.Open(ctx, log, "bench_ingest_api", false)
	if err != nil {
		return err
	}
	defer db.Close()
	l := db.Ledger
	admin, err := l.UpsertUser(ctx, "bench", ledger.User{Login: "bench-admin", DisplayName: "Bench admin"})
	if err != nil {
		return err
	}
	if err := l.GrantGlobalRole(ctx, "bench", admin.ID, ledger.RoleAdmin); err != nil {
		return err
	}
	store := auth.NewStore(db.Pool, time.Now, 0)
	tokens := make([]string, pushers)
	for i := range tokens {
		tokens[i], _, err = store.IssueToken(ctx, admin.ID, auth.TokenRequest{Name: fmt.Sprintf("ws-%03d", i),
			Scopes: []string{"ingest"}, Binding: auth.Binding{Source: "cgroup", Cluster: fmt.Sprintf("ws-%03d", i)}})
		if err != nil {
			return err
		}
	}
	s, err := server.New(server.Options{Ledger: l, Logger: log, SiteName: "bench"})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srvCtx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- s.Run(srvCtx, ln) }()
	url := "http://" + ln.Addr().String() + "/api/v1/usage"

	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: pushers}, Timeout: time.Minute}
	var accepted, batches, refused atomic.Int64
	var firstErr error
	var errOnce sync.Once
	pushCtx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	began := time.Now()
	var wg sync.WaitGroup
	for i := range pushers {
		wg.Go(func() {
			host := fmt.Sprintf("ws-%03d", i)
			base := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
			for n := 0; pushCtx.Err() == nil; n++ {
				body, err := encode(host, base, n, batchSize, gz)
				if err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				got, code, err := push(pushCtx, client, url, tokens[i], body, gz)
				switch {
				case pushCtx.Err() != nil:
					return
				case err != nil:
					errOnce.Do(func() { firstErr = err })
					return
				case code == http.StatusTooManyRequests:
					refused.Add(1)
					time.Sleep(100 * time.Millisecond)
					n-- // send the same batch again
					continue
				case code != http.StatusOK:
					errOnce.Do(func() { firstErr = fmt.Errorf("%s: status %d", host, code) })
					return
				}
				accepted.Add(got)
				batches.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	stop()
	if err := <-served; err != nil {
		return err
	}
	if firstErr != nil {
		return firstErr
	}
	var stored int64
	if err := db.Pool.QueryRow(ctx, `SELECT count(DISTINCT (cluster, external_id, resource, record_start)) FROM usage`).Scan(&stored); err != nil {
		return err
	}
	fmt.Printf("batches %d (429s %d), records acknowledged %d, distinct records in the ledger %d\n", batches.Load(), refused.Load(), accepted.Load(), stored)
	fmt.Printf("ingest api: %.0f records/s (%d pushers, %d records a batch, gzip %v, %.1f s)\n",
		float64(accepted.Load())/elapsed.Seconds(), pushers, batchSize, gz, elapsed.Seconds())
	return nil
}

// encode is host's n-th batch: batchSize records of 30-second intervals, for 50
// users in turn, CPU and memory, as an agent sends them.
func encode(host string, base time.Time, n, batchSize int, gz bool) ([]byte, error) {
	recs := make([]usagebatch.Record, 0, batchSize)
	for j := 0; j < batchSize; j++ {
		k := n*batchSize + j
		user := k % 50
		slot := k / 100 // 50 users × 2 resources per 30-second interval
		res := ledger.ResourceCPU
		q := int64(10 + k%20)
		if k%100 >= 50 {
			res, q = ledger.ResourceMemory, int64(1<<30)*30
		}
		start := base.Add(time.Duration(slot) * 30 * time.Second)
		used := q
		recs = append(recs, usagebatch.Record{Source: "cgroup", Cluster: host,
			ExternalID: fmt.Sprintf("user.slice/user-%d.slice@%d", 1000+user, 4000+user), Resource: res,
			Start: start, End: start.Add(30 * time.Second), Quantity: q, Used: &used,
			User: fmt.Sprintf("user%02d", user), Account: "lab"})
	}
	raw, err := json.Marshal(usagebatch.Batch{Records: recs})
	if err != nil || !gz {
		return raw, err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func push(ctx context.Context, c *http.Client, url, token string, body []byte, gz bool) (int64, int, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, resp.StatusCode, nil
	}
	var a struct {
		Read, Quarantined int64
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return 0, 0, err
	}
	if a.Quarantined != 0 {
		return 0, 0, errors.New("the bench's records were quarantined: " + string(raw))
	}
	return a.Read, resp.StatusCode, nil
}
