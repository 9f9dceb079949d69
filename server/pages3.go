package server

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/export"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request) {
	s.renderTokens(w, r, "")
}

func (s *Server) renderTokens(w http.ResponseWriter, r *http.Request, created string) {
	p := principal(r)
	tokens, err := s.auth.Tokens(r.Context(), p.UserID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	page := views.TokensPage{Layout: s.layout(r, "API tokens"), New: created,
		Table: views.Table{Title: "Your tokens", Head: []string{"Name", "Starts with", "Scopes", "Created", "Last used", "State"},
			Empty: "No tokens yet."}}
	for _, t := range tokens {
		state := "active"
		if t.RevokedAt != nil {
			state = "revoked " + since(t.RevokedAt)
		} else {
			page.Revoke = append(page.Revoke, views.TokenRevoke{ID: strconv.FormatInt(t.ID, 10), Name: t.Name})
		}
		created := t.CreatedAt
		page.Table.Rows = append(page.Table.Rows, views.Row{Cells: []string{t.Name, t.Prefix + "…", strings.Join(t.Scopes, ", "),
			since(&created), since(t.LastUsedAt), state}})
	}
	s.render(w, r, views.Tokens(page))
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if err := r.ParseForm(); err != nil {
		s.badRequest(w, r, "the form cannot be read")
		return
	}
	secret, _, err := s.auth.CreateToken(r.Context(), p.UserID, r.FormValue("name"), r.Form["scope"], nil)
	if errors.Is(err, auth.ErrInvalid) {
		// Only the store's own reasons are shown; a database's text never is.
		s.badRequest(w, r, strings.TrimPrefix(err.Error(), auth.ErrInvalid.Error()+": "))
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.renderTokens(w, r, secret)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		s.notFound(w, r)
		return
	}
	if err := s.auth.RevokeToken(r.Context(), principal(r).UserID, id); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			s.notFound(w, r)
			return
		}
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/tokens", http.StatusSeeOther)
}

// statementsPage is finance's view of the periods: close the next one, export any.
func (s *Server) statementsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	periods, err := s.ledger.Periods(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	first, err := s.ledger.FirstOpenMonth(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	// What each closed month billed.
	type billed struct {
		n     int
		total int64
	}
	totals := map[string]billed{}
	rows, err := s.ledger.Pool().Query(ctx, `SELECT to_char(period, 'YYYY-MM'), count(*), sum(total_minor) FROM statements GROUP BY period`)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	for rows.Next() {
		var period string
		var b billed
		if err := rows.Scan(&period, &b.n, &b.total); err != nil {
			rows.Close()
			s.serverError(w, r, err)
			return
		}
		totals[period] = b
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		s.serverError(w, r, err)
		return
	}
	_, digits := s.ledger.Currency()
	current := s.ledger.CurrentMonth()
	page := views.StatementListPage{Layout: s.layout(r, "Statements"), Title: "Billing periods",
		Note: fmt.Sprintf("Close months in order, once they have ended; a closed month's statements never change (late usage goes to the next open month). %s can be closed from %s.",
			current.Format("January 2006"), s.ledger.PeriodEnd(current).Format("2 January 2006 15:04 MST")),
		Table: views.Table{Title: "Periods", Head: []string{"Period", "State", "Statements", "Billed", "Rated", "Closed", "Export"},
			Numeric: []bool{false, false, true, true, false, false, false}, Empty: "Nothing has been rated yet.", NameCol: 6}}
	for _, p := range periods {
		state := "open"
		if p.ClosedAt != nil {
			state = "closed by " + p.ClosedBy
		}
		period := p.Month.Format("2006-01")
		count, amount := "drafts", "–"
		if b, ok := totals[period]; ok {
			count, amount = strconv.Itoa(b.n), s.moneyMinor(b.total, digits)
		}
		page.Table.Rows = append(page.Table.Rows, views.Row{Cells: []string{p.Month.Format("January 2006"), state, count, amount,
			since(p.RatedAt), since(p.ClosedAt), "CSV"}, Link: "/statements/" + period + "/export.csv"})
		if p.ClosedAt == nil && p.Month.Before(current) {
			page.Close = append(page.Close, views.ClosablePeriod{Period: period, Label: p.Month.Format("January 2006"),
				Next: first.IsZero() || p.Month.Equal(first)})
		}
	}
	if page.Jobs, err = s.jobsTable(ctx); err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, views.StatementList(page))
}

