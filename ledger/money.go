package ledger

import (
	"math/big"
	"sort"
	"strings"
)

// Money in the ledger is exact until a statement line is written: values are
// rationals (quantity × price / base units per priced unit), and each line is
// rounded once, half away from zero, to the currency's minor unit. A statement's
// total is the sum of its rounded lines, so the printed lines always add up.

// pow10 returns 10^n.
func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// RoundMinor rounds an amount in currency to an integer number of minor units
// (cents with digits = 2), half away from zero.
func RoundMinor(amount *big.Rat, digits int) int64 {
	scaled := new(big.Rat).Mul(amount, new(big.Rat).SetInt(pow10(digits)))
	num, den := scaled.Num(), scaled.Denom()
	q, r := new(big.Int).QuoRem(num, den, new(big.Int)) // truncates toward zero
	twice := new(big.Int).Mul(new(big.Int).Abs(r), big.NewInt(2))
	if twice.Cmp(den) >= 0 {
		if num.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q.Int64()
}

// FormatMinor writes minor units as a decimal amount with thousands separators,
// e.g. 123456 with 2 digits → "1,234.56".
func FormatMinor(minor int64, digits int) string {
	neg := minor < 0
	s := big.NewInt(minor)
	s.Abs(s)
	txt := s.String()
	for len(txt) <= digits {
		txt = "0" + txt
	}
	whole, frac := txt[:len(txt)-digits], txt[len(txt)-digits:]
	out := GroupThousands(whole)
	if digits > 0 {
		out += "." + frac
	}
	if neg {
		out = "-" + out
	}
	return out
}

// PlainMinor writes minor units as a plain decimal for machines: "-1234.56".
func PlainMinor(minor int64, digits int) string {
	return strings.ReplaceAll(FormatMinor(minor, digits), ",", "")
}

// apportion splits target minor units over exact shares so that the parts add up to
// target and each part is within one minor unit of its share (largest remainder:
// every part starts at its share rounded down, and the units left are given to the
// largest fractional parts — or taken from the smallest when the shares' floors
// already exceed the target). Ties go to the earlier share, so the result is stable.
func apportion(target int64, shares []*big.Rat, digits int) []int64 {
	out := make([]int64, len(shares))
	if len(shares) == 0 {
		return out
	}
	scale := new(big.Rat).SetInt(pow10(digits))
	type frac struct {
		i int
		f *big.Rat
	}
	fracs := make([]frac, len(shares))
	var sum int64
	for i, s := range shares {
		x := new(big.Rat).Mul(s, scale)
		fl := new(big.Int).Div(x.Num(), x.Denom()) // Euclidean: floor for positive denominators
		out[i] = fl.Int64()
		sum += out[i]
		fracs[i] = frac{i, new(big.Rat).Sub(x, new(big.Rat).SetInt(fl))}
	}
	left := target - sum
	sort.SliceStable(fracs, func(a, b int) bool { return fracs[a].f.Cmp(fracs[b].f) > 0 })
	for k := 0; left > 0; k = (k + 1) % len(fracs) {
		out[fracs[k].i]++
		left--
	}
	for k := len(fracs) - 1; left < 0; k = (k - 1 + len(fracs)) % len(fracs) {
		out[fracs[k].i]--
		left++
	}
	return out
}

// parseRat reads a decimal text (as PostgreSQL writes numeric) exactly; empty is 0.
func parseRat(s string) *big.Rat {
	if s == "" {
		return new(big.Rat)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return new(big.Rat)
	}
	return r
}

// DecimalString writes r with exactly digits decimals, rounded half away from zero.
func DecimalString(r *big.Rat, digits int) string {
	return PlainMinor(RoundMinor(r, digits), digits)
}
