package statementdoc

import (
	"strings"
	"testing"
)

// TestPrintable: what a font without a glyph, and what fpdf cannot address,
// becomes — with a font that has Latin-1, U+FFFD and U+200B only.
func TestPrintable(t *testing.T) {
	latin := newCharset(func(r rune) bool {
		return (r >= 0x20 && r < 0x7F) || (r >= 0xA0 && r <= 0xFF) || r == '\uFFFD' || r == '\u200b'
	})
	noRepl := newCharset(func(r rune) bool { return r >= 0x20 && r < 0x7F })
	for _, c := range []struct {
		name string
		cs   charset
		in   string
		want string
	}{
		{"kept", latin, "Zoë Müller-Lüdenscheidt", "Zoë Müller-Lüdenscheidt"},
		{"above the BMP", latin, "Lab 🧬 𝔸 𠀀 \U0010FFFF", "Lab � � � �"},
		{"not in the font", latin, "Łukasz 中", "�ukasz �"},
		{"whitespace controls", latin, "a\tb\nc\rd\u2028e", "a b c d e"},
		{"other controls", latin, "a\x00b\x07c\x7fd\u0085e\u009bf", "a�b�c�d e�f"},
		{"invalid UTF-8, one mark a byte", latin, "a\xffb\xe2\x82c", "a�b��c"},
		{"U+FFFD stays", latin, "a\uFFFDb", "a\uFFFDb"},
		{"ignorables the font lacks vanish", latin, "a\u200db\ufe0fc\U000E0041d\u2060e", "abcde"},
		{"ignorables the font has stay", latin, "a\u200bb", "a\u200bb"},
		{"direction controls and soft hyphens vanish", latin, "a\u202eb\u2067c\u200fd\u00ade", "abcde"},
		{"no U+FFFD in the font: a question mark", noRepl, "a😀b\x00", "a?b?"},
	} {
		if got := c.cs.printable(c.in); got != c.want {
			t.Errorf("%s: printable(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
	long := strings.Repeat("🧬", 100_000)
	if got := latin.printable(long); got != strings.Repeat("\uFFFD", 100_000) {
		t.Error("a long run of emoji is not replaced one for one")
	}
}

func TestInfoString(t *testing.T) {
	got := infoString("Lab 🧬\x00")
	want := "\xfe\xff" + utf16be("Lab 🧬\uFFFD")
	if got != want {
		t.Errorf("infoString = %x, want %x", got, want)
	}
}
