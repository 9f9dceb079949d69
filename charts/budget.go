package charts

import (
	"fmt"
	"math"

	"github.com/a-h/templ"
)

// BudgetBarOptions describes a compact budget bar: money spent so far against
// a budget, with the spend projected to the end of the period.
//
// The bar is solid blue up to Spent and pale blue on to Projected. Any part
// beyond the budget is vermillion: solid where already spent, hatched where
// only projected. The budget is a dark vertical line and the projection a
// small triangle above the bar. A caption above the bar says the same in words,
// e.g. "€1,830 of €2,500 · projected €2,640, €140 over budget", so colour is
// never the only cue; on a narrow bar it shortens to "€1,830 of €2,500 ·
// projected €140 over budget" (or leaves out a projection within budget), and
// the aria-label always has the full text.
type BudgetBarOptions struct {
	Title string // aria-label, e.g. "Physics budget, November 2026"; the caption is appended

	Spent     float64
	Budget    float64 // 0 or less: no budget
	Projected float64 // projected spend at period end; 0 or less: no projection

	Format func(float64) string // default 1.2k style
	// Width is the viewBox width; default 480. The height is 45. Below about
	// 360 the caption is set smaller to fit.
	Width float64
}

// BudgetBar renders opts as a templ.Component.
func BudgetBar(opts BudgetBarOptions) templ.Component { return component(opts.SVG) }

// SVG returns the bar as an <svg> element.
func (o BudgetBarOptions) SVG() string {
	W := o.Width
	if W <= 0 {
		W = 480
	}
	const H, barY, barH = 45.0, 26.0, 14.0
	f := o.Format
	if f == nil {
		f = compact
	}
	spent := math.Max(0, finite(o.Spent))
	budget := math.Max(0, finite(o.Budget))
	proj := math.Max(0, finite(o.Projected))
	hasProj := proj > 0
	if hasProj {
		proj = math.Max(proj, spent)
	}

	// The caption comes in a long and a short form (without the projection,
	// or saying only how far over it goes) for narrow bars; each is a plain
	// part and a warning, so the warning can be coloured as well as worded.
	base := f(spent) + " spent · no budget"
	if budget > 0 {
		base = f(spent) + " of " + f(budget)
	}
	long, short := base, base
	if hasProj {
		long += " · projected " + f(proj)
	}
	var warn, shortWarn string
	switch {
	case budget > 0 && spent > budget:
		warn = f(spent-budget) + " over budget"
		shortWarn = warn
	case budget > 0 && hasProj && proj > budget:
		warn = f(proj-budget) + " over budget"
		short += " · projected"
		shortWarn = warn
	}
	caption := long
	if warn != "" {
		caption += ", " + warn
	}
	label := caption
	if o.Title != "" {
		label = o.Title + ": " + caption
	}

	var b builder
	b.open(W, H, label, "", false)
	width := func(plain, warn string) float64 {
		if warn == "" {
			return textWidth(plain, fontSize)
		}
		return textWidth(plain+", ", fontSize) + textWidth(warn, fontSize)*1.1 // bold is wider
	}
	plain, sep := long, ", "
	size := ""
	if w := width(long, warn); w > W {
		plain, warn = short, shortWarn
		if short != base {
			sep = " " // "… · projected €140 over budget"
		}
		// Shrink the caption rather than let the bar cut it off.
		if w := width(plain, warn); w > W {
			size = fmt.Sprintf(` font-size="%s"`, num(math.Max(8, math.Floor(fontSize*W/w*10)/10)))
		}
	}
	b.printf(`<text x="0" y="14"%s>%s`, size, esc(plain))
	if warn != "" {
		b.printf(`%s<tspan fill="%s" font-weight="600">%s</tspan>`, sep, colWarnTxt, esc(warn))
	}
	b.WriteString(`</text>`)

	// The scale runs to the largest of the three, leaving room for the
	// triangle and line at the right end.
	top := math.Max(budget, math.Max(spent, proj))
	x0, x1 := 1.0, W-6
	x := func(v float64) float64 {
		if top <= 0 {
			return x0
		}
		return x0 + v/top*(x1-x0)
	}
	b.printf(`<rect x="%s" y="%s" width="%s" height="%s" rx="2" fill="%s" stroke="%s"/>`, num(x0), num(barY), num(x1-x0), num(barH), colTrack, colGrid)

	seg := func(from, to float64, fill, extra, title string) {
		if to <= from {
			return
		}
		b.printf(`<rect x="%s" y="%s" width="%s" height="%s" fill="%s"%s>`, num(x(from)), num(barY), num(x(to)-x(from)), num(barH), fill, extra)
		b.title(title)
		b.WriteString(`</rect>`)
	}
	limit := spent
	if budget > 0 {
		limit = math.Min(spent, budget)
	}
	seg(0, limit, colAccent, "", "Spent: "+f(spent))
	if budget > 0 {
		seg(budget, spent, colWarn, "", "Spent over budget: "+f(spent-budget))
	}
	if hasProj {
		end := proj
		if budget > 0 {
			end = math.Min(proj, budget)
		}
		seg(spent, end, colAccent, ` fill-opacity=".3"`, "Projected by period end: "+f(proj))
		if budget > 0 && proj > budget {
			from := math.Max(spent, budget)
			seg(from, proj, colWarn, ` fill-opacity=".25"`, "Projected over budget: "+f(proj-budget))
			hatch(&b, x(from), x(proj), barY, barH)
		}
		px := x(proj)
		b.printf(`<path d="M%s %sl-5 -7h10z" fill="%s">`, num(px), num(barY-1), colInk)
		b.title("Projected by period end: " + f(proj))
		b.WriteString(`</path>`)
	}
	if budget > 0 {
		bx := x(budget)
		b.printf(`<g><title>%s</title><rect x="%s" y="%s" width="6" height="%s" fill="#000" fill-opacity="0"/><line x1="%s" x2="%s" y1="%s" y2="%s" stroke="%s" stroke-width="2"/></g>`,
			esc("Budget: "+f(budget)), num(bx-3), num(barY-4), num(barH+8), num(bx), num(bx), num(barY-4), num(barY+barH+4), colInk)
	}
	b.close()
	return b.String()
}

// hatch draws diagonal stripes over the rectangle from x0 to x1, computing
// each stripe's ends so no clip path (and so no element id) is needed.
func hatch(b *builder, x0, x1, y, h float64) {
	if x1-x0 < 1 {
		return
	}
	b.printf(`<path stroke="%s" stroke-width="1.5" fill="none" d="`, colWarn)
	// Stripes run from bottom-left to top-right at 45°: the stripe starting
	// at bottom x = s covers x in [s, s+h].
	for s := x0 - h + 4; s < x1; s += 5 {
		a, c := math.Max(s, x0), math.Min(s+h, x1)
		if c-a < 0.5 {
			continue
		}
		b.printf(`M%s %sL%s %s`, num(a), num(y+h-(a-s)), num(c), num(y+h-(c-s)))
	}
	b.WriteString(`"/>`)
}
