package views

import "strconv"

// permille turns a fraction into an SVG coordinate on a 0–1000 axis, clamped.
func permille(f float64) string {
	v := f * 1000
	if v < 0 || v != v {
		v = 0
	}
	if v > 997 {
		v = 997
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
