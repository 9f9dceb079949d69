// Package slurm collects usage from Slurm's accounting: sacct output (live, or a dump
// file for backfills) into ledger records, one job allocation at a time.
package slurm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
)

// The sacct fields the collector reads. Their ids index Row.
const (
	fJobID = iota
	fJobIDRaw
	fJobName
	fUser
	fAccount
	fPartition
	fQOS
	fState
	fExitCode
	fSubmit
	fStart
	fEnd
	fElapsedRaw
	fTimelimit
	fNNodes
	fAllocCPUS
	fReqMem
	fMaxRSS
	fTotalCPU
	fAllocTRES
	fTRESUsageInTot
	fNodeList
	fReservation
	fReservationID
	nFormat  // the fields above are FormatList; those below are read from dumps that have them
	fElapsed = iota - 1
	fNTasks
	fReqTRES
	nFields
)

// fieldNames are the names as sacct's --format takes them and its header prints them.
var fieldNames = [nFields]string{
	"JobID", "JobIDRaw", "JobName", "User", "Account", "Partition", "QOS", "State", "ExitCode",
	"Submit", "Start", "End", "ElapsedRaw", "Timelimit", "NNodes", "AllocCPUS", "ReqMem", "MaxRSS",
	"TotalCPU", "AllocTRES", "TRESUsageInTot", "NodeList", "Reservation", "ReservationId",
	"Elapsed", "NTasks", "ReqTRES",
}

// fieldIndex is lower-case name → field id.
var fieldIndex = func() map[string]int {
	m := make(map[string]int, nFields)
	for id, n := range fieldNames {
		m[strings.ToLower(n)] = id
	}
	return m
}()

// aliases are sacct's other names for a field, read when the field itself is not
// in the dump: NCPUS is AllocCPUS ({"NCPUS", PRINT_ALLOC_CPUS} in sacct.c), and
// XDMoD's and jobinfo's dumps name it so.
var aliases = map[string]int{"ncpus": fAllocCPUS}

// requirement is what billing needs from a dump: one of ids, named as name.
type requirement struct {
	ids  []int
	name string
}

// required are the fields without which a job cannot be billed: who (account, user),
// which job, when, for how long, on how many cores. The rest are read when present.
var required = []requirement{
	{[]int{fJobIDRaw, fJobID}, "JobIDRaw (or JobID)"},
	{[]int{fUser}, "User"},
	{[]int{fAccount}, "Account"},
	{[]int{fState}, "State"},
	{[]int{fStart}, "Start"},
	{[]int{fEnd}, "End"},
	{[]int{fElapsedRaw, fElapsed}, "ElapsedRaw (or Elapsed)"},
	{[]int{fAllocCPUS}, "AllocCPUS (or NCPUS)"},
}

// FormatList is the --format value Parsimony runs sacct with.
func FormatList() string { return strings.Join(fieldNames[:nFormat], ",") }

// Row is one sacct line: the values of the known fields ("" when absent), the raw
// text it was read from and where.
type Row struct {
	f    [nFields]string
	Raw  string
	Line int // first line of the row in the input, from 1
}

// Get returns a field's value.
func (r *Row) Get(field int) string { return r.f[field] }

// isStep tells job steps (123.batch, 123.0, 123_4.extern, 125+0.1) from
// allocations.
func (r *Row) isStep() bool { return strings.IndexByte(r.f[fJobIDRaw], '.') >= 0 }

// BadLine is input the reader could not make a row of; it carries the raw text.
type BadLine struct {
	Raw    string
	Line   int
	Reason string
}

// Reader reads sacct --parsable2 output line by line in bounded memory.
type Reader struct {
	br        *bufio.Reader
	delim     string
	trailing  bool   // sacct --parsable: every line ends with the delimiter
	columns   int    // fields per line
	pos       []int  // column → field id, or -1 for a column we ignore
	kinds     []kind // column → what its values look like
	free      []int  // positions of free-text columns
	rawFromID bool   // no JobIDRaw column: JobID keys the job
	account   string // the account of a dump without an Account column
	scratch   []string
	line      int
	pending   string // a line read ahead while joining a split row
	havePend  bool
}

