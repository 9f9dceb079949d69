package charts

import (
	"fmt"
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

// hatched renders o and reports, by series name, whether its segments and its
// legend swatch are hatched (a <path> drawn right after the shape).
func hatched(t *testing.T, o StackedBarsOptions) (segments, legend map[string]bool) {
	t.Helper()
	root := parse(t, o.SVG())
	segments, legend = map[string]bool{}, map[string]bool{}
	for _, g := range root.all("g") {
		for i, c := range g.Children {
			if c.XMLName.Local != "rect" {
				continue
			}
			next := i+1 < len(g.Children) && g.Children[i+1].XMLName.Local == "path"
			for _, ti := range c.all("title") {
				_, rest, _ := strings.Cut(ti.Text, " · ")
				if name, _, ok := strings.Cut(rest, ": "); ok {
					segments[name] = segments[name] || next
				}
			}
			if c.attr("rx") == "2" {
				for _, tx := range g.all("text") {
					legend[tx.Text] = next
				}
			}
		}
	}
	return segments, legend
}

// TestSharedColorIsHatched: two clusters whose names hash to one colour both
// keep it, and the one whose name sorts later is hatched, in its segments and
// its legend, whichever order they are stacked in; alone it is plain.
func TestSharedColorIsHatched(t *testing.T) {
	t.Parallel()
	const a, b = "gpu1", "hpc1" // the demo's clusters; a sorts first
	if Color(a) != Color(b) {
		t.Fatalf("test needs two keys of one colour: %s is %s, %s is %s", a, Color(a), b, Color(b))
	}
	for _, c := range []struct {
		name    string
		keys    []string
		hatched map[string]bool
	}{
		{"alone", []string{b}, map[string]bool{b: false}},
		{"plain one first", []string{a, b, "jhub"}, map[string]bool{a: false, b: true, "jhub": false}},
		{"plain one last", []string{"jhub", b, a}, map[string]bool{a: false, b: true, "jhub": false}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := StackedBarsOptions{XLabels: []string{"1", "2", "3"}, Series: seriesOf(c.keys...)}
			segs, legend := hatched(t, o)
			for k, want := range c.hatched {
				checkColor(t, o, k, Color(k))
				if segs[k] != want || legend[k] != want {
					t.Errorf("%s: segments hatched %v, legend hatched %v, want %v", k, segs[k], legend[k], want)
				}
			}
		})
	}
}

// TestTextures ranks series that share a colour by key: plain, one
// diagonal, the other, then crossed; series with a colour of their own stay
// plain.
func TestTextures(t *testing.T) {
	t.Parallel()
	// Four keys sharing a colour, found rather than assumed, in key order.
	var same []string
	for i := 0; len(same) < 4; i++ {
		k := fmt.Sprintf("c%03d", i)
		if len(same) == 0 || Color(k) == Color(same[0]) {
			same = append(same, k)
		}
	}
	ss := []Series{{Key: same[3]}, {Key: ledger.ResourceCPU}, {Key: same[1]}, {Key: same[0]}, {Key: same[2]}}
	got := textures(ss)
	want := []int{hatchCross, hatchNone, hatchDown, hatchNone, hatchUp}
	if !slices.Equal(got, want) {
		t.Errorf("textures of %v = %v, want %v", same, got, want)
	}
}
