package main

import (
	"context"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/config"
)

// The configured session lifetimes reach the server.
func TestServeSessionLifetimes(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Auth.SessionIdleTimeout = config.Duration{Duration: 30 * time.Minute}
	cfg.Auth.SessionLifetime = config.Duration{Duration: 24 * time.Hour}
	opts, err := authOptions(context.Background(), nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if opts.SessionTTL != 30*time.Minute || opts.SessionMaxAge != 24*time.Hour {
		t.Errorf("session idle %s, max age %s; want 30m, 24h", opts.SessionTTL, opts.SessionMaxAge)
	}
}
