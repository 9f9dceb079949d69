// Package ledger is Parsimony's domain and its PostgreSQL store: users, the group tree,
// memberships, mappings from source identities, usage with its daily rollups, collector
// runs, quarantine and the audit log. Every collector and the seed write through it.
package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lockKey is the ingest lock. Ingest holds it shared, beside a lock of its own per
// (source, cluster) (see lockStreams): batches of different streams write disjoint
// usage and rollup rows, so they are stored side by side. Re-mapping, rating,
// closing and the creation of partitions hold it exclusively: they read or move
// usage and rollups across streams, and need them to hold still.
const lockKey = 0x7061727369 // "parsi"

// DefaultMaxRecordSpan is how long one usage record may last unless configured:
// a year (366 days, so a leap year fits). Jobs, sessions and snapshots that claim
// more are broken records.
const DefaultMaxRecordSpan = 366 * 24 * time.Hour

// Options configure a Ledger.
type Options struct {
	// Location is the site's time zone: usage is split into days, and days into
	// months, in it. The first Open records it in the database; a later Open with
	// another zone fails, since the stored days would no longer line up.
	Location *time.Location
	Logger   *slog.Logger
	// Currency is the ISO 4217 code amounts are in (default "USD"), with
	// MinorDigits digits after the point (default 2). Like the time zone, the first
	// Open records it: statements written in one currency are never re-read in
	// another.
	Currency    string
	MinorDigits int
	// FiscalYearStart is the month (1–12) a fiscal year starts in, for yearly
	// budgets (default 1, January).
	FiscalYearStart time.Month
	// MaxRecordSpan is the longest interval one usage record may cover (default
	// DefaultMaxRecordSpan); a longer record is quarantined with the reason rather
	// than split into every day it claims.
	MaxRecordSpan time.Duration
	// Now is the ledger's clock (default time.Now): a period can be closed only once
	// it has ended by it, and drafts exist only up to its month.
	Now func() time.Time
}

// Ledger is the store. It is safe for concurrent use.
type Ledger struct {
	pool        *pgxpool.Pool
	loc         *time.Location
	log         *slog.Logger
	currency    string
	minorDigits int
	fiscalStart time.Month
	clock       func() time.Time
	maxSpan     time.Duration

	mu         sync.Mutex
	partitions map[time.Time]bool // usage partitions known to exist, by local month start

	cache summaryCache

	runLocks runLocks // the advisory locks of the collector runs this process has going
}

// Open checks the database against opts and returns a Ledger on pool.
func Open(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Ledger, error) {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Currency == "" {
		opts.Currency = "USD"
		if opts.MinorDigits == 0 {
			opts.MinorDigits = 2
		}
	}
	if opts.MinorDigits < 0 || opts.MinorDigits > 6 {
		return nil, fmt.Errorf("open ledger: %d minor digits for %s is not a currency", opts.MinorDigits, opts.Currency)
	}
	if opts.MaxRecordSpan <= 0 {
		opts.MaxRecordSpan = DefaultMaxRecordSpan
	}
	if opts.FiscalYearStart == 0 {
		opts.FiscalYearStart = time.January
	}
	l := &Ledger{pool: pool, loc: opts.Location, log: opts.Logger, partitions: map[time.Time]bool{},
		currency: opts.Currency, minorDigits: opts.MinorDigits, fiscalStart: opts.FiscalYearStart, clock: opts.Now, maxSpan: opts.MaxRecordSpan}
	zone := opts.Location.String()
	stored, err := pinSetting(ctx, pool, "time_zone", zone)
	if err != nil {
		return nil, fmt.Errorf("read site time zone: %w", err)
	}
	if stored != zone {
		return nil, fmt.Errorf("%w: the database's usage is split by days in %s, but the configured time zone is %s", ErrConflict, stored, zone)
	}
	cur := fmt.Sprintf("%s/%d", opts.Currency, opts.MinorDigits)
	if stored, err = pinSetting(ctx, pool, "currency", cur); err != nil {
		return nil, fmt.Errorf("read site currency: %w", err)
	}
	if stored != cur {
		return nil, fmt.Errorf("%w: the database's amounts are in %s, but the configured currency is %s", ErrConflict, stored, cur)
	}
	return l, nil
}

// pinSetting stores value under key unless the key has a value, and returns the
// stored value.
func pinSetting(ctx context.Context, pool *pgxpool.Pool, key, value string) (string, error) {
	var stored string
	err := pool.QueryRow(ctx, `
		INSERT INTO settings (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = settings.value
		RETURNING value`, key, value).Scan(&stored)
	return stored, err
}

// Currency is the site's ISO 4217 currency code and its number of minor digits.
func (l *Ledger) Currency() (code string, minorDigits int) { return l.currency, l.minorDigits }

// Location is the site's time zone.
func (l *Ledger) Location() *time.Location { return l.loc }

// Pool is the database pool, for two uses only: the session and token store
// (auth.NewStore) and the readiness check (/readyz pings it). Everything else
// reads and writes through the ledger's own functions; tests may use it to set up
// or inspect what no function offers.
func (l *Ledger) Pool() *pgxpool.Pool { return l.pool }

// ensurePartitions creates the monthly usage partitions that months need. It runs
// in its own short transaction, before an ingest, because creating a partition
// locks the parent table; it is a no-op for months already known.
func (l *Ledger) ensurePartitions(ctx context.Context, months []time.Time) error {
	l.mu.Lock()
	var missing []time.Time
	for _, m := range months {
		if !l.partitions[m] {
			missing = append(missing, m)
		}
	}
	l.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
			return err
		}
		for _, m := range missing {
			name := partitionName(m)
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists); err != nil {
				return err
			}
			if exists {
				continue
			}
			upper := time.Date(m.Year(), m.Month()+1, 1, 0, 0, 0, 0, l.loc)
			// Bounds are literal timestamps with their offset: DDL takes no parameters.
			ddl := fmt.Sprintf(`CREATE TABLE %s PARTITION OF usage FOR VALUES FROM ('%s') TO ('%s')`,
				pgx.Identifier{name}.Sanitize(), m.Format(time.RFC3339), upper.Format(time.RFC3339))
			if _, err := tx.Exec(ctx, ddl); err != nil {
				return fmt.Errorf("create partition %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ensure usage partitions: %w", err)
	}
	l.mu.Lock()
	for _, m := range missing {
		l.partitions[m] = true
	}
	l.mu.Unlock()
	return nil
}

func partitionName(month time.Time) string {
	return fmt.Sprintf("usage_y%04dm%02d", month.Year(), int(month.Month()))
}
