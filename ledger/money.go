package ledger

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Money in the ledger is exact until a statement line is written: values are
// rationals (quantity × price / base units per priced unit), and each line is
// rounded once, half away from zero, to the currency's minor unit. A statement's
// total is the sum of its rounded lines, so the printed lines always add up.
//
// Every figure has a documented maximum (docs/billing.md, "Limits"), checked where
// it enters (command line, price files, web forms, API parameters) and again where
// money is computed, so that nothing is ever stored or printed wrapped around: a
// statement line is an int64 of minor units, and with up to 6 minor digits an
// amount under 10^12 currency units always fits one (10^18 < 2^63).
const (
	// MaxAmountDigits bounds money: an adjustment, a money budget, a statement
	// line, subtotal or total is less than 10^12 currency units in absolute value.
	MaxAmountDigits = 12
	// MaxPriceDigits and MaxPriceDecimals bound a unit price: less than 10^9
	// currency units per priced unit, with at most 12 decimals.
	MaxPriceDigits   = 9
	MaxPriceDecimals = 12
	// MaxQuantityDigits and MaxQuantityDecimals bound a quantity written in a
	// priced unit (a budget, a free allowance, an estimate): less than 10^12, with
	// at most 6 decimals.
	MaxQuantityDigits   = 12
	MaxQuantityDecimals = 6
	// MaxPercentDecimals bounds a discount percentage (0 to 100).
	MaxPercentDecimals = 6
	// maxDecimalText bounds the text a number is read from, leading zeros and all,
	// so no input makes the parser work on a huge number.
	maxDecimalText = 64
)

// ErrTooLarge is returned (wrapped) when an amount, price or quantity is beyond the
// documented maxima. It is also an ErrConflict: the change would break the
// ledger's rules, and callers that map ErrConflict to a clear refusal keep doing so.
var ErrTooLarge error = tooLarge{}

type tooLarge struct{}

func (tooLarge) Error() string        { return "too large" }
func (tooLarge) Is(target error) bool { return target == ErrConflict }

// maxAmount is 10^MaxAmountDigits currency units, the bound amounts stay under.
var maxAmount = new(big.Rat).SetInt(pow10(MaxAmountDigits))

// pow10 returns 10^n.
func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }

