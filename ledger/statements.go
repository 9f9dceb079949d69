package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Statement line kinds.
const (
	LineUsage      = "usage"      // the period's own usage, at its rate
	LineUnpriced   = "unpriced"   // usage no rate covers: shown with its quantity, amount 0
	LineLate       = "late"       // late or corrected usage of a closed month
	LineSubsidy    = "subsidy"    // free allowance or discount (negative)
	LineAdjustment = "adjustment" // finance's manual credit or debit
)

// Statement is what one billable group owes for one month: lines by resource ×
// cluster × rate, subsidies, late usage and adjustments, with subtotals per
// subgroup and per user. A draft is computed live for an open period; a final one
// is written when the period closes and never changes.
//
// Rounding (the one place money is rounded): each line's amount is its exact value
// rounded half away from zero to the currency's minor unit; the total is the sum of
// the rounded lines. Subtotals per subgroup and per user split the usage lines'
// rounded sum over the exact shares by largest remainder, so they add up to it too.
type Statement struct {
	Number       string     `json:"number"`
	Status       string     `json:"status"` // "draft" or "final"
	Period       string     `json:"period"` // "2026-10"
	Currency     string     `json:"currency"`
	MinorDigits  int        `json:"minor_digits"`
	GroupID      int64      `json:"group_id"`
	GroupSlug    string     `json:"group_slug"`
	GroupName    string     `json:"group_name"`
	GroupPath    string     `json:"group_path"` // slugs from the top, "medicine/genomics/smith-lab"
	CostCentre   string     `json:"cost_centre"`
	PI           string     `json:"pi"` // display name (login)
	PILogin      string     `json:"pi_login"`
	Lines        []Line     `json:"lines"`
	Subgroups    []Subtotal `json:"subgroups"`   // the group and every descendant it bills for, parents first
	Users        []Subtotal `json:"users"`       // by amount, largest first
	UsageMinor   int64      `json:"usage_minor"` // usage + late lines
	SubsidyMinor int64      `json:"subsidy_minor"`
	AdjustMinor  int64      `json:"adjustment_minor"`
	TotalMinor   int64      `json:"total_minor"`
	GeneratedAt  time.Time  `json:"generated_at"`
	ContentHash  string     `json:"content_hash"` // sha256 of the statement without this field
}

// Line is one statement line. Quantity is in the priced unit, written with six
// decimals (the amount is computed from the exact quantity).
type Line struct {
	Kind        string `json:"kind"`
	Description string `json:"description"`
	Resource    string `json:"resource,omitempty"`
	Cluster     string `json:"cluster,omitempty"`
	UsageMonth  string `json:"usage_month,omitempty"` // late usage: the month it belongs to
	Quantity    string `json:"quantity,omitempty"`
	Unit        string `json:"unit,omitempty"`
	UnitPrice   string `json:"unit_price,omitempty"`
	AmountMinor int64  `json:"amount_minor"`
}

// Subtotal is a subgroup's or a user's share of the usage lines.
type Subtotal struct {
	ID          int64  `json:"id"`
	ParentID    int64  `json:"parent_id,omitempty"`
	Depth       int    `json:"depth,omitempty"` // 0 for the statement's group
	Slug        string `json:"slug,omitempty"`  // groups; users: the login
	Name        string `json:"name"`
	AmountMinor int64  `json:"amount_minor"`
}

// Amount formats minor units in the statement's currency, e.g. "1,234.56".
func (s Statement) Amount(minor int64) string { return FormatMinor(minor, s.MinorDigits) }

