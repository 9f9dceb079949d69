package main

import (
	"context"
	"fmt"
	"net"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/migrations"
	"github.com/parsimony-hpc/parsimony/server"
)

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "serve", "[--config FILE] [--listen ADDR]")
	cfgPath := configFlag(fs)
	listen := fs.String("listen", "", "address to serve on (default: the configuration's, 127.0.0.1:8080)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Server.Listen = *listen
	}
	if err := requireCurrentSchema(cfg.Database.URL); err != nil {
		return err
	}
	l, pool, err := openLedger(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	return serve(ctx, e, l, cfg.Site.Name, cfg.Server.Listen)
}

// requireCurrentSchema refuses to run against a database whose schema is behind
// or ahead of this binary's: the queries would fail in confusing ways.
func requireCurrentSchema(url string) error {
	m, err := migrations.New(url)
	if err != nil {
		return err
	}
	defer m.Close()
	v, dirty, err := m.Version()
	if err != nil {
		return err
	}
	latest, err := migrations.Latest()
	if err != nil {
		return err
	}
	if dirty || v != latest {
		return fmt.Errorf("the database schema is at version %d (dirty: %v), this binary needs %d: run `parsimony migrate up`", v, dirty, latest)
	}
	return nil
}

// serve runs the web app on addr until ctx ends.
func serve(ctx context.Context, e *env, l *ledger.Ledger, siteName, addr string) error {
	srv, err := server.New(server.Options{Ledger: l, Logger: e.log, SiteName: siteName})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	e.log.Info("serving", "url", "http://"+ln.Addr().String()+"/")
	return srv.Run(ctx, ln)
}
