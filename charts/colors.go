package charts

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// A series' colour is a function of what it is (its Key), never of where it
// sits in the series list. Colours used to follow position, so a resource
// changed colour whenever a series before it had no data: storage was pink
// next to GPU spend and green on a page without any. A reader learns "storage
// is pink" once and it must hold on every chart and in every period.

// OtherKey is the Key of the series that merges the smallest ones ("Other").
// It cannot be a cluster's or a resource's name, and it is always grey.
const OtherKey = "(other)"

// resourceColors gives each ledger resource its own colour from the
// Okabe & Ito (2008) "Color Universal Design" palette, which readers with the
// common colour vision deficiencies can tell apart. The assignment is the one
// the dashboard showed when every resource had spend, so the usual picture
// does not change. A resource added to the ledger must be added here (a test
// checks every ledger.Resources() has a colour of its own).
var resourceColors = map[string]string{
	ledger.ResourceCPU:     "#0072B2", // blue
	ledger.ResourceGPU:     "#E69F00", // orange
	ledger.ResourceMemory:  "#009E73", // bluish green
	ledger.ResourceStorage: "#CC79A7", // reddish purple
	ledger.ResourceBilling: "#56B4E9", // sky blue
}

// colOther is Okabe–Ito's black replaced by a neutral grey, which suits an
// "Other" series and keeps text the darkest thing on the chart.
const colOther = "#999999"

// keyPalette colours every other key (clusters, and any series a caller names
// itself): Paul Tol's "muted" qualitative scheme without its pale grey, also
// designed to stay distinct under colour vision deficiencies, and a different
// family from the resource colours so a cluster is not mistaken for a resource.
var keyPalette = [...]string{
	"#332288", // indigo
	"#88CCEE", // cyan
	"#44AA99", // teal
	"#117733", // green
	"#999933", // olive
	"#DDCC77", // sand
	"#CC6677", // rose
	"#882255", // wine
	"#AA4499", // purple
}

// Color returns the fill colour of the series with the given key, so a page can
// draw swatches that match a chart (e.g. in the table beside it).
//
// A known resource (ledger.Resources()) has a fixed colour; OtherKey is grey;
// any other key, such as a cluster name, is hashed (FNV-1a) into keyPalette.
//
// Why a hash and not an order of the site's clusters: an order needs the full
// list of every cluster the site has ever had, which nothing keeps in one place
// (the configuration misses clusters fed by the ingest API and agents), and it
// shifts when a cluster is added. The hash depends on the name alone, so a
// cluster keeps its colour when others appear, disappear or are added to the
// site. The price is that two clusters can share a colour (1 in 9 for a given
// pair; the demo's hpc1 and gpu1 do). Such a collision is not resolved by
// giving one of them another colour, which would make a colour depend on its
// neighbours again: both keep their colour, and a chart that holds both draws
// all but one of them hatched (see textures), so they stay apart on screen and
// in greyscale print.
func Color(key string) string {
	if c, ok := resourceColors[key]; ok {
		return c
	}
	if key == OtherKey {
		return colOther
	}
	h := fnv.New32a()
	h.Write([]byte(key)) // a hash.Hash never fails
	return keyPalette[h.Sum32()%uint32(len(keyPalette))]
}

// key is what s is: its Key, or its Name when it has no Key.
func (s Series) key() string {
	if s.Key == "" {
		return s.Name
	}
	return s.Key
}

// color is the colour of s.
func (s Series) color() string { return Color(s.key()) }

// Hatchings that tell apart series of one chart that share a colour.
const (
	hatchNone  = 0
	hatchDown  = 1 // lines falling left to right, like a backslash
	hatchUp    = 2 // lines rising left to right, like a slash
	hatchCross = hatchDown | hatchUp
)

// textures returns, for each series, how to hatch it: series that share a
// colour are ranked by key, the first stays plain and the others get hatchDown,
// hatchUp, then hatchCross. Ranking by key rather than by place keeps the
// choice the same whatever order the caller stacks the series in; the colour
// itself never changes.
func textures(ss []Series) []int {
	byColor := map[string][]int{}
	for i, s := range ss {
		byColor[s.color()] = append(byColor[s.color()], i)
	}
	tex := make([]int, len(ss))
	for _, idx := range byColor {
		slices.SortStableFunc(idx, func(a, b int) int { return strings.Compare(ss[a].key(), ss[b].key()) })
		for rank, i := range idx {
			tex[i] = min(rank, hatchCross)
		}
	}
	return tex
}

// hatchGap is the distance between hatch lines along the X axis. Lines sit at
// fixed positions of the chart, not of each bar, so the hatching of one series
// lines up across days like a single fabric.
const hatchGap = 4.0

// hatch draws diagonal white lines over the rectangle at (x, y) of size w×h,
// clipped by arithmetic rather than a clipPath, which would need an element id.
// The lines ignore the pointer so the rectangle's hover text still shows.
func (b *builder) hatch(x, y, w, h float64, tex int) {
	if tex == hatchNone || w <= 0 || h <= 0 {
		return
	}
	var d strings.Builder
	seg := func(xa, ya, xb, yb float64) {
		fmt.Fprintf(&d, "M%s %sL%s %s", num(xa), num(ya), num(xb), num(yb))
	}
	x1, y1 := x+w, y+h
	if tex&hatchDown != 0 { // lines x - y = k
		for k := math.Ceil((x-y1)/hatchGap) * hatchGap; k < x1-y; k += hatchGap {
			lo, hi := math.Max(y, x-k), math.Min(y1, x1-k)
			if lo < hi {
				seg(lo+k, lo, hi+k, hi)
			}
		}
	}
	if tex&hatchUp != 0 { // lines x + y = k
		for k := math.Ceil((x+y)/hatchGap) * hatchGap; k < x1+y1; k += hatchGap {
			lo, hi := math.Max(y, k-x1), math.Min(y1, k-x)
			if lo < hi {
				seg(k-lo, lo, k-hi, hi)
			}
		}
	}
	if d.Len() > 0 {
		b.printf(`<path d="%s" fill="none" stroke="#fff" stroke-width="1.25" stroke-opacity=".7" pointer-events="none"/>`, d.String())
	}
}
