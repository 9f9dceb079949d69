package charts

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/a-h/templ"
)

// Series is one named row of values, one value per category.
type Series struct {
	Name string
	// Key says what the series is and so picks its colour (see Color): a
	// ledger resource ("cpu"), a cluster's name, or OtherKey. Without a Key
	// the Name is the key.
	Key    string
	Values []float64
}

// Reference is a horizontal line across a chart, such as the daily budget.
type Reference struct {
	Value float64
	Label string // drawn above the line's right end, e.g. "Budget €80/day"
}

// StackedBarsOptions describes a stacked bar chart with one bar per category
// (typically a day) and one stacked segment per series.
//
// Series are stacked bottom-up in the order given, and the legend follows that
// order. Colours follow each series' Key, not its place (see Color); merge the
// smallest series into one with Key OtherKey, placed last, which is grey.
//
// Negative values (credits) are stacked downwards from the zero line, and the
// axis extends below zero to show them; the description says how many
// categories have them. A chart with no categories, or only zero values, shows
// the Empty text instead.
type StackedBarsOptions struct {
	// Title names the chart for screen readers (aria-label) and begins the
	// generated description, e.g. "Daily spend by resource".
	Title string
	// Desc, if set, replaces the generated description of the data.
	Desc string

	// XLabels are the categories' short axis labels ("3 Nov"); their number
	// sets the number of bars. Labels are thinned out so they do not overlap;
	// an empty label is never drawn.
	XLabels []string
	// XTitles are the categories' full names for hover text and the
	// description ("Tue 3 November 2026"); missing entries fall back to XLabels.
	XTitles []string
	// XNoun is the plural noun for categories in the description; default "days".
	XNoun string
	// LabelEvery draws every n-th X label, starting with the first; 0 chooses
	// the smallest of 1, 2, 7, 14, 28, … that avoids overlaps.
	LabelEvery int

	Series []Series

	// FormatY formats axis ticks ("€1,500", "3k core-h"); default 1.2k style.
	FormatY func(float64) string
	// FormatValue formats values in hover text and the description
	// ("€412.50"); default FormatY.
	FormatValue func(float64) string

	Reference *Reference // optional horizontal line

	Width, Height float64 // viewBox size; default 960×320, legend included
	Empty         string  // empty-state text; default EmptyText
}

// StackedBars renders opts as a templ.Component.
func StackedBars(opts StackedBarsOptions) templ.Component { return component(opts.SVG) }

