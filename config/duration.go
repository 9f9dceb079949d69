package config

import (
	"fmt"
	"time"
)

// Duration is a time.Duration written in the file as a Go duration string
// ("90s", "15m", "6h"), because a bare number would leave the unit to guess.
type Duration struct {
	time.Duration
}

// UnmarshalText parses a duration string with time.ParseDuration.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		// time's own message ("time: unknown unit ...") is written for
		// programmers; this one is shown to admins as is, so it says what a
		// valid value looks like instead of wrapping.
		return fmt.Errorf("invalid duration %q: write a number and a unit (s, m, h), like \"90s\", \"15m\" or \"6h\"", text)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back in the form UnmarshalText reads.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.Duration.String()), nil
}
