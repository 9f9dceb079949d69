package charts

import (
	"fmt"
	"math"
	"strings"

	"github.com/a-h/templ"
)

// HBar is one row of a horizontal bar chart.
type HBar struct {
	Label     string
	Value     float64
	Secondary float64 // e.g. the previous period; drawn only if SecondaryLabel is set
}

// HBarsOptions describes a horizontal bar chart for rankings and breakdowns,
// one row per bar in the order given (sort them first), up to about twenty.
// Each bar ends in its formatted value; an optional secondary value is drawn as
// a thin dark marker across the bar. Negative values extend left of a zero
// line. Labels too long for the label column are shortened with "…" and shown
// in full on hover.
type HBarsOptions struct {
	Title string // aria-label and start of the description, e.g. "Spend by group"
	Desc  string // replaces the generated description if set

	Rows []HBar

	// Format formats values at the bar ends, in hover text and in the
	// description; default 1.2k style.
	Format func(float64) string
	// ValueLabel and SecondaryLabel name the bar and the marker in hover text
	// and in a key below the rows ("November", "October"). The marker and key
	// are drawn only if SecondaryLabel is set.
	ValueLabel, SecondaryLabel string

	Width     float64 // viewBox width; default 720. The height follows from the rows.
	RowHeight float64 // default 24
	Empty     string  // empty-state text; default EmptyText
}

// HBars renders opts as a templ.Component.
func HBars(opts HBarsOptions) templ.Component { return component(opts.SVG) }

// SVG returns the chart as an <svg> element.
func (o HBarsOptions) SVG() string {
	W, rowH := o.Width, o.RowHeight
	if W <= 0 {
		W = 720
	}
	if rowH <= 0 {
		rowH = 24
	}
	f := o.Format
	if f == nil {
		f = compact
	}
	label := o.Title
	if label == "" {
		label = "Bar chart"
	}
	second := o.SecondaryLabel != ""

	var b builder
	if len(o.Rows) == 0 {
		msg := o.Empty
		if msg == "" {
			msg = EmptyText
		}
		b.open(W, 48, label+": "+msg, "", false)
		b.empty(W, 48, msg)
		b.close()
		return b.String()
	}

	lo, hi := 0.0, 0.0
	labelW, valueW := 0.0, 0.0
	texts := make([]string, len(o.Rows))
	for i, r := range o.Rows {
		v := finite(r.Value)
		lo, hi = math.Min(lo, v), math.Max(hi, v)
		if second {
			s := finite(r.Secondary)
			lo, hi = math.Min(lo, s), math.Max(hi, s)
		}
		texts[i] = f(v)
		labelW = math.Max(labelW, textWidth(r.Label, fontSize))
		valueW = math.Max(valueW, textWidth(texts[i], fontSize))
	}
	if hi == lo {
		hi = 1
	}
	labelW = math.Min(labelW, W*0.3)
	x0 := labelW + 10
	if lo < 0 {
		x0 += valueW + 6
	}
	x1 := W - valueW - 8
	x := func(v float64) float64 { return x0 + (v-lo)/(hi-lo)*(x1-x0) }
	zero := x(0)

	keyH := 0.0
	if second {
		keyH = 24
	}
	const top = 2.0
	H := top + float64(len(o.Rows))*rowH + keyH + 2
	barH := math.Round(rowH * 0.6)

	b.open(W, H, label, o.describe(texts, f), false)
	for i, r := range o.Rows {
		v := finite(r.Value)
		ry := top + float64(i)*rowH
		by := ry + (rowH-barH)/2
		cy := ry + rowH/2
		b.WriteString(`<g>`)
		b.title(o.rowTitle(r, texts[i], f))
		b.printf(`<rect x="0" y="%s" width="%s" height="%s" fill="#000" fill-opacity="0"/>`, num(ry), num(W), num(rowH))
		b.text(labelW, cy, "end", colInk, ` dy=".35em"`, truncate(r.Label, labelW, fontSize))
		left, right := math.Min(x(v), zero), math.Max(x(v), zero)
		if right-left > 0 {
			b.printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, num(left), num(by), num(right-left), num(barH), colAccent)
		}
		end := x(v)
		if second {
			sx := x(finite(r.Secondary))
			b.printf(`<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s" stroke-width="2"/>`, num(sx), num(sx), num(by-3), num(by+barH+3), colInk)
			if v >= 0 {
				end = math.Max(end, sx)
			} else {
				end = math.Min(end, sx)
			}
		}
		if v >= 0 {
			b.text(end+5, cy, "", colInk, ` dy=".35em"`, texts[i])
		} else {
			b.text(end-5, cy, "end", colInk, ` dy=".35em"`, texts[i])
		}
		b.WriteString(`</g>`)
	}
	if lo < 0 {
		b.printf(`<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s"/>`, num(zero), num(zero), num(top), num(top+float64(len(o.Rows))*rowH), colMuted)
	}
	if second {
		ky := top + float64(len(o.Rows))*rowH + 12
		kx := x0
		if o.ValueLabel != "" {
			b.printf(`<rect x="%s" y="%s" width="11" height="11" rx="2" fill="%s"/>`, num(kx), num(ky-5.5), colAccent)
			b.text(kx+16, ky, "", colInk, ` dy=".35em"`, o.ValueLabel)
			kx += 16 + textWidth(o.ValueLabel, fontSize) + 18
		}
		b.printf(`<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s" stroke-width="2"/>`, num(kx+5), num(kx+5), num(ky-7), num(ky+7), colInk)
		b.text(kx+16, ky, "", colInk, ` dy=".35em"`, o.SecondaryLabel)
	}
	b.close()
	return b.String()
}

func (o HBarsOptions) rowTitle(r HBar, text string, f func(float64) string) string {
	t := r.Label + ": " + text
	if o.ValueLabel != "" {
		t = fmt.Sprintf("%s: %s %s", r.Label, o.ValueLabel, text)
	}
	if o.SecondaryLabel != "" {
		t += fmt.Sprintf(" (%s %s)", o.SecondaryLabel, f(finite(r.Secondary)))
	}
	return t
}

func (o HBarsOptions) describe(texts []string, f func(float64) string) string {
	if o.Desc != "" {
		return o.Desc
	}
	var d strings.Builder
	if o.Title != "" {
		d.WriteString(o.Title + ": ")
	}
	total := 0.0
	for _, r := range o.Rows {
		total += finite(r.Value)
	}
	fmt.Fprintf(&d, "%d rows, total %s.", len(o.Rows), f(total))
	var first []string
	for i, r := range o.Rows {
		if i == 3 {
			break
		}
		first = append(first, fmt.Sprintf("%s %s", r.Label, texts[i]))
	}
	fmt.Fprintf(&d, " First: %s.", strings.Join(first, "; "))
	switch {
	case o.SecondaryLabel != "" && o.ValueLabel != "":
		fmt.Fprintf(&d, " Bars show %s; markers show %s.", o.ValueLabel, o.SecondaryLabel)
	case o.SecondaryLabel != "":
		fmt.Fprintf(&d, " Markers show %s.", o.SecondaryLabel)
	}
	return d.String()
}
