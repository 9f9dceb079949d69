package server

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// The home page (/): the signed-in person's groups, each a card with the group's
// spend and their own, share, rank, usage and budget.

// home lists the signed-in person's groups with this month's spend, their share
// and rank, and the group's budget.
func (s *Server) home(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	ctx := r.Context()
	win, err := s.pickWindow(r)
	if err != nil {
		return err
	}
	page := views.HomePage{Layout: s.layout(r, "My groups"), Name: p.Display(), Period: win.Label}
	// A person's groups: the ones they hold a role in (not every descendant).
	seen := map[int64]bool{}
	for _, m := range p.Memberships {
		if seen[m.GroupID] {
			continue
		}
		seen[m.GroupID] = true
		g, err := s.ledger.GroupByID(ctx, m.GroupID)
		if err != nil {
			return err
		}
		card, err := s.groupCard(ctx, p, g, win)
		if err != nil {
			return err
		}
		page.Groups = append(page.Groups, card)
	}
	if p.Everything() && len(page.Groups) == 0 {
		// Admin and finance see everything: start them at the top of the tree.
		groups, err := s.ledger.Groups(ctx)
		if err != nil {
			return err
		}
		for _, g := range groups {
			if g.ParentID != 0 || g.ArchivedAt != nil {
				continue
			}
			card, err := s.groupCard(ctx, p, g, win)
			if err != nil {
				return err
			}
			card.Role = map[bool]string{true: "admin", false: "finance"}[p.Admin]
			page.Groups = append(page.Groups, card)
		}
	}
	sort.Slice(page.Groups, func(i, j int) bool {
		return page.Groups[i].Path+page.Groups[i].Name < page.Groups[j].Path+page.Groups[j].Name
	})
	return s.render(w, r, views.Home(page))
}

func (s *Server) groupCard(ctx context.Context, p *auth.Principal, g ledger.Group, win window) (views.GroupCard, error) {
	card := views.GroupCard{Slug: g.Slug, Name: g.Name, Kind: g.Kind, Role: roleName(p.RoleIn(g.Path))}
	crumbs, err := s.crumbs(ctx, p, g)
	if err != nil {
		return card, err
	}
	var names []string
	for _, c := range crumbs[:len(crumbs)-1] {
		names = append(names, c.Name)
	}
	card.Path = strings.Join(names, " › ")
	if err := s.cardSpend(ctx, p, g, win, &card); err != nil {
		return card, err
	}
	usage, err := s.ledger.GroupUsage(ctx, g.ID, win.From, win.To, true)
	if err != nil {
		return card, err
	}
	for _, u := range usage {
		if u.UserID != p.UserID {
			continue
		}
		var parts []string
		if u.CoreHours > 0 {
			parts = append(parts, number(u.CoreHours)+" core-hours", percent(u.CPUEfficiency())+" CPU efficiency")
		}
		if u.GPUHours > 0 {
			parts = append(parts, number(u.GPUHours)+" GPU-hours")
		}
		card.MyUsage = strings.Join(parts, " · ")
	}
	bs, err := s.ledger.BudgetStatuses(ctx, g.ID, s.now())
	if err != nil {
		return card, err
	}
	for _, b := range bs {
		if b.Resource == "" && b.Span == ledger.SpanMonth {
			spent, _ := b.Spent.Float64()
			amount, _ := b.Amount.Float64()
			card.Budget = s.money(spent) + " of " + s.money(amount)
		}
	}
	return card, nil
}

// cardSpend fills the card's group figure, the person's own and their rank as the
// dashboard has them: for a billable group's calendar month, its statement (the
// total to be billed, the person's apportioned usage on it); otherwise the
// subtree's spend.
func (s *Server) cardSpend(ctx context.Context, p *auth.Principal, g ledger.Group, win window, card *views.GroupCard) error {
	if month, ok := walkMonth(win); ok && g.Billable {
		w, err := s.ledger.StatementWalk(ctx, g.ID, month)
		if err != nil {
			return err
		}
		st := w.Statement
		card.SpendLabel = "To be billed"
		if w.Final {
			card.SpendLabel = "Billed"
		}
		card.GroupSpend = s.moneyMinor(st.TotalMinor, st.MinorDigits)
		var mine int64
		for i, u := range st.Users { // largest first, as the dashboard lists them
			if u.ID == p.UserID && u.ID != 0 {
				mine = u.AmountMinor
				card.Rank = fmt.Sprintf("%s of %d", ordinal(i+1), len(st.Users))
			}
		}
		card.MySpend = s.moneyMinor(mine, st.MinorDigits)
		if usage := w.UsageMinor + w.LateMinor; usage > 0 && mine > 0 {
			card.MyShare = percent(float64(mine) / float64(usage))
		}
		return nil
	}
	sp, err := s.ledger.GroupSpend(ctx, g.ID, win.From, win.To, "res", "user")
	if err != nil {
		return err
	}
	card.SpendLabel = "Group spend"
	card.GroupSpend = s.money(sp.Total)
	var mine float64
	ranked := append([]ledger.SpendRow(nil), sp.ByUser...)
	sort.Slice(ranked, func(i, j int) bool { return ranked[i].Amount > ranked[j].Amount })
	for i, u := range ranked {
		if u.UserID == p.UserID {
			mine = u.Amount
			card.Rank = fmt.Sprintf("%s of %d", ordinal(i+1), len(ranked))
		}
	}
	card.MySpend = s.money(mine)
	if sp.Total > 0 && mine > 0 {
		card.MyShare = percent(mine / sp.Total)
	}
	return nil
}
