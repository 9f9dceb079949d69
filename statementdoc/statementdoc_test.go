package statementdoc

import (
	"bytes"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf16"

	"github.com/PuerkitoBio/goquery"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// amount is quantity × price rounded to cents, as the ledger rounds a line.
func amount(quantity, price string) int64 {
	q, _ := new(big.Rat).SetString(quantity)
	p, _ := new(big.Rat).SetString(price)
	return ledger.RoundMinor(new(big.Rat).Mul(q, p), 2)
}

// sampleStatement builds a realistic statement by hand. With long set it has
// over 60 usage lines, enough for several PDF pages.
func sampleStatement(long bool) ledger.Statement {
	st := ledger.Statement{
		Number:      "DRAFT-202610-smith-lab",
		Status:      "draft",
		Period:      "2026-10",
		Currency:    "EUR",
		MinorDigits: 2,
		GroupID:     42,
		GroupSlug:   "smith-lab",
		GroupName:   "Smith Lab — Functional Genomics",
		GroupPath:   "medicine/genomics/smith-lab",
		CostCentre:  "CC-4711-GEN",
		PI:          "Zoë Smith (zsmith)",
		PILogin:     "zsmith",
		GeneratedAt: time.Date(2026, 10, 21, 14, 5, 9, 0, time.UTC),
		ContentHash: "9f2c4e1ab07d53c8e6f19a2b4c7d0e3f5a6b8c9d0e1f2a3b4c5d6e7f8a9b0c1d",
	}
	type res struct{ resource, title, unit, price, qty string }
	resources := []res{
		{ledger.ResourceCPU, "CPU", "core-hour", "0.0123456", "18234.512345"},
		{ledger.ResourceGPU, "GPU", "GPU-hour", "0.85", "412.250000"},
		{ledger.ResourceMemory, "Memory", "GB-hour", "0.00042", "1250833.000000"},
		{ledger.ResourceStorage, "Storage", "TB-month", "12", "3.141593"},
		{ledger.ResourceBilling, "Billing TRES", "billing-hour", "0.0105", "9876.000001"},
	}
	clusters := []string{"hpc-west"}
	if long {
		clusters = []string{"hpc-west", "hpc-east", "gpu-farm", "bigmem", "archive", "cloud-burst",
			"teaching", "legacy-opteron", "edge", "quantum-sim", "vis", "sandbox"}
	}
	for ci, c := range clusters {
		for _, r := range resources {
			qty := r.qty
			if ci > 0 { // vary the quantities a little from cluster to cluster
				q, _ := new(big.Rat).SetString(r.qty)
				q.Mul(q, big.NewRat(int64(ci+3), int64(ci+2)))
				qty = ledger.DecimalString(q, 6)
			}
			st.Lines = append(st.Lines, ledger.Line{Kind: ledger.LineUsage, Resource: r.resource, Cluster: c,
				Description: r.title + " on " + c, Quantity: qty, Unit: r.unit, UnitPrice: r.price,
				AmountMinor: amount(qty, r.price)})
		}
	}
	st.Lines = append(st.Lines,
		ledger.Line{Kind: ledger.LineUnpriced, Resource: ledger.ResourceGPU, Cluster: "sandbox", Unit: "GPU-hour",
			Description: "GPU on sandbox (no rate: not charged)", Quantity: "3.500000"},
		ledger.Line{Kind: ledger.LineLate, Resource: ledger.ResourceCPU, Cluster: "hpc-west", UsageMonth: "2026-09",
			Description: "Late usage for September 2026: CPU on hpc-west", Quantity: "1200.000000", Unit: "core-hour",
			UnitPrice: "0.0123456", AmountMinor: amount("1200", "0.0123456")},
		ledger.Line{Kind: ledger.LineLate, Resource: ledger.ResourceMemory, Cluster: "bigmem", UsageMonth: "2026-08",
			Description: "Late usage for August 2026: Memory on bigmem (no rate: not charged)", Quantity: "0.004000",
			Unit: "GB-hour"},
	)
	for _, ln := range st.Lines {
		st.UsageMinor += ln.AmountMinor
	}
	subsidies := []ledger.Line{
		{Kind: ledger.LineSubsidy, Resource: ledger.ResourceCPU, Unit: "core-hour",
			Description: "Free allowance: 1,000.00 core-hours of CPU a month", Quantity: "-1000.000000",
			AmountMinor: -amount("1000", "0.0123456")},
		{Kind: ledger.LineSubsidy, Resource: ledger.ResourceGPU, Description: "Discount: 12.5% of GPU", AmountMinor: -4381},
	}
	adjustments := []ledger.Line{
		{Kind: ledger.LineAdjustment, Description: `Credit for <outage> on 3 & 4 October ("planned" maintenance)`, AmountMinor: -2500},
		{Kind: ledger.LineAdjustment, Description: "Dedicated node, one-off set-up fee", AmountMinor: 15000},
	}
	for _, ln := range subsidies {
		st.SubsidyMinor += ln.AmountMinor
	}
	for _, ln := range adjustments {
		st.AdjustMinor += ln.AmountMinor
	}
	st.Lines = append(append(st.Lines, subsidies...), adjustments...)
	st.TotalMinor = st.UsageMinor + st.SubsidyMinor + st.AdjustMinor

	// Shares of the usage: own amounts per group, subtree sums as subtotals.
	u := st.UsageMinor
	sequencingOwn, nanopore, imaging := u*30/100, u*15/100, u*20/100
	st.Subgroups = []ledger.Subtotal{
		{ID: 42, Depth: 0, Slug: "smith-lab", Name: "Smith Lab — Functional Genomics", AmountMinor: u},
		{ID: 43, ParentID: 42, Depth: 1, Slug: "sequencing", Name: "Sequencing core", AmountMinor: sequencingOwn + nanopore},
		{ID: 44, ParentID: 43, Depth: 2, Slug: "nanopore", Name: "Nanopore pilot (Müller)", AmountMinor: nanopore},
		{ID: 45, ParentID: 42, Depth: 1, Slug: "imaging", Name: "Imaging & microscopy", AmountMinor: imaging},
	}
	users := []ledger.Subtotal{
		{ID: 7, Slug: "jmueller", Name: "Jürgen Müller", AmountMinor: u * 41 / 100},
		{ID: 3, Slug: "zsmith", Name: "Zoë Smith", AmountMinor: u * 27 / 100},
		{ID: 9, Slug: "sobrien", Name: "Siobhán O'Brien", AmountMinor: u * 19 / 100},
	}
	rest := u
	for _, x := range users {
		rest -= x.AmountMinor
	}
	st.Users = append(users, ledger.Subtotal{ID: 12, Slug: "lnowak", Name: "Łukasz Nowak", AmountMinor: rest})
	return st
}

func renderHTML(t *testing.T, st ledger.Statement) (string, *goquery.Document) {
	t.Helper()
	var buf bytes.Buffer
	if err := HTML(&buf, "University HPC — Research Computing", st); err != nil {
		t.Fatalf("HTML: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return buf.String(), doc
}

func TestHTML(t *testing.T) {
	st := sampleStatement(true)
	raw, doc := renderHTML(t, st)

	if got := doc.Find(`[data-testid="number"]`).Text(); got != st.Number {
		t.Errorf("number = %q, want %q", got, st.Number)
	}
	total := ledger.FormatMinor(st.TotalMinor, st.MinorDigits)
	if got := doc.Find(`[data-testid="total"]`).Text(); got != total {
		t.Errorf("total = %q, want %q", got, total)
	}
	if got := strings.TrimSpace(doc.Find(`[data-testid="status"]`).Text()); got != "DRAFT" {
		t.Errorf("status badge = %q, want DRAFT", got)
	}
	if doc.Find(`[data-testid="draft-note"]`).Length() != 1 {
		t.Error("a draft has no draft note")
	}
	if got := doc.Find(`[data-testid="period"]`).Text(); got != "October 2026" {
		t.Errorf("period = %q", got)
	}

	// Every line, in section order, with its description and amount.
	rows := doc.Find(`[data-testid="line"]`)
	if rows.Length() != len(st.Lines) {
		t.Fatalf("%d line rows, want %d", rows.Length(), len(st.Lines))
	}
	var want []ledger.Line
	for _, sec := range views.StatementSections(st) {
		want = append(want, sec.Lines...)
	}
	rows.Each(func(i int, r *goquery.Selection) {
		cells := r.Find("td")
		if got := cells.Eq(0).Text(); got != want[i].Description {
			t.Errorf("line %d description = %q, want %q", i, got, want[i].Description)
		}
		if got, w := cells.Eq(5).Text(), st.Amount(want[i].AmountMinor); got != w {
			t.Errorf("line %d amount = %q, want %q", i, got, w)
		}
	})
	for _, key := range []string{"usage", "late", "subsidy", "adjustment"} {
		if doc.Find(`[data-testid="section-`+key+`"]`).Length() != 1 {
			t.Errorf("no %s section", key)
		}
	}
	// The adjustment's markup is text, escaped, not markup.
	if strings.Contains(raw, "<outage>") || !strings.Contains(raw, "Credit for &lt;outage&gt; on 3 &amp; 4 October") {
		t.Error("a line description is not HTML-escaped")
	}

	if n := doc.Find(`[data-testid="subgroup"]`).Length(); n != len(st.Subgroups) {
		t.Errorf("%d subgroup rows, want %d", n, len(st.Subgroups))
	}
	// Indented by a class (the app's Content-Security-Policy allows no style
	// attributes), which the document's style sheet defines.
	if got := doc.Find(`[data-testid="subgroup"]`).Eq(2).Find("th").AttrOr("class", ""); !strings.Contains(got, "st-d2") || !strings.Contains(raw, ".st-d2 { padding-left") {
		t.Errorf("a depth-2 subgroup is not indented: class %q", got)
	}
	users := doc.Find(`[data-testid="user"]`)
	if users.Length() != len(st.Users) {
		t.Errorf("%d user rows, want %d", users.Length(), len(st.Users))
	}
	for _, name := range []string{"Jürgen Müller", "Zoë Smith", "Łukasz Nowak", "Zoë Smith (zsmith)"} {
		if !strings.Contains(doc.Text(), name) {
			t.Errorf("%q is missing", name)
		}
	}
	if got := doc.Find(`[data-testid="hash"]`).Text(); got != st.ContentHash {
		t.Errorf("hash = %q", got)
	}
	if !strings.Contains(doc.Find(`[data-testid="footer"]`).Text(), "21 October 2026, 14:05:09 UTC") {
		t.Error("the footer does not say when the statement was generated")
	}

	// Standalone: nothing is loaded from elsewhere.
	if doc.Find("link, script, img, iframe, [src]").Length() > 0 || strings.Contains(raw, "url(") || strings.Contains(raw, "@import") {
		t.Error("the document loads something from outside")
	}
	if !strings.Contains(raw, "@page") || !strings.Contains(raw, "table-header-group") {
		t.Error("the print styles are missing")
	}
}

func TestHTMLFinal(t *testing.T) {
	st := sampleStatement(false)
	st.Status, st.Number = "final", "202610-0007"
	raw, doc := renderHTML(t, st)
	if got := strings.TrimSpace(doc.Find(`[data-testid="status"]`).Text()); got != "FINAL" {
		t.Errorf("status badge = %q, want FINAL", got)
	}
	if strings.Contains(raw, "DRAFT") || doc.Find(`[data-testid="draft-note"]`).Length() != 0 {
		t.Error("a final statement is marked as a draft")
	}
}

func TestEmpty(t *testing.T) {
	st := ledger.Statement{Number: "202610-0001", Status: "final", Period: "2026-10", Currency: "CHF", MinorDigits: 2,
		GroupName: "Archive", GroupPath: "archive"}
	_, doc := renderHTML(t, st)
	if got := doc.Find(`[data-testid="total"]`).Text(); got != "0.00" {
		t.Errorf("total = %q", got)
	}
	if !strings.Contains(doc.Find(`[data-testid="lines"]`).Text(), "No usage") {
		t.Error("an empty statement does not say so")
	}
	var buf bytes.Buffer
	if err := PDF(&buf, "", st); err != nil {
		t.Fatal(err)
	}
	checkPDFFile(t, buf.Bytes(), 1)
}

// utf16be is how fpdf writes text in an embedded TrueType font's content stream.
func utf16be(s string) string {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return string(b)
}

// pdfText extracts a PDF's text with pdftotext (poppler-utils). The tests need
// it: it fails, saying how to install it, when it is missing.
func pdfText(t *testing.T, pdf []byte) (string, bool) {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Fatal("pdftotext is not installed: run scripts/install-deps.sh (or apt-get install poppler-utils)")
	}
	path := filepath.Join(t.TempDir(), "statement.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-layout", "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	return string(out), true
}

func checkPDFFile(t *testing.T, b []byte, pages int) {
	t.Helper()
	if !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Errorf("PDF starts with %q", b[:min(len(b), 8)])
	}
	if !bytes.HasSuffix(bytes.TrimRight(b, "\r\n"), []byte("%%EOF")) {
		t.Errorf("PDF does not end with %%%%EOF")
	}
	if n := bytes.Count(b, []byte("/Type /Page")) - bytes.Count(b, []byte("/Type /Pages")); n != pages {
		t.Errorf("%d page objects, want %d", n, pages)
	}
}

func TestPDF(t *testing.T) {
	st := sampleStatement(true)
	f, err := buildPDF("University HPC — Research Computing", st, pdfOptions{fontDir: defaultFontDir})
	if err != nil {
		t.Fatal(err)
	}
	pages := f.PageCount()
	if pages < 2 {
		t.Fatalf("the long statement has %d page(s), want several", pages)
	}
	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	checkPDFFile(t, b, pages)

	// Uncompressed, the printed numbers are in the file: as plain text with a core
	// font, as UTF-16BE with an embedded TrueType font.
	total := ledger.FormatMinor(st.TotalMinor, st.MinorDigits)
	if !bytes.Contains(b, []byte(total)) && !bytes.Contains(b, []byte(utf16be(total))) {
		t.Errorf("the total %s is not in the PDF", total)
	}

	text, ok := pdfText(t, b)
	if !ok {
		return
	}
	for _, want := range []string{total, "Jürgen Müller", "Zoë Smith", "Łukasz Nowak", "DRAFT", "October 2026",
		st.Number, fmt.Sprintf("Page 1 of %d", pages), fmt.Sprintf("Page %d of %d", pages, pages), st.ContentHash,
		"Credit for <outage> on 3 & 4 October", "0.0123456", "18,234.51"} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF's text lacks %q", want)
		}
	}
	// The lines table's header is repeated on the page the table continues on.
	second := strings.Split(text, "\f")[1]
	if !strings.Contains(second, "Description") || !strings.Contains(second, "Unit price") {
		t.Errorf("page 2 does not repeat the table header:\n%s", second)
	}
}

