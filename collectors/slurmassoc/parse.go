// Package slurmassoc syncs Slurm's association tree (sacctmgr) into the ledger's
// nested groups: a Slurm account becomes a group under its parent account's group, is
// mapped to it (kind "slurm", scope the cluster), and each user association becomes a
// membership of the user in the account's group.
//
// The sync reads the output of
//
//	sacctmgr --parsable2 show associations where cluster=NAME format=Cluster,Account,ParentName,User,Partition
//
// (header line included; fields in any order, extra fields ignored) with Parse, compares
// it with the ledger with Plan, and carries out the Changes with Apply. It never
// clobbers what people made by hand:
//
//   - An account already mapped to a group (by hand or by an earlier sync) keeps that
//     group. No group is ever renamed, and a group made by hand is never moved; when
//     its slug is the one an account would get, the account's new group gets a
//     suffixed slug.
//   - Only groups this cluster's sync created are moved when Slurm moves their account.
//   - Only memberships of origin "slurm:CLUSTER" are ever ended; manual ones (and those
//     of other clusters) are never touched.
//
// Slurm's "root" account maps to no group: its child accounts become top-level groups,
// and user associations in root itself give no membership.
package slurmassoc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Source is what quarantined association lines are filed under.
const Source = "slurm-accounts"

// RootAccount is Slurm's top account, the parent of every other.
const RootAccount = "root"

// Command is the sacctmgr command line whose output Parse reads (add
// "where cluster=NAME" to read one cluster only).
const Command = "sacctmgr --parsable2 show associations format=Cluster,Account,ParentName,User,Partition"

// Args are sacctmgr's arguments (the program itself is configurable: a wrapper
// may run it on the head node) that print one cluster's associations as Parse
// reads them. It must run as root, SlurmUser or a
// Slurm operator: with PrivateData, other users see only their own associations, and a
// sync of that would end everyone else's memberships.
func Args(cluster string) []string {
	return []string{"--parsable2", "show", "associations", "where", "cluster=" + cluster,
		"format=Cluster,Account,ParentName,User,Partition"}
}

// MaxLineBytes bounds a line; a longer one is rejected (its first MaxLineBytes kept).
const MaxLineBytes = 64 << 10

// Assoc is one association line of sacctmgr's output.
type Assoc struct {
	Line      int // line number in the input, from 1
	Cluster   string
	Account   string
	Parent    string // parent account, for an account association ("" for root)
	User      string // "" for an account association
	Partition string
}

// Tree is the associations read, per cluster.
type Tree struct {
	Assocs   []Assoc             // every association line read, in input order
	Clusters map[string]*Cluster // by cluster name
}

// Cluster is one cluster's account tree.
type Cluster struct {
	Name     string
	Accounts map[string]*Account // by account name, root included
}

// Account is a Slurm account with its parent and users.
type Account struct {
	Name string
	// Parent is the parent account: RootAccount for a top account, "" for root itself
	// and for an account that only user associations named (Declared false).
	Parent   string
	Declared bool     // the input has an account association (User empty) for it
	Line     int      // the line of that association (or of the first user association)
	Users    []string // users with an association in this account (any partition), sorted
}