// hash computes the content hash: sha256 over the statement's JSON without the hash.
func (s Statement) hash() (string, error) {
	s.ContentHash = ""
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Reconciliation accounts for every charge of a period: what the statements bill,
// what is unassigned (no group), what belongs to groups with no billable group above
// them, and what has no rate. Values are exact, in currency.
type Reconciliation struct {
	Period     string
	Statements int
	// Money: exact sums of the period's charges (usage + late) by where they went.
	Billed, Unassigned, NotBillable, Rated *big.Rat
	// Quantity in base units per resource: everything charged, and what was unpriced.
	Quantity, Unpriced map[string]*big.Int
	// Statement totals as printed (rounded lines, subsidies, adjustments).
	StatementsMinor, UsageLinesMinor, SubsidyMinor, AdjustMinor int64
}

// Statements computes the statements of a period from its charges: final ones as
// stored for a closed period, drafts for an open one (as of its last rating).
func (l *Ledger) Statements(ctx context.Context, month time.Time) ([]Statement, Reconciliation, error) {
	month = time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	var sts []Statement
	var rec Reconciliation
	err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var closed bool
		err := tx.QueryRow(ctx, `SELECT closed_at IS NOT NULL FROM periods WHERE month = $1`, month).Scan(&closed)
		if errors.Is(err, pgx.ErrNoRows) {
			closed = false
		} else if err != nil {
			return err
		}
		if !closed {
			if err := l.checkDraftable(ctx, tx, month); err != nil {
				return err
			}
		}
		if closed {
			sts, err = storedStatements(ctx, tx, month)
			if err != nil {
				return err
			}
			_, rec, err = l.buildStatements(ctx, tx, month, "final")
			return err
		}
		sts, rec, err = l.buildStatements(ctx, tx, month, "draft")
		return err
	})
	if err != nil {
		return nil, Reconciliation{}, fmt.Errorf("statements of %s: %w", month.Format("2006-01"), err)
	}
	return sts, rec, nil
}

func storedStatements(ctx context.Context, tx pgx.Tx, month time.Time) ([]Statement, error) {
	rows, err := tx.Query(ctx, `SELECT doc FROM statements WHERE period = $1 ORDER BY number`, month)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Statement, error) {
		var s Statement
		var doc []byte
		if err := r.Scan(&doc); err != nil {
			return s, err
		}
		return s, json.Unmarshal(doc, &s)
	})
}

func insertStatement(ctx context.Context, tx pgx.Tx, month time.Time, st Statement) error {
	doc, err := json.Marshal(st)
	if err != nil {
		return err
	}
	var id int64
	err = tx.QueryRow(ctx, `
		INSERT INTO statements (period, group_id, number, currency, total_minor, content_hash, doc)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		month, st.GroupID, st.Number, st.Currency, st.TotalMinor, st.ContentHash, doc).Scan(&id)
	if err != nil {
		return fmt.Errorf("write statement %s: %w", st.Number, err)
	}
	rows := make([][]any, len(st.Lines))
	for i, ln := range st.Lines {
		var usageMonth, quantity, price any
		if ln.UsageMonth != "" {
			usageMonth = ln.UsageMonth + "-01"
		}
		if ln.Quantity != "" {
			quantity = ln.Quantity
		}
		if ln.UnitPrice != "" {
			price = ln.UnitPrice
		}
		rows[i] = []any{id, i + 1, ln.Kind, ln.Description, ln.Resource, ln.Cluster, usageMonth, quantity, ln.Unit, price, ln.AmountMinor}
	}
	if len(rows) == 0 {
		return nil
	}
	// Statement lines go in with one multi-row INSERT per statement (COPY cannot take
	// text for numeric here without a codec per column).
	var sb strings.Builder
	args := make([]any, 0, len(rows)*11)
	sb.WriteString(`INSERT INTO statement_lines (statement_id, line_no, kind, description, resource, cluster, usage_month, quantity, unit, unit_price, amount_minor) VALUES `)
	for i, r := range rows {
		if i > 0 {
			sb.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d, $%d, $%d::date, $%d::numeric, $%d, $%d::numeric, $%d)",
			n+1, n+2, n+3, n+4, n+5, n+6, n+7, n+8, n+9, n+10, n+11)
		args = append(args, r...)
	}
	if _, err := tx.Exec(ctx, sb.String(), args...); err != nil {
		return fmt.Errorf("write lines of statement %s: %w", st.Number, err)
	}
	return nil
}

// StatementSummary is a final statement as a list shows it.
type StatementSummary struct {
	Month      time.Time // the period's first day
	Number     string
	TotalMinor int64
}

// GroupStatements lists the group's final statements, newest first.
func (l *Ledger) GroupStatements(ctx context.Context, groupID int64) ([]StatementSummary, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT period, number, total_minor FROM statements WHERE group_id = $1 ORDER BY period DESC`, groupID)
	if err != nil {
		return nil, fmt.Errorf("statements of group %d: %w", groupID, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (StatementSummary, error) {
		var s StatementSummary
		err := r.Scan(&s.Month, &s.Number, &s.TotalMinor)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("statements of group %d: %w", groupID, err)
	}
	return out, nil
}
