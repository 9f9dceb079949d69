// Package migrations holds the ledger's schema as numbered golang-migrate SQL files,
// embedded in the binary, and runs them.
package migrations

import (
	"embed"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // registers pgx5://
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

//go:embed *.sql
var files embed.FS

// FS returns the embedded migration files (for tests that need their content).
func FS() embed.FS { return files }

// Migrator runs the embedded migrations against one database.
type Migrator struct {
	m *migrate.Migrate
}

// New opens a migrator on databaseURL (a postgres:// or postgresql:// URL).
func New(databaseURL string) (*Migrator, error) {
	src, err := iofs.New(files, ".")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	m, err := migrate.NewWithSourceInstance("iofs", src, pgx5URL(databaseURL))
	if err != nil {
		return nil, fmt.Errorf("open database for migrations: %w", err)
	}
	return &Migrator{m: m}, nil
}

// pgx5URL rewrites a libpq-style URL to the scheme golang-migrate's pgx v5 driver
// registers. Everything after the scheme is passed through unchanged.
func pgx5URL(u string) string {
	for _, p := range []string{"postgres://", "postgresql://"} {
		if strings.HasPrefix(u, p) {
			return "pgx5://" + strings.TrimPrefix(u, p)
		}
	}
	return u
}

// Up applies every migration not yet applied. Already current is not an error.
func (m *Migrator) Up() error {
	if err := m.m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrate up: %w", err)
	}
	return nil
}

// Down reverts n migrations (n > 0), or all of them when n == 0.
func (m *Migrator) Down(n int) error {
	var err error
	if n == 0 {
		err = m.m.Down()
	} else {
		err = m.m.Steps(-n)
	}
	if err != nil && !errors.Is(err, migrate.ErrNoChange) {
		return fmt.Errorf("migrate down: %w", err)
	}
	return nil
}

// Version reports the applied version; dirty means a migration failed half-way and
// needs `migrate force`. Version 0 means nothing is applied.
func (m *Migrator) Version() (version uint, dirty bool, err error) {
	v, d, err := m.m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read migration version: %w", err)
	}
	return v, d, nil
}

// Force sets the recorded version without running anything, to recover from a dirty
// state after the operator has repaired the schema by hand.
func (m *Migrator) Force(version int) error {
	if err := m.m.Force(version); err != nil {
		return fmt.Errorf("force version %d: %w", version, err)
	}
	return nil
}

// Latest is the highest version among the embedded files.
func Latest() (uint, error) {
	entries, err := files.ReadDir(".")
	if err != nil {
		return 0, fmt.Errorf("list embedded migrations: %w", err)
	}
	var latest uint
	for _, e := range entries {
		var v uint
		if _, err := fmt.Sscanf(e.Name(), "%d_", &v); err == nil && v > latest {
			latest = v
		}
	}
	return latest, nil
}

// Close releases the migrator's database connection.
func (m *Migrator) Close() error {
	srcErr, dbErr := m.m.Close()
	return errors.Join(srcErr, dbErr)
}
