package server

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// Rates (/admin/rates, finance's too): every rate, setting and ending them.

func (s *Server) adminRates(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	rates, err := s.ledger.Rates(ctx, time.Time{})
	if err != nil {
		return err
	}
	groups, err := s.ledger.Groups(ctx)
	if err != nil {
		return err
	}
	first, err := s.ledger.FirstOpenMonth(ctx)
	if err != nil {
		return err
	}
	cur, _ := s.ledger.Currency()
	today := s.today()
	p := views.AdminRatesPage{Layout: s.layout(r, "Rates"), Done: doneNote(r.URL.Query()), Links: adminLinks(r),
		Currency: cur, Resources: resourceChoices(), Groups: groupChoices(groups, nil), Today: today.Format(time.DateOnly)}
	if !first.IsZero() {
		p.FirstOpen = first.Format(time.DateOnly)
	}
	for _, x := range rates {
		unit, _ := ledger.PricedUnit(x.Resource)
		group, to := "*", "—"
		if x.GroupSlug != "" {
			group = x.GroupSlug
		}
		if x.ValidTo.Before(ledger.Forever) {
			to = x.ValidTo.Format(time.DateOnly)
		}
		p.Rates = append(p.Rates, views.RateRow{ID: strconv.FormatInt(x.ID, 10), Resource: x.Resource, Cluster: x.Cluster, Partition: x.Partition,
			QoS: x.QoS, Group: group, Price: priceText(x.Price), Per: unit, From: x.ValidFrom.Format(time.DateOnly), To: to, Note: x.Note,
			Endable: x.ValidTo.After(today)})
	}
	return s.render(w, r, views.AdminRates(p))
}

// resourceChoices are the resources with the unit they are priced in.
func resourceChoices() []views.Option {
	var out []views.Option
	for _, res := range ledger.Resources() {
		unit, _ := ledger.PricedUnit(res)
		out = append(out, views.Option{Value: res, Label: res + " (per " + unit + ")"})
	}
	return out
}

func (s *Server) setRate(w http.ResponseWriter, r *http.Request) error {
	done, err := func() (url.Values, error) {
		rate := ledger.Rate{Resource: r.PostFormValue("resource"), Cluster: strings.TrimSpace(r.PostFormValue("cluster")),
			Partition: strings.TrimSpace(r.PostFormValue("partition")), QoS: strings.TrimSpace(r.PostFormValue("qos")),
			Note: strings.TrimSpace(r.PostFormValue("note"))}
		if !slices.Contains(ledger.Resources(), rate.Resource) {
			return nil, badForm("Choose a resource: one of %s.", strings.Join(ledger.Resources(), ", "))
		}
		if r.PostFormValue("group") != "" {
			g, err := s.formGroup(r.Context(), r, "group", "a group")
			if err != nil {
				return nil, err
			}
			rate.GroupID = g.ID
		}
		var err error
		if rate.Price, err = formDecimal(r, "price", "price", ledger.ParsePrice); err != nil {
			return nil, err
		}
		if rate.ValidFrom, err = formDate(r, "valid_from", "first day of the price", true); err != nil {
			return nil, err
		}
		_, changed, err := s.ledger.SetRate(r.Context(), actor(r), rate)
		if !changed {
			return url.Values{"done": {"rate-unchanged"}}, err
		}
		return url.Values{"done": {"rate-set"}}, err
	}()
	return s.finish(w, r, page{"/admin/rates", "Rates"}, done, err)
}

func (s *Server) endRate(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	rates, err := s.ledger.Rates(ctx, time.Time{})
	if err != nil {
		return err
	}
	i := slices.IndexFunc(rates, func(x ledger.Rate) bool { return x.ID == id })
	if i < 0 {
		return errNotFound
	}
	rate := rates[i]
	day, err := formDate(r, "date", "day the rate ends on", true)
	switch {
	case err != nil:
	case !day.After(rate.ValidFrom):
		err = badForm("The rate starts on %s: it can only end after that.", rate.ValidFrom.Format(time.DateOnly))
	case day.After(rate.ValidTo):
		err = badForm("The rate ends on %s already: a rate can end sooner, not later.", rate.ValidTo.Format(time.DateOnly))
	default:
		err = s.ledger.EndRate(ctx, actor(r), id, day)
	}
	return s.finish(w, r, page{"/admin/rates", "Rates"}, url.Values{"done": {"rate-ended"}}, err)
}
