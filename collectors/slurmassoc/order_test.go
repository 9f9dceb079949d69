package slurmassoc

import (
	"fmt"
	"strings"
	"testing"
)

// TestOrderedDeepChain: a chain of accounts, given child first, is ordered parents
// first in linear time, and a circle is named.
func TestOrderedDeepChain(t *testing.T) {
	t.Parallel()
	const n = 100_000
	var b strings.Builder
	b.WriteString("Cluster|Account|Par Name|User\n")
	for i := n - 1; i >= 1; i-- {
		fmt.Fprintf(&b, "c|a%d|a%d|\n", i, i-1)
	}
	b.WriteString("c|a0|root|\n")
	tree, rejects, err := Parse(strings.NewReader(b.String()))
	if err != nil || len(rejects) > 0 {
		t.Fatal(err, rejects)
	}
	order, err := tree.Clusters["c"].ordered()
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range order {
		if want := fmt.Sprintf("a%d", i); a.Name != want {
			t.Fatalf("order[%d] = %s, want %s", i, a.Name, want)
		}
	}

	tree, _, err = Parse(strings.NewReader("Cluster|Account|Par Name|User\nc|x|root|\nc|a|b|\nc|b|c|\nc|c|a|\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = tree.Clusters["c"].ordered()
	if err == nil || !strings.Contains(err.Error(), "go round in a circle: ") {
		t.Fatalf("ordered: %v, want a circle", err)
	}
	t.Log(err)
}
