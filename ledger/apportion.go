package ledger

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"slices"
)

// apportion splits target minor units over exact shares so that the parts add up to
// target and each part is within one minor unit of its share (largest remainder:
// every part starts at its share rounded down, and the units left are given to the
// largest fractional parts — or taken from the smallest when the shares' floors
// already exceed the target). Ties go to the earlier share, so the result is stable.
// The arithmetic is exact at any size; a part over the maximum amount is refused
// (names(i) says whose it is), never wrapped.
func apportion(target int64, shares []*big.Rat, digits int, names func(i int) string) ([]int64, error) {
	if len(shares) == 0 {
		return []int64{}, nil
	}
	scale := new(big.Rat).SetInt(pow10(digits))
	parts := make([]*big.Int, len(shares))
	fracs := make([]*big.Rat, len(shares))
	for i, s := range shares {
		x := new(big.Rat).Mul(s, scale)
		fl := new(big.Int).Div(x.Num(), x.Denom()) // Euclidean: floor for positive denominators
		parts[i] = fl
		fracs[i] = new(big.Rat).Sub(x, new(big.Rat).SetInt(fl))
	}
	order := make([]int, len(shares))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return fracs[b].Cmp(fracs[a]) })
	return distribute(target, parts, order, digits, names)
}

// apportionFloats is apportion over float64 shares, to the same minor unit, without
// rationals: a float is m·2^e exactly, so each share's scaled floor and fraction
// are integers over a power of two, and fractions compare as integers over the
// largest of those powers (no gcd at every step, which is most of apportion's
// time on a dashboard's hundreds of rows). NaN and infinities count as 0.
func apportionFloats(target int64, shares []float64, digits int, names func(i int) string) ([]int64, error) {
	if len(shares) == 0 {
		return []int64{}, nil
	}
	if out, ok := apportionFloatsSmall(target, shares, digits); ok {
		return out, nil
	}
	scale := pow10(digits)
	parts := make([]*big.Int, len(shares))
	rems := make([]*big.Int, len(shares)) // fraction i is rems[i] / 2^shifts[i]
	shifts := make([]uint, len(shares))
	var most uint
	for i, a := range shares {
		parts[i], rems[i] = new(big.Int), new(big.Int)
		if a == 0 || math.IsNaN(a) || math.IsInf(a, 0) {
			continue
		}
		frac, exp := math.Frexp(a) // a = frac·2^exp, 0.5 ≤ |frac| < 1
		m := int64(math.Ldexp(frac, 53))
		e := exp - 53 // a = m·2^e exactly
		n := new(big.Int).Mul(big.NewInt(m), scale)
		if e >= 0 {
			parts[i].Lsh(n, uint(e))
			continue
		}
		k := uint(-e)
		parts[i].Rsh(n, k) // arithmetic: the floor, negative shares too
		rems[i].Sub(n, new(big.Int).Lsh(parts[i], k))
		shifts[i] = k
		most = max(most, k)
	}
	for i, r := range rems {
		r.Lsh(r, most-shifts[i])
	}
	order := make([]int, len(shares))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return rems[b].Cmp(rems[a]) })
	return distribute(target, parts, order, digits, names)
}

// apportionFloatsSmall is apportionFloats in int64 arithmetic, for the usual case
// (money amounts with at most 3 decimals, none tiny or huge): every scaled share
// m·10^digits fits 63 bits, every fraction's power of two is at most 2^62, so the
// fractions compare as integers over the largest of them without overflow. ok is
// false otherwise, for the big-integer path; the result is the same either way.
func apportionFloatsSmall(target int64, shares []float64, digits int) (out []int64, ok bool) {
	if digits > 3 {
		return nil, false
	}
	mul := uint64(1)
	for range digits {
		mul *= 10
	}
	const partLimit = 1 << 50 // parts, their sum and the units left stay far from overflow
	parts := make([]int64, len(shares))
	rems := make([]uint64, len(shares))
	shifts := make([]uint, len(shares))
	var most uint
	var sum int64
	for i, a := range shares {
		if a == 0 || math.IsNaN(a) || math.IsInf(a, 0) {
			continue
		}
		frac, exp := math.Frexp(math.Abs(a))
		n := uint64(math.Ldexp(frac, 53)) * mul // < 2^53·1000 < 2^63
		k := 53 - exp
		if k <= 0 || k > 62 {
			return nil, false // a whole number of units past 2^53, or under 2^-9 of one: rare, exact below
		}
		p, rem := int64(n>>uint(k)), n&(1<<uint(k)-1)
		if a < 0 { // the floor of a negative share is one unit lower when it has a fraction
			p = -p
			if rem != 0 {
				p--
				rem = 1<<uint(k) - rem
			}
		}
		if p > partLimit || p < -partLimit {
			return nil, false
		}
		parts[i], rems[i], shifts[i] = p, rem, uint(k)
		sum += p
		most = max(most, uint(k))
	}
	for i := range rems {
		rems[i] <<= most - shifts[i]
	}
	order := make([]int, len(shares))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(rems[b], rems[a]) })
	n := target - sum
	if n > partLimit || n < -partLimit {
		return nil, false
	}
	rounds, extra := n/int64(len(order)), n%int64(len(order))
	for i := range parts {
		parts[i] += rounds
	}
	for k := int64(0); k < extra; k++ {
		parts[order[k]]++
	}
	for k := int64(0); k < -extra; k++ {
		parts[order[len(order)-1-int(k)]]--
	}
	limit := maxMinor(digits).Int64() // 10^(12+digits) − 1: an int64
	for _, p := range parts {
		if p > limit || p < -limit {
			return nil, false // the big path names the part that is too large
		}
	}
	return parts, true
}

// distribute gives parts (the shares' floors, in minor units) the units target has
// over their sum, in order (largest fraction first), and checks each part's size.
func distribute(target int64, parts []*big.Int, order []int, digits int, names func(i int) string) ([]int64, error) {
	sum := new(big.Int)
	for _, p := range parts {
		sum.Add(sum, p)
	}
	// target is the sum of rounded lines and the shares their exact sum, so what is
	// left is about half a unit per line: small, but counted exactly.
	left := new(big.Int).Sub(big.NewInt(target), sum)
	if !left.IsInt64() {
		return nil, fmt.Errorf("apportion %d minor units over shares that add up to %s: %w", target, sum, ErrTooLarge)
	}
	n := left.Int64()
	// Units left go round the parts from the largest fraction (taken ones from the
	// smallest): every part gets the whole rounds, then the first few one more, so
	// a target far from the shares' sum costs no more than a near one.
	rounds, extra := n/int64(len(order)), n%int64(len(order))
	if rounds != 0 {
		r := big.NewInt(rounds)
		for _, p := range parts {
			p.Add(p, r)
		}
	}
	one := big.NewInt(1)
	for k := int64(0); k < extra; k++ {
		parts[order[k]].Add(parts[order[k]], one)
	}
	for k := int64(0); k < -extra; k++ {
		i := order[len(order)-1-int(k)]
		parts[i].Sub(parts[i], one)
	}
	out := make([]int64, len(parts))
	limit := maxMinor(digits)
	for i, p := range parts {
		if p.CmpAbs(limit) <= 0 {
			out[i] = p.Int64()
			continue
		}
		_, err := checkedMinor(p, digits, names(i)) // the error, with the part's name
		return nil, err
	}
	return out, nil
}