// MaxJoinedLines bounds how many physical lines one row may span (a job name with
// newlines): past it the row is refused instead of swallowing the rest of the input.
const MaxJoinedLines = 8

// Format says how a dump was written, for what its first line cannot tell.
type Format struct {
	// Delimiter is sacct's --delimiter; "" detects it (from the header's field
	// names, or for a headerless dump from the first line and the field count).
	Delimiter string
	// Fields is the --format list of a dump without a header (sacct's names, any
	// case, widths like JobName%30 allowed); nil means FormatList.
	Fields []string
	// Account charges every job of a dump that has no Account column (a per-project
	// dump); it is refused when the dump has one.
	Account string
	// anyFields reads a dump whatever it lacks (tests comparing efficiency with
	// tools whose dumps carry no Account or Start); billing never uses it.
	anyFields bool
}

// NewReader reads output with a header line (fields in any order, extra fields
// ignored). A missing required field is an error naming it.
func NewReader(r io.Reader, delim string) (*Reader, error) {
	rd := &Reader{br: bufio.NewReaderSize(r, 1<<20), delim: delim}
	header, err := rd.readLine()
	if err == io.EOF {
		return nil, errors.New("sacct output is empty: no header line")
	}
	if err != nil {
		return nil, fmt.Errorf("read sacct header: %w", err)
	}
	names := strings.Split(header, delim)
	if n := len(names); n > 1 && names[n-1] == "" {
		names, rd.trailing = names[:n-1], true
	}
	if err := rd.setHeader(names, "", false); err != nil {
		return nil, err
	}
	return rd, nil
}

// NewHeaderlessReader reads --noheader output whose fields are exactly FormatList.
func NewHeaderlessReader(r io.Reader, delim string) *Reader {
	rd := &Reader{br: bufio.NewReaderSize(r, 1<<20), delim: delim}
	if err := rd.setHeader(fieldNames[:nFormat], "", false); err != nil {
		panic(err) // our own field list always has every required field
	}
	return rd
}

// NewDumpReader reads a dump as sites write it: a header line is recognised by its
// field names wherever they stand (and gives the delimiter); without one, the
// fields are f.Fields (else FormatList) and the delimiter is f.Delimiter or the one
// that splits the first line into that many fields. sacct --parsable's trailing
// delimiter is accepted either way.
func NewDumpReader(in io.Reader, f Format) (*Reader, error) {
	rd := &Reader{br: bufio.NewReaderSize(in, 1<<20)}
	first, err := rd.firstLine()
	if err != nil {
		return nil, err
	}
	if names, delim, trailing, ok := detectHeader(first, f.Delimiter); ok {
		rd.delim, rd.trailing = delim, trailing
		if err := rd.setHeader(names, f.Account, f.anyFields); err != nil {
			return nil, err
		}
		return rd, nil
	}
	names := f.Fields
	if len(names) == 0 {
		names = fieldNames[:nFormat]
	}
	for _, n := range names {
		if !isFieldName(n) {
			return nil, fmt.Errorf("--format names %q, which is not a sacct field (see sacct --helpformat)", n)
		}
	}
	rd.delim = f.Delimiter
	if rd.delim == "" {
		if rd.delim, err = guessDelimiter(first, len(names)); err != nil {
			return nil, err
		}
	}
	rd.pending, rd.havePend = first, true // a row: read it again
	if err := rd.setHeader(names, f.Account, f.anyFields); err != nil {
		return nil, err
	}
	// sacct --parsable ends every line with the delimiter; so does a line whose last
	// value is empty. The first line tells them apart: with the trailing delimiter
	// taken off, it must still read as a row.
	if strings.HasSuffix(first, rd.delim) {
		rd.trailing = true
		rd.trailing = rd.fits(first)
	}
	// A wrong --delimiter or --format would quarantine every line: say so instead.
	if n := rd.count(first); n < len(names) {
		return nil, fmt.Errorf("the dump's first line splits into %d field(s) at %q, but its field list has %d (%s): check --delimiter and --format",
			n, rd.delim, len(names), strings.Join(names, ","))
	}
	return rd, nil
}

