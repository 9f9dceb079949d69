package ledger

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Longest names, in characters. Names are shown on every page, statement and
// export; these leave room for any real one (a 9 MB group name was once accepted
// and made the admin page 66 MB).
const (
	MaxSlugLen        = 64
	MaxKindLen        = 32
	MaxGroupNameLen   = 200
	MaxCostCentreLen  = 64
	MaxLoginLen       = 128
	MaxDisplayNameLen = 200
	MaxEmailLen       = 254 // RFC 5321's limit on a path
)

// checkName refuses a value longer than max characters, or one that is not valid
// UTF-8 or holds control characters (PostgreSQL cannot store NUL; the others break
// CSV, PDF and terminal output).
func checkName(field, v string, max int) error {
	switch {
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: the %s is not valid UTF-8 text", ErrInvalid, field)
	case strings.ContainsFunc(v, unicode.IsControl):
		return fmt.Errorf("%w: the %s holds a control character", ErrInvalid, field)
	}
	if n := utf8.RuneCountInString(v); n > max {
		return fmt.Errorf("%w: the %s is %d characters long; at most %d are taken", ErrInvalid, field, n, max)
	}
	return nil
}

// checkNames checks name/value/limit triples and returns the first problem.
func checkNames(checks ...nameCheck) error {
	for _, c := range checks {
		if err := checkName(c.field, c.value, c.max); err != nil {
			return err
		}
	}
	return nil
}

type nameCheck struct {
	field, value string
	max          int
}
