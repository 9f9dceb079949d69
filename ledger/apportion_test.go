package ledger

import (
	"math"
	"math/big"
	"math/rand/v2"
	"sort"
	"testing"
)

// apportionOneByOne is apportion as first written: the units left go round the
// parts one at a time, from the largest fraction (or taken from the smallest).
func apportionOneByOne(target int64, shares []*big.Rat, digits int) []int64 {
	scale := new(big.Rat).SetInt(pow10(digits))
	parts := make([]int64, len(shares))
	type frac struct {
		i int
		f *big.Rat
	}
	fracs := make([]frac, len(shares))
	var sum int64
	for i, s := range shares {
		x := new(big.Rat).Mul(s, scale)
		fl := new(big.Int).Div(x.Num(), x.Denom())
		parts[i] = fl.Int64()
		sum += parts[i]
		fracs[i] = frac{i, new(big.Rat).Sub(x, new(big.Rat).SetInt(fl))}
	}
	n := target - sum
	sort.SliceStable(fracs, func(a, b int) bool { return fracs[a].f.Cmp(fracs[b].f) > 0 })
	for k := 0; n > 0; k = (k + 1) % len(fracs) {
		parts[fracs[k].i]++
		n--
	}
	for k := len(fracs) - 1; n < 0; k = (k - 1 + len(fracs)) % len(fracs) {
		parts[fracs[k].i]--
		n++
	}
	return parts
}

// Giving the units left in whole rounds is the same as one at a time, for targets
// near the shares' sum and far from it, above and below.
func TestApportionRoundsAreOneByOne(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for trial := range 2000 {
		n := 1 + r.IntN(12)
		shares := make([]*big.Rat, n)
		var sum int64
		for i := range shares {
			minor := r.Int64N(100000) - 20000
			shares[i] = big.NewRat(minor*1000+r.Int64N(1000), 100000) // cents and a fraction
			sum += minor
		}
		target := sum + r.Int64N(2001) - 1000
		if trial%3 == 0 {
			target = sum + r.Int64N(20) - 10
		}
		got, err := apportion(target, shares, 2, func(int) string { return "x" })
		if err != nil {
			t.Fatal(err)
		}
		want := apportionOneByOne(target, shares, 2)
		var total int64
		for i := range got {
			total += got[i]
			if got[i] != want[i] {
				t.Fatalf("trial %d: target %d over %v: got %v, one by one %v", trial, target, shares, got, want)
			}
		}
		if total != target {
			t.Fatalf("trial %d: parts add up to %d, target %d", trial, total, target)
		}
	}
}

// apportionFloats gives every part apportion gives the same shares as rationals:
// negative, tiny, huge and zero shares, targets near and far.
func TestApportionFloatsIsApportion(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	pick := func() float64 {
		switch r.IntN(8) {
		case 0:
			return 0
		case 1:
			return -r.ExpFloat64() * 50
		case 2:
			return r.Float64() * 1e-9
		case 3:
			return float64(r.Int64N(1e9)) / 100 // a whole number of cents, as floats hold them
		case 4:
			return r.ExpFloat64() * 1e7
		default:
			return r.ExpFloat64() * 300
		}
	}
	for trial := range 3000 {
		n := 1 + r.IntN(20)
		amounts := make([]float64, n)
		shares := make([]*big.Rat, n)
		var sum float64
		for i := range amounts {
			amounts[i] = pick()
			shares[i] = new(big.Rat).SetFloat64(amounts[i])
			sum += amounts[i]
		}
		digits := r.IntN(4)
		target := int64(sum*float64(pow10(digits).Int64())) + r.Int64N(7) - 3
		if trial%5 == 0 {
			target += r.Int64N(100000) - 50000
		}
		name := func(int) string { return "x" }
		want, err1 := apportion(target, shares, digits, name)
		got, err2 := apportionFloats(target, amounts, digits, name)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("trial %d: errors differ: %v / %v", trial, err1, err2)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("trial %d (%d digits): target %d over %v: floats %v, rationals %v", trial, digits, target, amounts, got, want)
			}
		}
	}
	if got, err := apportionFloats(100, []float64{math.NaN(), math.Inf(1), 1}, 2, func(int) string { return "x" }); err != nil || got[2] != 100 || got[0]+got[1] != 0 {
		t.Errorf("NaN and infinities are not 0: %v, %v", got, err)
	}
}

func TestFormatMinor(t *testing.T) {
	for _, c := range []struct {
		minor  int64
		digits int
		want   string
	}{
		{0, 2, "0.00"}, {5, 2, "0.05"}, {-5, 2, "-0.05"}, {123456, 2, "1,234.56"}, {-123456, 2, "-1,234.56"},
		{7, 0, "7"}, {1234, 0, "1,234"}, {1, 3, "0.001"}, {-100, 2, "-1.00"},
		{math.MaxInt64, 2, "92,233,720,368,547,758.07"}, {math.MinInt64, 2, "-92,233,720,368,547,758.08"},
	} {
		if got := FormatMinor(c.minor, c.digits); got != c.want {
			t.Errorf("FormatMinor(%d, %d) = %q, want %q", c.minor, c.digits, got, c.want)
		}
		if got := formatBigMinor(big.NewInt(c.minor), c.digits); got != c.want {
			t.Errorf("formatBigMinor(%d, %d) = %q, want %q", c.minor, c.digits, got, c.want)
		}
	}
}

// FormatFloat's integer path rounds every float as the exact path does.
func TestRoundFloatMinorIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	exact := func(v float64, digits int) string {
		x, _ := new(big.Float).SetFloat64(v).Rat(nil)
		return FormatAmount(x, digits)
	}
	values := []float64{0.005, 1.005, 2.675, -2.675, 0.125, -0.125, 1e-300, 0.5, -0.5, 1.5, 2.5, 1 << 52, 1<<53 - 1, 9e15, 0.0049999999999999999}
	for range 200000 {
		switch r.IntN(4) {
		case 0:
			values = append(values, float64(r.Int64N(1e7))/1000+float64(r.IntN(3)-1)*1e-12)
		case 1:
			values = append(values, (r.Float64()-0.5)*math.Pow(10, float64(r.IntN(30)-12)))
		case 2:
			values = append(values, float64(r.Int64N(1<<53))*math.Pow(2, float64(-r.IntN(80))))
		default:
			values = append(values, -r.ExpFloat64()*1000)
		}
	}
	for _, v := range values {
		for digits := range 4 {
			minor, ok := roundFloatMinor(v, digits)
			if !ok {
				continue
			}
			if got, want := FormatMinor(minor, digits), exact(v, digits); got != want {
				t.Fatalf("%v (%b) at %d digits: %s, exactly %s", v, v, digits, got, want)
			}
		}
	}
}
