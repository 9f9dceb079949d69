package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// What a request asks for: the period a page reports on (?period=, ?from=&to=),
// the input checks every request passes, and the fields of the admin's forms.

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
func (w window) choices(s *Server) []views.Option {
	now := s.now().In(s.ledger.Location())
	opts := []views.Option{
		{Value: "month", Label: "This month"},
		{Value: "prev", Label: "Last month"},
		{Value: "last30", Label: "Last 30 days"},
		{Value: "quarter", Label: "This quarter"},
	}
	for i := 2; i <= 12; i++ {
		m := time.Date(now.Year(), now.Month()-time.Month(i), 1, 0, 0, 0, 0, time.UTC)
		opts = append(opts, views.Option{Value: m.Format("2006-01"), Label: m.Format("January 2006")})
	}
	opts = append(opts, views.Option{Value: "custom", Label: "Custom (from – to)"})
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

// today is the site-local date.
func (s *Server) today() time.Time {
	now := s.now().In(s.ledger.Location())
	return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
}

// Limits on what a request may carry. Every page's parameters are short (periods,
// dates, slugs, sort keys) and every form is a few fields typed by a person; a
// request over these is a mistake or an attack, and is refused before any handler
// or query sees it.
const (
	maxQueryBytes = 4096     // the whole query string
	maxFormBytes  = 64 << 10 // a urlencoded form body
	maxFieldBytes = 8192     // one form field (a reason, a description)
)

// checkInput refuses, with 400 (413 for a form body over maxFormBytes) and the
// reason, a request whose path, query or form holds what no page asks for: invalid
// UTF-8, NUL or other control characters, or more bytes than the limits. Without
// it such values reached PostgreSQL, which cannot store them, and came back as 500s;
// and a 9 MB group name was accepted and made /admin 66 MB.
func (s *Server) checkInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reason := checkRequest(w, r); reason != "" {
			code := http.StatusBadRequest
			if strings.HasPrefix(reason, tooLargePrefix) {
				code = http.StatusRequestEntityTooLarge
			}
			s.inputRefused(w, r, code, reason)
			return
		}
		next.ServeHTTP(w, r)
	})
}

const tooLargePrefix = "the form is larger than"

// checkRequest returns why r is refused, or "". It parses a urlencoded form body
// (bounded), so handlers read the already-checked r.PostForm.
func checkRequest(w http.ResponseWriter, r *http.Request) string {
	if reason := checkText("the path", r.URL.Path, false); reason != "" {
		return reason
	}
	if n := len(r.URL.RawQuery); n > maxQueryBytes {
		return fmt.Sprintf("the query string is %d bytes; at most %d are read", n, maxQueryBytes)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "the query string cannot be read: " + err.Error()
	}
	if reason := checkValues("parameter", q, false); reason != "" {
		return reason
	}
	ct := r.Header.Get("Content-Type")
	if r.Method == http.MethodPost && strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return fmt.Sprintf("%s %d KiB", tooLargePrefix, maxFormBytes>>10)
			}
			return "the form cannot be read"
		}
		if reason := checkValues("field", r.PostForm, true); reason != "" {
			return reason
		}
	}
	return ""
}

func checkValues(what string, vs url.Values, multiline bool) string {
	for k, values := range vs {
		if reason := checkText(what+" name", k, false); reason != "" {
			return reason
		}
		for _, v := range values {
			if len(v) > maxFieldBytes {
				return fmt.Sprintf("%s %q is %d bytes long; at most %d are taken", what, printable(k), len(v), maxFieldBytes)
			}
			if reason := checkText(fmt.Sprintf("%s %q", what, printable(k)), v, multiline); reason != "" {
				return reason
			}
		}
	}
	return ""
}

