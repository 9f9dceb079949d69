package charts

import (
	"hash/fnv"

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
// pair). That collision is deliberately not resolved by looking at the other
// series of a chart, which would make a colour depend on its neighbours again;
// such a pair stays readable through the legend, the hover titles and the white
// line between stacked segments.
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

// color is the colour of s: its Key's, or its Name's when it has no Key.
func (s Series) color() string {
	if s.Key == "" {
		return Color(s.Name)
	}
	return Color(s.Key)
}
