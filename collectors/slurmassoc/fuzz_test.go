package slurmassoc

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// FuzzParse feeds Parse arbitrary input (the seeds under testdata/fuzz/FuzzParse are
// the tricky cases) and checks that it never panics, that every non-blank data line
// becomes exactly one association or one reject, that what it read is a tree Plan
// can order (or a cycle it names), and that every account gets a valid slug.
func FuzzParse(f *testing.F) {
	f.Add([]byte("Cluster|Account|Par Name|User|Partition\nc1|root|||\nc1|a|root||\nc1|a||u1|gpu\n"))
	f.Add([]byte("User|Account|Cluster|ParentName|\n|b|c1|a|\nu|b|c1||\n|a|c1|b|\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tree, rejects, err := Parse(bytes.NewReader(data))
		if err != nil {
			return // no usable header line
		}
		if n := dataLines(data); len(tree.Assocs)+len(rejects) != n {
			t.Fatalf("%d associations and %d rejects from %d data lines", len(tree.Assocs), len(rejects), n)
		}
		for _, r := range rejects {
			if !strings.HasPrefix(r.Reason, "line ") || r.Source != Source || strings.TrimSpace(r.Raw) == "" && len(r.Raw) < MaxLineBytes {
				t.Errorf("reject %+v", r)
			}
		}
		for _, a := range tree.Assocs {
			for _, v := range []string{a.Cluster, a.Account, a.Parent, a.User, a.Partition} {
				if !utf8.ValidString(v) || strings.ContainsRune(v, 0) || v != strings.TrimSpace(v) {
					t.Errorf("association %+v holds %q", a, v)
				}
			}
			if a.Cluster == "" || a.Account == "" {
				t.Errorf("association %+v without cluster or account", a)
			}
			c := tree.Clusters[a.Cluster]
			if c == nil || c.Accounts[a.Account] == nil {
				t.Fatalf("association %+v is not in the tree", a)
			}
		}
		for _, c := range tree.Clusters {
			order, err := c.ordered()
			if err != nil {
				if !strings.Contains(err.Error(), "circle") {
					t.Errorf("ordered: %v", err)
				}
				continue
			}
			pos := map[string]int{}
			for i, a := range order {
				pos[a.Name] = i
				if !ledger.ValidSlug(slugFor(a.Name)) {
					t.Errorf("account %q gets slug %q", a.Name, slugFor(a.Name))
				}
			}
			for _, a := range order {
				if p, ok := pos[a.Parent]; ok && p >= pos[a.Name] {
					t.Errorf("account %s comes before its parent %s", a.Name, a.Parent)
				}
			}
			if want := len(c.Accounts) - count(c.Accounts[RootAccount] != nil); len(order) != want {
				t.Errorf("%d accounts ordered, want %d", len(order), want)
			}
		}
	})
}

// dataLines counts the lines after the header that are not blank, as Parse sees them.
func dataLines(data []byte) int {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	header := false
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if len(line) <= MaxLineBytes && strings.TrimSpace(strings.TrimSuffix(line, "\r")) == "" {
			continue
		}
		if !header {
			header = true
			continue
		}
		n++
	}
	return n
}

func count(b bool) int {
	if b {
		return 1
	}
	return 0
}
