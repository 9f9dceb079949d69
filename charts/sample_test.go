package charts

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteSamples renders a page with every chart on realistic data and checks it
// holds them all. The page is written to the folder PARSIMONY_SAMPLES names (for
// looking at in a browser and in print preview), else to the test's temporary one.
func TestWriteSamples(t *testing.T) {
	var p strings.Builder
	p.WriteString(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Parsimony charts</title>
<style>
:root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: #1d2330; background: #f5f7fa; }
body { margin: 0; line-height: 1.45; }
main { max-width: 68rem; margin: 1rem auto; padding: 0 1rem; }
h2 { font-size: 1rem; margin: 0 0 .5rem; }
section { background: #fff; border: 1px solid #dde2ea; border-radius: 6px; padding: 1rem 1.25rem; margin-bottom: 1rem; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid #dde2ea; text-align: left; }
td.num { text-align: right; }
.grey { filter: grayscale(1); }
</style></head><body><main>`)
	section := func(title, body string) {
		p.WriteString("<section><h2>" + title + "</h2>" + body + "</section>")
	}

	stacked := sampleStacked()
	section("Daily spend by resource, November 2026", stacked.SVG())

	rank := sampleHBars()
	rank.Width = 480
	over := BudgetBarOptions{Title: "Physics", Spent: 1830, Budget: 2500, Projected: 2640, Format: euro0, Width: 440}
	under := BudgetBarOptions{Title: "Chemistry", Spent: 1210, Budget: 2500, Projected: 1980, Format: euro0, Width: 440}
	spent := BudgetBarOptions{Title: "Genomics core", Spent: 2710, Budget: 2500, Projected: 3350, Format: euro0, Width: 440}
	p.WriteString(`<div class="two">`)
	section("Spend by group", rank.SVG())
	section("Budgets, November 2026",
		"<p>Physics</p>"+over.SVG()+"<p>Chemistry</p>"+under.SVG()+"<p>Genomics core</p>"+spent.SVG()+
			"<p>No budget</p>"+BudgetBarOptions{Spent: 640, Projected: 910, Format: euro0, Width: 440}.SVG())
	p.WriteString(`</div>`)

	var rows strings.Builder
	rows.WriteString(`<table><thead><tr><th>Group</th><th class="num">November</th><th>Last 30 days</th><th>Budget</th></tr></thead><tbody>`)
	for i, r := range rank.Rows[:6] {
		trend := make([]float64, 30)
		for d := range trend {
			trend[d] = r.Value / 30 * (1 + 0.4*math.Sin(float64(d*(i+1))/6) + float64(d)/60)
		}
		b := BudgetBarOptions{Spent: r.Value, Budget: 12000, Projected: r.Value * 1.25, Format: euro0, Width: 320}
		rows.WriteString("<tr><td>" + r.Label + `</td><td class="num">` + euro0(r.Value) + "</td><td>" +
			SparklineOptions{Title: "Daily spend", Format: euro0}.SVG(trend) + `</td><td style="width:20rem">` + b.SVG() + "</td></tr>")
	}
	rows.WriteString("</tbody></table>")
	section("Leaderboard", rows.String())

	labels, titles := days(90)
	cpu, gpu := make([]float64, 90), make([]float64, 90)
	for i := range cpu {
		cpu[i] = 42000 + 9000*math.Sin(float64(i)/9)
		gpu[i] = 8000 + 4000*math.Cos(float64(i)/5)
	}
	long := StackedBarsOptions{
		Title: "Daily core-hours by cluster", XLabels: labels, XTitles: titles,
		Series:  []Series{{Name: "Hopper (CPU)", Values: cpu}, {Name: "Ada (GPU)", Values: gpu}},
		FormatY: func(v float64) string { return compact(v) + " core-h" }, Height: 260,
	}
	section("Ninety days, two clusters", long.SVG())

	eight := sampleStacked()
	eight.Reference = nil
	eight.Title = "Eight series"
	for _, n := range []string{"Cloud bursting", "Archive tape", "Licences"} {
		vals := make([]float64, 30)
		for i := range vals {
			vals[i] = 30 + 20*math.Cos(float64(i)/3)
		}
		eight.Series = append(eight.Series, Series{Name: n, Values: vals})
	}
	eight.Width, eight.Height = 480, 280
	p.WriteString(`<div class="two">`)
	section("Eight series, half width", eight.SVG())
	section("Same, greyscale (print)", `<div class="grey">`+eight.SVG()+`</div>`)
	p.WriteString(`</div><div class="two">`)
	section("Empty state", StackedBarsOptions{Title: "Daily spend", Width: 480, Height: 200}.SVG())
	credits := sampleHBars()
	credits.Rows = append(credits.Rows[:5], HBar{Label: "Refunds", Value: -3000, Secondary: -100})
	credits.Width = 480
	section("Credits", credits.SVG())
	p.WriteString(`</div></main></body></html>`)

	page := p.String()
	if n := strings.Count(page, "<svg"); n < 10 || strings.Count(page, "</svg>") != n {
		t.Errorf("the sample page holds %d charts", n)
	}
	dir := os.Getenv("PARSIMONY_SAMPLES")
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "charts-sample.html")
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}
