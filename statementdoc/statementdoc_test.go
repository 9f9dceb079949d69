package statementdoc

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/statementdoc/statementdoctest"
)

// TestEmptyPDF: a statement with no lines is one page.
func TestEmptyPDF(t *testing.T) {
	st := ledger.Statement{Number: "202610-0001", Status: "final", Period: "2026-10", Currency: "CHF", MinorDigits: 2,
		GroupName: "Archive", GroupPath: "archive"}
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
	st := statementdoctest.Sample(true)
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
	st := statementdoctest.Sample(true)
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
	st := statementdoctest.Sample(false)
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
	st := statementdoctest.Sample(true)
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
		if got := Quantity(c.in); got != c.want {
			t.Errorf("Quantity(%q) = %q, want %q", c.in, got, c.want)
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
		if got := UnitPrice(c.in); got != c.want {
			t.Errorf("UnitPrice(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestWriteSamples renders the long sample statement and a short final one as
// PDF (views' TestWriteHTMLSample writes the HTML), checks each is what it says, and writes them to the folder
// PARSIMONY_SAMPLES names (to look at), else to the test's temporary one.
func TestWriteSamples(t *testing.T) {
	dir := os.Getenv("PARSIMONY_SAMPLES")
	if dir == "" {
		dir = t.TempDir()
	}
	st := statementdoctest.Sample(true)
	short := statementdoctest.Sample(false)
	short.Status, short.Number = "final", "202610-0007"
	for _, out := range []struct {
		path  string
		write func(*bytes.Buffer) error
	}{
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
	st := statementdoctest.Sample(false)
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
	st := statementdoctest.Sample(false)
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
