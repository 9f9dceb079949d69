// Package charts draws small, server-rendered SVG charts for the web app:
// a stacked daily bar chart, a horizontal bar ranking, a budget bar and a
// sparkline.
//
// The charts need no JavaScript, no web fonts and no style sheet. Every colour
// and size is a presentation attribute on the SVG itself, so a chart looks the
// same in any page, on paper, and under a Content-Security-Policy that forbids
// inline styles. Text takes the page's font (font-family="inherit"); sizes are
// in viewBox units, so set Width close to the CSS pixel width the chart will
// have and 12-unit text renders at about 12 px. All but the sparkline have
// width="100%" and display="block" and scale with their container; the height
// follows from the viewBox.
//
// Each chart is an options struct with an SVG method that returns the markup,
// and a function of the same name that wraps it as a templ.Component
// (Render(ctx, w) writes it to any io.Writer):
//
//	@charts.StackedBars(charts.StackedBarsOptions{Title: "Daily spend by resource", ...})
//
// Accessibility: each <svg> has role="img", an aria-label and a <desc> that
// summarises the data in words (range, highest value, totals), and every bar or
// segment has a <title> that browsers show on hover. Pages should still offer
// the numbers as a table; a chart is a picture of them, not a replacement.
//
// A series' colour belongs to what it is, not to its place in the list (see
// Color): a resource or a cluster has the same colour on every chart and in
// every period. The palettes (Okabe–Ito for resources, Paul Tol's muted for
// other keys) are ones readers with the common colour vision deficiencies can
// tell apart; stacked segments are separated by a thin white line, and two
// series of one chart that share a colour are told apart by hatching, so they
// stay distinct in greyscale print. Labels come from user data and are always
// escaped. Output is deterministic and uses no element ids, so any number of
// charts can sit in one page.
//
// Values that are NaN or infinite are treated as zero.
package charts

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/a-h/templ"
)

// Colours used for everything that is not a series.
const (
	colInk     = "#1d2330" // text, reference lines, markers
	colMuted   = "#5b6474" // axis labels, zero line
	colGrid    = "#dde2ea" // grid lines, frames
	colTrack   = "#eef1f5" // empty part of a bar
	colAccent  = "#0072B2" // single-series bars, sparklines
	colWarn    = "#D55E00" // over budget (shapes)
	colWarnTxt = "#a63c00" // over budget (text; 6.4:1 on white)
	fontSize   = 12.0
	charWidth  = 0.58 // average glyph advance of a UI sans-serif, in em
)

// EmptyText is shown inside a chart's frame when there is nothing to draw.
const EmptyText = "No usage in this period"

// component wraps a lazily rendered SVG string as a templ.Component.
func component(svg func() string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, svg())
		return err
	})
}

// builder accumulates SVG markup.
type builder struct{ strings.Builder }

func (b *builder) printf(format string, a ...any) { fmt.Fprintf(b, format, a...) }

// open writes the root element and its <desc>. If fixed is true the chart is
// drawn at its viewBox size in CSS pixels instead of filling its container.
func (b *builder) open(w, h float64, label, desc string, fixed bool) {
	size := `width="100%" display="block"` // block: no gap below for a text descender
	if fixed {
		size = fmt.Sprintf(`width="%s" height="%s"`, num(w), num(h))
	}
	b.printf(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %s %s" %s role="img" aria-label="%s" font-family="inherit" font-size="%s" fill="%s">`,
		num(w), num(h), size, esc(label), num(fontSize), colInk)
	if desc != "" {
		b.printf(`<desc>%s</desc>`, esc(desc))
	}
}

func (b *builder) close() { b.WriteString(`</svg>`) }

// text writes a <text> element; attrs is extra raw attribute markup.
func (b *builder) text(x, y float64, anchor, fill, attrs, s string) {
	if anchor != "" && anchor != "start" {
		attrs = ` text-anchor="` + anchor + `"` + attrs
	}
	if fill != "" && fill != colInk {
		attrs = ` fill="` + fill + `"` + attrs
	}
	b.printf(`<text x="%s" y="%s"%s>%s</text>`, num(x), num(y), attrs, esc(s))
}

// title writes a <title> child, the hover text of its parent.
func (b *builder) title(s string) { b.printf(`<title>%s</title>`, esc(s)) }

// empty draws a framed empty state filling the whole viewBox.
func (b *builder) empty(w, h float64, msg string) {
	b.printf(`<rect x="1" y="1" width="%s" height="%s" rx="4" fill="#fff" stroke="%s"/>`, num(w-2), num(h-2), colGrid)
	b.text(w/2, h/2, "middle", colMuted, ` dy=".35em" font-style="italic"`, msg)
}

// num formats a coordinate with at most two decimals.
func num(v float64) string {
	v = finite(v)
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

// esc escapes text for XML character data or a quoted attribute, replacing
// characters XML cannot hold.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder never fails
	return b.String()
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// textWidth estimates the advance of s at the given font size.
func textWidth(s string, size float64) float64 {
	return float64(utf8.RuneCountInString(s)) * size * charWidth
}

// truncate shortens s with an ellipsis so that it fits in width w.
func truncate(s string, w, size float64) string {
	if textWidth(s, size) <= w {
		return s
	}
	n := int(w/(size*charWidth)) - 1
	if n < 1 {
		return "…"
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n])) + "…"
}

// compact is the default number format: 950, 1.2k, 3.4M.
func compact(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trimFloat(v/1e9, 1) + "G"
	case a >= 1e6:
		return trimFloat(v/1e6, 1) + "M"
	case a >= 1e3:
		return trimFloat(v/1e3, 1) + "k"
	case a >= 10 || a == 0:
		return trimFloat(v, 0)
	default:
		return trimFloat(v, 2)
	}
}

func trimFloat(v float64, prec int) string {
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

// niceTicks returns evenly spaced "nice" values (steps of 1, 2 or 5 times a
// power of ten) from at or below lo to at or above hi, including zero when
// lo <= 0 <= hi: 4 to 6 of them, or 7 when the range straddles zero and the
// next step up would leave only 3. A zero-width range is widened to [0, 1].
func niceTicks(lo, hi float64) []float64 {
	lo, hi = finite(lo), finite(hi)
	if lo > hi {
		lo, hi = hi, lo
	}
	if hi-lo <= 0 {
		switch {
		case hi > 0:
			lo = 0
		case lo < 0:
			hi = 0
		default:
			hi = 1
		}
	}
	const eps = 1e-9
	// Steps are m × 10^k; walk up from far too small.
	type step struct {
		m int64
		k int
	}
	value := func(s step, i int64) float64 {
		// i*m is exact; dividing by a power of ten keeps 0.3 as 0.3.
		if s.k >= 0 {
			return float64(i*s.m) * math.Pow10(s.k)
		}
		return float64(i*s.m) / math.Pow10(-s.k)
	}
	span := func(s step) (first, last int64) {
		size := value(s, 1)
		return int64(math.Floor(lo/size + eps)), int64(math.Ceil(hi/size - eps))
	}
	var prev, best step
	for k := int(math.Floor(math.Log10(hi-lo))) - 2; best.m == 0; k++ {
		for _, m := range [...]int64{1, 2, 5} {
			s := step{m, k}
			first, last := span(s)
			if last-first > 5 {
				prev = s
				continue
			}
			best = s
			if last-first < 3 && prev.m != 0 {
				best = prev
			}
			break
		}
	}
	first, last := span(best)
	ticks := make([]float64, 0, last-first+1)
	for i := first; i <= last; i++ {
		ticks = append(ticks, value(best, i))
	}
	return ticks
}
