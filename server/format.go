package server

import (
	"fmt"
	"math"
	"math/big"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Figures as the pages write them: money, quantities, percentages, times, prices.

var currencySymbols = map[string]string{"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹"}

// money formats an amount in the site's currency: "€1,234.56", "CHF 1,234.56".
func (s *Server) money(v float64) string {
	code, digits := s.ledger.Currency()
	return formatMoney(code, digits, v)
}

// formatMoney formats an amount in currency code with digits decimals.
func formatMoney(code string, digits int, v float64) string {
	return withCurrency(code, ledger.FormatFloat(v, digits)) // exact at any size: no int64 to wrap
}

// withCurrency writes a formatted amount ("-1,234.56") in currency code: "−€1,234.56".
func withCurrency(code, txt string) string {
	neg := strings.HasPrefix(txt, "-")
	txt = strings.TrimPrefix(txt, "-")
	if sym, ok := currencySymbols[code]; ok {
		txt = sym + txt
	} else {
		txt = code + " " + txt
	}
	if neg {
		txt = "−" + txt
	}
	return txt
}

func (s *Server) moneyMinor(minor int64, digits int) string {
	return s.money(float64(minor) / math.Pow10(digits))
}

// number formats a quantity with thousands separators and one decimal (none past
// 1,000).
func number(v float64) string {
	if math.Abs(v) >= 1000 {
		return ledger.FormatFloat(v, 0)
	}
	return ledger.FormatFloat(v, 1)
}

func percent(f float64) string {
	if f <= 0 {
		return "–"
	}
	if f < 0.005 {
		return "<1%"
	}
	return fmt.Sprintf("%.0f%%", f*100)
}

func share(v, total float64) string {
	if total <= 0 {
		return "–"
	}
	return percent(v / total)
}

func ptrPercent(f *float64) string {
	if f == nil {
		return "–"
	}
	return percent(*f)
}

// ordinal writes 1st, 2nd, 3rd, 4th …
func ordinal(n int) string {
	suffix := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

// since formats a time for tables.
func since(t *time.Time) string {
	if t == nil {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// terabytes writes bytes in TB (10^12), or GB under one TB.
func terabytes(b float64) string {
	if b < 1e12 {
		return number(b/1e9) + " GB"
	}
	return number(b/1e12) + " TB"
}

// priceText writes a price with at least two decimals and no needless zeros.
func priceText(p *big.Rat) string {
	txt := strings.TrimRight(p.FloatString(12), "0")
	if i := strings.IndexByte(txt, '.'); len(txt)-i-1 < 2 {
		txt += strings.Repeat("0", 2-(len(txt)-i-1))
	}
	return txt
}

// decimalText writes a non-negative amount with digits decimals and grouped thousands.
func decimalText(x *big.Rat, digits int) string {
	whole, frac, ok := strings.Cut(ledger.DecimalString(x, digits), ".")
	if !ok {
		return ledger.GroupThousands(whole)
	}
	return ledger.GroupThousands(whole) + "." + frac
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

func resourceName(r string) string {
	switch r {
	case ledger.ResourceCPU:
		return "CPU"
	case ledger.ResourceGPU:
		return "GPU"
	case ledger.ResourceMemory:
		return "Memory"
	case ledger.ResourceStorage:
		return "Storage"
	case ledger.ResourceBilling:
		return "Billing TRES"
	}
	return r
}

func roleName(r string) string {
	switch r {
	case "pi":
		return "PI"
	case "":
		return "a viewer"
	}
	return r
}

// noUser names usage no person ran: storage of shared project space, service
// accounts the sources did not name.
const noUser = "(no person: shared storage, services)"

// hint is a short, kind sentence about a row's worst habit, if it has one.
func hint(u ledger.UsageRow) string {
	switch {
	case u.MemGBHours > 100 && u.MemEfficiency() < 0.25:
		return fmt.Sprintf("requests about %.0f× the memory it peaks at", 1/max(u.MemEfficiency(), 0.01))
	case u.CoreHours > 100 && u.CPUEfficiency() < 0.3:
		return fmt.Sprintf("%s of reserved cores sat idle", percent(1-u.CPUEfficiency()))
	}
	return ""
}
