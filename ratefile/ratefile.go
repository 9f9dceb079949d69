// Package ratefile reads a site's price list — rates, and in TOML also subsidies and
// budgets — from the documented CSV and TOML formats (docs/billing.md), and applies
// it to the ledger. Every problem is reported with where it is (line or entry) and
// nothing is applied unless the whole file reads cleanly.
package ratefile

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Rate is a rate as written in a file: its group by slug.
type Rate struct {
	Where     string // "line 4" or "rate 3"
	Rate      ledger.Rate
	GroupSlug string
}

// Subsidy is a subsidy as written: the allowance in the resource's priced unit.
type Subsidy struct {
	Where     string
	Subsidy   ledger.Subsidy
	GroupSlug string
}

// Budget is a budget as written.
type Budget struct {
	Where     string
	Budget    ledger.Budget
	GroupSlug string
}

// List is a whole price list.
type List struct {
	Rates     []Rate
	Subsidies []Subsidy
	Budgets   []Budget
}

// Problems is every problem found in a file.
type Problems []string

func (p Problems) Error() string { return strings.Join(p, "\n") }

// Read reads a price list; name's extension (.csv or .toml) says the format.
func Read(name string, r io.Reader) (List, error) {
	switch {
	case strings.HasSuffix(strings.ToLower(name), ".csv"):
		return ReadCSV(r)
	case strings.HasSuffix(strings.ToLower(name), ".toml"):
		return ReadTOML(r)
	}
	return List{}, fmt.Errorf("%s: a price list is a .csv or a .toml file", name)
}

// CSV columns: resource, price and valid_from are required; the rest may be left
// out or empty.
var csvColumns = []string{"resource", "price", "valid_from", "valid_to", "cluster", "partition", "qos", "group", "note"}

// ReadCSV reads rates from CSV with a header row naming its columns (any order).
func ReadCSV(r io.Reader) (List, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return List{}, fmt.Errorf("read the header row: %w", err)
	}
	col := map[string]int{}
	var probs Problems
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		known := false
		for _, c := range csvColumns {
			known = known || c == h
		}
		if !known {
			probs = append(probs, fmt.Sprintf("line 1: unknown column %q (columns: %s)", h, strings.Join(csvColumns, ", ")))
			continue
		}
		col[h] = i
	}
	for _, req := range []string{"resource", "price", "valid_from"} {
		if _, ok := col[req]; !ok {
			probs = append(probs, fmt.Sprintf("line 1: the column %q is required", req))
		}
	}
	if len(probs) > 0 {
		return List{}, probs
	}
	var list List
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			probs = append(probs, err.Error())
			if _, ok := err.(*csv.ParseError); ok {
				continue
			}
			break
		}
		line, _ := cr.FieldPos(0) // only valid after a successful Read
		get := func(c string) string {
			if i, ok := col[c]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		if strings.Join(rec, "") == "" {
			continue
		}
		where := fmt.Sprintf("line %d", line)
		rate, slug, errs := makeRate(get("resource"), get("price"), get("valid_from"), get("valid_to"),
			get("cluster"), get("partition"), get("qos"), get("group"), get("note"))
		for _, e := range errs {
			probs = append(probs, where+": "+e)
		}
		list.Rates = append(list.Rates, Rate{Where: where, Rate: rate, GroupSlug: slug})
	}
	if len(probs) > 0 {
		return List{}, probs
	}
	return list, nil
}

func makeRate(resource, price, from, to, cluster, partition, qos, group, note string) (ledger.Rate, string, []string) {
	var errs []string
	r := ledger.Rate{Resource: resource, Cluster: cluster, Partition: partition, QoS: qos, Note: note}
	if ledger.Unit(resource) == "" {
		errs = append(errs, fmt.Sprintf("unknown resource %q (one of %s)", resource, strings.Join(ledger.Resources(), ", ")))
	}
	p, err := ledger.ParsePrice(price)
	if err != nil {
		errs = append(errs, err.Error())
	}
	r.Price = p
	if r.ValidFrom, err = date(from); err != nil || from == "" {
		errs = append(errs, "valid_from: a date like 2026-10-01 is required")
	}
	if to != "" {
		if r.ValidTo, err = date(to); err != nil {
			errs = append(errs, "valid_to: "+err.Error())
		} else if !r.ValidTo.After(r.ValidFrom) {
			errs = append(errs, "valid_to must be after valid_from")
		}
	}
	return r, group, errs
}