// SVG returns the chart as an <svg> element.
func (o StackedBarsOptions) SVG() string {
	W, H := o.Width, o.Height
	if W <= 0 {
		W = 960
	}
	if H <= 0 {
		H = 320
	}
	fy := o.FormatY
	if fy == nil {
		fy = compact
	}
	fv := o.FormatValue
	if fv == nil {
		fv = fy
	}
	label := o.Title
	if label == "" {
		label = "Stacked bar chart"
	}
	n := len(o.XLabels)
	xtitle := func(i int) string {
		if i < len(o.XTitles) && o.XTitles[i] != "" {
			return o.XTitles[i]
		}
		return o.XLabels[i]
	}
	val := func(s, i int) float64 {
		if i < len(o.Series[s].Values) {
			return finite(o.Series[s].Values[i])
		}
		return 0
	}

	// Stack extents per category.
	pos := make([]float64, n)
	neg := make([]float64, n)
	nonzero := false
	for i := range n {
		for s := range o.Series {
			v := val(s, i)
			if v > 0 {
				pos[i] += v
			} else {
				neg[i] += v
			}
			nonzero = nonzero || v != 0
		}
	}

	var b builder
	if !nonzero {
		msg := o.Empty
		if msg == "" {
			msg = EmptyText
		}
		b.open(W, H, label+": "+msg, "", false)
		b.empty(W, H, msg)
		b.close()
		return b.String()
	}

	lo, hi := 0.0, 0.0
	for i := range n {
		hi = math.Max(hi, pos[i])
		lo = math.Min(lo, neg[i])
	}
	if o.Reference != nil {
		r := finite(o.Reference.Value)
		hi, lo = math.Max(hi, r), math.Min(lo, r)
	}
	// The top snaps to a tick. A small credit should not stretch the axis
	// down a whole tick step, so the bottom stops just below the data and
	// ticks beyond it are dropped.
	ticks := niceTicks(lo, hi)
	hi = ticks[len(ticks)-1]
	if lo < 0 {
		lo = math.Max(ticks[0], lo-0.03*(hi-lo))
		ticks = slices.DeleteFunc(ticks, func(t float64) bool { return t < lo })
	}
	tickText := make([]string, len(ticks))
	tickW := 0.0
	for i, t := range ticks {
		tickText[i] = fy(t)
		tickW = math.Max(tickW, textWidth(tickText[i], fontSize))
	}

	// Horizontal layout: Y labels, plot, and room for the last X label.
	labelW := 0.0
	for _, l := range o.XLabels {
		labelW = math.Max(labelW, textWidth(l, fontSize))
	}
	x0 := math.Ceil(tickW + 10)
	x1 := W - math.Max(8, labelW/2-4)
	slot := (x1 - x0) / float64(n)
	every := o.LabelEvery
	if every <= 0 {
		every = labelStep(labelW+10, slot)
	}

	// Legend rows, laid out from the plot's left edge.
	type item struct {
		x, y float64
		text string
		full string
	}
	var legend []item
	const swatch, rowH = 11.0, 18.0
	lx, rows := x0, 1
	for _, s := range o.Series {
		t := truncate(s.Name, 220, fontSize)
		w := swatch + 5 + textWidth(t, fontSize) + 18
		if lx > x0 && lx+w-18 > W-8 {
			lx, rows = x0, rows+1
		}
		legend = append(legend, item{lx, float64(rows - 1), t, s.Name})
		lx += w
	}
	legendH := 0.0
	if len(o.Series) > 1 || (len(o.Series) == 1 && o.Series[0].Name != "") {
		legendH = 10 + float64(rows)*rowH
	}

	y0 := 10.0
	y1 := H - legendH - fontSize - 10
	y := func(v float64) float64 { return y1 - (v-lo)/(hi-lo)*(y1-y0) }

	b.open(W, H, label, o.describe(n, xtitle, fv, pos, neg), false)
	tex := textures(o.Series)

	// Grid and Y axis labels; thin labels out if the plot is short.
	labelStride := 1
	if gap := (y1 - y0) / float64(max(1, len(ticks)-1)); gap < fontSize*1.4 {
		labelStride = int(math.Ceil(fontSize * 1.4 / gap))
	}
	b.printf(`<g stroke="%s" stroke-width="1">`, colGrid)
	for _, t := range ticks {
		if t != 0 {
			b.printf(`<line x1="%s" x2="%s" y1="%s" y2="%s"/>`, num(x0), num(x1), num(y(t)), num(y(t)))
		}
	}
	b.WriteString(`</g>`)
	b.printf(`<g text-anchor="end" fill="%s">`, colMuted)
	for i, t := range ticks {
		if i%labelStride == 0 || t == 0 {
			b.printf(`<text x="%s" y="%s" dy=".35em">%s</text>`, num(x0-6), num(y(t)), esc(tickText[i]))
		}
	}
	b.WriteString(`</g>`)

	// Bars: one group per category whose title gives the total, with a
	// transparent column so the total shows on hover above short bars.
	gapFrac := 0.2
	if slot < 6 {
		gapFrac = 0.1
	}
	bw := slot * (1 - gapFrac)
	for i := range n {
		bx := x0 + float64(i)*slot + slot*gapFrac/2
		b.WriteString(`<g>`)
		b.title(o.columnTitle(i, xtitle(i), fv, pos[i]+neg[i]))
		b.printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="#000" fill-opacity="0"/>`,
			num(x0+float64(i)*slot), num(y0), num(slot), num(y1-y0))
		b.WriteString(`<g stroke="#fff" stroke-width="0.75">`)
		up, down := 0.0, 0.0
		for s := range o.Series {
			v := val(s, i)
			if v == 0 {
				continue
			}
			var top, bot float64
			if v > 0 {
				top, bot = y(up+v), y(up)
				up += v
			} else {
				top, bot = y(down), y(down+v)
				down += v
			}
			b.printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s">`,
				num(bx), num(top), num(bw), num(bot-top), o.Series[s].color())
			b.title(fmt.Sprintf("%s · %s: %s", xtitle(i), o.Series[s].Name, fv(v)))
			b.WriteString(`</rect>`)
			b.hatch(bx, top, bw, bot-top, tex[s])
		}
		b.WriteString(`</g></g>`)
	}

	// Zero line, X ticks and labels.
	b.printf(`<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s" stroke-width="1"/>`,
		num(x0), num(x1), num(y(0)), num(y(0)), colMuted)
	b.printf(`<g fill="%s" text-anchor="middle">`, colMuted)
	for i := 0; i < n; i += every {
		if o.XLabels[i] == "" {
			continue
		}
		cx := x0 + (float64(i)+0.5)*slot
		b.printf(`<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s"/>`, num(cx), num(cx), num(y1), num(y1+4), colMuted)
		b.printf(`<text x="%s" y="%s">%s</text>`, num(cx), num(y1+fontSize+4), esc(o.XLabels[i]))
	}
	b.WriteString(`</g>`)

	// Reference line with its label above the right end (below it if there
	// is no room), haloed in white so it reads over the bars.
	if r := o.Reference; r != nil {
		ry := y(finite(r.Value))
		b.WriteString(`<g>`)
		b.title(fmt.Sprintf("%s: %s", refName(r), fv(finite(r.Value))))
		b.printf(`<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s" stroke-width="1.5" stroke-dasharray="6 4"/>`,
			num(x0), num(x1), num(ry), num(ry), colInk)
		if r.Label != "" {
			ty := ry - 5
			if ty-fontSize < 0 {
				ty = ry + fontSize + 3
			}
			b.text(x1, ty, "end", colInk, ` font-weight="600" stroke="#fff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"`, r.Label)
		}
		b.WriteString(`</g>`)
	}

	// Legend.
	if legendH > 0 {
		ly := y1 + fontSize + 10 + 10
		for s, it := range legend {
			top := ly + it.y*rowH
			b.WriteString(`<g>`)
			if it.text != it.full {
				b.title(it.full)
			}
			b.printf(`<rect x="%s" y="%s" width="%s" height="%s" rx="2" fill="%s" stroke="%s" stroke-opacity=".35"/>`,
				num(it.x), num(top+2), num(swatch), num(swatch), o.Series[s].color(), colInk)
			b.hatch(it.x, top+2, swatch, swatch, tex[s])
			b.text(it.x+swatch+5, top+2+swatch/2, "", colInk, ` dy=".35em"`, it.text)
			b.WriteString(`</g>`)
		}
	}
	b.close()
	return b.String()
}

