package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// This file turns TOML bytes into a Config while keeping the line of every
// key, which no TOML library's struct decoder does and which Check needs for
// its messages. go-toml's unstable parser gives the positions; the document
// is first run through go-toml's full decoder, which enforces the rules the
// parser alone does not (keys defined twice, tables redefined, integers out
// of range), so the tree built here can trust its input.

// maxSyntaxProblems bounds the recovery from syntax errors: past a handful,
// further errors are more likely echoes of the first ones than news.
const maxSyntaxProblems = 20

// document is what is known about where things are in a file.
type document struct {
	file string
	// lines maps each key path present in the file ("site.time_zone",
	// "cluster[1]", "cluster[1].name") to its 1-based line.
	lines map[string]int
	// damaged is set when lines were blanked out to get past syntax errors.
	// A key on such a line is missing from the tree, so "is required"
	// problems would be false alarms and are not reported.
	damaged bool
	// reported holds the keys the decoder already found wrong (unknown, of
	// the wrong type, unparsable). Their values are left at the default or
	// zero, so validate would only add a confusing second problem.
	reported map[string]bool
}

// has reports whether key was written in the file.
func (d *document) has(key string) bool {
	_, ok := d.lines[key]
	return ok
}

// line is the line of key, or else of the nearest enclosing table that is
// in the file, so that a missing key is reported at its table's header.
func (d *document) line(key string) int {
	for key != "" {
		if l, ok := d.lines[key]; ok && l > 0 {
			return l
		}
		key = parentPath(key)
	}
	return 0
}

