package config

import (
	"strings"
	"testing"
	"time"
)

// Sessions have a configured idle timeout and lifetime, with defaults; values
// shorter than a minute are refused with their line.
func TestSessionLifetimes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name           string
		auth           string
		idle, lifetime time.Duration
		problem        string
	}{
		{"defaults", "", 12 * time.Hour, 7 * 24 * time.Hour, ""},
		{"set", "[auth]\nsession_idle_timeout = \"30m\"\nsession_lifetime = \"24h\"\n", 30 * time.Minute, 24 * time.Hour, ""},
		{"zero lifetime", "[auth]\nsession_lifetime = \"0s\"\n", 0, 0, "auth.session_lifetime: must be at least a minute"},
		{"idle of seconds", "[auth]\nsession_idle_timeout = \"30s\"\n", 0, 0, "auth.session_idle_timeout: must be at least a minute"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := load(writeConfig(t, "[site]\nname = \"U\"\n"+tt.auth), noEnv)
			if tt.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tt.problem) {
					t.Fatalf("got %v, want a problem %q", err, tt.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Auth.SessionIdleTimeout.Duration != tt.idle || cfg.Auth.SessionLifetime.Duration != tt.lifetime {
				t.Errorf("idle %s, lifetime %s; want %s, %s", cfg.Auth.SessionIdleTimeout.Duration, cfg.Auth.SessionLifetime.Duration, tt.idle, tt.lifetime)
			}
		})
	}
}