func date(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date like 2026-10-01", s)
	}
	return t, nil
}

// tomlFile is the TOML layout: arrays of tables [[rate]], [[subsidy]], [[budget]].
// Numbers may be written as TOML numbers or as strings ("0.0125"); a TOML float is
// taken as the shortest decimal that reads back as it, which is what was typed.
type tomlFile struct {
	Rate []struct {
		Resource  string `toml:"resource"`
		Price     any    `toml:"price"`
		ValidFrom any    `toml:"valid_from"`
		ValidTo   any    `toml:"valid_to"`
		Cluster   string `toml:"cluster"`
		Partition string `toml:"partition"`
		QoS       string `toml:"qos"`
		Group     string `toml:"group"`
		Note      string `toml:"note"`
	} `toml:"rate"`
	Subsidy []struct {
		Group           string `toml:"group"`
		Resource        string `toml:"resource"`
		DiscountPercent any    `toml:"discount_percent"`
		Free            any    `toml:"free"` // in the resource's priced unit, e.g. core-hours
		ValidFrom       any    `toml:"valid_from"`
		ValidTo         any    `toml:"valid_to"`
		Note            string `toml:"note"`
	} `toml:"subsidy"`
	Budget []struct {
		Group     string `toml:"group"`
		Span      string `toml:"span"`
		Resource  string `toml:"resource"`
		Amount    any    `toml:"amount"`
		ValidFrom any    `toml:"valid_from"`
		ValidTo   any    `toml:"valid_to"`
		Note      string `toml:"note"`
	} `toml:"budget"`
}

// text turns a TOML value (string, integer, float, local date) into its text.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		// The shortest decimal that reads back as x: what was typed. A huge or
		// tiny float becomes a long text, which the number parsers refuse.
		return strconv.FormatFloat(x, 'f', -1, 64)
	case toml.LocalDate:
		return x.String()
	case time.Time:
		return x.Format(time.DateOnly)
	}
	return fmt.Sprint(v)
}

// ReadTOML reads rates, subsidies and budgets from TOML.
func ReadTOML(r io.Reader) (List, error) {
	var f tomlFile
	dec := toml.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, c := de.Position()
			if k := de.Key(); len(k) > 0 {
				return List{}, fmt.Errorf("line %d, column %d: %s: %s", row, c, strings.Join(k, "."), de.Error())
			}
			return List{}, fmt.Errorf("line %d, column %d: %s", row, c, de.Error())
		}
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) {
			return List{}, fmt.Errorf("unknown keys:\n%s", sm.String())
		}
		return List{}, err
	}
	var list List
	var probs Problems
	for i, x := range f.Rate {
		where := fmt.Sprintf("rate %d", i+1)
		rate, slug, errs := makeRate(x.Resource, strings.TrimSpace(text(x.Price)), text(x.ValidFrom), text(x.ValidTo), x.Cluster, x.Partition, x.QoS, x.Group, x.Note)
		for _, e := range errs {
			probs = append(probs, where+": "+e)
		}
		list.Rates = append(list.Rates, Rate{Where: where, Rate: rate, GroupSlug: slug})
	}
	for i, x := range f.Subsidy {
		where := fmt.Sprintf("subsidy %d", i+1)
		s := ledger.Subsidy{Resource: x.Resource, Note: x.Note}
		if s.Resource == "" {
			s.Resource = ledger.Any
		}
		if x.Group == "" {
			probs = append(probs, where+": group is required")
		}
		if s.Resource != ledger.Any && ledger.Unit(s.Resource) == "" {
			probs = append(probs, fmt.Sprintf("%s: unknown resource %q", where, s.Resource))
		}
		var err error
		if x.DiscountPercent != nil {
			if s.DiscountPercent, err = ledger.ParsePercent(strings.TrimSpace(text(x.DiscountPercent)), "discount_percent"); err != nil {
				probs = append(probs, where+": "+err.Error())
			}
		}
		if x.Free != nil {
			free, err := ledger.ParseQuantity(strings.TrimSpace(text(x.Free)), "free")
			if err != nil {
				probs = append(probs, where+": "+err.Error()+" (a quantity in the resource's priced unit)")
			} else if s.Resource == ledger.Any {
				probs = append(probs, where+": free needs a resource (an allowance of what?)")
			} else {
				_, per := ledger.PricedUnit(s.Resource)
				base := new(big.Rat).Mul(free, new(big.Rat).SetInt(per))
				s.FreeQuantity = new(big.Int).Quo(base.Num(), base.Denom())
			}
		}
		if s.ValidFrom, err = date(text(x.ValidFrom)); err != nil || s.ValidFrom.IsZero() || s.ValidFrom.Day() != 1 {
			probs = append(probs, where+": valid_from must be the first day of a month, like 2026-10-01")
		}
		if s.ValidTo, err = date(text(x.ValidTo)); err != nil {
			probs = append(probs, where+": valid_to: "+err.Error())
		}
		list.Subsidies = append(list.Subsidies, Subsidy{Where: where, Subsidy: s, GroupSlug: x.Group})
	}
	for i, x := range f.Budget {
		where := fmt.Sprintf("budget %d", i+1)
		b := ledger.Budget{Span: x.Span, Resource: x.Resource, Note: x.Note}
		if x.Group == "" {
			probs = append(probs, where+": group is required")
		}
		if b.Span != ledger.SpanMonth && b.Span != ledger.SpanFiscalYear {
			probs = append(probs, fmt.Sprintf("%s: span must be %q or %q", where, ledger.SpanMonth, ledger.SpanFiscalYear))
		}
		if b.Resource != "" && ledger.Unit(b.Resource) == "" {
			probs = append(probs, fmt.Sprintf("%s: unknown resource %q", where, b.Resource))
		}
		var err error
		if b.Amount, err = ledger.ParseQuantity(strings.TrimSpace(text(x.Amount)), "amount"); err != nil {
			probs = append(probs, where+": "+err.Error()+" (money, or the resource's priced unit)")
		}
		if b.ValidFrom, err = date(text(x.ValidFrom)); err != nil || b.ValidFrom.IsZero() {
			probs = append(probs, where+": valid_from: a date like 2026-10-01 is required")
		}
		if b.ValidTo, err = date(text(x.ValidTo)); err != nil {
			probs = append(probs, where+": valid_to: "+err.Error())
		}
		list.Budgets = append(list.Budgets, Budget{Where: where, Budget: b, GroupSlug: x.Group})
	}
	if len(probs) > 0 {
		return List{}, probs
	}
	return list, nil
}

