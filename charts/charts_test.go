package charts

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// node is a generic XML element, enough to query rendered charts.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []node     `xml:",any"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// all returns the elements named local in document order.
func (n node) all(local string) []node {
	var out []node
	if n.XMLName.Local == local {
		out = append(out, n)
	}
	for _, c := range n.Children {
		out = append(out, c.all(local)...)
	}
	return out
}

// parse checks that s is one well-formed XML document rooted at <svg>, reading
// it token by token to the end, and returns its tree.
func parse(t *testing.T, s string) node {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	d.Strict = true
	depth, roots := 0, 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, s)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				roots++
				if tok.Name.Local != "svg" {
					t.Fatalf("root element is <%s>, want <svg>", tok.Name.Local)
				}
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	if roots != 1 || depth != 0 {
		t.Fatalf("want exactly one closed root element, got %d roots, depth %d", roots, depth)
	}
	var n node
	if err := xml.Unmarshal([]byte(s), &n); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return n
}

func days(n int) (labels, titles []string) {
	d := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		day := d.AddDate(0, 0, i)
		labels = append(labels, day.Format("2 Jan"))
		titles = append(titles, day.Format("2006-01-02"))
	}
	return labels, titles
}

func TestNiceTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		want   []float64
	}{
		{0, 0, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{0, 0.3, []float64{0, 0.1, 0.2, 0.3}},
		{0, 7, []float64{0, 2, 4, 6, 8}},
		{0, 10, []float64{0, 2, 4, 6, 8, 10}},
		{0, 1234, []float64{0, 500, 1000, 1500}},
		{0, 98765, []float64{0, 20000, 40000, 60000, 80000, 100000}},
		{-120, 1234, []float64{-500, 0, 500, 1000, 1500}},
		{-40, 0, []float64{-40, -30, -20, -10, 0}},
		{-42, 42, []float64{-60, -40, -20, 0, 20, 40, 60}},
		{0, 0.0042, []float64{0, 0.001, 0.002, 0.003, 0.004, 0.005}},
		{0, math.NaN(), []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.lo, "..", tt.hi), func(t *testing.T) {
			got := niceTicks(tt.lo, tt.hi)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("niceTicks(%v, %v) = %v, want %v", tt.lo, tt.hi, got, tt.want)
			}
		})
	}
}

// TestNiceTicksProperties checks the promises of niceTicks over many ranges.
func TestNiceTicksProperties(t *testing.T) {
	for _, hi := range []float64{0.01, 0.07, 0.3, 1, 3.3, 7, 9.99, 10, 11, 42, 99, 101, 640, 1234, 5000, 98765, 1e6, 3.7e9} {
		for _, lo := range []float64{0, -hi / 10, -hi} {
			ticks := niceTicks(lo, hi)
			most := 6
			if lo < 0 {
				most = 7
			}
			if len(ticks) < 4 || len(ticks) > most {
				t.Errorf("niceTicks(%v, %v) = %v: %d ticks, want 4–%d", lo, hi, ticks, len(ticks), most)
			}
			if ticks[0] > lo || ticks[len(ticks)-1] < hi || !slices.Contains(ticks, 0) {
				t.Errorf("niceTicks(%v, %v) = %v does not cover the range and zero", lo, hi, ticks)
			}
			step := ticks[1] - ticks[0]
			m := step / math.Pow10(int(math.Floor(math.Log10(step)+1e-9)))
			if r := math.Round(m); math.Abs(m-r) > 1e-6 || (r != 1 && r != 2 && r != 5) {
				t.Errorf("niceTicks(%v, %v) = %v: step %v is not 1, 2 or 5 × 10^n", lo, hi, ticks, step)
			}
		}
	}
}

func euro(v float64) string {
	s := strconv.FormatFloat(math.Abs(v), 'f', 2, 64)
	whole, frac, _ := strings.Cut(s, ".")
	for i := len(whole) - 3; i > 0; i -= 3 {
		whole = whole[:i] + "," + whole[i:]
	}
	sign := ""
	if v < 0 {
		sign = "−"
	}
	return sign + "€" + whole + "." + frac
}

func euro0(v float64) string { s := euro(v); return s[:len(s)-3] }