func (s *Server) exportCSV(w http.ResponseWriter, r *http.Request) {
	month, err := time.Parse("2006-01", chi.URLParam(r, "period"))
	if err != nil {
		s.notFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="parsimony-%s.csv"`, month.Format("2006-01")))
	if _, err := export.CSV(r.Context(), s.ledger, month, w); err != nil {
		// Headers are gone: the truncated file ends without its trailer, which an
		// import checking the control total rejects.
		s.log.Error("export failed", "period", month.Format("2006-01"), "err", err)
	}
}

// jobClose is the kind of job that closes a month.
const jobClose = "close"

// closePeriod checks at once that the month can close (ended, the next in order)
// and answers a mistake with 409 and the reason; the closing itself runs as a job
// the browser follows, since a large month takes longer than a response may.
func (s *Server) closePeriod(w http.ResponseWriter, r *http.Request) {
	month, err := time.Parse("2006-01", chi.URLParam(r, "period"))
	if err != nil {
		s.notFound(w, r)
		return
	}
	already, err := s.ledger.CheckClosable(r.Context(), month)
	if errors.Is(err, ledger.ErrConflict) {
		s.renderStatus(w, r, http.StatusConflict, views.Message(s.layout(r, "Cannot close"), "Cannot close "+month.Format("January 2006"),
			strings.TrimPrefix(err.Error(), ledger.ErrConflict.Error()+": ")))
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if already {
		http.Redirect(w, r, "/statements", http.StatusSeeOther)
		return
	}
	actor := "web:" + principal(r).Login
	s.startJob(w, r, jobClose, month.Format("2006-01"), func(ctx context.Context) (string, error) {
		sts, rec, err := s.ledger.Close(ctx, actor, month)
		if err != nil {
			return "", err
		}
		_, digits := s.ledger.Currency()
		return fmt.Sprintf("%s is closed: %d final statements, %s billed.", month.Format("January 2006"), len(sts),
			s.moneyMinor(rec.StatementsMinor, digits)), nil
	})
}

// adminPage: unassigned usage waiting for a mapping (each row mapped in place), the
// rates in force, the group tree.
func (s *Server) adminPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	groups, err := s.ledger.Groups(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	tree := views.GroupTree{Title: "Groups", Note: "Open a group to move or archive it, or to map identities to it; add groups on the Groups page.",
		Head: []string{"Group", "Kind", "Slug", "Cost centre", "Billable"}, Empty: "No groups yet."}
	for _, g := range treeOrder(groups) {
		tree.Rows = append(tree.Rows, views.TreeRow{Depth: g.Depth(), Name: g.Name, Link: "/admin/groups/" + g.Slug, Archived: g.ArchivedAt != nil,
			Cells: []string{g.Kind, g.Slug, g.CostCentre, yesNo(g.Billable)}})
	}
	const shown = 50
	rows, err := s.ledger.Pool().Query(ctx, `
		SELECT source, cluster, account, count(*), min(day)::text FROM usage WHERE group_id IS NULL
		GROUP BY 1, 2, 3 ORDER BY count(*) DESC, 1, 2, 3 LIMIT $1`, shown+1)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	var unassigned []views.UnassignedRow
	var u views.UnassignedRow
	var n int64
	_, err = pgx.ForEachRow(rows, []any{&u.Source, &u.Cluster, &u.Account, &n, &u.Since}, func() error {
		u.Rows = ledger.GroupThousands(strconv.FormatInt(n, 10))
		u.Kind, _ = ledger.MappingKind(u.Source)
		unassigned = append(unassigned, u)
		return nil
	})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	more := ""
	if len(unassigned) > shown {
		unassigned = unassigned[:shown]
		more = fmt.Sprintf("There is more: these are the %d accounts with the most rows. Map them and the next ones show.", shown)
	}
	rates, err := s.ledger.Rates(ctx, s.now())
	if err != nil {
		s.serverError(w, r, err)
		return
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
	s.render(w, r, views.AdminHome(views.AdminHomePage{Layout: s.layout(r, "Admin"), Done: doneNote(r.URL.Query()), Links: adminLinks(r),
		Unassigned: unassigned, More: more, Groups: groupChoices(groups, nil), Tables: []views.Table{rt}, Tree: tree}))
}

func (s *Server) quarantinePage(w http.ResponseWriter, r *http.Request) {
	q, err := s.ledger.Quarantined(r.Context(), 200)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	t := views.Table{Title: "Quarantined input", Note: "Input that could not become usage, with its raw text and the reason. Nothing is dropped.",
		Head: []string{"Source", "Cluster", "Reason", "Raw", "Seen", "Last seen"}, Empty: "Nothing in quarantine."}
	for _, x := range q {
		last := x.LastSeen
		t.Rows = append(t.Rows, views.Row{Cells: []string{x.Source, x.Cluster, x.Reason, x.Raw, strconv.FormatInt(x.SeenCount, 10), since(&last)}})
	}
	s.render(w, r, views.Tables(views.TablesPage{Layout: s.layout(r, "Quarantine"), Title: "Quarantine", Tables: []views.Table{t}}))
}

func (s *Server) runsPage(w http.ResponseWriter, r *http.Request) {
	runs, err := s.ledger.Runs(r.Context(), 100)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	t := views.Table{Title: "Collector runs",
		Note:    "A run whose process ended without finishing it (killed, crashed) is marked abandoned when the next run of its source and cluster starts.",
		Head:    []string{"Source", "Cluster", "State", "Started", "Finished", "Read", "Ingested", "Revised", "Quarantined", "Unmapped", "Error"},
		Numeric: []bool{false, false, false, false, false, true, true, true, true, true, false}, Empty: "No collector has run yet."}
	for _, x := range runs {
		started := x.StartedAt
		t.Rows = append(t.Rows, views.Row{Cells: []string{x.Source, x.Cluster, x.State, since(&started), since(x.FinishedAt),
			fmt.Sprint(x.Counts.Read), fmt.Sprint(x.Counts.Ingested),
			fmt.Sprint(x.Counts.Revised), fmt.Sprint(x.Counts.Quarantined), fmt.Sprint(x.Counts.Unmapped), x.Error}})
	}
	s.render(w, r, views.Tables(views.TablesPage{Layout: s.layout(r, "Collector runs"), Title: "Collector runs", Tables: []views.Table{t}}))
}

// priceText writes a price with at least two decimals and no needless zeros.
func priceText(p *big.Rat) string {
	txt := strings.TrimRight(p.FloatString(12), "0")
	if i := strings.IndexByte(txt, '.'); len(txt)-i-1 < 2 {
		txt += strings.Repeat("0", 2-(len(txt)-i-1))
	}
	return txt
}
