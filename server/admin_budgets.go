package server

import (
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// Budgets (/admin/budgets, finance's too): budgets in force or to come, and setting one.

func (s *Server) adminBudgets(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	groups, err := s.ledger.Groups(ctx)
	if err != nil {
		return err
	}
	cur, minor := s.ledger.Currency()
	today := s.today()
	t := views.Table{Title: "Budgets in force or to come", Head: []string{"Group", "Per", "Of", "Amount", "From", "Until", "Note"},
		Numeric: []bool{false, false, false, true, false, false, false}, Empty: "No budgets yet."}
	budgets, err := s.ledger.BudgetsFrom(ctx, today)
	if err != nil {
		return err
	}
	for _, b := range budgets {
		of, amt := "money", decimalText(b.Amount, minor)+" "+cur
		if b.Resource != "" {
			unit, _ := ledger.PricedUnit(b.Resource)
			of, amt = b.Resource, strings.TrimSuffix(decimalText(b.Amount, 2), ".00")+" "+unit+"s"
		}
		to := "—"
		if b.ValidTo.Before(ledger.Forever) {
			to = b.ValidTo.Format(time.DateOnly)
		}
		t.Rows = append(t.Rows, views.Row{Link: "/groups/" + b.GroupSlug, Cells: []string{b.GroupName, strings.ReplaceAll(b.Span, "_", " "), of, amt,
			b.ValidFrom.Format(time.DateOnly), to, b.Note}})
	}
	return s.render(w, r, views.AdminBudgets(views.AdminBudgetsPage{Layout: s.layout(r, "Budgets"), Done: doneNote(r.URL.Query()),
		Links: adminLinks(r), Currency: cur, Resources: resourceChoices(), Groups: groupChoices(groups, nil),
		Today: today.Format(time.DateOnly), Budgets: t}))
}

func (s *Server) setBudget(w http.ResponseWriter, r *http.Request) error {
	done, err := func() (url.Values, error) {
		g, err := s.formGroup(r.Context(), r, "group", "a group")
		if err != nil {
			return nil, err
		}
		b := ledger.Budget{GroupID: g.ID, Span: r.PostFormValue("span"), Resource: r.PostFormValue("resource"),
			Note: strings.TrimSpace(r.PostFormValue("note"))}
		if b.Span != ledger.SpanMonth && b.Span != ledger.SpanFiscalYear {
			return nil, badForm("Choose whether the budget is per month or per fiscal year.")
		}
		if b.Resource != "" && !slices.Contains(ledger.Resources(), b.Resource) {
			return nil, badForm("Choose money or a resource: one of %s.", strings.Join(ledger.Resources(), ", "))
		}
		if b.Amount, err = formDecimal(r, "amount", "amount", func(v string) (*big.Rat, error) {
			return ledger.ParseQuantity(v, "amount")
		}); err != nil {
			return nil, err
		}
		if b.ValidFrom, err = formDate(r, "valid_from", "first day of the budget", true); err != nil {
			return nil, err
		}
		_, err = s.ledger.SetBudget(r.Context(), actor(r), b)
		return url.Values{"done": {"budget-set"}, "g": {g.Slug}}, err
	}()
	return s.finish(w, r, page{"/admin/budgets", "Budgets"}, done, err)
}