// ClusterNames lists the clusters of the tree, sorted.
func (t Tree) ClusterNames() []string {
	names := make([]string, 0, len(t.Clusters))
	for n := range t.Clusters {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// fields Parse knows; the rest of a header is ignored.
const (
	fCluster = iota
	fAccount
	fParent
	fUser
	fPartition
	nFields
)

var fieldNames = [nFields]string{"Cluster", "Account", "ParentName", "User", "Partition"}

// fieldOf maps a normalised header name (lower case, no spaces or underscores) to a
// field. sacctmgr prints ParentName as "Par Name" and accepts abbreviations in format=,
// but its header always carries the full name below.
var fieldOf = map[string]int{
	"cluster":    fCluster,
	"account":    fAccount,
	"parname":    fParent,
	"parentname": fParent,
	"user":       fUser,
	"partition":  fPartition,
}

func normaliseHeader(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	return strings.NewReplacer(" ", "", "_", "", "\t", "").Replace(s)
}

// Parse reads sacctmgr's association output, header line first. A missing required
// field (Cluster, Account, ParentName, User) is an error naming it; a malformed data
// line becomes a Reject with its raw text and reason, and reading goes on. Every
// non-blank data line becomes exactly one Assoc or one Reject. Both sacctmgr -P
// (--parsable2) and -p (--parsable, a '|' at the end of each line) are read, and
// blanks around values (as in "show assoc tree") are dropped.
func Parse(r io.Reader) (Tree, []ledger.Reject, error) {
	t := Tree{Clusters: map[string]*Cluster{}}
	var rejects []ledger.Reject
	br := bufio.NewReaderSize(r, 64<<10)
	if b, _ := br.Peek(3); bytes.Equal(b, []byte("\uFEFF")) {
		br.Discard(3) // the byte order mark some editors write
	}

	var col [nFields]int // column of each field, -1 when absent
	ncols := 0
	trailing := false // -p: every line ends in '|'
	header := false
	for n := 1; ; n++ {
		line, long, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			return t, rejects, fmt.Errorf("read sacctmgr output: line %d: %w", n, err)
		}
		if len(line) == 0 && !long && errors.Is(err, io.EOF) {
			break // the end, or a last line that is empty
		}
		text := string(bytes.TrimSuffix(line, []byte("\r")))
		if !long && strings.TrimSpace(text) == "" {
			if errors.Is(err, io.EOF) {
				break
			}
			continue
		}
		if !header {
			if long {
				return t, rejects, fmt.Errorf("sacctmgr output: the header line is longer than %d bytes", MaxLineBytes)
			}
			col, ncols, trailing, err = parseHeader(text)
			if err != nil {
				return t, rejects, err
			}
			header = true
			continue
		}
		if a, reason := parseLine(text, long, col, ncols, trailing); reason != "" {
			rejects = append(rejects, reject(a.Cluster, text, n, reason))
		} else if reason := t.add(a, n); reason != "" {
			rejects = append(rejects, reject(a.Cluster, text, n, reason))
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	if !header {
		return t, rejects, fmt.Errorf("sacctmgr output is empty: it must start with its header line (made without -n/--noheader), e.g. from: %s", Command)
	}
	for _, c := range t.Clusters {
		for _, a := range c.Accounts {
			slices.Sort(a.Users)
			a.Users = slices.Compact(a.Users)
		}
	}
	return t, rejects, nil
}

// readLine reads one line and drops its newline. A line longer than MaxLineBytes is
// cut there (long is true) and the rest of it skipped.
func readLine(br *bufio.Reader) (line []byte, long bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if room := MaxLineBytes + 1 - len(line); len(chunk) > room {
			chunk = chunk[:room]
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		if len(line) > MaxLineBytes {
			line, long = line[:MaxLineBytes], true
		}
		return line, long, err
	}
}

func parseHeader(text string) (col [nFields]int, ncols int, trailing bool, err error) {
	names := strings.Split(text, "|")
	if len(names) > 1 && strings.TrimSpace(names[len(names)-1]) == "" {
		names, trailing = names[:len(names)-1], true
	}
	for i := range col {
		col[i] = -1
	}
	for i, name := range names {
		if f, ok := fieldOf[normaliseHeader(name)]; ok && col[f] < 0 {
			col[f] = i
		}
	}
	var missing []string
	for _, f := range [...]int{fCluster, fAccount, fParent, fUser} { // Partition is optional
		if col[f] < 0 {
			missing = append(missing, fieldNames[f])
		}
	}
	if len(missing) == 0 {
		return col, len(names), trailing, nil
	}
	msg := fmt.Sprintf("sacctmgr output lacks the field(s) %s in its header line %q", strings.Join(missing, ", "), clip(text, 200))
	switch {
	case len(missing) == 4:
		msg += " (is the header line missing? do not use -n/--noheader)"
	case slices.Contains(missing, "ParentName"):
		msg += " (sacctmgr's default format has no ParentName)"
	}
	return col, 0, false, fmt.Errorf("%s; save the associations with: %s", msg, Command)
}

// parseLine splits a data line into an association, or says why it cannot.
func parseLine(text string, long bool, col [nFields]int, ncols int, trailing bool) (Assoc, string) {
	var a Assoc
	vals := strings.Split(text, "|")
	if trailing && len(vals) == ncols+1 && strings.TrimSpace(vals[ncols]) == "" {
		vals = vals[:ncols]
	}
	if col[fCluster] < len(vals) {
		a.Cluster = strings.TrimSpace(vals[col[fCluster]]) // for the reject, if any
	}
	if long {
		return a, fmt.Sprintf("line longer than %d bytes", MaxLineBytes)
	}
	if len(vals) != ncols {
		return a, fmt.Sprintf("%d fields, want %d as in the header", len(vals), ncols)
	}
	get := func(f int) string {
		if col[f] < 0 {
			return ""
		}
		return strings.TrimSpace(vals[col[f]])
	}
	a.Account, a.Parent, a.User, a.Partition = get(fAccount), get(fParent), get(fUser), get(fPartition)
	for f, v := range [...]string{a.Cluster, a.Account, a.Parent, a.User, a.Partition} {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) || strings.ContainsFunc(v, isControl) {
			return a, fmt.Sprintf("%s is not printable UTF-8 text", fieldNames[f])
		}
	}
	switch {
	case a.Cluster == "":
		return a, "empty Cluster"
	case a.Account == "":
		return a, "empty Account"
	case a.User != "":
		// A user association: its account is Account; ParentName (empty in sacctmgr's
		// output) does not matter.
		a.Parent = ""
	case a.Account == RootAccount && a.Parent != "":
		return a, fmt.Sprintf("account root has parent %q", a.Parent)
	case a.Account != RootAccount && a.Parent == "":
		return a, fmt.Sprintf("account %q has no parent (empty ParentName)", a.Account)
	case a.Account == a.Parent:
		return a, fmt.Sprintf("account %q is its own parent", a.Account)
	}
	return a, ""
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// add puts an association into the tree, or says why it conflicts with one read before.
func (t *Tree) add(a Assoc, line int) string {
	a.Line = line
	c := t.Clusters[a.Cluster]
	if c == nil {
		c = &Cluster{Name: a.Cluster, Accounts: map[string]*Account{}}
		t.Clusters[a.Cluster] = c
	}
	acc := c.Accounts[a.Account]
	if a.User == "" {
		switch {
		case acc == nil:
			c.Accounts[a.Account] = &Account{Name: a.Account, Parent: a.Parent, Declared: true, Line: line}
		case !acc.Declared:
			acc.Parent, acc.Declared, acc.Line = a.Parent, true, line
		case acc.Parent != a.Parent:
			return fmt.Sprintf("account %q has parent %q on line %d, and %q here", a.Account, acc.Parent, acc.Line, a.Parent)
		}
	} else {
		if acc == nil {
			acc = &Account{Name: a.Account, Line: line}
			c.Accounts[a.Account] = acc
		}
		acc.Users = append(acc.Users, a.User)
	}
	t.Assocs = append(t.Assocs, a)
	return ""
}

func reject(cluster, raw string, line int, reason string) ledger.Reject {
	return ledger.Reject{Source: Source, Cluster: cluster, Raw: raw, Reason: fmt.Sprintf("line %d: %s", line, reason)}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
