package statementdoc

import (
	"slices"

	"golang.org/x/text/unicode/bidi"
)

// visual returns one line of text in the order its characters are drawn, left
// to right: a Hebrew or Arabic name inside the (left-to-right) statement is
// reversed, as the Unicode Bidirectional Algorithm (UAX #9) orders it. fpdf
// draws characters in the order it is given them, so without this a Hebrew
// name would print backwards — and a PDF reader, which turns right-to-left text
// back into reading order when text is copied, would give it back reversed.
//
// This is the algorithm for one left-to-right paragraph without explicit
// embeddings (printable has dropped them): weak types W1–W4 and W7 (without
// W5's terminators, which only move a % or currency sign next to a number),
// bracket pairs N0 (simplified), neutrals N1–N2, implicit levels I1, reordering L2, with combining marks kept after their base (L3) so
// that they are drawn over it, and mirrored brackets (L4). Arabic letters are
// ordered but not joined: each is drawn in its isolated form.
func visual(line string) string {
	runes := []rune(line)
	classes := make([]bidi.Class, len(runes))
	rtl := false
	for i, r := range runes {
		p, _ := bidi.LookupRune(r)
		classes[i] = p.Class()
		if c := classes[i]; c == bidi.R || c == bidi.AL || c == bidi.AN {
			rtl = true
		}
	}
	if !rtl {
		return line
	}
	// W1: a combining mark takes the class of what it follows.
	prev := bidi.L
	for i, c := range classes {
		if c == bidi.NSM {
			classes[i] = prev
		} else {
			prev = c
		}
	}
	// W2, W3, W7: European digits after an Arabic letter are Arabic numbers, after
	// a left-to-right letter (or at the start) left to right; AL is R.
	strong := bidi.L
	for i, c := range classes {
		switch c {
		case bidi.L, bidi.R, bidi.AL:
			strong = c
		case bidi.EN:
			switch strong {
			case bidi.AL:
				classes[i] = bidi.AN
			case bidi.L:
				classes[i] = bidi.L
			}
		}
		if classes[i] == bidi.AL {
			classes[i] = bidi.R
		}
	}
	// W4: one separator between two numbers of a kind joins them (1,000 2.5).
	for i := 1; i+1 < len(classes); i++ {
		a, c, b := classes[i-1], classes[i], classes[i+1]
		if a == b && ((c == bidi.ES && a == bidi.EN) || (c == bidi.CS && (a == bidi.EN || a == bidi.AN))) {
			classes[i] = a
		}
	}
	// N0: a pair of brackets takes the direction of what it encloses when that
	// is the paragraph's (L), else the enclosed direction where the text before
	// the pair has it too, so "(כהן)" stays together with its Hebrew.
	strongDir := func(c bidi.Class) bidi.Class {
		if c == bidi.R || c == bidi.EN || c == bidi.AN {
			return bidi.R
		}
		return c
	}
	for _, pr := range bracketPairs(runes) {
		hasL, hasR := false, false
		for _, c := range classes[pr[0]+1 : pr[1]] {
			switch strongDir(c) {
			case bidi.L:
				hasL = true
			case bidi.R:
				hasR = true
			}
		}
		var set bidi.Class
		switch {
		case hasL:
			set = bidi.L
		case hasR:
			set = bidi.L
			for k := pr[0] - 1; k >= 0; k-- {
				if d := strongDir(classes[k]); d == bidi.L || d == bidi.R {
					set = d
					break
				}
			}
		default:
			continue
		}
		classes[pr[0]], classes[pr[1]] = set, set
	}
	// N1, N2: a run of neutrals between two strong types of the same direction
	// takes it (numbers count as right to left); otherwise the paragraph's, L.
	dir := func(c bidi.Class) (bidi.Class, bool) {
		switch c {
		case bidi.L:
			return bidi.L, true
		case bidi.R, bidi.EN, bidi.AN:
			return bidi.R, true
		}
		return 0, false
	}
	for i := 0; i < len(classes); {
		if _, ok := dir(classes[i]); ok {
			i++
			continue
		}
		j := i
		for j < len(classes) {
			if _, ok := dir(classes[j]); ok {
				break
			}
			j++
		}
		before, after := bidi.L, bidi.L // the line's start and end are the paragraph's direction
		if i > 0 {
			before, _ = dir(classes[i-1])
		}
		if j < len(classes) {
			after, _ = dir(classes[j])
		}
		fill := bidi.L
		if before == bidi.R && after == bidi.R {
			fill = bidi.R
		}
		for k := i; k < j; k++ {
			classes[k] = fill
		}
		i = j
	}
	// I1: levels in a left-to-right paragraph.
	levels := make([]int, len(runes))
	for i, c := range classes {
		switch c {
		case bidi.R:
			levels[i] = 1
		case bidi.EN, bidi.AN:
			levels[i] = 2
		}
	}
	// L4: a bracket in right-to-left text is drawn mirrored.
	for i, r := range runes {
		if levels[i]%2 == 1 {
			runes[i] = mirror(r)
		}
	}
	// L2 with L3: from the highest level down, reverse every run at that level or
	// above, moving a base and its combining marks as one.
	for lvl := slices.Max(levels); lvl >= 1; lvl-- {
		for i := 0; i < len(runes); {
			if levels[i] < lvl {
				i++
				continue
			}
			j := i
			for j < len(runes) && levels[j] >= lvl {
				j++
			}
			reverseClusters(runes[i:j], levels[i:j])
			i = j
		}
	}
	return string(runes)
}

