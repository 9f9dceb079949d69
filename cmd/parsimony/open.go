package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/config"
	"github.com/parsimony-hpc/parsimony/ledger"
)

// configFlag adds the --config flag every database command takes.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "configuration `file` (TOML; see parsimony.example.toml); without it, defaults and DATABASE_URL")
}

// loadConfig reads the configuration and insists on a database URL.
func loadConfig(path string) (config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return config.Config{}, err
	}
	if cfg.Database.URL == "" {
		return config.Config{}, errors.New("no database: set DATABASE_URL (or PARSIMONY_DATABASE_URL), or [database] url in --config; `parsimony demo` needs none")
	}
	return cfg, nil
}

// openLedger connects to the configured database and opens the ledger on it. The
// caller closes the pool.
func openLedger(ctx context.Context, e *env, cfg config.Config) (*ledger.Ledger, *pgxpool.Pool, error) {
	loc, err := time.LoadLocation(cfg.Site.TimeZone)
	if err != nil {
		return nil, nil, fmt.Errorf("site time zone: %w", err)
	}
	pool, err := pgxpool.New(ctx, cfg.Database.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to database: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("connect to database: %w", err)
	}
	l, err := ledger.Open(ctx, pool, ledger.Options{Location: loc, Logger: e.log,
		Currency: cfg.Site.Currency, MinorDigits: cfg.Site.CurrencyMinorDigits(),
		FiscalYearStart: time.Month(cfg.Site.FiscalYearStart),
		MaxRecordSpan:   time.Duration(cfg.Site.MaxRecordDays) * 24 * time.Hour})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return l, pool, nil
}

// withLedger loads the configuration at cfgPath, opens the ledger and runs fn with
// it, closing the database afterwards.
func withLedger(ctx context.Context, e *env, cfgPath string, fn func(l *ledger.Ledger, cfg config.Config) error) error {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return err
	}
	l, pool, err := openLedger(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	return fn(l, cfg)
}
