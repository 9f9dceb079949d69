package charts

import (
	"fmt"
	"math"
	"strings"

	"github.com/a-h/templ"
)

// SparklineOptions describes a sparkline, a tiny trend line for a table row.
//
// Unlike the other charts a sparkline has a fixed size in CSS pixels (Width ×
// Height), so it sits inline in text or a table cell. Its vertical scale runs
// from the lowest to the highest value, so it shows the shape of a trend, not
// its size; the hover title and aria-label give the numbers. The last value is
// marked with a dot.
type SparklineOptions struct {
	Title  string               // e.g. "Daily spend, last 30 days"; the numbers are appended
	Format func(float64) string // default 1.2k style
	Width  float64              // default 100
	Height float64              // default 24
}

// Sparkline renders values as a templ.Component.
func Sparkline(values []float64, opts SparklineOptions) templ.Component {
	return component(func() string { return opts.SVG(values) })
}

// SVG returns the sparkline of values as an <svg> element.
func (o SparklineOptions) SVG(values []float64) string {
	W, H := o.Width, o.Height
	if W <= 0 {
		W = 100
	}
	if H <= 0 {
		H = 24
	}
	f := o.Format
	if f == nil {
		f = compact
	}
	const pad = 3.0

	vs := make([]float64, len(values))
	lo, hi := math.Inf(1), math.Inf(-1)
	for i, v := range values {
		vs[i] = finite(v)
		lo, hi = math.Min(lo, vs[i]), math.Max(hi, vs[i])
	}
	var summary string
	switch len(vs) {
	case 0:
		summary = "no data"
	case 1:
		summary = f(vs[0])
	default:
		summary = fmt.Sprintf("from %s to %s; low %s, high %s", f(vs[0]), f(vs[len(vs)-1]), f(lo), f(hi))
	}
	label := summary
	if o.Title != "" {
		label = o.Title + ": " + summary
	}

	var b builder
	b.open(W, H, label, "", true)
	b.title(label)
	if len(vs) == 0 {
		b.printf(`<line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s" stroke-width="1.5" stroke-dasharray="2 3"/>`,
			num(pad), num(W-pad), num(H/2), num(H/2), colGrid)
		b.close()
		return b.String()
	}
	x := func(i int) float64 {
		if len(vs) == 1 {
			return W - pad
		}
		return pad + float64(i)/float64(len(vs)-1)*(W-2*pad)
	}
	y := func(v float64) float64 {
		if hi == lo {
			return H / 2
		}
		return pad + (hi-v)/(hi-lo)*(H-2*pad)
	}
	if len(vs) > 1 {
		var pts strings.Builder
		for i, v := range vs {
			if i > 0 {
				pts.WriteByte(' ')
			}
			pts.WriteString(num(x(i)) + "," + num(y(v)))
		}
		b.printf(`<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round"/>`, pts.String(), colAccent)
	}
	last := len(vs) - 1
	b.printf(`<circle cx="%s" cy="%s" r="2.25" fill="%s"/>`, num(x(last)), num(y(vs[last])), colAccent)
	b.close()
	return b.String()
}