// bracketPairs returns the positions of matching brackets — ( ), [ ], { } —
// opening first, as BD16 pairs them (an unmatched closing bracket is ignored).
func bracketPairs(runes []rune) [][2]int {
	var pairs [][2]int
	var stack []int
	for i, r := range runes {
		switch r {
		case '(', '[', '{':
			stack = append(stack, i)
		case ')', ']', '}':
			for k := len(stack) - 1; k >= 0; k-- {
				if mirror(runes[stack[k]]) == r {
					pairs = append(pairs, [2]int{stack[k], i})
					stack = stack[:k]
					break
				}
			}
		}
	}
	slices.SortFunc(pairs, func(a, b [2]int) int { return a[0] - b[0] })
	return pairs
}

// reverseClusters reverses runes (and their levels alongside) so that each
// base character keeps its combining marks after it.
func reverseClusters(runes []rune, levels []int) {
	slices.Reverse(runes)
	slices.Reverse(levels)
	// A mark now stands before its base: move each base back in front of its marks.
	for i := 0; i < len(runes); {
		j := i
		for j < len(runes) && isMark(runes[j]) {
			j++
		}
		if j > i && j < len(runes) {
			base, lvl := runes[j], levels[j]
			copy(runes[i+1:j+1], runes[i:j])
			copy(levels[i+1:j+1], levels[i:j])
			runes[i], levels[i] = base, lvl
			slices.Reverse(runes[i+1 : j+1]) // and the marks in their own order
			slices.Reverse(levels[i+1 : j+1])
		}
		i = j + 1
	}
}

func isMark(r rune) bool {
	p, _ := bidi.LookupRune(r)
	return p.Class() == bidi.NSM
}

// mirror returns the character drawn for r in right-to-left text: its mirror
// image for the common brackets and signs of Unicode's BidiMirroring.txt.
func mirror(r rune) rune {
	pairs := [...][2]rune{{'(', ')'}, {'[', ']'}, {'{', '}'}, {'<', '>'}, {'«', '»'}, {'‹', '›'}, {'≤', '≥'}}
	for _, p := range pairs {
		switch r {
		case p[0]:
			return p[1]
		case p[1]:
			return p[0]
		}
	}
	return r
}
