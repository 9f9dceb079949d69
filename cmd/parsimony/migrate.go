package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/parsimony-hpc/parsimony/migrations"
)

func runMigrate(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "migrate", "up | down N | down all | version | force V")
	cfgPath := configFlag(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError(e, fs, "say up, down N, version or force V")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	m, err := migrations.New(cfg.Database.URL)
	if err != nil {
		return err
	}
	defer m.Close()
	verb, rest := fs.Arg(0), fs.Args()[1:]
	switch {
	case verb == "up" && len(rest) == 0:
		if err := m.Up(); err != nil {
			return err
		}
	case verb == "down" && len(rest) == 1:
		n := 0
		if rest[0] != "all" {
			if n, err = strconv.Atoi(rest[0]); err != nil || n < 1 {
				return usageError(e, fs, "down takes a number of migrations ≥ 1, or all")
			}
		}
		if err := m.Down(n); err != nil {
			return err
		}
	case verb == "force" && len(rest) == 1:
		v, err := strconv.Atoi(rest[0])
		if err != nil {
			return usageError(e, fs, "force takes a version number")
		}
		if err := m.Force(v); err != nil {
			return err
		}
	case verb == "version" && len(rest) == 0:
	default:
		return usageError(e, fs, "unknown form %q", fs.Args())
	}
	v, dirty, err := m.Version()
	if err != nil {
		return err
	}
	latest, err := migrations.Latest()
	if err != nil {
		return err
	}
	state := ""
	if dirty {
		state = " (dirty: a migration failed half-way; repair, then `parsimony migrate force V`)"
	}
	fmt.Fprintf(e.stdout, "schema version %d of %d%s\n", v, latest, state)
	return nil
}
