package csvsafe

import (
	"bytes"
	"encoding/csv"
	"testing"
)

func TestText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"},
		{"+1+2", "'+1+2"},
		{"-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"},
		{"@SUM(A1:A9)", "'@SUM(A1:A9)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"＝1+1", "'＝1+1"},
		{"-12.50", "'-12.50"}, // in a text column, even a number-like name is text
		{"Smith Lab", "Smith Lab"},
		{"a=b", "a=b"},
		{"", ""},
		{"'quoted", "'quoted"},
		{"Zoë 🧬", "Zoë 🧬"},
	} {
		if got := Text(c.in); got != c.want {
			t.Errorf("Text(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestNumber(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"-12.50", "-12.50"},
		{"+3", "+3"},
		{"1,234.5", "1,234.5"},
		{"0.0123456", "0.0123456"},
		{"1e-9", "1e-9"},
		{"-4.5E+10", "-4.5E+10"},
		{"12%", "12%"},
		{".5", ".5"},
		{"", ""},
		{"–", "–"},
		{"€1,234.00", "€1,234.00"},
		{"-1+2", "'-1+2"},
		{"=1", "'=1"},
		{"-", "'-"},
		{"-e5", "'-e5"},
		{"1e", "1e"}, // not a number, but harmless text
		{"-1e", "'-1e"},
		{"+,5", "'+,5"},
		{"-12.50 ", "'-12.50 "},
	} {
		if got := Number(c.in); got != c.want {
			t.Errorf("Number(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestWriter(t *testing.T) {
	header := []string{"group", "amount", "note"}
	numeric, err := Columns(header, "amount")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Columns(header, "amount", "quantity"); err == nil {
		t.Error("Columns accepted a column the header lacks")
	}
	var buf bytes.Buffer
	w := NewWriter(&buf, numeric)
	rec := []string{"=cmd|' /C calc'!A0", "-12.50", "-bad"}
	for _, r := range [][]string{header, rec, {"@x", "=1+1", "+y", "extra column past the mask: -z"}} {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if rec[0] != "=cmd|' /C calc'!A0" {
		t.Error("Write changed the caller's record")
	}
	r := csv.NewReader(bytes.NewReader(buf.Bytes()))
	r.FieldsPerRecord = -1
	got, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"group", "amount", "note"},
		{"'=cmd|' /C calc'!A0", "-12.50", "'-bad"},
		{"'@x", "'=1+1", "'+y", "extra column past the mask: -z"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Errorf("row %d cell %d = %q, want %q", i, j, got[i][j], want[i][j])
			}
		}
	}
}