// labelStep picks how many categories apart X labels must be drawn so that
// labels of width need fit slots of width slot.
func labelStep(need, slot float64) int {
	if slot <= 0 {
		return 1
	}
	for _, k := range [...]int{1, 2, 7, 14, 28} {
		if float64(k)*slot >= need {
			return k
		}
	}
	k := 56
	for float64(k)*slot < need {
		k *= 2
	}
	return k
}

func refName(r *Reference) string {
	if r.Label != "" {
		return r.Label
	}
	return "Reference"
}

// columnTitle is the hover text for a whole bar: its total and its parts.
func (o StackedBarsOptions) columnTitle(i int, name string, fv func(float64) string, total float64) string {
	var parts []string
	for _, ser := range o.Series {
		if i < len(ser.Values) && finite(ser.Values[i]) != 0 {
			parts = append(parts, ser.Name+" "+fv(finite(ser.Values[i])))
		}
	}
	t := fmt.Sprintf("%s · total: %s", name, fv(total))
	if len(parts) > 1 {
		t += " (" + strings.Join(parts, ", ") + ")"
	}
	return t
}

// describe summarises the chart in words for the <desc> element.
func (o StackedBarsOptions) describe(n int, xtitle func(int) string, fv func(float64) string, pos, neg []float64) string {
	if o.Desc != "" {
		return o.Desc
	}
	noun := o.XNoun
	if noun == "" {
		noun = "days"
	}
	var d strings.Builder
	if o.Title != "" {
		d.WriteString(o.Title + ", ")
	}
	if n == 1 {
		d.WriteString(xtitle(0) + ". ")
	} else {
		fmt.Fprintf(&d, "%s to %s (%d %s). ", xtitle(0), xtitle(n-1), n, noun)
	}
	best, total, credits := 0, 0.0, 0
	for i := range n {
		if pos[i]+neg[i] > pos[best]+neg[best] {
			best = i
		}
		total += pos[i] + neg[i]
		if neg[i] < 0 {
			credits++
		}
	}
	fmt.Fprintf(&d, "Highest: %s, %s. Total: %s.", xtitle(best), fv(pos[best]+neg[best]), fv(total))
	var names []string
	for _, s := range o.Series {
		names = append(names, s.Name)
	}
	if len(names) > 1 {
		fmt.Fprintf(&d, " Stacked from the bottom: %s.", strings.Join(names, ", "))
	}
	if r := o.Reference; r != nil {
		over := 0
		for i := range n {
			if pos[i]+neg[i] > finite(r.Value) {
				over++
			}
		}
		fmt.Fprintf(&d, " %s: %s, exceeded on %d of %d %s.", refName(r), fv(finite(r.Value)), over, n, noun)
	}
	if credits > 0 {
		fmt.Fprintf(&d, " Negative values (credits) on %d of %d %s are drawn below the zero line.", credits, n, noun)
	}
	return d.String()
}
