package server

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// window is a span of site-local days [From, To) a page reports on, with the span
// of the same length before it (for "change against the previous period").
type window struct {
	Key          string // the picker's value
	Label        string
	From, To     time.Time
	PrevFrom     time.Time // the previous span is [PrevFrom, PrevTo)
	PrevTo       time.Time
	CustomFrom   string
	CustomTo     string
	MonthToDate  bool
	MonthElapsed float64 // fraction of the month gone, for month-to-date projections
}

// pickWindow reads ?period= (month, last30, quarter, prev, YYYY-MM, or custom with
// ?from=&to= dates). The default is this month to date.
func (s *Server) pickWindow(r *http.Request) window {
	loc := s.ledger.Location()
	now := s.now().In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	tomorrow := today.AddDate(0, 0, 1)
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc)
	q := r.URL.Query()
	key := q.Get("period")
	if q.Get("from") != "" && q.Get("to") != "" && (key == "" || key == "custom") {
		key = "custom"
	}
	w := window{Key: key}
	switch {
	case key == "last30":
		w.From, w.To, w.Label = today.AddDate(0, 0, -29), tomorrow, "the last 30 days"
	case key == "quarter":
		qm := (int(now.Month())-1)/3*3 + 1
		w.From, w.To = time.Date(now.Year(), time.Month(qm), 1, 0, 0, 0, 0, loc), tomorrow
		w.Label = fmt.Sprintf("Q%d %d to date", (qm-1)/3+1, now.Year())
	case key == "prev":
		w.From, w.To = monthStart.AddDate(0, -1, 0), monthStart
		w.Label = w.From.Format("January 2006")
	case key == "custom":
		from, err1 := time.ParseInLocation(time.DateOnly, q.Get("from"), loc)
		to, err2 := time.ParseInLocation(time.DateOnly, q.Get("to"), loc)
		if err1 == nil && err2 == nil && to.After(from) && to.Sub(from) <= 3*366*24*time.Hour {
			w.From, w.To = from, to.AddDate(0, 0, 1) // the "to" day is included
			w.CustomFrom, w.CustomTo = q.Get("from"), q.Get("to")
			w.Label = from.Format("2 Jan 2006") + " – " + to.Format("2 Jan 2006")
			break
		}
		key = ""
		fallthrough
	default:
		if m, err := time.ParseInLocation("2006-01", key, loc); err == nil && m.Before(monthStart) {
			w.From, w.To, w.Label = m, m.AddDate(0, 1, 0), m.Format("January 2006")
			break
		}
		w.Key = "month"
		w.From, w.To, w.MonthToDate = monthStart, tomorrow, true
		w.Label = now.Format("January 2006") + ", to date"
		monthEnd := monthStart.AddDate(0, 1, 0)
		w.MonthElapsed = now.Sub(monthStart).Seconds() / monthEnd.Sub(monthStart).Seconds()
	}
	days := int(math.Round(w.To.Sub(w.From).Hours() / 24))
	w.PrevFrom, w.PrevTo = w.From.AddDate(0, 0, -days), w.From
	switch {
	case w.MonthToDate:
		// The same days of last month: 1–15 November against 1–15 October.
		w.PrevFrom = w.From.AddDate(0, -1, 0)
		w.PrevTo = w.PrevFrom.AddDate(0, 0, days)
		if w.PrevTo.After(w.From) {
			w.PrevTo = w.From
		}
	case w.From.Day() == 1 && w.To.Day() == 1:
		w.PrevFrom = w.From.AddDate(0, -1, 0) // months compare with months
	}
	return w
}

// choices is the period picker's options for w.
func (w window) choices(s *Server) []views.PeriodChoice {
	now := s.now().In(s.ledger.Location())
	opts := []views.PeriodChoice{
		{Value: "month", Label: "This month"},
		{Value: "prev", Label: "Last month"},
		{Value: "last30", Label: "Last 30 days"},
		{Value: "quarter", Label: "This quarter"},
	}
	for i := 2; i <= 12; i++ {
		m := time.Date(now.Year(), now.Month()-time.Month(i), 1, 0, 0, 0, 0, time.UTC)
		opts = append(opts, views.PeriodChoice{Value: m.Format("2006-01"), Label: m.Format("January 2006")})
	}
	opts = append(opts, views.PeriodChoice{Value: "custom", Label: "Custom (from – to)"})
	for i := range opts {
		opts[i].Selected = opts[i].Value == w.Key
	}
	return opts
}

// query is the window as URL parameters, for links that keep it.
func (w window) query() string {
	if w.Key == "custom" {
		return "period=custom&from=" + w.CustomFrom + "&to=" + w.CustomTo
	}
	return "period=" + w.Key
}

var currencySymbols = map[string]string{"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥", "INR": "₹"}

// money formats an amount in the site's currency: "€1,234.56", "CHF 1,234.56".
func (s *Server) money(v float64) string {
	code, digits := s.ledger.Currency()
	txt := ledger.FormatFloat(v, digits) // exact at any size: no int64 to wrap
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
