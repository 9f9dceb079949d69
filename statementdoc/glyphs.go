package statementdoc

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"codeberg.org/go-pdf/fpdf"
)

// Why names are mapped before fpdf sees them
//
// fpdf draws an embedded TrueType font through a 16-bit code per character
// (Identity-H: the code is the code point), so it can only address the Basic
// Multilingual Plane. Given a character above U+FFFF — an emoji, 𝔸, a rare CJK
// ideograph, anywhere in a group, user or job name or an adjustment reason — it
//   - converts the text to UTF-16 with its own converter, which reads a 4-byte
//     UTF-8 sequence as if it had 3 bytes (the code written is garbage) and
//     indexes past the end of a string that ends in a truncated sequence;
//   - records the code point as used, and when the document is written indexes
//     its 65,536-entry width table with it: index out of range, a panic that
//     took the web's statement PDF (500) and `export --format pdf` down.
//
// Other input it mishandles: a control character is written as-is (NUL is
// given the width of the font's whole character count, and the core fonts stop
// measuring at it); invalid UTF-8 is drawn as whatever its bytes happen to
// decode to; a character the font lacks is drawn as the font's invisible
// .notdef glyph with a made-up width and no text behind it, so it silently
// disappears from the printed page and from the text a reader copies.
//
// So every string is mapped, per font and style, before it is measured or
// drawn: each character the font can draw is kept; whitespace controls become
// spaces; an invisible formatting character the font lacks (a variation
// selector, a joiner, a direction mark) and the soft hyphen are dropped, as
// Unicode asks of default-ignorable characters; everything else — characters
// above U+FFFF, other controls, invalid bytes, characters the font has no glyph
// for — is drawn as the replacement character U+FFFD (�), or '?' in a font
// without it, so that the reader sees that something is there.

// replacement is drawn for a character the font cannot draw.
const replacement = '\uFFFD'

// charset is what one font (in one style) can draw.
type charset struct {
	has  func(rune) bool
	repl string // U+FFFD, or "?" where the font lacks it
}

// ttfCharset is the charset of the TrueType font file at path: the characters
// of the Basic Multilingual Plane its cmap maps to a glyph (fpdf reads the
// same table).
func ttfCharset(path string) (charset, error) {
	rec, err := fpdf.TtfParse(path)
	if err != nil {
		return charset{}, err
	}
	chars := rec.Chars
	has := func(r rune) bool { return r > 0 && r < 0xFFFF && chars[uint16(r)] != 0 }
	return newCharset(has), nil
}

// coreCharset is what fpdf's core fonts (Helvetica, in cp1252) can draw, as
// tr translates it: printable ASCII and the cp1252 characters tr knows (it
// writes '.' for any other).
func coreCharset(tr func(string) string) charset {
	known := map[rune]bool{}
	has := func(r rune) bool {
		if r >= 0x20 && r < 0x7F {
			return true
		}
		if r < 0xA0 {
			return false
		}
		ok, seen := known[r]
		if !seen {
			ok = tr(string(r)) != "."
			known[r] = ok
		}
		return ok
	}
	return newCharset(has)
}

func newCharset(has func(rune) bool) charset {
	c := charset{has: has, repl: string(replacement)}
	if !has(replacement) {
		c.repl = "?"
	}
	return c
}

// printable maps s to what the font draws: see the top of this file.
func (c charset) printable(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1: // a byte that is not UTF-8
			b.WriteString(c.repl)
		case r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r' || r == 0x85 || r == 0x2028 || r == 0x2029:
			b.WriteByte(' ')
		case r < 0x20 || (r >= 0x7F && r < 0xA0): // controls
			b.WriteString(c.repl)
		case r == 0xAD || bidiControl(r): // soft hyphen; direction controls (text is drawn left to right as stored)
		case c.has(r):
			b.WriteRune(r)
		case ignorable(r):
		default:
			b.WriteString(c.repl)
		}
	}
	return b.String()
}

// bidiControl reports the explicit direction marks, embeddings, overrides and
// isolates: invisible, and meaningless here since no reordering is done — and
// dropping them means an override cannot make a name look like another.
func bidiControl(r rune) bool {
	return r == 0x061C || r == 0x200E || r == 0x200F || (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069)
}

// ignorable reports Unicode's default-ignorable code points (DerivedCoreProperties
// Default_Ignorable_Code_Point): drawn as nothing when a font lacks them.
func ignorable(r rune) bool {
	switch {
	case r == 0x034F, r == 0x115F, r == 0x1160, r == 0x17B4, r == 0x17B5, r == 0x3164, r == 0xFEFF, r == 0xFFA0:
		return true
	case r >= 0x180B && r <= 0x180F, r >= 0x200B && r <= 0x200F, r >= 0x2060 && r <= 0x206F,
		r >= 0xFE00 && r <= 0xFE0F, r >= 0xFFF0 && r <= 0xFFF8, r >= 0x1BCA0 && r <= 0x1BCA3,
		r >= 0x1D173 && r <= 0x1D17A, r >= 0xE0000 && r <= 0xE0FFF:
		return true
	}
	return false
}

// infoString is s as a PDF text string for the document information (title,
// subject, author): UTF-16BE with a byte-order mark, written here because
// fpdf's own conversion garbles characters above U+FFFF. The information
// dictionary needs no font, so every character is kept; only invalid bytes
// and controls, which have no place in a title, are replaced.
func infoString(s string) string {
	var runes []rune
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1, r < 0x20, r >= 0x7F && r < 0xA0:
			r = replacement
		}
		runes = append(runes, r)
	}
	b := []byte{0xFE, 0xFF}
	for _, u := range utf16.Encode(runes) {
		b = append(b, byte(u>>8), byte(u))
	}
	return string(b)
}