// sampleStacked is 30 days of spend on five resources with a daily budget.
func sampleStacked() StackedBarsOptions {
	labels, titles := days(30)
	names := []string{"CPU", "GPU", "High memory", "Storage", "Other"}
	keys := []string{ledger.ResourceCPU, ledger.ResourceGPU, ledger.ResourceMemory, ledger.ResourceStorage, OtherKey}
	base := []float64{180, 240, 60, 25, 12}
	var series []Series
	for s, name := range names {
		vals := make([]float64, 30)
		for i := range vals {
			wk := 1.0
			if d := (i + 6) % 7; d >= 5 { // 1 Nov 2026 is a Sunday
				wk = 0.45
			}
			wave := 1 + 0.35*math.Sin(float64(i*(s+2))/5)
			vals[i] = math.Round(base[s]*wk*wave*100) / 100
		}
		series = append(series, Series{Name: name, Key: keys[s], Values: vals})
	}
	series[1].Values[2] = 780  // a big GPU day
	series[4].Values[17] = -95 // a credit
	return StackedBarsOptions{
		Title: "Daily spend by resource", XLabels: labels, XTitles: titles,
		Series: series, FormatY: euro0, FormatValue: euro,
		Reference: &Reference{Value: 520, Label: "Budget €520/day"},
	}
}

func sampleHBars() HBarsOptions {
	groups := []string{"Physics", "Chemistry", "Genomics core", "Climate modelling", "Astronomy",
		"Materials science", "Neuroscience imaging", "Economics", "Linguistics", "Structural biology",
		"Mathematics", "Computer science teaching"}
	var rows []HBar
	for i, g := range groups {
		v := 14200 / (1 + float64(i)*0.7)
		rows = append(rows, HBar{Label: g, Value: math.Round(v*100) / 100, Secondary: math.Round(v*(0.8+0.4*math.Sin(float64(i)))*100) / 100})
	}
	return HBarsOptions{Title: "Spend by group, November 2026", Rows: rows, Format: euro0, ValueLabel: "November", SecondaryLabel: "October"}
}

// charts returns one of every kind of chart, including edge cases.
func allCharts() map[string]string {
	labels90, titles90 := days(90)
	many := make([]float64, 90)
	for i := range many {
		many[i] = float64(i%13) * 17.5
	}
	neg := sampleStacked()
	neg.Series = []Series{{Name: "Usage", Values: []float64{10, 20, -5}}, {Name: "Credit", Values: []float64{0, -30, 0}}}
	neg.XLabels, neg.XTitles = neg.XLabels[:3], neg.XTitles[:3]
	hneg := sampleHBars()
	hneg.Rows = append(hneg.Rows, HBar{Label: "Refunds", Value: -3000, Secondary: -100})
	return map[string]string{
		"stacked":          sampleStacked().SVG(),
		"stacked-90":       StackedBarsOptions{Title: "Daily core-hours", XLabels: labels90, XTitles: titles90, Series: []Series{{Name: "CPU", Values: many}}}.SVG(),
		"stacked-negative": neg.SVG(),
		"stacked-empty":    StackedBarsOptions{Title: "Daily spend"}.SVG(),
		"stacked-zeros":    StackedBarsOptions{XLabels: []string{"a", "b"}, Series: []Series{{Name: "x", Values: []float64{0, 0}}}}.SVG(),
		"stacked-nan":      StackedBarsOptions{XLabels: []string{"a", "b"}, Series: []Series{{Name: "x", Values: []float64{math.NaN(), math.Inf(1)}}}}.SVG(),
		"hbars":            sampleHBars().SVG(),
		"hbars-negative":   hneg.SVG(),
		"hbars-empty":      HBarsOptions{}.SVG(),
		"budget-under":     BudgetBarOptions{Title: "Chemistry", Spent: 1830, Budget: 2500, Projected: 2380, Format: euro0}.SVG(),
		"budget-over":      BudgetBarOptions{Title: "Physics", Spent: 1830, Budget: 2500, Projected: 2640, Format: euro0}.SVG(),
		"budget-spent":     BudgetBarOptions{Spent: 2700, Budget: 2500, Projected: 3100}.SVG(),
		"budget-none":      BudgetBarOptions{Spent: 120}.SVG(),
		"sparkline":        SparklineOptions{Title: "Daily spend"}.SVG([]float64{3, 5, 4, 8, 7, 9}),
		"sparkline-flat":   SparklineOptions{}.SVG([]float64{2, 2, 2}),
		"sparkline-one":    SparklineOptions{}.SVG([]float64{2}),
		"sparkline-empty":  SparklineOptions{}.SVG(nil),
	}
}

