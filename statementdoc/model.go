package statementdoc

import (
	"math/big"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// The statement model: how a statement reads, whatever prints it. The web page and
// the printable HTML document (package views) and the PDF (pdf.go) all take their
// sections, totals, labels and number formats from here, so the three show the
// same thing; the amounts come from the statement itself.

// Section is a run of statement lines under one heading.
type Section struct {
	Key   string // "usage" (with unpriced), "late", "subsidy", "adjustment", "other"
	Title string
	Lines []ledger.Line
}

// Sections groups a statement's lines by kind, in the order a statement
// reads: usage (unpriced lines with it), late usage, subsidies, adjustments. Lines
// keep their order within a section; a line of an unknown kind goes last, under
// "Other", so every line is shown and the lines still add up to the total.
func Sections(st ledger.Statement) []Section {
	secs := []Section{
		{Key: "usage", Title: "Usage"},
		{Key: "late", Title: "Late usage from earlier months"},
		{Key: "subsidy", Title: "Subsidies"},
		{Key: "adjustment", Title: "Adjustments"},
		{Key: "other", Title: "Other"},
	}
	for _, ln := range st.Lines {
		i := 4
		switch ln.Kind {
		case ledger.LineUsage, ledger.LineUnpriced:
			i = 0
		case ledger.LineLate:
			i = 1
		case ledger.LineSubsidy:
			i = 2
		case ledger.LineAdjustment:
			i = 3
		}
		secs[i].Lines = append(secs[i].Lines, ln)
	}
	out := secs[:0]
	for _, s := range secs {
		if len(s.Lines) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// SummaryRow is one row of a statement's totals.
type SummaryRow struct {
	Label       string
	AmountMinor int64
	Total       bool // the amount due
}

// Summary lists the statement's totals: usage, subsidies, adjustments
// and the total due.
func Summary(st ledger.Statement) []SummaryRow {
	usage := "Usage"
	for _, ln := range st.Lines {
		if ln.Kind == ledger.LineLate {
			usage = "Usage, incl. late usage"
			break
		}
	}
	return []SummaryRow{
		{Label: usage, AmountMinor: st.UsageMinor},
		{Label: "Subsidies", AmountMinor: st.SubsidyMinor},
		{Label: "Adjustments", AmountMinor: st.AdjustMinor},
		{Label: "Total due", AmountMinor: st.TotalMinor, Total: true},
	}
}

// Period writes a period "2026-10" as "October 2026".
func Period(period string) string {
	t, err := time.Parse("2006-01", period)
	if err != nil {
		return period
	}
	return t.Format("January 2006")
}

// Generated writes when a statement was computed, in UTC.
func Generated(t time.Time) string {
	return t.UTC().Format("2 January 2006, 15:04:05") + " UTC"
}

// Quantity writes a line's quantity (a decimal string with six
// decimals) for reading: thousands separators and two decimals, rounded half away
// from zero; "< 0.01" for a quantity too small to show. Anything that is not a
// decimal is returned as it is.
func Quantity(q string) string {
	if q == "" {
		return ""
	}
	r, ok := new(big.Rat).SetString(q)
	if !ok {
		return q
	}
	hundredths := ledger.RoundMinor(r, 2)
	switch {
	case hundredths == 0 && r.Sign() > 0:
		return "< 0.01"
	case hundredths == 0 && r.Sign() < 0:
		return "> -0.01"
	}
	return ledger.FormatMinor(hundredths, 2)
}

// maxPriceDecimals is how many decimals of a unit price are shown; an exact price
// with more (a repeating fraction) is cut there and marked with "…".
const maxPriceDecimals = 10

// UnitPrice writes a unit price (an exact decimal string) with thousands
// separators and at least two decimals, without trailing zeros beyond them:
// "2" → "2.00", "0.0123456" → "0.0123456". Anything that is not a decimal is
// returned as it is.
func UnitPrice(p string) string {
	s, neg := strings.CutPrefix(p, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || strings.Trim(whole, "0123456789") != "" || strings.Trim(frac, "0123456789") != "" {
		return p
	}
	frac = strings.TrimRight(frac, "0")
	cut := ""
	if len(frac) > maxPriceDecimals {
		frac, cut = frac[:maxPriceDecimals], "…"
	}
	for len(frac) < 2 {
		frac += "0"
	}
	out := ledger.GroupThousands(whole) + "." + frac + cut
	if neg {
		out = "-" + out
	}
	return out
}

// Unpriced says whether a line is usage that no rate prices: it shows
// its quantity, "no rate" for a price, and no charge.
func Unpriced(ln ledger.Line) bool {
	switch ln.Kind {
	case ledger.LineUsage, ledger.LineUnpriced, ledger.LineLate:
		return ln.UnitPrice == ""
	}
	return false
}
