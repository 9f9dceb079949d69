// Package export writes a period's statements for finance systems and portals: one
// CSV (or JSON) with every statement line, one document per statement (Documents),
// and Open OnDemand's balance file. The formats are documented in docs/billing.md;
// the CSV columns are stable, and no CSV cell is ever a spreadsheet formula
// (package csvsafe).
//
// A closed period is streamed straight from the stored statement lines, so memory
// stays constant however many statements there are; an open period's drafts are
// computed first.
package export

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/internal/csvsafe"
	"github.com/parsimony-hpc/parsimony/ledger"
)

// Columns is the CSV header, in order. Never reorder or rename: finance imports
// depend on it; add new columns at the end.
var Columns = []string{
	"period", "statement_number", "status", "group_path", "group_name", "cost_centre", "pi",
	"line_no", "kind", "description", "resource", "cluster", "usage_month",
	"quantity", "unit", "unit_price", "amount", "currency",
	// Added later: ids and names in columns of their own ("pi" is "Name (login)").
	"group_slug", "pi_login", "pi_name",
}

// NumericColumns are the columns of Columns that hold numbers: written as they
// are, while every text cell is neutralised against spreadsheet formulas
// (package csvsafe), so a group named "=cmd…" cannot run in a finance
// officer's spreadsheet.
var NumericColumns = []string{"line_no", "quantity", "unit_price", "amount"}

// NewCSVWriter returns a CSV writer for rows of Columns that neutralises
// formulas in the text columns: the one the finance export and the web's
// statement CSV share.
func NewCSVWriter(w io.Writer) (*csvsafe.Writer, error) {
	numeric, err := csvsafe.Columns(Columns, NumericColumns...)
	if err != nil {
		return nil, err
	}
	return csvsafe.NewWriter(w, numeric), nil
}

// Row is one CSV row.
type Row struct {
	Period, Number, Status, GroupPath, GroupName, CostCentre, PI string
	GroupSlug, PILogin                                           string
	LineNo                                                       int
	Line                                                         ledger.Line
	Currency                                                     string
}

// Record is the row as CSV cells of Columns, appended to rec[:0]; digits are the
// currency's minor digits.
func (r Row) Record(rec []string, digits int) []string {
	return append(rec[:0], r.Period, r.Number, r.Status, r.GroupPath, r.GroupName, r.CostCentre, r.PI,
		strconv.Itoa(r.LineNo), r.Line.Kind, r.Line.Description, r.Line.Resource, r.Line.Cluster, r.Line.UsageMonth,
		r.Line.Quantity, r.Line.Unit, r.Line.UnitPrice, ledger.PlainMinor(r.Line.AmountMinor, digits), r.Currency,
		r.GroupSlug, r.PILogin, piName(r.PI, r.PILogin))
}

// piName is the PI's name without the login a statement's "pi" adds to it.
func piName(pi, login string) string {
	if login == "" {
		return pi
	}
	if name, ok := strings.CutSuffix(pi, " ("+login+")"); ok {
		return name
	}
	if pi == login {
		return "" // a PI with no display name
	}
	return pi
}

// StatementRows are the CSV rows of one statement's lines.
func StatementRows(st ledger.Statement) []Row {
	out := make([]Row, len(st.Lines))
	for i, ln := range st.Lines {
		out[i] = Row{Period: st.Period, Number: st.Number, Status: st.Status, GroupPath: st.GroupPath,
			GroupName: st.GroupName, CostCentre: st.CostCentre, PI: st.PI, GroupSlug: st.GroupSlug, PILogin: st.PILogin,
			LineNo: i + 1, Line: ln, Currency: st.Currency}
	}
	return out
}

// Totals is what an export wrote.
type Totals struct {
	Statements  int
	Lines       int
	AmountMinor int64
}

// CSV writes the period's statement lines with a header row and, last, a trailer
// row of kind "total" whose amount is the sum of every line (a control total).
// Text cells that a spreadsheet would run as a formula start with a single quote
// (see NewCSVWriter).
func CSV(ctx context.Context, l *ledger.Ledger, month time.Time, w io.Writer) (Totals, error) {
	_, digits := l.Currency()
	bw := bufio.NewWriterSize(w, 64<<10)
	cw, err := NewCSVWriter(bw)
	if err != nil {
		return Totals{}, err
	}
	if err := cw.Write(Columns); err != nil {
		return Totals{}, err
	}
	var t Totals
	lastNumber := ""
	rec := make([]string, len(Columns))
	err = eachRow(ctx, l, month, func(r Row) error {
		if r.Number != lastNumber {
			t.Statements++
			lastNumber = r.Number
		}
		t.Lines++
		t.AmountMinor += r.Line.AmountMinor
		rec = r.Record(rec, digits)
		return cw.Write(rec)
	})
	if err != nil {
		return t, err
	}
	cur, _ := l.Currency()
	trailer := make([]string, len(Columns))
	trailer[0] = month.Format("2006-01")
	trailer[8] = "total"
	trailer[9] = fmt.Sprintf("%d statements, %d lines", t.Statements, t.Lines)
	trailer[16] = ledger.PlainMinor(t.AmountMinor, digits)
	trailer[17] = cur
	if err := cw.Write(trailer); err != nil {
		return t, err
	}
	if err := cw.Flush(); err != nil {
		return t, err
	}
	return t, bw.Flush()
}

