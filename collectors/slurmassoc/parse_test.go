package slurmassoc_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/parsimony-hpc/parsimony/collectors/slurmassoc"
	"github.com/parsimony-hpc/parsimony/ledger"
)

// describe writes a tree as sorted lines "cluster account<parent [users]", with "*" after
// the account when only user associations named it.
func describe(t slurmassoc.Tree) string {
	var lines []string
	for _, c := range t.Clusters {
		for _, a := range c.Accounts {
			mark := ""
			if !a.Declared {
				mark = "*"
			}
			lines = append(lines, fmt.Sprintf("%s %s%s<%s %v", c.Name, a.Name, mark, a.Parent, a.Users))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

func reasons(rejects []ledger.Reject) []string {
	var out []string
	for _, r := range rejects {
		out = append(out, r.Reason)
	}
	return out
}

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		input   string
		want    string   // describe of the tree
		assocs  int      // associations read
		rejects []string // reasons, in order
	}{
		{
			name: "fields in any order, extra fields ignored",
			input: "User|Share|Partition|Par Name|QOS|Account|Cluster|Def QOS\n" +
				"|1||||root|c1|\n" +
				"|1||root|normal|phys|c1|\n" +
				"alice|1|gpu||normal|phys|c1|normal\n",
			want:   "c1 phys<root [alice]\nc1 root< []",
			assocs: 3,
		},
		{
			name:   "ParentName spelled in full, lower-case header",
			input:  "cluster|account|parentname|user\nc1|root||\nc1|a|root|\nc1|b|a|\nc1|b||u1\n",
			want:   "c1 a<root []\nc1 b<a [u1]\nc1 root< []",
			assocs: 4,
		},
		{
			name:   "sacctmgr -p: a bar at the end of every line",
			input:  "Cluster|Account|Par Name|User|\nc1|root|||\nc1|a|root||\nc1|a||u1|\n",
			want:   "c1 a<root [u1]\nc1 root< []",
			assocs: 3,
		},
		{
			name:   "partition associations give one membership",
			input:  "Cluster|Account|Par Name|User|Partition\nc1|a|root||\nc1|a||u1|cpu\nc1|a||u1|gpu\nc1|a||u2|\n",
			want:   "c1 a<root [u1 u2]",
			assocs: 4,
		},
		{
			name:   "blanks around values (sacctmgr show assoc tree), blank lines, CRLF, BOM",
			input:  "\uFEFFCluster|Account|Par Name|User\r\n\r\nc1| root||\r\nc1|  a|root|\r\n  \r\nc1|    b|a|\r\nc1|    b|| u1\r\n",
			want:   "c1 a<root []\nc1 b<a [u1]\nc1 root< []",
			assocs: 4,
		},
		{
			name:   "a user association before its account's, and one whose account has none",
			input:  "Cluster|Account|Par Name|User\nc1|a||u1\nc1|a|root|\nc1|lone||u2\n",
			want:   "c1 a<root [u1]\nc1 lone*< [u2]",
			assocs: 3,
		},
		{
			name:   "a user association's ParentName is ignored",
			input:  "Cluster|Account|Par Name|User\nc1|a|root|\nc1|a|root|u1\n",
			want:   "c1 a<root [u1]",
			assocs: 2,
		},
		{
			name:   "several clusters",
			input:  "Cluster|Account|Par Name|User\nc1|a|root|\nc2|a|b|\nc2|b|root|\n",
			want:   "c1 a<root []\nc2 a<b []\nc2 b<root []",
			assocs: 3,
		},
		{
			name: "malformed lines are rejected, the rest read",
			input: "Cluster|Account|Par Name|User\n" +
				"c1|a|root|\n" +
				"c1|a|root\n" + // too few fields
				"c1|a|root|u1|x\n" + // too many
				"c1||root|\n" + // no account
				"|a|root|\n" + // no cluster
				"c1|b||\n" + // an account without a parent
				"c1|root|x|\n" + // root with a parent
				"c1|c|c|\n" + // its own parent
				"c1|a|other|\n" + // a second parent
				"c1|a|root|\n" + // the same again: fine
				"c1|d|root|u\xff\n" + // not UTF-8
				"c1|d|root|u\tv\n" + // a control character
				"c1|a||u2\n",
			want:   "c1 a<root [u2]",
			assocs: 3,
			rejects: []string{
				"line 3: 3 fields, want 4 as in the header",
				"line 4: 5 fields, want 4 as in the header",
				"line 5: empty Account",
				"line 6: empty Cluster",
				`line 7: account "b" has no parent (empty ParentName)`,
				`line 8: account root has parent "x"`,
				`line 9: account "c" is its own parent`,
				`line 10: account "a" has parent "root" on line 2, and "other" here`,
				"line 12: User is not printable UTF-8 text",
				"line 13: User is not printable UTF-8 text",
			},
		},
		{
			name:   "a line longer than MaxLineBytes",
			input:  "Cluster|Account|Par Name|User\nc1|a|root|\nc1|a||" + strings.Repeat("x", slurmassoc.MaxLineBytes) + "\nc1|a||u1\n",
			want:   "c1 a<root [u1]",
			assocs: 2,
			rejects: []string{
				fmt.Sprintf("line 3: line longer than %d bytes", slurmassoc.MaxLineBytes),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tree, rejects, err := slurmassoc.Parse(strings.NewReader(tc.input))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := describe(tree); got != tc.want {
				t.Errorf("tree:\n%s\nwant:\n%s", got, tc.want)
			}
			if len(tree.Assocs) != tc.assocs {
				t.Errorf("%d associations, want %d: %+v", len(tree.Assocs), tc.assocs, tree.Assocs)
			}
			if got := reasons(rejects); !slices.Equal(got, tc.rejects) {
				t.Errorf("rejects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.rejects, "\n"))
			}
			for _, r := range rejects {
				if r.Source != slurmassoc.Source || strings.TrimSpace(r.Raw) == "" {
					t.Errorf("reject %+v: want source %s and the raw line", r, slurmassoc.Source)
				}
			}
		})
	}
}

func TestParseHeaderErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		input string
		want  []string // substrings of the error
	}{
		{"no ParentName", "Cluster|Account|User|Partition\nc1|a||\n",
			[]string{"ParentName", "default format has no ParentName", slurmassoc.Command}},
		{"no Cluster", "Account|Par Name|User\na|root|\n", []string{"field(s) Cluster in", slurmassoc.Command}},
		{"no User nor Account", "Cluster|Par Name\nc1|root\n", []string{"field(s) Account, User in"}},
		{"made with --noheader", "c1|root|||\nc1|a|root||\n", []string{"Cluster, Account, ParentName, User", "--noheader"}},
		{"empty input", "", []string{"empty", "header line"}},
		{"blank input", "\n  \n", []string{"empty"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := slurmassoc.Parse(strings.NewReader(tc.input))
			if err == nil {
				t.Fatal("Parse: no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// TestParseDefaultFormat: the output of plain `sacctmgr -P show assoc` has no
// ParentName, and the error says which command gives it.
func TestParseDefaultFormat(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/default-format.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, _, err = slurmassoc.Parse(f)
	if err == nil || !strings.Contains(err.Error(), "lacks the field(s) ParentName") ||
		!strings.Contains(err.Error(), "format=Cluster,Account,ParentName,User,Partition") {
		t.Fatalf("Parse of the default format: %v, want an error naming ParentName and the command", err)
	}
}

func TestParseFixture(t *testing.T) {
	t.Parallel()
	tree := parseFile(t, "testdata/testbed-assoc.txt")
	want := strings.Join([]string{
		"testbed bio-genomics<biology [bob dave]",
		"testbed bio-imaging<biology [frank]",
		"testbed biology<root []",
		"testbed phys-astro<physics [bob]",
		"testbed phys-qlab<physics [alice carol]",
		"testbed physics<root [erin]",
		"testbed qlab-sim<phys-qlab [carol]",
		"testbed root< [root]",
	}, "\n")
	if got := describe(tree); got != want {
		t.Errorf("tree:\n%s\nwant:\n%s", got, want)
	}
	if len(tree.Assocs) != 19 {
		t.Errorf("%d associations, want 19", len(tree.Assocs))
	}
	if got := tree.ClusterNames(); !slices.Equal(got, []string{"testbed"}) {
		t.Errorf("clusters %v", got)
	}
}

func parseFile(t *testing.T, path string) slurmassoc.Tree {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tree, rejects, err := slurmassoc.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(rejects) > 0 {
		t.Fatalf("rejects: %v", reasons(rejects))
	}
	return tree
}