// Summary says what applying a list did.
type Summary struct {
	RatesChanged, RatesUnchanged, Subsidies, Budgets int
}

// Apply resolves group slugs and applies the list in one transaction: each rate as
// SetRate does (a price change ends the rate in force; the same price again changes
// nothing), then subsidies and budgets. It stops at the first refusal, naming the
// entry, and then nothing of the list is applied: a file is all or nothing.
func Apply(ctx context.Context, l *ledger.Ledger, actor string, list List) (Summary, error) {
	var sum Summary
	err := l.ChangePrices(ctx, actor, func(p *ledger.Prices) error {
		sum = Summary{} // counts of what this transaction did, if it commits
		groupID := func(slug string) (int64, error) {
			if slug == "" {
				return 0, nil
			}
			return p.GroupID(ctx, slug)
		}
		for _, r := range list.Rates {
			id, err := groupID(r.GroupSlug)
			if err != nil {
				return fmt.Errorf("%s: %w", r.Where, err)
			}
			r.Rate.GroupID, r.Rate.GroupSlug = id, r.GroupSlug
			_, changed, err := p.SetRate(ctx, r.Rate)
			if err != nil {
				return fmt.Errorf("%s: %w", r.Where, err)
			}
			if changed {
				sum.RatesChanged++
			} else {
				sum.RatesUnchanged++
			}
		}
		for _, s := range list.Subsidies {
			id, err := groupID(s.GroupSlug)
			if err != nil {
				return fmt.Errorf("%s: %w", s.Where, err)
			}
			s.Subsidy.GroupID = id
			if _, err := p.SetSubsidy(ctx, s.Subsidy); err != nil {
				return fmt.Errorf("%s: %w", s.Where, err)
			}
			sum.Subsidies++
		}
		for _, b := range list.Budgets {
			id, err := groupID(b.GroupSlug)
			if err != nil {
				return fmt.Errorf("%s: %w", b.Where, err)
			}
			b.Budget.GroupID = id
			if _, err := p.SetBudget(ctx, b.Budget); err != nil {
				return fmt.Errorf("%s: %w", b.Where, err)
			}
			sum.Budgets++
		}
		return nil
	})
	if err != nil {
		return Summary{}, fmt.Errorf("nothing applied: %w", err)
	}
	return sum, nil
}