// eachRow calls fn for every statement line of the period in statement-number and
// line order: from the stored lines of a closed period (streamed), or from drafts.
func eachRow(ctx context.Context, l *ledger.Ledger, month time.Time, fn func(Row) error) error {
	month = time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	closed, err := l.PeriodClosed(ctx, month)
	if err != nil {
		return err
	}
	if !closed {
		sts, _, err := l.Statements(ctx, month)
		if err != nil {
			return err
		}
		for _, st := range sts {
			for _, r := range StatementRows(st) {
				if err := fn(r); err != nil {
					return err
				}
			}
		}
		return nil
	}
	r := Row{Period: month.Format("2006-01"), Status: "final"}
	return l.EachStoredLine(ctx, month, func(sl ledger.StoredLine) error {
		r.Number, r.GroupPath, r.GroupName, r.CostCentre, r.PI, r.Currency = sl.Number, sl.GroupPath, sl.GroupName, sl.CostCentre, sl.PI, sl.Currency
		r.GroupSlug, r.PILogin = sl.GroupSlug, sl.PILogin
		r.LineNo, r.Line = sl.LineNo, sl.Line
		return fn(r)
	})
}

// JSON writes {"period", "currency", "status", "statements": [...], "statement_count",
// "total_minor", "total"} with each statement whole (lines, subtotals, hash). A
// closed period's statements are streamed one at a time from their stored
// documents.
func JSON(ctx context.Context, l *ledger.Ledger, month time.Time, w io.Writer) (Totals, error) {
	month = time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	cur, digits := l.Currency()
	closed, err := l.PeriodClosed(ctx, month)
	if err != nil {
		return Totals{}, err
	}
	status := "draft"
	if closed {
		status = "final"
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	head, _ := json.Marshal(map[string]string{"period": month.Format("2006-01"), "currency": cur, "status": status})
	bw.Write(head[:len(head)-1])
	bw.WriteString(`,"statements":[`)
	var t Totals
	write := func(doc []byte, total int64, lines int) error {
		if t.Statements > 0 {
			bw.WriteByte(',')
		}
		t.Statements++
		t.Lines += lines
		t.AmountMinor += total
		_, err := bw.Write(doc)
		return err
	}
	if closed {
		if err := l.EachStoredStatement(ctx, month, write); err != nil {
			return t, err
		}
	} else {
		sts, _, err := l.Statements(ctx, month)
		if err != nil {
			return t, err
		}
		for _, st := range sts {
			doc, err := json.Marshal(st)
			if err != nil {
				return t, err
			}
			if err := write(doc, st.TotalMinor, len(st.Lines)); err != nil {
				return t, err
			}
		}
	}
	fmt.Fprintf(bw, `],"statement_count":%d,"total_minor":%d,"total":%q}`+"\n", t.Statements, t.AmountMinor,
		ledger.PlainMinor(t.AmountMinor, digits))
	return t, bw.Flush()
}

// OnDemand is Open OnDemand's balance file (version 1): the dashboard shows each
// user the balances listed for them. Parsimony lists, for every member of a
// billable group, either what is left of the group's monthly money budget
// (ValueRemaining; groups without one are left out) or the group's month-to-date
// spend (ValueSpent), in whole currency units (OnDemand reads integers).
type OnDemand struct {
	Version   int               `json:"version"`
	Timestamp int64             `json:"timestamp"`
	Config    OnDemandConfig    `json:"config"`
	Balances  []OnDemandBalance `json:"balances"`
}

// OnDemandConfig names the unit and what a project is.
type OnDemandConfig struct {
	Unit        string `json:"unit"`
	ProjectType string `json:"project_type"`
}

// OnDemandBalance is one user's balance in one group.
type OnDemandBalance struct {
	User    string `json:"user"`
	Project string `json:"project"`
	Value   int64  `json:"value"`
}

// What an OnDemand balance shows.
const (
	ValueRemaining = "remaining"
	ValueSpent     = "spent"
)

// OpenOnDemand builds the balance file as of at: value is ValueRemaining or ValueSpent.
func OpenOnDemand(ctx context.Context, l *ledger.Ledger, at time.Time, value string) (OnDemand, error) {
	cur, _ := l.Currency()
	out := OnDemand{Version: 1, Timestamp: at.Unix(), Config: OnDemandConfig{Unit: cur, ProjectType: "group"}, Balances: []OnDemandBalance{}}
	if value != ValueRemaining && value != ValueSpent {
		return out, fmt.Errorf("open ondemand balances: value is %q or %q", ValueRemaining, ValueSpent)
	}
	groups, err := l.BillableMembers(ctx, at.In(l.Location()))
	if err != nil {
		return out, fmt.Errorf("open ondemand balances: %w", err)
	}
	for _, g := range groups {
		bs, err := l.BudgetStatuses(ctx, g.ID, at)
		if err != nil {
			return out, err
		}
		var v *big.Rat
		for _, b := range bs {
			if b.Span != ledger.SpanMonth || b.Resource != "" {
				continue
			}
			if value == ValueRemaining {
				v = b.Remaining
			} else {
				v = b.Spent
			}
		}
		if v == nil && value == ValueSpent {
			from := time.Date(at.In(l.Location()).Year(), at.In(l.Location()).Month(), 1, 0, 0, 0, 0, l.Location())
			if v, err = l.MoneySpent(ctx, g.ID, from, from.AddDate(0, 1, 0)); err != nil {
				return out, err
			}
		}
		if v == nil {
			continue
		}
		whole := new(big.Int).Quo(v.Num(), v.Denom()) // toward zero: never shows more than there is
		// OnDemand reads integers: never hand it a wrapped one.
		if !whole.IsInt64() {
			cur, _ := l.Currency()
			return out, fmt.Errorf("open ondemand balances: %s's %s of %s %s is %w for a 64-bit balance",
				g.Slug, value, whole, cur, ledger.ErrTooLarge)
		}
		for _, login := range g.Logins {
			out.Balances = append(out.Balances, OnDemandBalance{User: login, Project: g.Slug, Value: whole.Int64()})
		}
	}
	return out, nil
}
