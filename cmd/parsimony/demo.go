package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/server"

	"github.com/parsimony-hpc/parsimony/config"
	"github.com/parsimony-hpc/parsimony/internal/pgcluster"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/migrations"
	"github.com/parsimony-hpc/parsimony/report"
	"github.com/parsimony-hpc/parsimony/seed"
)

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "demo", "[--data DIR] [--listen ADDR]")
	dataDir := fs.String("data", defaultDemoDir(), "`folder` that holds the demo's private PostgreSQL (reused on the next start)")
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve the web app on")
	randomSeed := fs.Uint64("random-seed", 1, "random seed of the demo institution (first start only)")
	openSignIn := fs.Bool("i-know-demo-sign-in-is-open", false, "allow --listen on an address other than loopback, although the demo's sign-in lets anyone who reaches it act as any user, admin included")
	if err := parseFlagsOnly(e, fs, args); err != nil {
		return err
	}
	// Checked before anything starts, so a refused demo leaves nothing behind.
	if err := checkDemoListen(*listen, *openSignIn); err != nil {
		return usageError(e, fs, "%v", err)
	}
	if *openSignIn && !isLoopback(*listen) {
		e.log.Warn("the demo's sign-in is open to anyone who reaches this address: they can act as any user, admin included", "listen", *listen)
	}
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	bin, err := pgcluster.FindBinaries()
	if err != nil {
		return err
	}
	e.log.Info("starting private PostgreSQL", "binaries", bin, "data", *dataDir)
	// The cluster is stopped on the way out even when ctx (Ctrl-C) has ended, so it
	// gets a context of its own.
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: *dataDir, Logger: e.log})
	if err != nil {
		return err
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := cluster.Stop(stopCtx); err != nil {
			e.log.Error("stop PostgreSQL", "err", err)
			return
		}
		e.log.Info("PostgreSQL stopped")
	}()

	cfg := config.Default()
	cfg.Site.Name = "Demo University"
	cfg.Site.Currency = "EUR"
	cfg.Database.URL = cluster.URL("parsimony")
	cfg.Server.Listen = *listen
	// The same settings as a file, for running other commands against the demo
	// (while it runs): parsimony export --config DIR/parsimony.toml …
	cfgFile := filepath.Join(*dataDir, "parsimony.toml")
	body := fmt.Sprintf("# Written by parsimony demo: the demo's settings, for other commands.\n[site]\nname = %q\ntime_zone = %q\ncurrency = %q\n\n[database]\nurl = %q\n",
		cfg.Site.Name, cfg.Site.TimeZone, cfg.Site.Currency, cfg.Database.URL)
	if err := os.WriteFile(cfgFile, []byte(body), 0o644); err != nil {
		return fmt.Errorf("write the demo's configuration: %w", err)
	}
	m, err := migrations.New(cfg.Database.URL)
	if err != nil {
		return err
	}
	err = m.Up()
	m.Close()
	if err != nil {
		return err
	}
	l, pool, err := openLedger(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()

	var groups int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM groups`).Scan(&groups); err != nil {
		return fmt.Errorf("look for demo data: %w", err)
	}
	if groups == 0 {
		e.log.Info("first start: seeding the demo institution")
		sum, err := seedLedger(ctx, e, l, seed.Options{Scale: "demo", RandomSeed: *randomSeed})
		if err != nil {
			return fmt.Errorf("seed demo: %w", err)
		}
		e.log.Info("seeded", "groups", sum.Groups, "users", sum.Users, "jobs", sum.Jobs, "elapsed", sum.Elapsed.Round(time.Millisecond))
	} else {
		// A later start: close the months that have ended since (and price a demo
		// folder made before billing existed). Billing is idempotent.
		var first *time.Time
		if err := pool.QueryRow(ctx, `SELECT min(day) FROM rollup_daily`).Scan(&first); err != nil {
			return fmt.Errorf("look for demo usage: %w", err)
		}
		if first != nil {
			if err := seed.Billing(ctx, l, seed.BillingOptions{From: *first, Now: time.Now(), Close: true, RandomSeed: *randomSeed}); err != nil {
				return fmt.Errorf("demo billing: %w", err)
			}
		}
	}
	if err := printDemoTotals(ctx, e, l, cfgFile); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nParsimony demo: open http://%s/ (Ctrl-C stops it; data kept in %s)\n", *listen, *dataDir)
	err = serve(ctx, e, l, cfg.Site.Name, *listen, server.AuthOptions{DemoLogin: true})
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return err
}

// checkDemoListen refuses a demo listening beyond this machine unless the person
// starting it says they know: its sign-in page lets anyone pick any user, admin
// and finance included, with no password.
func checkDemoListen(listen string, openSignIn bool) error {
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return fmt.Errorf("--listen %q: %w", listen, err)
	}
	if isLoopback(listen) || openSignIn {
		return nil
	}
	return fmt.Errorf("--listen %s is not a loopback address, and the demo's sign-in lets anyone who reaches it act as any user, admin included, "+
		"without a password: listen on 127.0.0.1 (the default) or localhost, or add --i-know-demo-sign-in-is-open to serve it to the network anyway", listen)
}

// isLoopback reports whether a host:port address only listens on this machine:
// "localhost" or a loopback IP. An empty host (":8080") is every interface, and
// any other name could resolve anywhere, so neither counts.
func isLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// defaultDemoDir is the demo's folder in the user's data directory
// ($XDG_DATA_HOME, else ~/.local/share).
func defaultDemoDir() string {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return filepath.Join(os.TempDir(), "parsimony-demo")
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "parsimony", "demo")
}

// printDemoTotals shows the seeded institution's usage this month and in all, by
// department, so a first start says what it holds.
func printDemoTotals(ctx context.Context, e *env, l *ledger.Ledger, cfgFile string) error {
	now := time.Now().In(l.Location())
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, l.Location())
	tomorrow := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, l.Location())
	by := []string{ledger.ByGroup}
	rows, err := l.Report(ctx, ledger.ReportQuery{From: monthStart, To: tomorrow, By: by, Depth: 2, Resource: ledger.ResourceCPU})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "CPU usage by department, %s %d to date:\n\n", now.Month(), now.Year())
	if err := report.WriteTable(e.stdout, by, rows); err != nil {
		return err
	}
	all, err := l.Report(ctx, ledger.ReportQuery{From: time.Date(1970, 1, 1, 0, 0, 0, 0, l.Location()), To: tomorrow})
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "\nEverything in the ledger:")
	fmt.Fprintln(e.stdout)
	if err := report.WriteTable(e.stdout, nil, all); err != nil {
		return err
	}
	return printDemoBilling(ctx, e, l, cfgFile)
}

// printDemoBilling says which months are closed and what the open one's drafts add
// up to, with the commands that show more.
func printDemoBilling(ctx context.Context, e *env, l *ledger.Ledger, cfgFile string) error {
	periods, err := l.Periods(ctx)
	if err != nil {
		return err
	}
	var closed []string
	var open time.Time
	for _, p := range periods {
		if p.ClosedAt != nil {
			closed = append([]string{p.Month.Format("2006-01")}, closed...)
		} else if open.IsZero() || p.Month.Before(open) {
			open = p.Month
		}
	}
	if len(closed) == 0 || open.IsZero() {
		return nil
	}
	sts, _, err := l.Statements(ctx, open)
	if err != nil {
		return err
	}
	var total int64
	for _, st := range sts {
		total += st.TotalMinor
	}
	cur, digits := l.Currency()
	fmt.Fprintf(e.stdout, "\nBilling: %s to %s closed (%d months); %s open: %d draft statements, %s %s so far.\n",
		closed[0], closed[len(closed)-1], len(closed), open.Format("2006-01"), len(sts), cur, ledger.FormatMinor(total, digits))
	fmt.Fprintf(e.stdout, "Statements as PDF: parsimony export --config %s --period %s --format pdf --out statements/\n",
		cfgFile, closed[len(closed)-1])
	return nil
}