// checkText says what is wrong with a text value, or "": it must be valid UTF-8
// without NUL or other control characters (tabs and line breaks allowed where a
// form's text area may hold them).
func checkText(what, v string, multiline bool) string {
	if !utf8.ValidString(v) {
		return what + " is not valid UTF-8 text"
	}
	for _, c := range v {
		if c == 0 {
			return what + " holds a NUL byte"
		}
		if (c < 0x20 || c == 0x7f) && !(multiline && (c == '\t' || c == '\n' || c == '\r')) {
			return fmt.Sprintf("%s holds the control character U+%04X", what, c)
		}
	}
	return ""
}

// printable is a parameter's name as it may be shown back: valid UTF-8, short.
func printable(k string) string {
	k = strings.ToValidUTF8(k, "\uFFFD")
	if utf8.RuneCountInString(k) > 40 {
		k = string([]rune(k)[:40]) + "…"
	}
	return k
}

// inputRefused answers a refused request as JSON for the API and as a page for
// people (with no principal yet: input is checked before sign-in is read).
func (s *Server) inputRefused(w http.ResponseWriter, r *http.Request, code int, reason string) {
	if isAPI(r) {
		s.apiError(w, code, reason)
		return
	}
	if err := s.renderStatus(w, r, code, views.Message(s.layout(r, "Bad request"), "That cannot be taken",
		"The request was refused: "+reason+".")); err != nil {
		http.Error(w, reason, code)
	}
}

// formGroup is the group a form names by slug in field: it must exist and not be
// archived.
func (s *Server) formGroup(ctx context.Context, r *http.Request, field, what string) (ledger.Group, error) {
	slug := strings.TrimSpace(r.PostFormValue(field))
	if slug == "" {
		return ledger.Group{}, badForm("Choose %s.", what)
	}
	g, err := s.ledger.GroupBySlug(ctx, slug)
	if errors.Is(err, ledger.ErrNotFound) {
		return ledger.Group{}, badForm("There is no group %q.", slug)
	}
	if err != nil {
		return ledger.Group{}, err
	}
	if g.ArchivedAt != nil {
		return ledger.Group{}, badForm("The group %s is archived.", g.Slug)
	}
	return g, nil
}

var decimalRE = regexp.MustCompile(`^([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)

// formDecimal reads a non-negative decimal number, e.g. a price or an amount, and
// checks it with parse: one of the ledger's parsers, which hold it to the documented
// maxima (docs/billing.md, "Limits").
func formDecimal(r *http.Request, field, what string, parse func(string) (*big.Rat, error)) (*big.Rat, error) {
	v := strings.TrimSpace(r.PostFormValue(field))
	switch {
	case v == "":
		return nil, badForm("Give the %s.", what)
	case strings.HasPrefix(v, "-") || strings.HasPrefix(v, "−"):
		return nil, badForm("The %s must be zero or more, not %s.", what, v)
	case !decimalRE.MatchString(v):
		return nil, badForm("The %s %q is not a number: write digits, with a point for decimals and no thousands separators, e.g. 2500 or 0.05.", what, v)
	}
	// The ledger's numbers have digits on both sides of a point; a form may say
	// ".5" or "5.".
	if strings.HasPrefix(v, ".") {
		v = "0" + v
	}
	v = strings.TrimSuffix(v, ".")
	x, err := parse(v)
	if err != nil {
		return nil, badForm("The %s is not accepted: %v.", what, err)
	}
	return x, nil
}

// formDate reads a day (YYYY-MM-DD); empty is the zero time, or a mistake when the
// date is required.
func formDate(r *http.Request, field, what string, required bool) (time.Time, error) {
	v := strings.TrimSpace(r.PostFormValue(field))
	if v == "" {
		if required {
			return time.Time{}, badForm("Give the %s.", what)
		}
		return time.Time{}, nil
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil || d.Year() < 1900 || d.Year() > 9000 {
		return time.Time{}, badForm("The %s %q is not a date: write it as YYYY-MM-DD.", what, v)
	}
	return d, nil
}
