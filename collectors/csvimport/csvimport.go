// Package csvimport reads usage from CSV files: the generic import for anything
// Parsimony has no collector of its own for. The format is described in
// docs/csv-import.md.
//
// A file is RFC 4180 CSV with a header row naming its columns, in any order. Each data
// line becomes one ledger.Record, or, if it cannot, one ledger.Reject that keeps the
// line's text and says which column of which line is wrong: nothing read is dropped.
// Records have the same natural key as every other source's (source, cluster,
// external_id, resource, start), so importing a file again changes no total.
package csvimport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Source is the source of import runs, and of rejects whose line names no known source.
const Source = "csv"

// DefaultBatchSize is the number of lines per batch when Options.BatchSize is 0.
const DefaultBatchSize = 20_000

// MaxLineBytes bounds the text of one data line (a quoted field may span several
// physical lines). A longer line is almost always an unclosed quote swallowing the
// rest of the file; Read stops with an error rather than hold it all in memory.
const MaxLineBytes = 1 << 20

// Options configure Read and Import.
type Options struct {
	// Location is the zone of times written without an offset ("2006-01-02 15:04:05").
	// Read takes nil as UTC; Import takes nil as the ledger's site time zone.
	Location *time.Location
	// BatchSize is the number of lines (records and rejects) per batch; 0 or less
	// means DefaultBatchSize.
	BatchSize int
	// RunID is set on every batch (Import sets it to its run).
	RunID int64
	// Cluster is given to rejects whose line has no readable cluster (Import sets it
	// to the file's name when empty).
	Cluster string
}

// Stats count what Read made of the input. Lines = Records + Rejected: every
// non-blank data line is exactly one of the two.
type Stats struct {
	Lines    int64 // non-blank data lines (not the header); a line may span physical lines inside quotes
	Records  int64 // lines that became a ledger.Record
	Rejected int64 // lines that became a ledger.Reject
}

// Read parses CSV usage from r and hands it to emit in batches of opts.BatchSize
// lines, in file order, holding no more than one batch in memory.
//
// The header is checked first: a missing required column, a column named twice or
// a column without a name is an error, returned before any data line is read. After
// that, a malformed line (wrong number of fields, broken quoting, a bad number or
// time, an unknown source or resource, text that is not UTF-8…) is not an error: it
// becomes a ledger.Reject in the batch, with the line's text and a reason naming the
// line number and the column. Read returns an error only for the header, for a
// failure of r, for a line longer than MaxLineBytes, for ctx being done, or for an
// error from emit; lines read well before a failure of r are emitted first. The
// Stats count every line read, also when an error kept the last of them from being
// emitted.
func Read(ctx context.Context, r io.Reader, opts Options, emit func(ledger.Batch) error) (Stats, error) {
	var st Stats
	loc := opts.Location
	if loc == nil {
		loc = time.UTC
	}
	size := opts.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	in := &tape{r: skipBOM(r)}
	cr := csv.NewReader(in)
	cr.FieldsPerRecord = -1 // checked here, so that the reason can say more
	cr.ReuseRecord = true

	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return st, errors.New("csv input is empty: it must start with a header row")
	}
	if err != nil {
		return st, fmt.Errorf("read csv header: %w", err)
	}
	p, err := newParser(header, loc, opts.Cluster)
	if err != nil {
		return st, err
	}
	in.cut(cr.InputOffset())

	batch := ledger.Batch{RunID: opts.RunID}
	pending := 0
	flush := func() error {
		if pending == 0 {
			return nil
		}
		if err := emit(batch); err != nil {
			return err
		}
		batch = ledger.Batch{RunID: opts.RunID}
		pending = 0
		return nil
	}
	last, _ := cr.FieldPos(0) // the line the last data line (or the header) started on
	for n := 0; ; n++ {
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return st, fmt.Errorf("read csv: %w", err)
			}
		}
		before := cr.InputOffset()
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var perr *csv.ParseError
		if err != nil && !errors.As(err, &perr) || cr.InputOffset() == before {
			// A failure of the input itself (or of the line length bound): what was
			// read well so far is kept, and the import stops.
			if ferr := flush(); ferr != nil {
				return st, ferr
			}
			if err == nil {
				err = io.ErrNoProgress
			}
			return st, fmt.Errorf("read csv after line %d: %w", last, err)
		}
		last = lineOf(cr, fields, perr)
		raw := in.cut(cr.InputOffset())
		if perr == nil && strings.TrimSpace(raw) == "" {
			continue // a blank line
		}
		st.Lines++
		if perr != nil {
			batch.Rejects = append(batch.Rejects, p.parseError(fields, perr, raw))
			st.Rejected++
		} else if rec, rej, ok := p.parse(fields, last, raw); ok {
			batch.Records = append(batch.Records, rec)
			st.Records++
		} else {
			batch.Rejects = append(batch.Rejects, rej)
			st.Rejected++
		}
		if pending++; pending >= size {
			if err := flush(); err != nil {
				return st, err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return st, fmt.Errorf("read csv: %w", err)
	}
	return st, flush()
}

