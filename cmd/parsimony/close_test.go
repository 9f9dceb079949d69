package main

import (
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/internal/pgtest"
)

// `parsimony close` refuses the running month and later ones, saying when each can
// close; nothing is frozen.
func TestCloseRefusesAMonthNotEnded(t *testing.T) {
	t.Parallel()
	cfg := configFor(t, pgtest.NewDatabase(t), "UTC")
	now := time.Now().UTC()
	for _, month := range []time.Time{now, now.AddDate(0, 1, 0)} {
		period := month.Format("2006-01")
		code, out, stderr := cli(t, "close", "--config", cfg, period)
		end := time.Date(month.Year(), month.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		want := "it can be closed from " + end.Format("Mon 2 January 2006 15:04 MST")
		if code == 0 || !strings.Contains(stderr, "has not ended yet") || !strings.Contains(stderr, want) {
			t.Errorf("close %s: exit %d, %q %q; want a failure saying %q", period, code, out, stderr, want)
		}
	}
}