func TestWellFormedAndAccessible(t *testing.T) {
	for name, svg := range allCharts() {
		t.Run(name, func(t *testing.T) {
			root := parse(t, svg)
			if got := root.attr("role"); got != "img" {
				t.Errorf("role = %q, want img", got)
			}
			if root.attr("aria-label") == "" {
				t.Error("no aria-label")
			}
			if root.attr("viewBox") == "" || root.attr("font-family") != "inherit" {
				t.Error("missing viewBox or font-family=inherit")
			}
			if strings.Contains(svg, " style=") || strings.Contains(svg, "class=") || strings.Contains(svg, " id=") {
				t.Error("chart depends on CSS or uses ids")
			}
			if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
				t.Error("non-finite number in output")
			}
		})
	}
}

func TestTitles(t *testing.T) {
	root := parse(t, sampleStacked().SVG())
	var titles []string
	for _, n := range root.all("title") {
		titles = append(titles, n.Text)
	}
	for _, want := range []string{
		"2026-11-03 · GPU: €780.00",
		"2026-11-18 · Other: −€95.00",
		"Budget €520/day: €520.00",
	} {
		if !slices.Contains(titles, want) {
			t.Errorf("no <title> %q", want)
		}
	}
	desc := root.all("desc")
	if len(desc) != 1 || !strings.HasPrefix(desc[0].Text, "Daily spend by resource, 2026-11-01 to 2026-11-30 (30 days). Highest: 2026-11-03") {
		t.Errorf("desc = %+v", desc)
	}
	if got := root.attr("aria-label"); got != "Daily spend by resource" {
		t.Errorf("aria-label = %q", got)
	}

	h := parse(t, sampleHBars().SVG())
	if ts := h.all("title"); len(ts) != 12 || !strings.HasPrefix(ts[0].Text, "Physics: November €14,200 (October €") {
		t.Errorf("hbars titles: %d, first %+v", len(ts), ts[0])
	}
}

func TestEscapesLabels(t *testing.T) {
	const evil = `<script>alert("x")</script> & 'q'` + "\x00"
	svgs := map[string]string{
		"stacked": StackedBarsOptions{Title: evil, XLabels: []string{evil, "b"}, XTitles: []string{evil},
			Series: []Series{{Name: evil, Values: []float64{1, 2}}}, Reference: &Reference{Value: 1, Label: evil}}.SVG(),
		"hbars":     HBarsOptions{Title: evil, Rows: []HBar{{Label: evil, Value: 1}}, ValueLabel: evil, SecondaryLabel: evil}.SVG(),
		"budget":    BudgetBarOptions{Title: evil, Spent: 1, Budget: 2, Format: func(float64) string { return evil }}.SVG(),
		"sparkline": SparklineOptions{Title: evil}.SVG([]float64{1, 2}),
		"empty":     StackedBarsOptions{Title: evil, Empty: evil}.SVG(),
	}
	for name, svg := range svgs {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(svg, "<script") || strings.Contains(svg, `"x"`) || strings.Contains(svg, "\x00") {
				t.Fatalf("label not escaped:\n%s", svg)
			}
			parse(t, svg)
		})
	}
}