// lineOf is the line number a data line starts on.
func lineOf(cr *csv.Reader, fields []string, perr *csv.ParseError) int {
	if perr != nil {
		return perr.StartLine
	}
	if len(fields) > 0 {
		line, _ := cr.FieldPos(0)
		return line
	}
	return 0
}

// skipBOM drops the UTF-8 byte order mark some spreadsheets write before the header.
func skipBOM(r io.Reader) io.Reader {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\uFEFF")) {
		br.Discard(3)
	}
	return br
}

// errLineTooLong stops a read whose current line has passed MaxLineBytes.
var errLineTooLong = fmt.Errorf("a line is longer than %d bytes (an unclosed quote?)", MaxLineBytes)

// tape keeps the bytes the CSV reader has taken from the input since the end of the
// last line it returned, so that each line's original text can be cut off and kept.
// It holds one line and the reader's read-ahead, no more.
type tape struct {
	r    io.Reader
	buf  []byte
	base int64 // input offset of buf[0]
	err  error
}

func (t *tape) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if len(t.buf) > MaxLineBytes {
		t.err = errLineTooLong
		return 0, t.err
	}
	n, err := t.r.Read(p)
	t.buf = append(t.buf, p[:n]...)
	return n, err
}

// cut returns the text from the previous cut to offset, without the blank lines
// before it and the line break after it, and forgets it.
func (t *tape) cut(offset int64) string {
	k := int(offset - t.base)
	b := t.buf[:k]
	for {
		if bytes.HasPrefix(b, []byte("\n")) {
			b = b[1:]
		} else if bytes.HasPrefix(b, []byte("\r\n")) {
			b = b[2:]
		} else {
			break
		}
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	s := string(b)
	t.buf = t.buf[:copy(t.buf, t.buf[k:])]
	t.base = offset
	return s
}

// Columns a file may have; any other column becomes an attribute.
const (
	colSource = iota
	colCluster
	colExternalID
	colResource
	colStart
	colEnd
	colQuantity
	colAllocated
	colUsed
	colAccount
	colUser
	colPartition
	colQoS
	colNodes
	colJobName
	colState
	numColumns

	numRequired = colQuantity + 1 // the columns up to quantity must be present
)

var columnNames = [numColumns]string{
	"source", "cluster", "external_id", "resource", "start", "end", "quantity",
	"allocated", "used", "account", "user", "partition", "qos", "nodes", "job_name", "state",
}

// parser turns the fields of a data line into a record, as the header says.
type parser struct {
	names   []string        // each field's column name, as the header has it
	index   [numColumns]int // field index of each known column, or -1
	attrs   []int           // field indexes of the other columns
	loc     *time.Location
	cluster string // for rejects with no readable cluster
}

// newParser checks a header row.
func newParser(header []string, loc *time.Location, cluster string) (*parser, error) {
	p := &parser{names: make([]string, len(header)), loc: loc, cluster: cluster}
	for i := range p.index {
		p.index[i] = -1
	}
	seen := map[string]int{}
	for i, h := range header {
		name := h
		key := strings.ToLower(strings.TrimSpace(h))
		known := -1
		for c, n := range columnNames {
			if key == n {
				known, name = c, n
			}
		}
		if strings.TrimSpace(h) == "" {
			return nil, fmt.Errorf("csv header: column %d has no name", i+1)
		}
		if why := unstorable(h); why != "" {
			return nil, fmt.Errorf("csv header: the name of column %d, %s, %s", i+1, quote(h), why)
		}
		if j, dup := seen[name]; dup {
			return nil, fmt.Errorf("csv header: columns %d and %d are both named %q", j+1, i+1, name)
		}
		seen[name] = i
		p.names[i] = name
		if known >= 0 {
			p.index[known] = i
		} else {
			p.attrs = append(p.attrs, i)
		}
	}
	var missing []string
	for c := 0; c < numRequired; c++ {
		if p.index[c] < 0 {
			missing = append(missing, strconv.Quote(columnNames[c]))
		}
	}
	switch len(missing) {
	case 0:
		return p, nil
	case 1:
		return nil, fmt.Errorf("csv header: required column %s is missing (the header has %s)", missing[0], quoteAll(header))
	default:
		return nil, fmt.Errorf("csv header: required columns %s are missing (the header has %s)", strings.Join(missing, ", "), quoteAll(header))
	}
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// field is a known column's value, or "" when the file has no such column.
func (p *parser) field(fields []string, col int) string {
	if i := p.index[col]; i >= 0 && i < len(fields) {
		return fields[i]
	}
	return ""
}

// reject makes a reject of a line. Its source is the line's if that is a known
// source, and its cluster the line's if the line's fields line up with the header.
func (p *parser) reject(fields []string, aligned bool, raw, reason string) ledger.Reject {
	rej := ledger.Reject{Source: Source, Cluster: p.cluster, Raw: raw, Reason: reason}
	if s := strings.TrimSpace(p.field(fields, colSource)); s != "" {
		if _, ok := ledger.MappingKind(s); ok {
			rej.Source = s
		}
	}
	if c := p.field(fields, colCluster); aligned && c != "" && storable(c) {
		rej.Cluster = c
	}
	return rej
}

// parseError makes a reject of a line the CSV reader could not split into fields.
func (p *parser) parseError(fields []string, perr *csv.ParseError, raw string) ledger.Reject {
	where := fmt.Sprintf("line %d", perr.StartLine)
	if i := len(fields); i < len(p.names) {
		where += fmt.Sprintf(", column %q", p.names[i])
	} else {
		where += fmt.Sprintf(", field %d (the header has %d columns)", i+1, len(p.names))
	}
	var what string
	switch {
	case errors.Is(perr.Err, csv.ErrBareQuote):
		what = `a " inside a field that is not quoted (quote the whole field and double the quote: "a ""b"" c")`
	case errors.Is(perr.Err, csv.ErrQuote) && perr.Line != perr.StartLine:
		what = fmt.Sprintf(`a quoted field is not closed by line %d (a missing or stray ")`, perr.Line)
	case errors.Is(perr.Err, csv.ErrQuote):
		what = `a quoted field is not closed, or its closing " is followed by more text`
	default:
		what = perr.Err.Error()
	}
	return p.reject(fields, true, raw, where+": "+what)
}

// parse makes a record of a data line, or, if it cannot, a reject.
func (p *parser) parse(fields []string, line int, raw string) (ledger.Record, ledger.Reject, bool) {
	if len(fields) != len(p.names) {
		reason := fmt.Sprintf("line %d: %d fields, but the header has %d columns", line, len(fields), len(p.names))
		return ledger.Record{}, p.reject(fields, false, raw, reason), false
	}
	var problems []string
	bad := func(col int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("column %q: ", columnNames[col])+fmt.Sprintf(format, args...))
	}
	text := func(col int) string {
		v := p.field(fields, col)
		if why := unstorable(v); why != "" {
			bad(col, "%s %s", quote(v), why)
		}
		return v
	}
	required := func(col int) string {
		v := text(col)
		if v == "" {
			bad(col, "is empty")
		}
		return v
	}
	oneOf := func(col int, valid func(string) bool, list string) string {
		v := strings.TrimSpace(p.field(fields, col))
		switch {
		case v == "":
			bad(col, "is empty")
		case !valid(v):
			bad(col, "%s is not one of %s", quote(v), list)
		}
		return v
	}
	// number reads a count in base units; an empty value is def, or a problem if
	// the column is required.
	number := func(col int, bits int, def int64, required bool) int64 {
		v := strings.TrimSpace(p.field(fields, col))
		if v == "" {
			if required {
				bad(col, "is empty")
			}
			return def
		}
		n, err := strconv.ParseInt(v, 10, bits)
		switch {
		case errors.Is(err, strconv.ErrRange) && strings.HasPrefix(v, "-"):
			bad(col, "%s is negative", quote(v))
		case errors.Is(err, strconv.ErrRange):
			bad(col, "%s is too large (at most %d)", quote(v), int64(1)<<(bits-1)-1)
		case err != nil:
			bad(col, "%s is not a whole number of base units", quote(v))
		case n < 0:
			bad(col, "%s is negative", quote(v))
		}
		return n
	}
	when := func(col int) time.Time {
		v := strings.TrimSpace(p.field(fields, col))
		if v == "" {
			bad(col, "is empty")
			return time.Time{}
		}
		t, err := parseTime(v, p.loc)
		if err != nil {
			bad(col, "%s is not a time (use RFC 3339 with an offset, such as 2026-03-01T09:30:00+01:00, or 2026-03-01 09:30:00 in %s)", quote(v), p.loc)
			return time.Time{}
		}
		if t.Year() < 1970 || t.Year() > 9999 {
			bad(col, "%s is out of range (1970 to 9999)", quote(v))
			return time.Time{}
		}
		return t
	}

	// In column order, so that the reason lists problems as the file has them.
	var r ledger.Record
	r.Source = oneOf(colSource, func(s string) bool { _, ok := ledger.MappingKind(s); return ok },
		"slurm, cgroup, k8s, storage, api")
	r.Cluster = required(colCluster)
	r.ExternalID = required(colExternalID)
	r.Resource = oneOf(colResource, func(s string) bool { return ledger.Unit(s) != "" },
		strings.Join(ledger.Resources(), ", "))
	r.Start = when(colStart)
	r.End = when(colEnd)
	r.Quantity = number(colQuantity, 64, 0, true)
	r.Allocated = number(colAllocated, 64, r.Quantity, false)
	r.Used = number(colUsed, 64, 0, false)
	r.Account = text(colAccount)
	r.User = text(colUser)
	r.Partition = text(colPartition)
	r.QoS = text(colQoS)
	r.Nodes = int32(number(colNodes, 32, 0, false))
	r.JobName = text(colJobName)
	r.State = text(colState)
	r.Raw = raw
	if !r.Start.IsZero() && !r.End.IsZero() && r.End.Before(r.Start) {
		bad(colEnd, "%s is before the start, %s", r.End.Format(time.RFC3339Nano), r.Start.Format(time.RFC3339Nano))
	}
	for _, i := range p.attrs {
		v := fields[i]
		if v == "" {
			continue
		}
		if why := unstorable(v); why != "" {
			problems = append(problems, fmt.Sprintf("column %q: %s %s", p.names[i], quote(v), why))
			continue
		}
		if r.Attrs == nil {
			r.Attrs = make(map[string]string, len(p.attrs))
		}
		r.Attrs[p.names[i]] = v
	}
	if len(problems) > 0 {
		reason := fmt.Sprintf("line %d, %s", line, strings.Join(problems, "; "))
		return ledger.Record{}, p.reject(fields, true, raw, reason), false
	}
	return r, ledger.Reject{}, true
}

// Time layouts: RFC 3339 (with either separator) carries its offset; the others are
// read in Options.Location. Fractional seconds are accepted in all of them.
var (
	zonedLayouts = []string{time.RFC3339, "2006-01-02 15:04:05Z07:00"}
	localLayouts = []string{time.DateTime, "2006-01-02T15:04:05"}
)

func parseTime(s string, loc *time.Location) (time.Time, error) {
	for _, layout := range zonedLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	var err error
	for _, layout := range localLayouts {
		var t time.Time
		if t, err = time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, err
}

// storable says whether PostgreSQL can hold s as text.
func storable(s string) bool { return unstorable(s) == "" }

// unstorable says why PostgreSQL cannot hold s as text, or "".
func unstorable(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8 text"
	case strings.ContainsRune(s, 0):
		return "contains a NUL byte"
	}
	return ""
}

// quote shows a value in a reason, shortened if long.
func quote(v string) string {
	const max = 64
	if len(v) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut--
		}
		return strconv.Quote(v[:cut]) + "…"
	}
	return strconv.Quote(v)
}
