package usagebatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// ErrTooManyRecords is returned (wrapped) by Split for a batch of more than
// MaxRecords records.
var ErrTooManyRecords = errors.New("too many records")

// Split reads a batch's envelope, {"records": [...]}, and returns each record's
// raw JSON, unread. An error means the body as a whole is not a batch (not JSON,
// not an object, an unknown member, records missing or not an array, data after
// the object, more than MaxRecords records): nothing of it can be attributed, so
// the caller refuses it all (400, or 413 for ErrTooManyRecords). A record that is
// JSON but not a valid record is not Split's business: DecodeRecord says why.
func Split(body []byte) ([]json.RawMessage, error) {
	if raws, ok := splitPlain(body); ok {
		if n := len(raws); n > MaxRecords {
			return nil, fmt.Errorf("%w: the batch has %d records; at most %d are taken in one", ErrTooManyRecords, n, MaxRecords)
		}
		return raws, nil
	}
	return splitStrict(body)
}

// splitStrict is Split by encoding/json, for any body.
func splitStrict(body []byte) ([]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var env struct {
		Records *[]json.RawMessage `json:"records"`
	}
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("the body is not a usage batch: %s", describe(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("the body is not a usage batch: there is more after its JSON object")
	}
	if env.Records == nil {
		return nil, errors.New(`the body is not a usage batch: "records" is missing or null`)
	}
	if n := len(*env.Records); n > MaxRecords {
		return nil, fmt.Errorf("%w: the batch has %d records; at most %d are taken in one", ErrTooManyRecords, n, MaxRecords)
	}
	return *env.Records, nil
}

// wire is a record as JSON has it: pointers tell a missing or null member from a
// zero one, times are text so that their form can be checked.
type wire struct {
	Source     *string           `json:"source"`
	Cluster    *string           `json:"cluster"`
	ExternalID *string           `json:"external_id"`
	Resource   *string           `json:"resource"`
	Start      *string           `json:"start"`
	End        *string           `json:"end"`
	Quantity   *int64            `json:"quantity"`
	Allocated  *int64            `json:"allocated"`
	Used       *int64            `json:"used"`
	User       *string           `json:"user"`
	Account    *string           `json:"account"`
	Partition  *string           `json:"partition"`
	QoS        *string           `json:"qos"`
	Nodes      *int32            `json:"nodes"`
	JobName    *string           `json:"job_name"`
	State      *string           `json:"state"`
	Attrs      map[string]string `json:"attrs"`
}

// DecodeRecord reads one record strictly: a JSON object of known members only,
// each at most once and of its type (text as strings, quantities as whole numbers
// in int64, times as RFC 3339 text with a zone), every Required member present,
// text valid UTF-8 without control characters and within its size, quantities not
// negative, end not before start, source and resource ones the ledger knows. The
// error lists every problem found, for quarantine's reason.
func DecodeRecord(raw []byte) (Record, error) {
	if len(raw) > MaxRecordBytes {
		return Record{}, fmt.Errorf("the record is %d bytes of JSON; at most %d are taken", len(raw), MaxRecordBytes)
	}
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD: refuse it instead.
	if !utf8.Valid(raw) {
		return Record{}, errors.New("the record is not valid UTF-8")
	}
	var w wire
	if end, ok := plainRecord(raw, skipSpace(raw, 0), &w); ok && skipSpace(raw, end) == len(raw) {
		return w.check()
	}
	return decodeStrict(raw)
}

// decodeStrict is DecodeRecord by encoding/json, for any record of valid UTF-8
// within the size.
func decodeStrict(raw []byte) (Record, error) {
	if err := checkMembers(raw); err != nil {
		return Record{}, err
	}
	var w wire
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Record{}, errors.New(describe(err))
	}
	return w.check()
}