// fits says whether line reads as a row: as many fields as columns, each of its
// kind, or more that placeExtra can place.
func (rd *Reader) fits(line string) bool {
	fields := rd.split(line)
	switch {
	case len(fields) == rd.columns:
		for i, v := range fields {
			if !rd.kinds[i].valid(v) {
				return false
			}
		}
		return true
	case len(fields) > rd.columns:
		_, reason := rd.placeExtra(fields)
		return reason == ""
	}
	return false
}

// firstLine returns the first line that is not blank.
func (rd *Reader) firstLine() (string, error) {
	for {
		line, err := rd.readLine()
		if err == io.EOF {
			return "", errors.New("sacct output is empty")
		}
		if err != nil {
			return "", fmt.Errorf("read sacct output: %w", err)
		}
		if strings.TrimSpace(line) != "" {
			return line, nil
		}
	}
}

// detectHeader says whether line is a header: sacct's field names separated by one
// delimiter (given, or whatever stands between the names — field names are letters
// only, so any other separator is found: |, ^|^, \x1f, ☃…), most of them known.
func detectHeader(line, delim string) (names []string, d string, trailing bool, ok bool) {
	if delim == "" {
		delim = separatorOf(line)
		if delim == "" {
			return nil, "", false, false
		}
	}
	names = strings.Split(line, delim)
	if n := len(names); n > 1 && names[n-1] == "" {
		names, trailing = names[:n-1], true
	}
	known := 0
	for _, n := range names {
		if isFieldName(n) {
			known++
		}
	}
	// Every name a field of this or a future sacct (letters only), most of them
	// known: a data line has ids, numbers and times among its values.
	if known < 2 || known*3 < len(names)*2 {
		return nil, "", false, false
	}
	return names, delim, trailing, true
}

