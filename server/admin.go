package server

// The admin's pages and the changes they make: the group tree, mappings (with the
// unassigned usage they claim), people and their roles, rates and budgets. Each
// change is a plain form POSTed to a route of the table; done, it redirects (303)
// back to its page with ?done=… for a note of what it did. A mistake in the form is
// shown with its reason (400, or 409 when the ledger's rules forbid the change),
// never as an internal error.

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// doneNote is the note of what a form did, from the query its redirect carries.
// Only known words and checked values are shown: the query is anyone's to write.
func doneNote(q url.Values) string {
	g := q.Get("g")
	if !ledger.ValidSlug(g) {
		g = "the group"
	}
	role := q.Get("role")
	if !slices.Contains([]string{ledger.RoleAdmin, ledger.RoleFinance}, role) {
		role = "the"
	}
	switch q.Get("done") {
	case "mapped":
		n, _ := strconv.ParseInt(q.Get("n"), 10, 64)
		rows := "usage rows"
		if n == 1 {
			rows = "usage row"
		}
		return fmt.Sprintf("Mapped to %s: %s unassigned %s moved into it.", g, ledger.GroupThousands(strconv.FormatInt(max(n, 0), 10)), rows)
	case "group-created":
		return "Created the group " + g + "."
	case "group-moved":
		return "Moved " + g + " with its subtree."
	case "group-archived":
		return "Archived " + g + "."
	case "user-added":
		return "Added."
	case "role-granted":
		return "Granted the " + role + " role."
	case "role-revoked":
		return "Revoked the " + role + " role."
	case "membership-added":
		return "Added the membership in " + g + "."
	case "membership-ended":
		return "Ended the membership in " + g + "."
	case "rate-set":
		return "The rate is set."
	case "rate-unchanged":
		return "That rate was in force already: nothing changed."
	case "rate-ended":
		return "The rate is ended."
	case "budget-set":
		return "Set the budget of " + g + "."
	}
	return ""
}

// adminLinks are the links between the admin's pages (finance sees its own two),
// but for the page at hand.
func adminLinks(r *http.Request) []views.Crumb {
	links := []views.Crumb{{Slug: "/admin/rates", Name: "Rates"}, {Slug: "/admin/budgets", Name: "Budgets"}}
	if principal(r).Admin {
		links = append([]views.Crumb{{Slug: "/admin", Name: "Admin"}, {Slug: "/admin/groups", Name: "Groups"}, {Slug: "/admin/users", Name: "Users"}},
			append(links, views.Crumb{Slug: "/admin/runs", Name: "Collector runs"}, views.Crumb{Slug: "/admin/quarantine", Name: "Quarantine"},
				views.Crumb{Slug: "/statements", Name: "Billing periods"})...)
	}
	return slices.DeleteFunc(links, func(c views.Crumb) bool { return c.Slug == r.URL.Path })
}

func actor(r *http.Request) string { return "web:" + principal(r).Login }

// adminPage: unassigned usage waiting for a mapping (each row mapped in place), the
// rates in force, the group tree.
func (s *Server) adminPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	groups, err := s.ledger.Groups(ctx)
	if err != nil {
		return err
	}
	tree := views.GroupTree{Title: "Groups", Note: "Open a group to move or archive it, or to map identities to it; add groups on the Groups page.",
		Head: []string{"Group", "Kind", "Slug", "Cost centre", "Billable"}, Empty: "No groups yet."}
	for _, g := range treeOrder(groups) {
		tree.Rows = append(tree.Rows, views.TreeRow{Depth: g.Depth(), Name: g.Name, Link: "/admin/groups/" + g.Slug, Archived: g.ArchivedAt != nil,
			Cells: []string{g.Kind, g.Slug, g.CostCentre, yesNo(g.Billable)}})
	}
	const shown = 50
	accounts, err := s.ledger.UnmappedAccounts(ctx, shown+1)
	if err != nil {
		return err
	}
	var unassigned []views.UnassignedRow
	for _, a := range accounts {
		u := views.UnassignedRow{Source: a.Source, Cluster: a.Cluster, Account: a.Account,
			Rows: ledger.GroupThousands(strconv.FormatInt(a.Rows, 10)), Since: a.Since.Format(time.DateOnly)}
		u.Kind, _ = ledger.MappingKind(u.Source)
		unassigned = append(unassigned, u)
	}
	more := ""
	if len(unassigned) > shown {
		unassigned = unassigned[:shown]
		more = fmt.Sprintf("There is more: these are the %d accounts with the most rows. Map them and the next ones show.", shown)
	}
	rates, err := s.ledger.Rates(ctx, s.now())
	if err != nil {
		return err
	}
	cur, _ := s.ledger.Currency()
	rt := views.Table{Title: "Rates in force today", Head: []string{"Resource", "Cluster", "Partition", "QoS", "Group", "Price (" + cur + ")", "Per", "Since", "Note"},
		Numeric: []bool{false, false, false, false, false, true, false, true, false},
		Empty:   "No rates: all usage is unpriced. Set them on the Rates page, or import a price list with parsimony rates import."}
	for _, x := range rates {
		unit, _ := ledger.PricedUnit(x.Resource)
		group := "*"
		if x.GroupSlug != "" {
			group = x.GroupSlug
		}
		rt.Rows = append(rt.Rows, views.Row{Cells: []string{x.Resource, x.Cluster, x.Partition, x.QoS, group, priceText(x.Price), unit,
			x.ValidFrom.Format(time.DateOnly), x.Note}})
	}
	return s.render(w, r, views.AdminHome(views.AdminHomePage{Layout: s.layout(r, "Admin"), Done: doneNote(r.URL.Query()), Links: adminLinks(r),
		Unassigned: unassigned, More: more, Groups: groupChoices(groups, nil), Tables: []views.Table{rt}, Tree: tree}))
}