// check validates a decoded record and returns it, or every problem found.
func (w wire) check() (Record, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	text := func(name string, v *string, max int, required bool) string {
		switch {
		case v == nil || *v == "":
			if required {
				bad("%s is required", name)
			}
			return ""
		case len(*v) > max:
			bad("%s is %d bytes; at most %d are taken", name, len(*v), max)
		case strings.ContainsFunc(*v, unicode.IsControl):
			bad("%s holds a control character", name)
		}
		return *v
	}
	stamp := func(name string, v *string) time.Time {
		if v == nil || *v == "" {
			bad("%s is required", name)
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339Nano, *v)
		if err != nil {
			bad("%s %q is not an RFC 3339 time with a zone, like 2026-12-03T10:00:00Z", name, clip(*v))
			return time.Time{}
		}
		if t.Year() < 1970 || t.Year() > 9999 {
			bad("%s %s is out of range (1970 to 9999)", name, *v)
			return time.Time{}
		}
		return t
	}
	r := Record{
		Source:     text("source", w.Source, MaxNameBytes, true),
		Cluster:    text("cluster", w.Cluster, MaxShortBytes, true),
		ExternalID: text("external_id", w.ExternalID, MaxLongBytes, true),
		Resource:   text("resource", w.Resource, MaxNameBytes, true),
		Start:      stamp("start", w.Start),
		End:        stamp("end", w.End),
		Allocated:  w.Allocated,
		Used:       w.Used,
		User:       text("user", w.User, MaxShortBytes, false),
		Account:    text("account", w.Account, MaxShortBytes, false),
		Partition:  text("partition", w.Partition, MaxShortBytes, false),
		QoS:        text("qos", w.QoS, MaxShortBytes, false),
		JobName:    text("job_name", w.JobName, MaxLongBytes, false),
		State:      text("state", w.State, MaxShortBytes, false),
	}
	if r.Source != "" {
		if _, ok := ledger.MappingKind(r.Source); !ok {
			bad("source %q is not one of slurm, cgroup, k8s, storage, api", clip(r.Source))
		}
	}
	if r.Resource != "" && ledger.Unit(r.Resource) == "" {
		bad("resource %q is not one of %s", clip(r.Resource), strings.Join(ledger.Resources(), ", "))
	}
	if !r.Start.IsZero() && !r.End.IsZero() && r.End.Before(r.Start) {
		bad("end %s is before start %s", *w.End, *w.Start)
	}
	if w.Quantity == nil {
		bad("quantity is required")
	} else {
		r.Quantity = *w.Quantity
	}
	for _, q := range []struct {
		name string
		v    *int64
	}{{"quantity", w.Quantity}, {"allocated", w.Allocated}, {"used", w.Used}} {
		if q.v != nil && *q.v < 0 {
			bad("%s %d is negative", q.name, *q.v)
		}
	}
	if w.Nodes != nil {
		if *w.Nodes < 0 {
			bad("nodes %d is negative", *w.Nodes)
		}
		r.Nodes = *w.Nodes
	}
	if len(w.Attrs) > MaxAttrs {
		bad("attrs has %d members; at most %d are taken", len(w.Attrs), MaxAttrs)
	} else if len(w.Attrs) > 0 {
		r.Attrs = make(map[string]string, len(w.Attrs))
		for k, v := range w.Attrs {
			switch {
			case k == "" || len(k) > MaxAttrKey:
				bad("attribute name %q is empty or longer than %d bytes", clip(k), MaxAttrKey)
			case len(v) > MaxLongBytes:
				bad("attribute %q is %d bytes; at most %d are taken", k, len(v), MaxLongBytes)
			case strings.ContainsFunc(k, unicode.IsControl) || strings.ContainsFunc(v, unicode.IsControl):
				bad("attribute %q holds a control character", clip(k))
			}
			r.Attrs[k] = v
		}
	}
	if len(problems) > 0 {
		return Record{}, errors.New(strings.Join(problems, "; "))
	}
	return r, nil
}

// checkMembers refuses a record that is not a JSON object or names a member
// twice: encoding/json would keep the last silently, and a record must mean one
// thing. The top level and attrs are checked. It scans the bytes itself (a
// json.Decoder token walk took a quarter of the ingest API's time); on input it
// cannot follow it returns nil and leaves the syntax error to the decoder.
func checkMembers(raw []byte) error {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return errors.New("the record is not a JSON object")
	}
	_, err := scanObject(raw, i, "the record", true)
	return err
}