// separatorOf returns the one string standing between the letter runs of line, or
// "" when they are not all the same.
func separatorOf(line string) string {
	isLetter := func(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
	sep := ""
	i := 0
	for i < len(line) && isLetter(line[i]) {
		i++
	}
	if i == 0 {
		return ""
	}
	for i < len(line) {
		j := i
		for j < len(line) && !isLetter(line[j]) {
			j++
		}
		if s := line[i:j]; sep == "" {
			sep = s
		} else if s != sep {
			return ""
		}
		for j < len(line) && isLetter(line[j]) {
			j++
		}
		i = j
	}
	return sep
}

// delimiters are those sites use, longest first so that ^|^ is not taken for |.
var delimiters = []string{"^|^", "\x1f", "|", "☃", "\t", ";", ","}

// guessDelimiter finds the delimiter that splits a headerless dump's first line
// into n fields (n+1 with --parsable's trailing one): a usual one, else any
// character that occurs exactly that often; failing that, a usual one that occurs
// more often (a free-text value holding it), as the reader then places.
func guessDelimiter(line string, n int) (string, error) {
	fits := func(c int, d string) bool { return c == n-1 || (c == n && strings.HasSuffix(line, d)) }
	for _, d := range delimiters {
		if fits(strings.Count(line, d), d) {
			return d, nil
		}
	}
	counts := map[rune]int{}
	for _, r := range line {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsSpace(r) {
			counts[r]++
		}
	}
	var found []string
	for r, c := range counts {
		if fits(c, string(r)) {
			found = append(found, string(r))
		}
	}
	if len(found) == 1 {
		return found[0], nil
	}
	for _, d := range delimiters[:4] {
		if strings.Count(line, d) > n-1 {
			return d, nil
		}
	}
	return "", fmt.Errorf("cannot tell the delimiter of a headerless dump of %d fields from its first line %q: give it with --delimiter, or check --format", n, line)
}

// setHeader maps columns to fields, by name then by sacct's aliases, and refuses a
// dump that lacks what billing needs, naming exactly what is missing.
func (rd *Reader) setHeader(names []string, account string, anyFields bool) error {
	rd.columns = len(names)
	rd.pos = make([]int, len(names))
	rd.kinds = make([]kind, len(names))
	rd.free = nil
	var seen [nFields]bool
	for i, n := range names {
		key := fieldKey(n)
		rd.pos[i] = -1
		rd.kinds[i] = catalog[key] // kindText for a name sacct does not document
		if rd.kinds[i] == kindFree {
			rd.free = append(rd.free, i)
		}
		if id, ok := fieldIndex[key]; ok && !seen[id] {
			rd.pos[i], seen[id] = id, true
		}
	}
	for i, n := range names {
		if id, ok := aliases[fieldKey(n)]; ok && !seen[id] {
			rd.pos[i], seen[id] = id, true
		}
	}
	rd.rawFromID = !seen[fJobIDRaw] && seen[fJobID]
	if account != "" {
		if seen[fAccount] {
			return errors.New("the dump has an Account column: --account is only for dumps without one")
		}
		rd.account, seen[fAccount] = account, true
	}
	var missing []string
	for _, req := range required {
		has := false
		for _, id := range req.ids {
			has = has || seen[id]
		}
		if !has {
			missing = append(missing, req.name)
		}
	}
	if len(missing) > 0 && !anyFields {
		hint := ""
		if !seen[fAccount] {
			hint = " (a dump of one project's jobs may name its account with --account)"
		}
		return fmt.Errorf("sacct dump lacks %s, which billing needs%s; its fields: %s; dump with --format=%s",
			strings.Join(missing, ", "), hint, strings.Join(names, ","), FormatList())
	}
	return nil
}

// split cuts a line into its fields, less --parsable's trailing delimiter. The
// slice is the reader's own, reused by the next call (the values are substrings of
// line): one allocation less per line, which parsing speed notices.
func (rd *Reader) split(line string) []string {
	if rd.trailing {
		line = strings.TrimSuffix(line, rd.delim)
	}
	fields := rd.scratch[:0]
	for rd.delim != "" {
		i := strings.Index(line, rd.delim)
		if i < 0 {
			break
		}
		fields = append(fields, line[:i])
		line = line[i+len(rd.delim):]
	}
	rd.scratch = append(fields, line)
	return rd.scratch
}

// count is how many fields split would give, without splitting (and without
// touching the slice split returned last).
func (rd *Reader) count(line string) int {
	if rd.trailing {
		line = strings.TrimSuffix(line, rd.delim)
	}
	if rd.delim == "" {
		return 1
	}
	return strings.Count(line, rd.delim) + 1
}

// readLine returns the next physical line without its line ending.
func (rd *Reader) readLine() (string, error) {
	if rd.havePend {
		rd.havePend = false
		return rd.pending, nil
	}
	b, err := rd.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// A line longer than the buffer: keep reading it whole (rare; bounded by
		// the input, not by us — sacct lines are short).
		buf := append([]byte(nil), b...)
		for err == bufio.ErrBufferFull {
			b, err = rd.br.ReadSlice('\n')
			buf = append(buf, b...)
		}
		b = buf
	}
	if len(b) == 0 && err != nil {
		return "", err
	}
	rd.line++
	s := string(b)
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	if err != nil && err != io.EOF {
		return "", err
	}
	return s, nil
}

// Next returns the next row, or a line it could not read (bad != nil), or io.EOF.
func (rd *Reader) Next() (row Row, bad *BadLine, err error) {
	var line string
	for {
		line, err = rd.readLine()
		if err != nil {
			return Row{}, nil, err
		}
		if strings.TrimSpace(line) != "" {
			break
		}
	}
	start := rd.line
	fields := rd.split(line)
	// Too few fields: a job name with a newline split the row. Join following lines
	// while that helps (never past a line that is a full row by itself).
	joined := 1
	for len(fields) < rd.columns && len(rd.free) > 0 {
		next, err := rd.readLine()
		if err != nil {
			break
		}
		if joined >= MaxJoinedLines || rd.count(next) >= rd.columns {
			rd.pending, rd.havePend = next, true // counted already; read again next
			break
		}
		line += "\n" + next
		fields = rd.split(line)
		joined++
	}
	switch {
	case len(fields) < rd.columns:
		return Row{}, &BadLine{Raw: line, Line: start, Reason: fmt.Sprintf("line %d: %d fields, the header has %d", start, len(fields), rd.columns)}, nil
	case len(fields) > rd.columns:
		// The delimiter appears inside free-text values (a job name, and with it the
		// submit line that set it). Try every way of sharing the extra delimiters
		// among the free-text columns and keep those where every column of a known
		// kind (ids, states, dates, sizes, durations, counts, TRES, node lists)
		// reads as such. If all that remain agree on every field Parsimony reads,
		// that is the row.
		vals, reason := rd.placeExtra(fields)
		if reason != "" {
			return Row{}, &BadLine{Raw: line, Line: start, Reason: fmt.Sprintf("line %d: %d fields, the header has %d: %s", start, len(fields), rd.columns, reason)}, nil
		}
		row = Row{f: vals, Raw: line, Line: start}
		rd.finish(&row)
		return row, nil, nil
	}
	row = Row{Raw: line, Line: start}
	for i, v := range fields {
		if id := rd.pos[i]; id >= 0 {
			row.f[id] = v
		}
	}
	rd.finish(&row)
	return row, nil, nil
}

