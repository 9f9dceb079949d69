package views_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/statementdoc"
	"github.com/parsimony-hpc/parsimony/statementdoc/statementdoctest"
	"github.com/parsimony-hpc/parsimony/views"
)

// The statement as a printable HTML document (views.StatementHTML). The PDF's
// tests are in package statementdoc, on the same sample statements.

func renderHTML(t *testing.T, st ledger.Statement) (string, *goquery.Document) {
	t.Helper()
	var buf bytes.Buffer
	if err := views.StatementHTML(&buf, "University HPC — Research Computing", st); err != nil {
		t.Fatalf("HTML: %v", err)
	}
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("parse HTML: %v", err)
	}
	return buf.String(), doc
}

func TestHTML(t *testing.T) {
	st := statementdoctest.Sample(true)
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
	for _, sec := range statementdoc.Sections(st) {
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
	st := statementdoctest.Sample(false)
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
}

// TestWriteHTMLSample renders the long sample statement as HTML and writes it to
// the folder PARSIMONY_SAMPLES names (to look at), else to the test's temporary one.
func TestWriteHTMLSample(t *testing.T) {
	dir := os.Getenv("PARSIMONY_SAMPLES")
	if dir == "" {
		dir = t.TempDir()
	}
	var buf bytes.Buffer
	if err := views.StatementHTML(&buf, "University HPC — Research Computing", statementdoctest.Sample(true)); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(bytes.ToLower(buf.Bytes()[:min(buf.Len(), 20)]), []byte("<!doctype html>")) {
		t.Error("the document does not start with <!doctype html>")
	}
	path := filepath.Join(dir, "statement-sample.html")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}
