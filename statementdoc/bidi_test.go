package statementdoc

import "testing"

func TestVisual(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"left to right is left alone", "Smith Lab (2026) 1,234.50", "Smith Lab (2026) 1,234.50"},
		{"Hebrew is reversed", "שלום", "םולש"},
		{"words of Hebrew keep their order right to left", "Lab שלום עולם x", "Lab םלוע םולש x"},
		{"a number inside Hebrew reads left to right", "מעבדה 42 שלום", "םולש 42 הדבעמ"},
		{"brackets in Hebrew are mirrored", "מעבדה (כהן)", "(ןהכ) הדבעמ"},
		{"Arabic with its own digits", "مختبر ١٢", "١٢ ربتخم"},
		{"points stay after their letter", "שָׁלוֹם", "םוֹלשָׁ"},
		{"trailing Latin after Hebrew", "שלום Lab", "םולש Lab"},
		{"brackets around Latin after Hebrew are Latin", "מעבדה (Lab A)", "הדבעמ (Lab A)"},
		{"an unmatched bracket", "שלום (x", "םולש (x"},
	} {
		if got := visual(c.in); got != c.want {
			t.Errorf("%s: visual(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}