func TestEmptyState(t *testing.T) {
	for name, svg := range allCharts() {
		if !strings.HasSuffix(name, "-empty") && !strings.HasSuffix(name, "-zeros") && !strings.HasSuffix(name, "-nan") {
			continue
		}
		if strings.HasPrefix(name, "sparkline") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			root := parse(t, svg)
			if !slices.ContainsFunc(root.all("text"), func(n node) bool { return n.Text == EmptyText }) {
				t.Errorf("no %q text", EmptyText)
			}
			for _, c := range allSeriesColors() {
				if strings.Contains(svg, `fill="`+c+`"`) {
					t.Errorf("empty chart draws bars (fill %s)", c)
				}
			}
		})
	}
	custom := StackedBarsOptions{Title: "Spend", Empty: "Nothing yet"}.SVG()
	if !strings.Contains(custom, ">Nothing yet<") || !strings.Contains(custom, `aria-label="Spend: Nothing yet"`) {
		t.Errorf("custom empty text missing:\n%s", custom)
	}
}

func TestNegativeValues(t *testing.T) {
	o := StackedBarsOptions{
		Title: "Spend", XLabels: []string{"1", "2", "3"}, XNoun: "days",
		Series: []Series{{Name: "Usage", Values: []float64{10, 20, -5}}, {Name: "Credit", Values: []float64{0, -30, 0}}},
	}
	root := parse(t, o.SVG())
	desc := root.all("desc")[0].Text
	if !strings.Contains(desc, "Negative values (credits) on 2 of 3 days are drawn below the zero line.") {
		t.Errorf("desc does not mention credits: %q", desc)
	}
	// Find the zero line (the solid muted line across the plot) and check the
	// credit segments lie below it and the usage above.
	var zero float64 = -1
	for _, l := range root.all("line") {
		if l.attr("stroke") == colMuted && l.attr("y1") == l.attr("y2") {
			zero, _ = strconv.ParseFloat(l.attr("y1"), 64)
		}
	}
	if zero < 0 {
		t.Fatal("no zero line")
	}
	for _, r := range root.all("rect") {
		if len(r.Children) == 0 {
			continue
		}
		y, _ := strconv.ParseFloat(r.attr("y"), 64)
		h, _ := strconv.ParseFloat(r.attr("height"), 64)
		title := r.Children[0].Text
		negative := strings.Contains(title, ": -")
		if negative && math.Abs(y-zero) > 0.01 {
			t.Errorf("%q does not hang from zero (y=%v, zero=%v)", title, y, zero)
		}
		if !negative && math.Abs(y+h-zero) > 0.01 {
			t.Errorf("%q does not end at zero (y+h=%v, zero=%v)", title, y+h, zero)
		}
	}
	if !strings.Contains(o.SVG(), ">-30<") {
		t.Error("Y axis has no negative tick")
	}
}