// Without DejaVu the PDF uses core Helvetica in cp1252: Latin-1 names still render.
func TestPDFCoreFont(t *testing.T) {
	st := sampleStatement(true)
	var buf bytes.Buffer
	if err := writePDF(&buf, "University HPC", st, pdfOptions{fontDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if bytes.Contains(b, []byte("DejaVu")) {
		t.Error("the fallback PDF embeds DejaVu")
	}
	total := ledger.FormatMinor(st.TotalMinor, st.MinorDigits)
	if !bytes.Contains(b, []byte(total)) {
		t.Errorf("the total %s is not in the PDF", total)
	}
	text, ok := pdfText(t, b)
	if !ok {
		return
	}
	for _, want := range []string{total, "Jürgen Müller", "Zoë Smith", "Siobhán O'Brien", "Smith Lab — Functional Genomics"} {
		if !strings.Contains(text, want) {
			t.Errorf("the PDF's text lacks %q", want)
		}
	}
}

func TestPDFShortFinal(t *testing.T) {
	st := sampleStatement(false)
	st.Status, st.Number = "final", "202610-0007"
	f, err := buildPDF("University HPC", st, pdfOptions{fontDir: defaultFontDir, compress: true})
	if err != nil {
		t.Fatal(err)
	}
	pages := f.PageCount()
	var buf bytes.Buffer
	if err := f.Output(&buf); err != nil {
		t.Fatal(err)
	}
	checkPDFFile(t, buf.Bytes(), pages)
	text, ok := pdfText(t, buf.Bytes())
	if !ok {
		return
	}
	if !strings.Contains(text, fmt.Sprintf("Page 1 of %d", pages)) || !strings.Contains(text, "FINAL") || strings.Contains(text, "DRAFT") {
		t.Errorf("unexpected text:\n%s", text)
	}
}

// The same statement gives the same file.
func TestPDFReproducible(t *testing.T) {
	st := sampleStatement(true)
	var a, b bytes.Buffer
	if err := PDF(&a, "University HPC", st); err != nil {
		t.Fatal(err)
	}
	if err := PDF(&b, "University HPC", st); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two renderings of the same statement differ")
	}
}

func TestFormats(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"18234.512345", "18,234.51"},
		{"1250833.000000", "1,250,833.00"},
		{"0.004000", "< 0.01"},
		{"-1000.000000", "-1,000.00"},
		{"0.005000", "0.01"},
		{"", ""},
		{"n/a", "n/a"},
	} {
		if got := views.StatementQuantity(c.in); got != c.want {
			t.Errorf("StatementQuantity(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"0.0123456", "0.0123456"},
		{"12", "12.00"},
		{"0.5", "0.50"},
		{"0.850", "0.85"},
		{"1500.25", "1,500.25"},
		{"0.333333333333333333333333333333", "0.3333333333…"},
		{"", ""},
		{"abc", "abc"},
	} {
		if got := views.StatementUnitPrice(c.in); got != c.want {
			t.Errorf("StatementUnitPrice(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestWriteSamples renders the long sample statement as HTML and PDF and a short
// final one as PDF, checks each is what it says, and writes them to the folder
// PARSIMONY_SAMPLES names (to look at), else to the test's temporary one.
func TestWriteSamples(t *testing.T) {
	dir := os.Getenv("PARSIMONY_SAMPLES")
	if dir == "" {
		dir = t.TempDir()
	}
	st := sampleStatement(true)
	short := sampleStatement(false)
	short.Status, short.Number = "final", "202610-0007"
	for _, out := range []struct {
		path  string
		write func(*bytes.Buffer) error
	}{
		{"statement-sample.html", func(b *bytes.Buffer) error { return HTML(b, "University HPC — Research Computing", st) }},
		{"statement-sample.pdf", func(b *bytes.Buffer) error { return PDF(b, "University HPC — Research Computing", st) }},
		{"statement-sample-short.pdf", func(b *bytes.Buffer) error { return PDF(b, "University HPC", short) }},
	} {
		var buf bytes.Buffer
		if err := out.write(&buf); err != nil {
			t.Fatal(err)
		}
		head := "<!doctype html>"
		if strings.HasSuffix(out.path, ".pdf") {
			head = "%pdf-"
		}
		if !bytes.HasPrefix(bytes.ToLower(buf.Bytes()[:min(buf.Len(), 20)]), []byte(head)) {
			t.Errorf("%s does not start with %s", out.path, head)
		}
		path := filepath.Join(dir, out.path)
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}
}

// hostileStatement is the short sample with a character from every plane and
// every kind of troublesome text in the names, a job name, the adjustment
// reasons and the site: each field's input, and what its printed text must
// read with DejaVu (every character kept but those the font has no glyph for,
// drawn as �).
func hostileStatement() (ledger.Statement, []struct{ in, want string }) {
	st := sampleStatement(false)
	cases := []struct{ in, want string }{
		{"Lab 🧬 Genomics 𝔸 & 𠀀 (planes 1, 2) — Zoë", "Lab � Genomics � & � (planes 1, 2) — Zoë"},
		{"Jürgen 😀 Müller", "Jürgen � Müller"},
		{"Nul\x00bell\x07del\x7fc1\u0085tab\tend", "Nul�bell�del�c1 tab end"},
		{"bad\xffutf8 \xe2\x82 and \uFFFD kept", "bad�utf8 �� and � kept"},
		{"Refund for job 🚀-align_𝑥.sh", "Refund for job �-align_�.sh"},
		{"Credit 💶 for the outage 🎉", "Credit � for the outage �"},
		{"CC-\U0010FFFF-\U000F0000-\U000E0041x", "CC-�-�-x"},         // planes 16 and 15 (private use); a tag character is invisible
		{"Łukasz\u200b Nowak \u202eevil", "Łukasz\u200b Nowak evil"}, // an override is dropped: it cannot disguise a name
		{"Imaging \u4e2d\u6587 ❤\ufe0f", "Imaging �� ❤\ufe0f"},       // DejaVu has no CJK
		{"Sequencing שלום עולם", "Sequencing שלום עולם"},             // drawn right to left (TestVisual), read back in order
		{"Nanopore مختبر الجينوم", "Nanopore مختبر الجينوم"},
		{"Ze\u0301phyr Ågren Z\u0335a\u0336l\u0337g\u0338o", "Ze\u0301phyr Ågren Z\u0335a\u0336l\u0337g\u0338o"}, // combining marks stay on their letter
	}
	st.GroupName = cases[0].in
	st.Users[0].Name = cases[1].in
	st.Users[1].Name = cases[2].in
	st.Users[2].Name = cases[3].in
	st.CostCentre = cases[6].in
	st.Users[3].Name = cases[7].in
	st.Subgroups[3].Name = cases[8].in
	st.Subgroups[1].Name = cases[9].in
	st.Subgroups[2].Name = cases[10].in
	st.Subgroups[0].Name = cases[11].in
	st.PI = "Zoë Smith " + strings.Repeat("🧬", 3) + strings.Repeat("x", 400) // very long, unbroken
	for i := range st.Lines {
		switch st.Lines[i].Kind {
		case ledger.LineAdjustment:
			if strings.HasPrefix(st.Lines[i].Description, "Credit") {
				st.Lines[i].Description = cases[5].in
			} else {
				st.Lines[i].Description = cases[4].in
			}
		}
	}
	return st, cases
}

// TestPDFEveryCharacterPrints: a statement whose group, user, job names and
// adjustment reasons hold emoji and characters of other planes, controls,
// invalid UTF-8 and a very long name renders a valid PDF — with DejaVu and
// with the core font — that keeps every other character. On the old code fpdf
// panicked (index out of range [65536]).
func TestPDFEveryCharacterPrints(t *testing.T) {
	st, cases := hostileStatement()
	for _, font := range []struct {
		name, dir string
	}{{"DejaVu", defaultFontDir}, {"core font", ""}} {
		t.Run(font.name, func(t *testing.T) {
			dir := font.dir
			if dir == "" {
				dir = t.TempDir()
			}
			var buf bytes.Buffer
			if err := writePDF(&buf, "University HPC 🏛 — Research Computing", st, pdfOptions{fontDir: dir}); err != nil {
				t.Fatal(err)
			}
			b := buf.Bytes()
			checkPDFFile(t, b, bytes.Count(b, []byte("/Type /Page"))-bytes.Count(b, []byte("/Type /Pages")))
			// The document information keeps the name whole: it needs no font.
			if !bytes.Contains(b, []byte(utf16be("Lab 🧬 Genomics 𝔸"))) {
				t.Error("the PDF's subject does not hold the group's name with its emoji")
			}
			text, _ := pdfText(t, b)
			// pdftotext marks the right-to-left text it puts back in reading order
			// with an embedding (U+202B … U+202C): not part of the names.
			flat := strings.Join(strings.Fields(strings.NewReplacer("\u202b", "", "\u202c", "").Replace(text)), " ")
			for _, c := range cases {
				want := c.want
				if font.dir == "" { // cp1252: what it lacks prints as '?', invisible characters as nothing
					want = strings.Map(func(r rune) rune {
						if r != '\ufe0f' && unicode.In(r, unicode.Hebrew, unicode.Arabic, unicode.Mn) {
							return '?'
						}
						switch r {
						case '\uFFFD', '❤', 'Ł':
							return '?'
						case '\u200b', '\ufe0f':
							return -1
						}
						return r
					}, want)
				}
				if !strings.Contains(flat, strings.Join(strings.Fields(want), " ")) {
					t.Errorf("the PDF's text lacks %q (from %q)", want, c.in)
				}
			}
			for _, want := range []string{"Zoë Smith", "xxxxxxxxxx", ledger.FormatMinor(st.TotalMinor, st.MinorDigits), "Research Computing"} {
				if !strings.Contains(text, want) {
					t.Errorf("the PDF's text lacks %q", want)
				}
			}
		})
	}
}

// TestPDFHugeName: a name as long as a book is cut, with an ellipsis, where it
// would no longer fit on a page, and lays out in reasonable time.
func TestPDFHugeName(t *testing.T) {
	st := sampleStatement(false)
	st.GroupName = strings.Repeat("Genomics", 50_000) // 400 kB, no space
	st.Users[0].Name = strings.Repeat("Jürgen Müller ", 30_000)
	var buf bytes.Buffer
	if err := writePDF(&buf, "University HPC", st, pdfOptions{fontDir: defaultFontDir}); err != nil {
		t.Fatal(err)
	}
	text, _ := pdfText(t, buf.Bytes())
	if !strings.Contains(text, "…") || !strings.Contains(text, "GenomicsGenomics") || !strings.Contains(text, "Jürgen Müller Jürgen") {
		t.Errorf("the long names are not cut with an ellipsis:\n%s", text[:min(len(text), 3000)])
	}
	if n := strings.Count(text, "\f"); n > 3 {
		t.Errorf("%d pages for a short statement with long names", n)
	}
}
