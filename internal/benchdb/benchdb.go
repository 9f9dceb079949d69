// Package benchdb gives the benchmark programs a fresh, migrated ledger database:
// on PARSIMONY_TEST_DATABASE_URL when set (a role that may create databases),
// otherwise on a throwaway PostgreSQL cluster with settings for bulk loading.
package benchdb

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/internal/pgcluster"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/migrations"
)

// DB is a benchmark database with a ledger on it (site zone Europe/Berlin, so day
// splitting meets DST).
type DB struct {
	Ledger  *ledger.Ledger
	Pool    *pgxpool.Pool
	Name    string
	URL     string // the database's connection URL
	cleanup []func()
}

// Open creates the database. With keep, the database outlives the program (only
// useful with PARSIMONY_TEST_DATABASE_URL: a throwaway cluster goes anyway).
func Open(ctx context.Context, log *slog.Logger, prefix string, keep bool) (_ *DB, err error) {
	db := &DB{Name: fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	adminURL := os.Getenv("PARSIMONY_TEST_DATABASE_URL")
	if adminURL == "" {
		dir, err := os.MkdirTemp("", "parsimony-"+prefix+"-")
		if err != nil {
			return nil, err
		}
		db.cleanup = append(db.cleanup, func() { os.RemoveAll(dir) })
		// Default durability (fsync on), with room for bulk loads between checkpoints.
		c, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: dir, Logger: log,
			Settings: map[string]string{"shared_buffers": "1GB", "max_wal_size": "16GB", "checkpoint_timeout": "30min"}})
		if err != nil {
			return nil, err
		}
		db.cleanup = append(db.cleanup, func() { c.Destroy(context.Background()) })
		adminURL = c.URL("postgres")
	}
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+db.Name); err != nil {
		return nil, fmt.Errorf("create database: %w", err)
	}
	if keep {
		fmt.Println("keeping database", db.Name)
	} else {
		db.cleanup = append(db.cleanup, func() {
			if conn, err := pgx.Connect(context.Background(), adminURL); err == nil {
				conn.Exec(context.Background(), "DROP DATABASE "+db.Name+" WITH (FORCE)")
				conn.Close(context.Background())
			}
		})
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + db.Name
	m, err := migrations.New(u.String())
	if err != nil {
		return nil, err
	}
	err = m.Up()
	m.Close()
	if err != nil {
		return nil, err
	}
	db.URL = u.String()
	if err := db.open(ctx, log, u.String()); err != nil {
		return nil, err
	}
	return db, nil
}

// open connects the pool and opens the ledger on it.
func (db *DB) open(ctx context.Context, log *slog.Logger, databaseURL string) (err error) {
	if db.Pool, err = pgxpool.New(ctx, databaseURL); err != nil {
		return err
	}
	db.cleanup = append(db.cleanup, db.Pool.Close)
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return err
	}
	db.Ledger, err = ledger.Open(ctx, db.Pool, ledger.Options{Location: loc, Logger: log})
	return err
}

// Close drops the database (unless kept) and stops a throwaway cluster.
func (db *DB) Close() {
	for i := len(db.cleanup) - 1; i >= 0; i-- {
		db.cleanup[i]()
	}
	db.cleanup = nil
}

// Reuse opens an existing database at databaseURL (e.g. one that benchseed -keep
// left), migrating it to the latest schema first; Close leaves it in place.
func Reuse(ctx context.Context, log *slog.Logger, databaseURL string) (_ *DB, err error) {
	db := &DB{Name: databaseURL, URL: databaseURL}
	m, err := migrations.New(databaseURL)
	if err != nil {
		return nil, err
	}
	err = m.Up()
	m.Close()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if err := db.open(ctx, log, databaseURL); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