func TestManyCategoriesThinLabels(t *testing.T) {
	for _, n := range []int{7, 30, 90, 366} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			labels, titles := days(n)
			vals := make([]float64, n)
			for i := range vals {
				vals[i] = float64(1 + i%5)
			}
			o := StackedBarsOptions{XLabels: labels, XTitles: titles, Series: []Series{{Name: "CPU", Values: vals}}}
			root := parse(t, o.SVG())
			var xs []float64
			var drawn []string
			for _, txt := range root.all("text") {
				if slices.Contains(labels, txt.Text) {
					x, _ := strconv.ParseFloat(txt.attr("x"), 64)
					xs = append(xs, x)
					drawn = append(drawn, txt.Text)
				}
			}
			if len(drawn) < 2 {
				t.Fatalf("only %d X labels drawn", len(drawn))
			}
			if drawn[0] != labels[0] {
				t.Errorf("first label drawn is %q, want %q", drawn[0], labels[0])
			}
			for i := 1; i < len(xs); i++ {
				need := (textWidth(drawn[i-1], fontSize) + textWidth(drawn[i], fontSize)) / 2
				if xs[i]-xs[i-1] < need {
					t.Errorf("labels %q and %q overlap: %v apart, need %v", drawn[i-1], drawn[i], xs[i]-xs[i-1], need)
				}
			}
			if n == 7 && len(drawn) != 7 {
				t.Errorf("7 days: %d labels drawn, want all", len(drawn))
			}
			if n == 90 && len(drawn) > 90/7+1 {
				t.Errorf("90 days: %d labels drawn, want at most weekly", len(drawn))
			}
			if got := len(root.all("title")); got != 2*n {
				t.Errorf("%d titles, want one per bar and one per segment (%d)", got, 2*n)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	a, b := allCharts(), allCharts()
	for name := range a {
		if a[name] != b[name] {
			t.Errorf("%s: two renders differ", name)
		}
	}
}

func TestComponentsMatchSVG(t *testing.T) {
	vals := []float64{1, 3, 2}
	tests := []struct {
		name string
		c    interface {
			Render(context.Context, io.Writer) error
		}
		want string
	}{
		{"stacked", StackedBars(sampleStacked()), sampleStacked().SVG()},
		{"hbars", HBars(sampleHBars()), sampleHBars().SVG()},
		{"budget", BudgetBar(BudgetBarOptions{Spent: 1, Budget: 2}), BudgetBarOptions{Spent: 1, Budget: 2}.SVG()},
		{"sparkline", Sparkline(vals, SparklineOptions{}), SparklineOptions{}.SVG(vals)},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := tt.c.Render(context.Background(), &buf); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if buf.String() != tt.want {
			t.Errorf("%s: component output differs from SVG()", tt.name)
		}
	}
}

func TestBudgetBar(t *testing.T) {
	over := BudgetBarOptions{Title: "Physics", Spent: 1830, Budget: 2500, Projected: 2640, Format: euro0}
	narrow := over
	narrow.Width = 220
	spentOver := BudgetBarOptions{Spent: 2700, Budget: 2500, Projected: 2900, Format: euro0, Width: 220}
	tests := []struct {
		name    string
		o       BudgetBarOptions
		label   string
		visible string // the caption drawn; "" means the same as label
		hatched bool
	}{
		{"under", BudgetBarOptions{Title: "Chemistry", Spent: 1830, Budget: 2500, Projected: 2380, Format: euro0},
			"Chemistry: €1,830 of €2,500 · projected €2,380", "€1,830 of €2,500 · projected €2,380", false},
		{"projected over", over,
			"Physics: €1,830 of €2,500 · projected €2,640, €140 over budget", "€1,830 of €2,500 · projected €2,640, €140 over budget", true},
		{"projected over, narrow", narrow,
			"Physics: €1,830 of €2,500 · projected €2,640, €140 over budget", "€1,830 of €2,500 · projected €140 over budget", true},
		{"spent over", BudgetBarOptions{Spent: 2700, Budget: 2500, Format: euro0},
			"€2,700 of €2,500, €200 over budget", "", false},
		{"spent over, narrow", spentOver,
			"€2,700 of €2,500 · projected €2,900, €200 over budget", "€2,700 of €2,500, €200 over budget", true},
		{"no budget", BudgetBarOptions{Spent: 120, Projected: 300, Format: euro0},
			"€120 spent · no budget · projected €300", "", false},
		{"nothing", BudgetBarOptions{}, "0 spent · no budget", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svg := tt.o.SVG()
			root := parse(t, svg)
			if got := root.attr("aria-label"); got != tt.label {
				t.Errorf("aria-label = %q, want %q", got, tt.label)
			}
			want := tt.visible
			if want == "" {
				want = tt.label
			}
			text := root.all("text")[0]
			got := text.Text
			for _, c := range text.Children {
				got += c.Text
			}
			if got != want {
				t.Errorf("caption = %q, want %q", got, want)
			}
			if hatched := strings.Contains(svg, `stroke-width="1.5" fill="none"`); hatched != tt.hatched {
				t.Errorf("hatched = %v, want %v", hatched, tt.hatched)
			}
		})
	}
}

func TestSparkline(t *testing.T) {
	svg := SparklineOptions{Title: "Daily spend", Format: euro0}.SVG([]float64{3, 5, 4, 8})
	root := parse(t, svg)
	if root.attr("width") != "100" || root.attr("height") != "24" {
		t.Errorf("sparkline size = %s×%s, want 100×24", root.attr("width"), root.attr("height"))
	}
	want := "Daily spend: from €3 to €8; low €3, high €8"
	if ts := root.all("title"); len(ts) != 1 || ts[0].Text != want {
		t.Errorf("title = %+v, want %q", ts, want)
	}
	if pts := root.all("polyline"); len(pts) != 1 || len(strings.Fields(pts[0].attr("points"))) != 4 {
		t.Errorf("want one polyline of 4 points, got %+v", pts)
	}
}
