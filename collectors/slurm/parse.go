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
	nFields
)

// fieldNames are the names as sacct's --format takes them and its header prints them.
var fieldNames = [nFields]string{
	"JobID", "JobIDRaw", "JobName", "User", "Account", "Partition", "QOS", "State", "ExitCode",
	"Submit", "Start", "End", "ElapsedRaw", "Timelimit", "NNodes", "AllocCPUS", "ReqMem", "MaxRSS",
	"TotalCPU", "AllocTRES", "TRESUsageInTot", "NodeList", "Reservation", "ReservationId",
}

// requiredFields must be in a dump's header; the rest are read when present.
var requiredFields = []int{fJobID, fJobIDRaw, fUser, fAccount, fState, fStart, fEnd, fElapsedRaw, fAllocCPUS}

// FormatList is the --format value Parsimony runs sacct with.
func FormatList() string { return strings.Join(fieldNames[:], ",") }

// freeText are the columns whose values users write, and so may contain the
// delimiter: extra fields on a line belong to the one such column of the header.
var freeText = map[string]bool{
	"jobname": true, "submitline": true, "comment": true, "admincomment": true,
	"systemcomment": true, "workdir": true, "constraints": true, "reason": true,
}

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
	br       *bufio.Reader
	delim    string
	columns  int   // fields per line
	pos      []int // header position → field id, or -1 for a column we ignore
	free     []int // positions of free-text columns
	line     int
	pending  string // a line read ahead while joining a split row
	havePend bool
}

// MaxJoinedLines bounds how many physical lines one row may span (a job name with
// newlines): past it the row is refused instead of swallowing the rest of the input.
const MaxJoinedLines = 8

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
	if err := rd.setHeader(strings.Split(header, delim)); err != nil {
		return nil, err
	}
	return rd, nil
}

// NewHeaderlessReader reads --noheader output whose fields are exactly FormatList.
func NewHeaderlessReader(r io.Reader, delim string) *Reader {
	rd := &Reader{br: bufio.NewReaderSize(r, 1<<20), delim: delim}
	if err := rd.setHeader(fieldNames[:]); err != nil {
		panic(err) // our own field list always has every required field
	}
	return rd
}

func (rd *Reader) setHeader(names []string) error {
	index := map[string]int{}
	for id, n := range fieldNames {
		index[strings.ToLower(n)] = id
	}
	rd.columns = len(names)
	rd.pos = make([]int, len(names))
	seen := map[int]bool{}
	for i, n := range names {
		key := strings.ToLower(strings.TrimSpace(n))
		rd.pos[i] = -1
		if id, ok := index[key]; ok && !seen[id] {
			rd.pos[i] = id
			seen[id] = true
		}
		if freeText[key] {
			rd.free = append(rd.free, i)
		}
	}
	var missing []string
	for _, id := range requiredFields {
		if !seen[id] {
			missing = append(missing, fieldNames[id])
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("sacct header lacks required field(s) %s (header: %s); dump with --format=%s",
			strings.Join(missing, ", "), strings.Join(names, rd.delim), FormatList())
	}
	return nil
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
	fields := strings.Split(line, rd.delim)
	// Too few fields: a job name with a newline split the row. Join following lines
	// while that helps (never past a line that is a full row by itself).
	joined := 1
	for len(fields) < rd.columns && len(rd.free) > 0 {
		next, err := rd.readLine()
		if err != nil {
			break
		}
		nextFields := strings.Split(next, rd.delim)
		if joined >= MaxJoinedLines || len(nextFields) >= rd.columns {
			rd.pending, rd.havePend = next, true // counted already; read again next
			break
		}
		line += "\n" + next
		fields = strings.Split(line, rd.delim)
		joined++
	}
	switch {
	case len(fields) < rd.columns:
		return Row{}, &BadLine{Raw: line, Line: start, Reason: fmt.Sprintf("line %d: %d fields, the header has %d", start, len(fields), rd.columns)}, nil
	case len(fields) > rd.columns:
		// The delimiter appears inside free-text values (a job name, and with it the
		// submit line that set it). The fields before a free-text column count from
		// the start and those after it from the end; with several such columns, try
		// every way of sharing the extra delimiters among them and keep the ones whose
		// typed fields (ids, states, times, numbers, TRES) read as such. If all that
		// remain agree on every field Parsimony reads, that is the row.
		vals, reason := rd.placeExtra(fields)
		if reason != "" {
			return Row{}, &BadLine{Raw: line, Line: start, Reason: fmt.Sprintf("line %d: %d fields, the header has %d: %s", start, len(fields), rd.columns, reason)}, nil
		}
		return Row{f: vals, Raw: line, Line: start}, nil, nil
	}
	row = Row{Raw: line, Line: start}
	for i, v := range fields {
		if id := rd.pos[i]; id >= 0 {
			row.f[id] = v
		}
	}
	return row, nil, nil
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
	found, agreed, tried := false, true, 0
	var try func(i, left int) bool
	try = func(i, left int) bool {
		if i == len(share)-1 {
			share[i] = left
			tried++
			cand, ok := rd.assign(fields, share)
			if ok && plausible(&cand) {
				if !found {
					vals, found = cand, true
				} else if cand != vals {
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

// assign lays fields over the header, free-text column j taking share[j] extra
// fields.
func (rd *Reader) assign(fields []string, share []int) (vals [nFields]string, ok bool) {
	at, j := 0, 0
	for col := 0; col < rd.columns; col++ {
		n := 1
		if j < len(rd.free) && rd.free[j] == col {
			n += share[j]
			j++
		}
		if at+n > len(fields) {
			return vals, false
		}
		if id := rd.pos[col]; id >= 0 {
			vals[id] = strings.Join(fields[at:at+n], rd.delim)
		}
		at += n
	}
	return vals, at == len(fields)
}

// plausible says whether the typed fields of a candidate row read as their types.
func plausible(v *[nFields]string) bool {
	digits := func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	timeLike := func(s string) bool {
		switch {
		case s == "" || s == "None" || s == "Unknown" || digits(s):
			return true
		case len(s) == 19 && s[4] == '-' && s[10] == 'T' && s[13] == ':':
			return true
		}
		return false
	}
	id := func(s string) bool { return s == "" || (s[0] >= '0' && s[0] <= '9' && !strings.ContainsAny(s, " \t")) }
	state := func(s string) bool {
		s = baseState(s)
		for i := 0; i < len(s); i++ {
			if (s[i] < 'A' || s[i] > 'Z') && s[i] != '_' {
				return false
			}
		}
		return true
	}
	word := func(s string) bool { return !strings.ContainsAny(s, " \t") }
	if !id(v[fJobID]) || !id(v[fJobIDRaw]) || !state(v[fState]) || !digits(v[fElapsedRaw]) ||
		!digits(v[fAllocCPUS]) || !digits(v[fNNodes]) || !timeLike(v[fSubmit]) || !timeLike(v[fStart]) ||
		!timeLike(v[fEnd]) || !word(v[fUser]) || !word(v[fAccount]) || !word(v[fPartition]) || !word(v[fQOS]) {
		return false
	}
	if e := v[fExitCode]; e != "" {
		a, b, ok := strings.Cut(e, ":")
		if !ok || !digits(a) || !digits(b) {
			return false
		}
	}
	if _, err := ParseTRES(v[fAllocTRES]); err != nil {
		return false
	}
	if d := v[fTotalCPU]; d != "" {
		if _, err := ParseDuration(d); err != nil {
			return false
		}
	}
	return true
}
