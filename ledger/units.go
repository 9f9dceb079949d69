package ledger

import (
	"math/big"
	"strings"
)

// HumanUnit is how people read a resource: its name and how many base units make
// one of it.
type HumanUnit struct {
	Name    string
	PerUnit *big.Int // base units in one human unit
}

// Seconds in an hour, and in the 30-day month a TB-month is defined by (a fixed
// length, so a TB-month means the same in February and in March).
const (
	secondsPerHour  = 3600
	secondsPerMonth = 30 * 24 * 3600
)

// HumanUnitOf returns the human unit of a resource: core-hours, GPU-hours,
// GB-hours (memory, 10^9 bytes), TB-months (storage, 10^12 bytes × 30 days),
// billing-hours.
func HumanUnitOf(resource string) HumanUnit {
	switch resource {
	case ResourceCPU:
		return HumanUnit{"core-hours", big.NewInt(secondsPerHour)}
	case ResourceGPU:
		return HumanUnit{"GPU-hours", big.NewInt(secondsPerHour)}
	case ResourceMemory:
		return HumanUnit{"GB-hours", big.NewInt(1e9 * secondsPerHour)}
	case ResourceStorage:
		return HumanUnit{"TB-months", new(big.Int).Mul(big.NewInt(1e12), big.NewInt(secondsPerMonth))}
	case ResourceBilling:
		return HumanUnit{"billing-hours", big.NewInt(secondsPerHour)}
	}
	return HumanUnit{Unit(resource), big.NewInt(1)}
}

// FormatHuman writes q (base units) in the resource's human unit with two decimals
// and thousands separators, e.g. "12,345.67". It rounds half away from zero.
func FormatHuman(resource string, q *big.Int) string {
	u := HumanUnitOf(resource)
	// hundredths = round(q * 100 / PerUnit)
	num := new(big.Int).Mul(q, big.NewInt(100))
	quo, rem := new(big.Int).QuoRem(num, u.PerUnit, new(big.Int))
	if new(big.Int).Mul(new(big.Int).Abs(rem), big.NewInt(2)).Cmp(u.PerUnit) >= 0 {
		if num.Sign() < 0 {
			quo.Sub(quo, big.NewInt(1))
		} else {
			quo.Add(quo, big.NewInt(1))
		}
	}
	neg := quo.Sign() < 0
	s := new(big.Int).Abs(quo).String()
	for len(s) < 3 {
		s = "0" + s
	}
	whole, frac := s[:len(s)-2], s[len(s)-2:]
	out := GroupThousands(whole) + "." + frac
	if neg {
		out = "-" + out
	}
	return out
}

// GroupThousands puts commas between groups of three digits of a run of digits.
func GroupThousands(digits string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	lead := len(digits) % 3
	if lead > 0 {
		b.WriteString(digits[:lead])
	}
	for i := lead; i < len(digits); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(digits[i : i+3])
	}
	return b.String()
}
