// Command benchweb measures the web app on a seeded database: the server time of the
// group dashboard and leaderboard of the largest group (the institution), p50/p95
// over sequential requests, then requests/s under `wrk` from Debian against
// 127.0.0.1. Every month of the history should have been rated (`parsimony rate`),
// as the collectors' timer does.
//
//	go run ./internal/cmd/benchweb -database postgres://…/bench [-wrk 15s]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/server"
)

func main() {
	dbURL := flag.String("database", os.Getenv("PARSIMONY_BENCH_DATABASE_URL"), "a seeded, rated database")
	zone := flag.String("zone", "Europe/Berlin", "the database's site time zone")
	n := flag.Int("n", 200, "sequential requests per page")
	wrkFor := flag.Duration("wrk", 15*time.Second, "how long wrk runs (0: skip)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the sequential requests to this `file`")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchweb:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(context.Background(), *dbURL, *zone, *n, *wrkFor); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "benchweb:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dbURL, zone string, n int, wrkFor time.Duration) error {
	if dbURL == "" {
		return fmt.Errorf("-database (or PARSIMONY_BENCH_DATABASE_URL) is required")
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	var currency string
	if err := pool.QueryRow(ctx, `SELECT coalesce((SELECT value FROM settings WHERE key = 'currency'), 'USD/2')`).Scan(&currency); err != nil {
		return err
	}
	code, _, _ := strings.Cut(currency, "/")
	l, err := ledger.Open(ctx, pool, ledger.Options{Location: loc, Currency: code, MinorDigits: 2,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	var slug, admin string
	var jobs int64
	err = pool.QueryRow(ctx, `
		SELECT (SELECT slug FROM groups WHERE parent_id IS NULL ORDER BY id LIMIT 1),
		       (SELECT u.login FROM users u JOIN global_roles r ON r.user_id = u.id AND r.role = 'admin' ORDER BY u.id LIMIT 1),
		       (SELECT coalesce(sum(records), 0) FROM rollup_daily WHERE source = 'slurm' AND resource = 'cpu')`).Scan(&slug, &admin, &jobs)
	if err != nil {
		return fmt.Errorf("find the largest group and an admin: %w", err)
	}
	store := auth.NewStore(pool, nil, 0)
	uid, err := store.UserID(ctx, admin)
	if err != nil {
		return err
	}
	token, err := store.CreateSession(ctx, uid, "demo")
	if err != nil {
		return err
	}
	srv, err := server.New(server.Options{Ledger: l, SiteName: "Bench", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go srv.Run(runCtx, ln)
	base := "http://" + ln.Addr().String()
	cookie := "parsimony_session=" + token
	fmt.Printf("database: %s Slurm jobs; largest group %q, signed in as admin %s\n", ledger.GroupThousands(fmt.Sprint(jobs)), slug, admin)

	client := &http.Client{}
	for _, page := range []string{"/groups/" + slug, "/groups/" + slug + "/leaderboard", "/groups/" + slug + "?period=prev", "/"} {
		var times []time.Duration
		for i := 0; i < n+5; i++ {
			req, _ := http.NewRequest("GET", base+page, nil)
			req.Header.Set("Cookie", cookie)
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("%s: status %d", page, resp.StatusCode)
			}
			if i >= 5 { // warm-up
				times = append(times, time.Since(start))
			}
		}
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		fmt.Printf("%-40s p50 %6.1f ms  p95 %6.1f ms  max %6.1f ms  (%d requests)\n", page,
			ms(times[len(times)/2]), ms(times[len(times)*95/100]), ms(times[len(times)-1]), len(times))
	}
	if wrkFor > 0 {
		wrk, err := exec.LookPath("wrk")
		if err != nil {
			return fmt.Errorf("wrk is not installed (sudo apt-get install -y wrk)")
		}
		out, err := exec.CommandContext(ctx, wrk, "-t2", "-c8", "-d"+wrkFor.String(), "-H", "Cookie: "+cookie,
			base+"/groups/"+slug).CombinedOutput()
		if err != nil {
			return fmt.Errorf("wrk: %w\n%s", err, out)
		}
		fmt.Printf("wrk -t2 -c8 -d%s %s/groups/%s:\n%s", wrkFor, base, slug, out)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