// parentPath drops the last segment of a key path: "cluster[1].name" →
// "cluster[1]" → "cluster" → "".
func parentPath(key string) string {
	if strings.HasSuffix(key, "]") {
		if i := strings.LastIndexByte(key, '['); i >= 0 {
			return key[:i]
		}
	}
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[:i]
	}
	return ""
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// keyPath appends one key to a path, quoting it as TOML would need.
func keyPath(parent, key string) string {
	if !bareKey.MatchString(key) {
		key = strconv.Quote(key)
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// decode parses data, lays it over Default() and fills in the defaults that
// depend on a cluster's kind. It reports syntax errors, unknown keys and
// values of the wrong type; validate reports the rest.
func decode(name string, data []byte) (Config, *document, []Problem) {
	doc := &document{file: name, lines: make(map[string]int), reported: make(map[string]bool)}
	cfg := Default()

	// Editors on Windows like to start files with a byte order mark, which
	// TOML does not allow; it carries no meaning in UTF-8, so drop it.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	data, problems, ok := recoverSyntax(name, data)
	if len(problems) > 0 {
		doc.damaged = true
	}
	if !ok {
		// Recovery could not get past an error (an unclosed multi-line
		// string, say): anything said about the keys would be guesswork.
		return cfg, doc, problems
	}

	lines := newLineIndex(data)
	root, err := buildTree(data, lines)
	if err != nil {
		// recoverSyntax accepted this document, so go-toml's decoder and its
		// parser disagree; report it rather than guess.
		return cfg, doc, append(problems, Problem{File: name, Message: fmt.Sprintf("cannot read the document: %v", err)})
	}

	d := decoder{doc: doc}
	d.decodeTable(root, reflect.ValueOf(&cfg).Elem(), "")
	applyKindDefaults(&cfg, doc)
	return cfg, doc, append(problems, d.problems...)
}

// recoverSyntax reports the TOML errors in data. After each error it blanks
// the offending line and tries again, so that one stray quote does not hide
// the rest of the file; an error on a table header blanks the header's whole
// section, since its keys would otherwise land in the table before it and
// cause a cascade of false errors. It gives up (ok false) when errors stop
// moving forward through the file, as an unclosed multi-line string makes
// them do.
func recoverSyntax(name string, data []byte) (fixed []byte, problems []Problem, ok bool) {
	work := bytes.Clone(data)
	lines := splitLines(work)
	lastLine := 0
	for range maxSyntaxProblems {
		var sink map[string]any
		err := toml.Unmarshal(work, &sink)
		if err == nil {
			return work, problems, true
		}
		var de *toml.DecodeError
		if !errors.As(err, &de) {
			return nil, append(problems, Problem{File: name, Message: err.Error()}), false
		}
		line, _ := de.Position()
		// go-toml reports errors in document order, so an error at or before
		// the last blanked line is an echo of the problem already reported.
		if line <= lastLine || line > len(lines) {
			return nil, problems, false
		}
		problems = append(problems, Problem{
			File:    name,
			Line:    line,
			Message: "syntax error: " + strings.TrimPrefix(de.Error(), "toml: "),
		})
		last := line
		if isHeader(lines[line-1]) {
			for last < len(lines) && !isHeader(lines[last]) {
				last++
			}
		}
		for _, l := range lines[line-1 : last] {
			for i := range l {
				if l[i] != '\r' {
					l[i] = ' '
				}
			}
		}
		lastLine = last
	}
	return nil, problems, false
}

// splitLines returns the lines of data without their newlines, as slices
// sharing data's memory so that blanking one blanks it in data.
func splitLines(data []byte) [][]byte {
	lines := bytes.Split(data, []byte("\n"))
	for i, l := range lines {
		lines[i] = l[:len(l):len(l)]
	}
	return lines
}

// isHeader reports whether a line is a [table] or [[array]] header.
func isHeader(line []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(line, " \t"), []byte("["))
}

// lineIndex converts byte offsets to 1-based lines.
type lineIndex []int // offsets at which lines 2, 3, … start

func newLineIndex(data []byte) lineIndex {
	var idx lineIndex
	for i, b := range data {
		if b == '\n' {
			idx = append(idx, i+1)
		}
	}
	return idx
}

func (idx lineIndex) line(r unstable.Range) int {
	off := int(r.Offset)
	return 1 + sort.Search(len(idx), func(i int) bool { return idx[i] > off })
}

// valueKind is the TOML type of a value in the tree.
type valueKind int

const (
	kindString valueKind = iota
	kindInteger
	kindFloat
	kindBool
	kindDateTime
	kindArray
	kindTable
)

// tnode is a TOML value with its line.
type tnode struct {
	kind valueKind
	line int
	text string // scalars: the string's value, or the literal as written

	items []*tnode // arrays

	keys   []string // tables: keys in document order
	fields map[string]*tnode

	header      bool // a table written as [header] or [[header]]
	arrayTables bool // an array built by [[header]]
}

func newTable(line int) *tnode {
	return &tnode{kind: kindTable, line: line, fields: make(map[string]*tnode)}
}

func (t *tnode) put(key string, v *tnode) error {
	if _, dup := t.fields[key]; dup {
		return fmt.Errorf("key %q defined twice", key)
	}
	t.keys = append(t.keys, key)
	t.fields[key] = v
	return nil
}

// describe says what a value is, for "must be X, not Y" messages.
func (t *tnode) describe() string {
	switch t.kind {
	case kindString:
		return fmt.Sprintf("a string (%q)", t.text)
	case kindInteger:
		return fmt.Sprintf("an integer (%s)", t.text)
	case kindFloat:
		return fmt.Sprintf("a number (%s)", t.text)
	case kindBool:
		return fmt.Sprintf("a boolean (%s)", t.text)
	case kindDateTime:
		return fmt.Sprintf("a date/time (%s)", t.text)
	case kindArray:
		return "an array"
	default:
		return "a table"
	}
}

// buildTree turns a valid TOML document into a tree of tnodes.
func buildTree(data []byte, lines lineIndex) (*tnode, error) {
	var p unstable.Parser
	p.Reset(data)
	root := newTable(0)
	current := root
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			keys, line := keyOf(e, lines)
			t, err := descend(root, keys, line)
			if err != nil {
				return nil, err
			}
			// A table first created implicitly, by [a.b.c] before [a.b],
			// is reported at its own header from now on.
			t.line, t.header = line, true
			current = t
		case unstable.ArrayTable:
			keys, line := keyOf(e, lines)
			parent, err := descend(root, keys[:len(keys)-1], line)
			if err != nil {
				return nil, err
			}
			last := keys[len(keys)-1]
			arr := parent.fields[last]
			if arr == nil {
				arr = &tnode{kind: kindArray, line: line, arrayTables: true}
				if err := parent.put(last, arr); err != nil {
					return nil, err
				}
			}
			if !arr.arrayTables {
				return nil, fmt.Errorf("line %d: %q is not an array of tables", line, strings.Join(keys, "."))
			}
			t := newTable(line)
			t.header = true
			arr.items = append(arr.items, t)
			current = t
		case unstable.KeyValue:
			if err := putKeyValue(current, e, lines); err != nil {
				return nil, err
			}
		}
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf("parse: %w", err)
	}
	return root, nil
}

