package ledger

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
)

// The ledger's errors. Callers (the web tier, the CLI) test for these sentinels
// with errors.Is and may show the wrapped message to the person who asked: it
// says what was refused and why, and never holds another group's figures.

// ErrNotFound is returned (wrapped) when a named thing does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned (wrapped) when a change would break the ledger's rules
// (a cycle in the tree, a slug taken, a time zone that disagrees with the data, a
// month that is closed or has not ended).
var ErrConflict = errors.New("conflict")

// ErrInvalid is returned (wrapped) for a value the ledger will not store as given:
// a name too long or holding control characters. Its message says which and why,
// and is safe to show to the person who typed it.
var ErrInvalid = errors.New("invalid")

// PostgreSQL's codes for the rules the schema enforces (Appendix A of its manual).
// The schema's triggers raise integrity_constraint_violation (closed periods,
// priced rates) and check_violation (adjustment limits) with a message written
// for people.
const (
	pgIntegrityViolation  = "23000"
	pgForeignKeyViolation = "23503"
	pgUniqueViolation     = "23505"
	pgCheckViolation      = "23514"
	pgExclusionViolation  = "23P01"
	pgNumericOutOfRange   = "22003"
)

// pgCode is PostgreSQL's error code for err, or "" when err did not come from it.
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isUniqueViolation(err error) bool { return pgCode(err) == pgUniqueViolation }

// refused maps PostgreSQL's refusal of a change to the ledger's errors, in one
// place, so every writer answers the same way: a broken rule of the schema (a
// unique key, an overlap, a check, a trigger's guard, a missing referent) is an
// ErrConflict, a number beyond a column's range ErrTooLarge. why says what the rule
// is for the person who asked; when it is empty, PostgreSQL's own message (the
// triggers' are written for people) is used. Any other error is returned as it is.
func refused(err error, why string) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	if why == "" {
		why = pgErr.Message
	}
	switch pgErr.Code {
	case pgIntegrityViolation, pgForeignKeyViolation, pgUniqueViolation, pgCheckViolation, pgExclusionViolation:
		return fmt.Errorf("%w: %s", ErrConflict, why)
	case pgNumericOutOfRange:
		return fmt.Errorf("%s: %w", why, ErrTooLarge)
	}
	return err
}

// PostgreSQL's codes for a transaction it rolled back that may succeed if run again.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
)

// isRetryable reports whether err is PostgreSQL rolling a transaction back for a
// deadlock or a serialisation failure: nothing of it was stored, and running it
// again may succeed.
func isRetryable(err error) bool {
	switch pgCode(err) {
	case pgSerializationFailure, pgDeadlockDetected:
		return true
	}
	return false
}