// finish fills what the dump does not carry: the JobIDRaw of a dump without one is
// its JobID (see keyFromJobID), and the account given for a dump without one.
func (rd *Reader) finish(row *Row) {
	if rd.rawFromID {
		row.f[fJobIDRaw] = row.f[fJobID]
	}
	if rd.account != "" {
		row.f[fAccount] = rd.account
	}
}

// maxPlacements bounds the ways of sharing extra delimiters that placeExtra tries.
const maxPlacements = 20_000

// placeExtra assigns a line with too many fields to the header's columns.
func (rd *Reader) placeExtra(fields []string) (vals [nFields]string, reason string) {
	extra := len(fields) - rd.columns
	if len(rd.free) == 0 {
		return vals, "no free-text column (JobName, SubmitLine, Comment…) can hold the extra " + strconv.Quote(rd.delim)
	}
	share := make([]int, len(rd.free))
	cols := make([]string, rd.columns)
	found, agreed, tried := false, true, 0
	var try func(i, left int) bool
	try = func(i, left int) bool {
		if i == len(share)-1 {
			share[i] = left
			tried++
			if rd.assign(fields, share, cols) {
				cand, ok := rd.readFields(cols)
				if ok && !found {
					vals, found = cand, true
				} else if ok && cand != vals {
					agreed = false
					return false
				}
			}
			return tried < maxPlacements
		}
		for k := 0; k <= left; k++ {
			share[i] = k
			if !try(i+1, left-k) {
				return false
			}
		}
		return true
	}
	complete := try(0, extra)
	switch {
	case !agreed:
		return vals, fmt.Sprintf("the extra %q could belong to more than one free-text column; dump with --delimiter set to a character no value contains", rd.delim)
	case !complete:
		return vals, "too many extra delimiters to place"
	case !found:
		return vals, fmt.Sprintf("no placement of the extra %q gives valid ids, states, times and numbers", rd.delim)
	}
	return vals, ""
}

// assign lays fields over the columns, free-text column j taking share[j] extra
// fields, into cols; it fails as soon as a column of a known kind does not read as
// one.
func (rd *Reader) assign(fields []string, share []int, cols []string) bool {
	at, j := 0, 0
	for col := 0; col < rd.columns; col++ {
		n := 1
		if j < len(rd.free) && rd.free[j] == col {
			n += share[j]
			j++
		}
		if at+n > len(fields) {
			return false
		}
		v := fields[at]
		if n > 1 {
			v = strings.Join(fields[at:at+n], rd.delim)
		}
		if !rd.kinds[col].valid(v) {
			return false
		}
		cols[col] = v
		at += n
	}
	return at == len(fields)
}

// readFields picks the fields Parsimony reads out of a placed line; the TRES it
// bills from must parse.
func (rd *Reader) readFields(cols []string) (vals [nFields]string, ok bool) {
	for col, v := range cols {
		if id := rd.pos[col]; id >= 0 {
			vals[id] = v
		}
	}
	if _, err := ParseTRES(vals[fAllocTRES]); err != nil {
		return vals, false
	}
	if _, err := ParseTRES(vals[fReqTRES]); err != nil {
		return vals, false
	}
	return vals, true
}