// putKeyValue adds a key = value expression to table t.
func putKeyValue(t *tnode, e *unstable.Node, lines lineIndex) error {
	keys, line := keyOf(e, lines)
	parent, err := descend(t, keys[:len(keys)-1], line)
	if err != nil {
		return err
	}
	v, err := valueOf(e.Value(), line, lines)
	if err != nil {
		return err
	}
	return parent.put(keys[len(keys)-1], v)
}

// keyOf returns the parts of a (dotted) key and the line it is on.
func keyOf(e *unstable.Node, lines lineIndex) ([]string, int) {
	var keys []string
	line := 0
	it := e.Key()
	for it.Next() {
		n := it.Node()
		if line == 0 {
			line = lines.line(n.Raw)
		}
		keys = append(keys, string(n.Data))
	}
	return keys, line
}

// descend walks (creating as needed) the tables named by keys below t. In an
// array of tables it goes into the last one, as TOML's [[a]] then [a.b] does.
func descend(t *tnode, keys []string, line int) (*tnode, error) {
	for _, k := range keys {
		c := t.fields[k]
		switch {
		case c == nil:
			c = newTable(line)
			if err := t.put(k, c); err != nil {
				return nil, err
			}
		case c.kind == kindArray && c.arrayTables && len(c.items) > 0:
			c = c.items[len(c.items)-1]
		case c.kind != kindTable:
			return nil, fmt.Errorf("line %d: %q is not a table", line, k)
		}
		t = c
	}
	return t, nil
}

// valueOf converts a value node; line is where it is (its key's line).
func valueOf(n *unstable.Node, line int, lines lineIndex) (*tnode, error) {
	v := &tnode{line: line, text: string(n.Data)}
	switch n.Kind {
	case unstable.String:
		v.kind = kindString
	case unstable.Integer:
		v.kind = kindInteger
	case unstable.Float:
		v.kind = kindFloat
	case unstable.Bool:
		v.kind = kindBool
	case unstable.DateTime, unstable.LocalDateTime, unstable.LocalDate, unstable.LocalTime:
		v.kind = kindDateTime
	case unstable.Array:
		v.kind, v.text = kindArray, ""
		it := n.Children()
		for it.Next() {
			c := it.Node()
			if c.Kind == unstable.Comment {
				continue
			}
			itemLine := line
			if c.Raw.Length > 0 {
				itemLine = lines.line(c.Raw)
			}
			item, err := valueOf(c, itemLine, lines)
			if err != nil {
				return nil, err
			}
			v.items = append(v.items, item)
		}
	case unstable.InlineTable:
		v = newTable(line)
		it := n.Children()
		for it.Next() {
			c := it.Node()
			if c.Kind != unstable.KeyValue {
				continue
			}
			if err := putKeyValue(v, c, lines); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("line %d: unexpected %s value", line, n.Kind)
	}
	return v, nil
}

// decoder lays a tree over a Go value by its toml tags, collecting every
// problem rather than stopping at the first.
type decoder struct {
	doc      *document
	problems []Problem
}

func (d *decoder) add(line int, key, format string, args ...any) {
	d.doc.reported[key] = true
	d.problems = append(d.problems, Problem{File: d.doc.file, Line: line, Key: key, Message: fmt.Sprintf(format, args...)})
}

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	durationType        = reflect.TypeFor[Duration]()
)

// tomlName is a struct field's key in the file, "" for an untagged field.
func tomlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

func fieldByKey(typ reflect.Type, key string) (int, bool) {
	for i := range typ.NumField() {
		if f := typ.Field(i); f.IsExported() && tomlName(f) == key {
			return i, true
		}
	}
	return 0, false
}

func (d *decoder) decodeTable(t *tnode, rv reflect.Value, path string) {
	for _, k := range t.keys {
		v := t.fields[k]
		p := keyPath(path, k)
		d.doc.lines[p] = v.line
		i, ok := fieldByKey(rv.Type(), k)
		if !ok {
			d.add(v.line, p, "unknown key%s", suggest(k, rv.Type()))
			continue
		}
		d.decodeValue(v, rv.Field(i), p)
	}
}

