package charts

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// allSeriesColors lists every colour a series can have.
func allSeriesColors() []string {
	cs := append(slices.Collect(maps.Values(resourceColors)), colOther)
	return append(cs, keyPalette[:]...)
}

// drawnColors renders o and returns, by series name, the fills of its stacked
// segments and of its legend swatch, so a test can check a series is drawn in
// one colour and its legend matches.
func drawnColors(t *testing.T, o StackedBarsOptions) (segments map[string][]string, legend map[string]string) {
	t.Helper()
	root := parse(t, o.SVG())
	segments, legend = map[string][]string{}, map[string]string{}
	for _, r := range root.all("rect") {
		// A segment's hover text is "<day> · <series>: <value>".
		for _, ti := range r.all("title") {
			_, rest, ok := strings.Cut(ti.Text, " · ")
			name, _, ok2 := strings.Cut(rest, ": ")
			if ok && ok2 {
				segments[name] = append(segments[name], r.attr("fill"))
			}
		}
	}
	for _, g := range root.all("g") {
		// A legend entry is a group of a rounded swatch and its text.
		var swatch, text string
		for _, c := range g.Children {
			switch {
			case c.XMLName.Local == "rect" && c.attr("rx") == "2":
				swatch = c.attr("fill")
			case c.XMLName.Local == "text":
				text = c.Text
			}
		}
		if swatch != "" && text != "" {
			legend[text] = swatch
		}
	}
	return segments, legend
}

// seriesOf builds one series per key, named after the key, with spend on
// every one of three days.
func seriesOf(keys ...string) []Series {
	var ss []Series
	for i, k := range keys {
		ss = append(ss, Series{Name: k, Key: k, Values: []float64{float64(i + 1), 2, 3}})
	}
	return ss
}

// checkColor asserts that the series name is drawn, in every segment and in its
// legend swatch, in want.
func checkColor(t *testing.T, o StackedBarsOptions, name, want string) {
	t.Helper()
	segs, legend := drawnColors(t, o)
	if len(segs[name]) == 0 {
		t.Fatalf("no segments of %q drawn", name)
	}
	for _, c := range segs[name] {
		if c != want {
			t.Errorf("segment of %q is %s, want %s", name, c, want)
		}
	}
	if legend[name] != want {
		t.Errorf("legend swatch of %q is %q, want %s (legend %v)", name, legend[name], want, legend)
	}
}

// TestResourceColorIgnoresOtherSeries: storage (and every resource) has the
// same colour alone, first, last and among any other series — the bug was
// storage drawn green when GPU had no spend and pink when it had.
func TestResourceColorIgnoresOtherSeries(t *testing.T) {
	t.Parallel()
	st := ledger.ResourceStorage
	sets := []struct {
		name string
		keys []string
	}{
		{"alone", []string{st}},
		{"first", []string{st, ledger.ResourceCPU, ledger.ResourceGPU}},
		{"last", []string{ledger.ResourceCPU, ledger.ResourceMemory, st}},
		{"no gpu", []string{ledger.ResourceCPU, ledger.ResourceMemory, st, ledger.ResourceBilling}},
		{"every resource", ledger.Resources()},
		{"with other", []string{ledger.ResourceGPU, st, OtherKey}},
	}
	want := Color(st)
	for _, set := range sets {
		t.Run(set.name, func(t *testing.T) {
			o := StackedBarsOptions{XLabels: []string{"1", "2", "3"}, Series: seriesOf(set.keys...)}
			checkColor(t, o, st, want)
			for _, k := range set.keys {
				checkColor(t, o, k, Color(k))
			}
		})
	}
}

// TestClusterColorIgnoresOtherClusters: a cluster keeps its colour when
// another cluster appears in or disappears from the chart, whatever its place.
func TestClusterColorIgnoresOtherClusters(t *testing.T) {
	t.Parallel()
	sets := []struct {
		name string
		keys []string
	}{
		{"alone", []string{"hpc"}},
		{"a second appears after", []string{"hpc", "gpu-2024"}},
		{"a second appears before", []string{"gpu-2024", "hpc"}},
		{"a third appears", []string{"ada", "gpu-2024", "hpc"}},
		{"one disappears", []string{"ada", "hpc"}},
		{"with other", []string{"hpc", "ada", OtherKey}},
	}
	want := Color("hpc")
	for _, set := range sets {
		t.Run(set.name, func(t *testing.T) {
			checkColor(t, StackedBarsOptions{XLabels: []string{"1", "2", "3"}, Series: seriesOf(set.keys...)}, "hpc", want)
		})
	}
}

// TestColor pins the colours themselves: a change here changes what every
// reader has learnt (storage is pink, hpc is indigo), so it must be deliberate.
func TestColor(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ key, want string }{
		{ledger.ResourceCPU, "#0072B2"},
		{ledger.ResourceGPU, "#E69F00"},
		{ledger.ResourceMemory, "#009E73"},
		{ledger.ResourceStorage, "#CC79A7"},
		{ledger.ResourceBilling, "#56B4E9"},
		{OtherKey, "#999999"},
		{"hpc", "#332288"},
		{"gpu-2024", "#AA4499"},
	} {
		if got := Color(c.key); got != c.want {
			t.Errorf("Color(%q) = %s, want %s", c.key, got, c.want)
		}
	}
}

// TestResourcesHaveOwnColors: every resource the ledger knows has a colour of
// its own, distinct from every other series colour, so a resource added to
// the ledger without one fails here rather than being hashed.
func TestResourcesHaveOwnColors(t *testing.T) {
	t.Parallel()
	seen := map[string]string{colOther: OtherKey}
	for _, k := range keyPalette {
		seen[k] = "keyPalette"
	}
	if len(seen) != len(keyPalette)+1 {
		t.Fatalf("keyPalette repeats a colour or holds grey")
	}
	for _, r := range ledger.Resources() {
		c, ok := resourceColors[r]
		if !ok {
			t.Errorf("resource %q has no fixed colour", r)
			continue
		}
		if other, dup := seen[c]; dup {
			t.Errorf("resource %q shares %s with %s", r, c, other)
		}
		seen[c] = r
	}
}

// TestKeyDefaultsToName: a series without a Key is coloured by its Name, so
// it too keeps its colour wherever it is placed.
func TestKeyDefaultsToName(t *testing.T) {
	t.Parallel()
	o := StackedBarsOptions{XLabels: []string{"1"}, Series: []Series{
		{Name: "Usage", Values: []float64{1}}, {Name: "Credit", Values: []float64{-1}}}}
	checkColor(t, o, "Credit", Color("Credit"))
	o.Series[0], o.Series[1] = o.Series[1], o.Series[0]
	checkColor(t, o, "Credit", Color("Credit"))
}
