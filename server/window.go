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

// MaxWindowDays is the longest custom window a page or the API reports on
// (docs/api.md): three years of days, beyond which a dashboard is no longer a view
// of anything and its queries only cost.
const MaxWindowDays = 3 * 366

// earliestYear is the first year a window may start in: no usage is older (the
// ledger refuses records before 1970).
const earliestYear = 1970

// badInput is a mistake in what the request asked for, with a reason safe and
// useful to show: the handler answers 400 with it, never a silent default.
type badInput struct{ reason string }

func (e *badInput) Error() string { return e.reason }

func badInputf(format string, args ...any) error {
	return &badInput{fmt.Sprintf(format, args...)}
}

// pickWindow reads ?period= (month, last30, quarter, prev, YYYY-MM, or custom with
// ?from=&to= dates; from and to alone mean custom). The default is this month to
// date. A value it cannot honour — an unknown period, a month that does not exist
// or has not started, a date that is not one, from after to, a span over
// MaxWindowDays — is a *badInput error saying why.
func (s *Server) pickWindow(r *http.Request) (window, error) {
	loc := s.ledger.Location()
	now := s.now().In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	tomorrow := today.AddDate(0, 0, 1)
	monthStart := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc)
	q := r.URL.Query()
	key := q.Get("period")
	from, to := q.Get("from"), q.Get("to")
	if (from != "" || to != "") && key == "" {
		key = "custom"
	}
	if (from != "" || to != "") && key != "custom" {
		return window{}, badInputf("from and to go with period=custom, not period=%q", key)
	}
	w := window{Key: key}
	monthToDate := func() {
		w.Key = "month"
		w.From, w.To, w.MonthToDate = monthStart, tomorrow, true
		w.Label = now.Format("January 2006") + ", to date"
		monthEnd := monthStart.AddDate(0, 1, 0)
		w.MonthElapsed = now.Sub(monthStart).Seconds() / monthEnd.Sub(monthStart).Seconds()
	}
	switch key {
	case "last30":
		w.From, w.To, w.Label = today.AddDate(0, 0, -29), tomorrow, "the last 30 days"
	case "quarter":
		qm := (int(now.Month())-1)/3*3 + 1
		w.From, w.To = time.Date(now.Year(), time.Month(qm), 1, 0, 0, 0, 0, loc), tomorrow
		w.Label = fmt.Sprintf("Q%d %d to date", (qm-1)/3+1, now.Year())
	case "prev":
		w.From, w.To = monthStart.AddDate(0, -1, 0), monthStart
		w.Label = w.From.Format("January 2006")
	case "custom":
		if from == "" || to == "" {
			return window{}, badInputf("a custom period needs both from and to, as dates like 2026-09-01")
		}
		f, err := parseDay(from, "from", loc)
		if err != nil {
			return window{}, err
		}
		t, err := parseDay(to, "to", loc)
		if err != nil {
			return window{}, err
		}
		if t.Before(f) {
			return window{}, badInputf("from (%s) is after to (%s)", from, to)
		}
		end := t.AddDate(0, 0, 1) // the "to" day is included
		if days := int(math.Round(end.Sub(f).Hours() / 24)); days > MaxWindowDays {
			return window{}, badInputf("from %s to %s is %d days; a period may span at most %d", from, to, days, MaxWindowDays)
		}
		w.From, w.To = f, end
		w.CustomFrom, w.CustomTo = from, to
		w.Label = f.Format("2 Jan 2006") + " – " + t.Format("2 Jan 2006")
	case "", "month":
		monthToDate()
	default:
		m, err := time.ParseInLocation("2006-01", key, loc)
		if err != nil {
			return window{}, badInputf("period %q is not one: use month, prev, last30, quarter, custom, or a month like %s", key, monthStart.AddDate(0, -1, 0).Format("2006-01"))
		}
		if m.Year() < earliestYear {
			return window{}, badInputf("period %s is before %d, when no usage can be", key, earliestYear)
		}
		if m.After(monthStart) {
			return window{}, badInputf("period %s has not started (this month is %s)", key, monthStart.Format("2006-01"))
		}
		if m.Equal(monthStart) {
			monthToDate() // this month: to date, as period=month shows it
			break
		}
		w.From, w.To, w.Label = m, m.AddDate(0, 1, 0), m.Format("January 2006")
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
	return w, nil
}

// parseDay reads a date parameter: a real day (2026-11-31 is not one) from 1970 on.
func parseDay(v, name string, loc *time.Location) (time.Time, error) {
	d, err := time.ParseInLocation(time.DateOnly, v, loc)
	if err != nil {
		return time.Time{}, badInputf("%s=%q is not a date like 2026-09-01", name, v)
	}
	if d.Year() < earliestYear {
		return time.Time{}, badInputf("%s=%s is before %d, when no usage can be", name, v, earliestYear)
	}
	return d, nil
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