// ParseDecimal reads a plain decimal number: an optional minus sign, digits, and
// optionally a point and more digits ("-12.50", "0.0125", "7"). Nothing else is a
// number here: no plus sign, exponent ("1e9"), hex ("0x10"), fraction ("1/3"),
// thousands separator, spaces, or bare point — a typo must not become a different
// amount. The number must be less than 10^maxDigits in absolute value and have at
// most maxDecimals decimals (trailing zeros aside); what names it in errors.
func ParseDecimal(s, what string, maxDigits, maxDecimals int) (*big.Rat, error) {
	if s == "" {
		return nil, fmt.Errorf("%s: a number is required", what)
	}
	if len(s) > maxDecimalText {
		return nil, fmt.Errorf("%s is %w: %d characters, for a number less than %s", what, ErrTooLarge, len(s), limitText(maxDigits))
	}
	body := strings.TrimPrefix(s, "-")
	whole, frac, hasPoint := strings.Cut(body, ".")
	if whole == "" || (hasPoint && frac == "") || !allDigits(whole) || !allDigits(frac) {
		return nil, fmt.Errorf("%s: %q is not a plain decimal number (digits, an optional minus sign and decimal point, e.g. -12.50 or 0.0125)", what, s)
	}
	if len(strings.TrimLeft(whole, "0")) > maxDigits {
		return nil, fmt.Errorf("%s %s is %w: it must be less than %s", what, s, ErrTooLarge, limitText(maxDigits))
	}
	if len(strings.TrimRight(frac, "0")) > maxDecimals {
		return nil, fmt.Errorf("%s: %s has more than %d decimals", what, s, maxDecimals)
	}
	r, ok := new(big.Rat).SetString(s) // only digits, '-' and '.' reach here
	if !ok {
		return nil, fmt.Errorf("%s: %q is not a number", what, s)
	}
	return r, nil
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// limitText writes the bound 10^digits for messages: "1,000,000,000,000".
func limitText(digits int) string {
	return GroupThousands(pow10(digits).String())
}

// ParseAmount reads money in currency ("-25.00") as minor units: less than 10^12
// in absolute value, with no more decimals than the currency has. what names it in
// errors.
func ParseAmount(s, what string, minorDigits int) (int64, error) {
	if minorDigits < 0 || minorDigits > 6 { // as Open allows: the result below fits an int64
		return 0, fmt.Errorf("%s: %d minor digits is not a currency", what, minorDigits)
	}
	r, err := ParseDecimal(s, what, MaxAmountDigits, minorDigits)
	if err != nil {
		return 0, err
	}
	minor := new(big.Rat).Mul(r, new(big.Rat).SetInt(pow10(minorDigits)))
	// An integer below 10^(12+6) ≤ 10^18: it fits an int64.
	return minor.Num().Int64(), nil
}

// ParsePrice reads a unit price: at least 0, less than 10^9, at most 12 decimals.
func ParsePrice(s string) (*big.Rat, error) {
	r, err := ParseDecimal(s, "price", MaxPriceDigits, MaxPriceDecimals)
	if err != nil {
		return nil, err
	}
	if r.Sign() < 0 {
		return nil, fmt.Errorf("price: %s must not be negative", s)
	}
	return r, nil
}

// ParseQuantity reads a quantity in a priced unit, or a budget's money: at least
// 0, less than 10^12, at most 6 decimals. what names it in errors.
func ParseQuantity(s, what string) (*big.Rat, error) {
	r, err := ParseDecimal(s, what, MaxQuantityDigits, MaxQuantityDecimals)
	if err != nil {
		return nil, err
	}
	if r.Sign() < 0 {
		return nil, fmt.Errorf("%s: %s must not be negative", what, s)
	}
	return r, nil
}

// ParsePercent reads a percentage from 0 to 100 with at most 6 decimals.
func ParsePercent(s, what string) (*big.Rat, error) {
	r, err := ParseDecimal(s, what, 3, MaxPercentDecimals)
	if err != nil {
		return nil, err
	}
	if r.Sign() < 0 || r.Cmp(big.NewRat(100, 1)) > 0 {
		return nil, fmt.Errorf("%s: %s is not a percentage from 0 to 100", what, s)
	}
	return r, nil
}

// CheckPrice says whether p is a valid unit price (see ParsePrice), for callers
// that build a Rate without parsing text.
func CheckPrice(p *big.Rat) error {
	switch {
	case p == nil || p.Sign() < 0:
		return errors.New("the price must be zero or more")
	case p.Cmp(new(big.Rat).SetInt(pow10(MaxPriceDigits))) >= 0:
		return fmt.Errorf("the price %s is %w: it must be less than %s", ratString(p), ErrTooLarge, limitText(MaxPriceDigits))
	case !hasDecimals(p, MaxPriceDecimals):
		return fmt.Errorf("the price %s has more than %d decimals", ratString(p), MaxPriceDecimals)
	}
	return nil
}

// checkQuantity is CheckPrice for quantities and budgets' money.
func checkQuantity(q *big.Rat, what string) error {
	switch {
	case q == nil || q.Sign() < 0:
		return fmt.Errorf("the %s must be zero or more", what)
	case q.Cmp(maxAmount) >= 0: // MaxQuantityDigits = MaxAmountDigits
		return fmt.Errorf("the %s %s is %w: it must be less than %s", what, ratString(q), ErrTooLarge, limitText(MaxQuantityDigits))
	case !hasDecimals(q, MaxQuantityDecimals):
		return fmt.Errorf("the %s %s has more than %d decimals", what, ratString(q), MaxQuantityDecimals)
	}
	return nil
}

// hasDecimals says whether r is written exactly with at most n decimals.
func hasDecimals(r *big.Rat, n int) bool {
	return new(big.Rat).Mul(r, new(big.Rat).SetInt(pow10(n))).IsInt()
}

// maxMinor is the largest amount in minor units with digits minor digits:
// 10^(12+digits) − 1.
func maxMinor(digits int) *big.Int {
	return new(big.Int).Sub(pow10(MaxAmountDigits+digits), big.NewInt(1))
}

// roundMinor rounds an amount in currency to an integer number of minor units
// (cents with digits = 2), half away from zero, of any size.
func roundMinor(amount *big.Rat, digits int) *big.Int {
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
	return q
}

// RoundMinor rounds an amount in currency to an integer number of minor units
// (cents with digits = 2), half away from zero. It is for display figures: an
// amount beyond what an int64 holds is clamped to the nearest end, never wrapped.
// Money that is billed goes through MinorUnits, which refuses what is over the
// maximum instead.
func RoundMinor(amount *big.Rat, digits int) int64 {
	q := roundMinor(amount, digits)
	switch {
	case q.IsInt64():
		return q.Int64()
	case q.Sign() > 0:
		return math.MaxInt64
	default:
		return math.MinInt64
	}
}

// MinorUnits rounds an amount in currency to minor units (as RoundMinor) and
// refuses, with ErrTooLarge, one that is not less than 10^12 currency units in
// absolute value. what names the amount in the error.
func MinorUnits(amount *big.Rat, digits int, what string) (int64, error) {
	q := roundMinor(amount, digits)
	return checkedMinor(q, digits, what)
}

// checkedMinor returns q as an int64 if it is within the maximum amount.
func checkedMinor(q *big.Int, digits int, what string) (int64, error) {
	if new(big.Int).Abs(q).Cmp(maxMinor(digits)) > 0 {
		return 0, fmt.Errorf("%s is %w: it comes to %s, and an amount must be less than %s", what, ErrTooLarge,
			formatBigMinor(q, digits), limitText(MaxAmountDigits))
	}
	return q.Int64(), nil
}

// minorSum adds minor units without wrapping: the sum is exact at any size, and
// Int64 checks it against a bound when it is read.
type minorSum struct{ v big.Int }

func (s *minorSum) add(x int64) { s.v.Add(&s.v, big.NewInt(x)) }

// amount returns the sum if it is within the maximum amount (see checkedMinor).
func (s *minorSum) amount(digits int, what string) (int64, error) {
	return checkedMinor(&s.v, digits, what)
}

// int64 returns the sum if it fits an int64 at all: the bound for sums of many
// statements (a month's total), which have no maximum of their own.
func (s *minorSum) int64(digits int, what string) (int64, error) {
	if !s.v.IsInt64() {
		return 0, fmt.Errorf("%s is %w: %s minor units, more than 64 bits hold", what, ErrTooLarge, s.v.String())
	}
	return s.v.Int64(), nil
}

// FormatMinor writes minor units as a decimal amount with thousands separators,
// e.g. 123456 with 2 digits → "1,234.56".
func FormatMinor(minor int64, digits int) string {
	if minor == math.MinInt64 { // its absolute value is not an int64
		return formatBigMinor(big.NewInt(minor), digits)
	}
	return formatDigits(minor < 0, strconv.FormatInt(max(minor, -minor), 10), digits)
}

func formatBigMinor(minor *big.Int, digits int) string {
	return formatDigits(minor.Sign() < 0, new(big.Int).Abs(minor).String(), digits)
}

// formatDigits writes the digits of an amount's absolute value in minor units as
// "1,234.56", with a minus sign if neg.
func formatDigits(neg bool, txt string, digits int) string {
	if len(txt) <= digits {
		txt = strings.Repeat("0", digits-len(txt)+1) + txt
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

// FormatAmount writes an exact amount rounded to digits decimals with thousands
// separators, at any size (for display figures such as reconciliations).
func FormatAmount(amount *big.Rat, digits int) string {
	return formatBigMinor(roundMinor(amount, digits), digits)
}

// FormatFloat writes a display figure (the dashboards' float sums) rounded to
// digits decimals with thousands separators, at any size: through an exact
// rational, never an int64 conversion, which is undefined past 2^63. Not-a-number
// and infinities (which sums of finite figures never give) read "0".
func FormatFloat(v float64, digits int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	if minor, ok := roundFloatMinor(v, digits); ok {
		return FormatMinor(minor, digits)
	}
	r, _ := new(big.Float).SetFloat64(v).Rat(nil)
	return FormatAmount(r, digits)
}

// roundFloatMinor is v in minor units rounded half away from zero, as FormatAmount
// rounds v's exact value, in integers: v = m·2^e exactly, so v·10^digits is
// m·10^digits over a power of two. ok is false where that does not fit an int64
// (more than 3 digits, or |v| of 2^53 and more), for the exact path to handle.
func roundFloatMinor(v float64, digits int) (minor int64, ok bool) {
	if digits < 0 || digits > 3 || math.Abs(v) >= 1<<53 {
		return 0, false
	}
	if v == 0 {
		return 0, true
	}
	frac, exp := math.Frexp(math.Abs(v))
	m := uint64(math.Ldexp(frac, 53)) // |v| = m·2^(exp−53), m < 2^53
	n := m
	for range digits {
		n *= 10 // < 2^53·1000 < 2^63
	}
	var q uint64
	switch k := 53 - exp; {
	case k <= 0: // an integer already; |v| < 2^53 keeps the shift small
		q = n << uint(-k)
	case k >= 64:
		q = 0 // under a quarter of a unit: n < 2^63 ≤ 2^(k−1)
	default:
		q = n >> uint(k)
		if r := n - q<<uint(k); r >= 1<<uint(k-1) { // half or more: away from zero
			q++
		}
	}
	if v < 0 {
		return -int64(q), true
	}
	return int64(q), true
}

// PlainMinor writes minor units as a plain decimal for machines: "-1234.56".
func PlainMinor(minor int64, digits int) string {
	return strings.ReplaceAll(FormatMinor(minor, digits), ",", "")
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

// DecimalString writes r with exactly digits decimals, rounded half away from
// zero, at any size.
func DecimalString(r *big.Rat, digits int) string {
	return strings.ReplaceAll(FormatAmount(r, digits), ",", "")
}
