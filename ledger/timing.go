package ledger

import (
	"fmt"
	"strings"
	"time"
)

// stepTimer measures the steps of an ingest for the debug log.
type stepTimer struct {
	last  time.Time
	steps []string
}

func newStepTimer() *stepTimer { return &stepTimer{last: time.Now()} }

func (t *stepTimer) lap(name string) {
	now := time.Now()
	t.steps = append(t.steps, fmt.Sprintf("%s=%s", name, now.Sub(t.last).Round(time.Microsecond)))
	t.last = now
}

func (t *stepTimer) String() string { return strings.Join(t.steps, " ") }
