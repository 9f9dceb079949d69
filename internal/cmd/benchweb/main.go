// Command benchweb measures the web app on a seeded database: the server time of the
// group dashboard and leaderboard of the largest group (the institution), p50/p95
// over sequential requests — the first request after a rating (nothing cached) and
// then the steady state —, then requests/s under `wrk` from Debian against
// 127.0.0.1.
//
// With -database it uses a seeded database (e.g. one `benchseed -keep` left);
// without, it seeds the benchmark institution first (-jobs, default 10 million:
// about 7 minutes). This month and the last are rated if they have not been.
//
//	go run ./internal/cmd/benchweb [-database postgres://…/bench] [-jobs N] [-wrk 15s]
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
	"github.com/parsimony-hpc/parsimony/internal/benchdb"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/seed"
	"github.com/parsimony-hpc/parsimony/server"
)

func main() {
	dbURL := flag.String("database", os.Getenv("PARSIMONY_BENCH_DATABASE_URL"), "a seeded, rated database")
	zone := flag.String("zone", "Europe/Berlin", "the database's site time zone")
	n := flag.Int("n", 200, "sequential requests per page")
	jobs := flag.Int64("jobs", 0, "without -database: Slurm jobs to seed (0: the bench scale's 10 million)")
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
	if err := run(context.Background(), *dbURL, *zone, *n, *wrkFor, *jobs); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "benchweb:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dbURL, zone string, n int, wrkFor time.Duration, jobs int64) error {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if dbURL == "" {
		db, err := benchdb.Open(ctx, quiet, "bench_web", false)
		if err != nil {
			return err
		}
		defer db.Close()
		fmt.Println("seeding the benchmark institution…")
		if _, err := seed.Run(ctx, db.Ledger, seed.Options{Scale: seed.ScaleBench, Jobs: jobs, RandomSeed: 1, Logger: quiet}); err != nil {
			return err
		}
		dbURL = db.URL
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
	// Rate this month and the last where they have no summaries yet.
	now := time.Now().In(loc)
	for _, m := range []time.Time{time.Date(now.Year(), now.Month()-1, 1, 0, 0, 0, 0, time.UTC), time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)} {
		var have bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM group_summary WHERE day = $1)`, m).Scan(&have); err != nil {
			return err
		}
		closed, err := l.PeriodClosed(ctx, m)
		if err != nil {
			return err
		}
		if !have && !closed {
			res, err := l.RatePeriod(ctx, "benchweb", m)
			if err != nil {
				return err
			}
			fmt.Printf("rated %s in %s\n", m.Format("2006-01"), res.Took.Round(time.Millisecond))
		}
	}
	var slug, admin string
	err = pool.QueryRow(ctx, `
		SELECT (SELECT slug FROM groups WHERE parent_id IS NULL ORDER BY id LIMIT 1),
		       (SELECT u.login FROM users u JOIN global_roles r ON r.user_id = u.id AND r.role = 'admin' ORDER BY u.id LIMIT 1),
		       (SELECT coalesce(sum(records), 0) FROM rollup_daily WHERE source = 'slurm' AND resource = 'cpu')`).Scan(&slug, &admin, &jobs)
	if err != nil {
		return fmt.Errorf("find the largest group and an admin: %w", err)
	}

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
	pages := []string{"/groups/" + slug, "/groups/" + slug + "/leaderboard", "/groups/" + slug + "?period=prev", "/"}
	for _, cold := range []bool{true, false} {
		if cold {
			fmt.Println("first request after a rating (the summaries read, nothing cached):")
		} else {
			fmt.Println("steady state (cached until the next rating):")
		}
		for _, page := range pages {
			var times []time.Duration
			for i := 0; i < n+5; i++ {
				if cold {
					// What a new rating does to the cache: a new generation.
					if _, err := pool.Exec(ctx, `
						INSERT INTO settings (key, value) VALUES ('summary_generation', '1')
						ON CONFLICT (key) DO UPDATE SET value = (settings.value::bigint + 1)::text`); err != nil {
						return err
					}
				}
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
			fmt.Printf("  %-40s p50 %6.1f ms  p95 %6.1f ms  max %6.1f ms  (%d requests)\n", page,
				ms(times[len(times)/2]), ms(times[len(times)*95/100]), ms(times[len(times)-1]), len(times))
		}
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