func (d *decoder) decodeValue(v *tnode, fv reflect.Value, path string) {
	typ := fv.Type()
	if reflect.PointerTo(typ).Implements(textUnmarshalerType) {
		if v.kind != kindString {
			d.wrongType(v, path, typ)
			return
		}
		if err := fv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(v.text)); err != nil {
			d.add(v.line, path, "%s", err.Error())
		}
		return
	}
	switch typ.Kind() {
	case reflect.String:
		if v.kind != kindString {
			d.wrongType(v, path, typ)
			return
		}
		fv.SetString(v.text)
	case reflect.Bool:
		if v.kind != kindBool {
			d.wrongType(v, path, typ)
			return
		}
		fv.SetBool(v.text == "true")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.kind != kindInteger {
			d.wrongType(v, path, typ)
			return
		}
		n, err := strconv.ParseInt(strings.ReplaceAll(v.text, "_", ""), 0, 64)
		if err != nil || fv.OverflowInt(n) {
			d.add(v.line, path, "integer %s is out of range", v.text)
			return
		}
		fv.SetInt(n)
	case reflect.Struct:
		if v.kind != kindTable {
			d.wrongType(v, path, typ)
			return
		}
		d.decodeTable(v, fv, path)
	case reflect.Slice:
		if v.kind != kindArray {
			if v.kind == kindTable && v.header && typ.Elem().Kind() == reflect.Struct {
				d.add(v.line, path, "must be an array of tables: write [[%s]], not [%s]", path, path)
				return
			}
			d.wrongType(v, path, typ)
			return
		}
		s := reflect.MakeSlice(typ, len(v.items), len(v.items))
		for i, item := range v.items {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.doc.lines[p] = item.line
			d.decodeValue(item, s.Index(i), p)
		}
		fv.Set(s)
	default:
		// Only reachable by adding a field of a new type to Config.
		d.add(v.line, path, "cannot be set: this version does not support fields of type %s", typ)
	}
}

func (d *decoder) wrongType(v *tnode, path string, want reflect.Type) {
	d.add(v.line, path, "must be %s, not %s", describeType(want), v.describe())
}

// describeType says what a Go field wants, in TOML terms.
func describeType(typ reflect.Type) string {
	switch {
	case typ == durationType:
		return `a duration string like "15m"`
	case typ.Kind() == reflect.String:
		return "a string"
	case typ.Kind() == reflect.Bool:
		return "true or false"
	case typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Int64:
		return "an integer"
	case typ.Kind() == reflect.Struct:
		return "a table"
	case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Struct:
		return "an array of tables"
	case typ.Kind() == reflect.Slice:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(describeType(typ.Elem()), "a "), "an ") + "s"
	default:
		return typ.String()
	}
}

// suggest returns ` (did you mean "x"?)` for the known key of a struct type
// closest to an unknown key, or "" if none is close enough to be a typo.
// Failing that, it looks one table down, for a key written above its
// table's header (`time_zone` before `[site]` is a top-level key).
func suggest(key string, typ reflect.Type) string {
	best, bestDist := "", 3 // farther than 2 edits is not a typo
	for i := range typ.NumField() {
		name := tomlName(typ.Field(i))
		if name == "" {
			continue
		}
		dist := editDistance(strings.ToLower(key), name)
		if len(key) >= 4 && (strings.HasPrefix(name, key) || strings.HasPrefix(key, name)) {
			dist = min(dist, 2)
		}
		if dist < bestDist {
			best, bestDist = name, dist
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Type.Kind() != reflect.Struct || f.Type == durationType || tomlName(f) == "" {
			continue
		}
		if _, ok := fieldByKey(f.Type, key); ok {
			return fmt.Sprintf(" (did you mean %q, under [%s]?)", tomlName(f)+"."+key, tomlName(f))
		}
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// applyKindDefaults fills in the defaults of keys that depend on a
// cluster's kind or on other keys. A key written in the file is kept even
// when empty: `user_label = ""` means "no user label", not "the default".
func applyKindDefaults(cfg *Config, doc *document) {
	for i := range cfg.Clusters {
		c := &cfg.Clusters[i]
		p := fmt.Sprintf("cluster[%d].", i)
		unset := func(key string) bool { return !doc.has(p + key) }
		switch c.Kind {
		case KindSlurm:
			if unset("slurm_cluster") {
				c.SlurmCluster = c.Name
			}
			if unset("sacct_command") {
				c.SacctCommand = defaultSacctCommand
			}
			if unset("sacctmgr_command") {
				c.SacctmgrCommand = defaultSacctmgrCommand
			}
			if unset("overlap") {
				c.Overlap = Duration{defaultOverlap}
			}
			if unset("time_zone") {
				c.TimeZone = cfg.Site.TimeZone
			}
		case KindKubernetes:
			if unset("user_label") {
				c.UserLabel = defaultUserLabel
			}
		}
	}
}