// scanObject checks the object starting at raw[i] for duplicate names (and, when
// top, attrs' object too) and returns the index after it; -1 when the bytes are
// not JSON it can follow.
func scanObject(raw []byte, i int, what string, top bool) (int, error) {
	seen := make(map[string]struct{}, 20)
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return i + 1, nil
	}
	for i < len(raw) {
		if raw[i] != '"' {
			return -1, nil
		}
		end := skipString(raw, i)
		if end < 0 {
			return -1, nil
		}
		name := string(raw[i+1 : end-1])
		if bytes.IndexByte(raw[i:end], '\\') >= 0 {
			if json.Unmarshal(raw[i:end], &name) != nil {
				return -1, nil
			}
		}
		if _, dup := seen[name]; dup {
			return -1, fmt.Errorf("%s names %q twice", what, clip(name))
		}
		seen[name] = struct{}{}
		i = skipSpace(raw, end)
		if i >= len(raw) || raw[i] != ':' {
			return -1, nil
		}
		i = skipSpace(raw, i+1)
		if top && name == "attrs" && i < len(raw) && raw[i] == '{' {
			next, err := scanObject(raw, i, "attrs", false)
			if err != nil || next < 0 {
				return -1, err
			}
			i = next
		} else if i = skipValue(raw, i); i < 0 {
			return -1, nil
		}
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return -1, nil
		}
		switch raw[i] {
		case '}':
			return i + 1, nil
		case ',':
			i = skipSpace(raw, i+1)
		default:
			return -1, nil
		}
	}
	return -1, nil
}

func skipSpace(raw []byte, i int) int {
	for i < len(raw) && (raw[i] == ' ' || raw[i] == '\t' || raw[i] == '\n' || raw[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at raw[i], or -1.
func skipString(raw []byte, i int) int {
	for j := i + 1; j < len(raw); j++ {
		switch raw[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the value starting at raw[i], or -1.
func skipValue(raw []byte, i int) int {
	depth := 0
	for j := i; j < len(raw); j++ {
		switch c := raw[j]; c {
		case '"':
			if j = skipString(raw, j); j < 0 {
				return -1
			}
			j--
			if depth == 0 {
				return j + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j // the end of the enclosing object
			}
			if depth--; depth == 0 {
				return j + 1
			}
		case ',', ' ', '\t', '\n', '\r':
			if depth == 0 {
				return j
			}
		}
	}
	if depth == 0 {
		return len(raw)
	}
	return -1
}

// describe rewords encoding/json's errors for a person reading the quarantine
// or a 400: which member, what was expected, what was there.
func describe(err error) string {
	var typ *json.UnmarshalTypeError
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &typ):
		want := typ.Type.String()
		switch typ.Type.Kind().String() {
		case "string":
			want = "a string"
		case "int64", "int32":
			want = "a whole number within " + typ.Type.Kind().String()
		case "map", "struct":
			want = "an object"
		case "slice":
			want = "an array"
		}
		if typ.Field == "" {
			return fmt.Sprintf("want %s, got %s", want, typ.Value)
		}
		return fmt.Sprintf("%s: want %s, got %s", typ.Field, want, typ.Value)
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.Is(err, io.EOF):
		return "empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the JSON ends too early"
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown member " + rest
	}
	return strings.TrimPrefix(msg, "json: ")
}

// clip shortens a value quoted back in a reason.
func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	i := 64
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

// Names returns the source and cluster a record's JSON names, or "" for either
// that cannot be read as a string: enough to check a bound token's records and to
// file a refused record under its host, even when the rest of it is wrong.
func Names(raw []byte) (source, cluster string) {
	var head struct {
		Source  any `json:"source"`
		Cluster any `json:"cluster"`
	}
	if json.Unmarshal(raw, &head) != nil {
		return "", ""
	}
	source, _ = head.Source.(string)
	cluster, _ = head.Cluster.(string)
	return source, cluster
}

// Reject is a record DecodeRecord refused, as the ledger quarantines it under
// source and cluster: its raw JSON (at most MaxRecordBytes of it) and the reason.
func Reject(raw []byte, reason, source, cluster string) ledger.Reject {
	text := string(raw)
	if len(raw) > MaxRecordBytes {
		text = fmt.Sprintf("%s… (%d bytes, cut at %d)", raw[:MaxRecordBytes], len(raw), MaxRecordBytes)
	}
	return ledger.Reject{Source: source, Cluster: cluster, Raw: text, Reason: reason}
}
