package server

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/parsimony-hpc/parsimony/export"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/statementdoc"
	"github.com/parsimony-hpc/parsimony/views"
)

// A group's statements (/groups/{group}/statements): the list, one statement as a
// page, a PDF and a CSV.

// groupStatements lists a billable group's statements (and its open draft).
func (s *Server) groupStatements(w http.ResponseWriter, r *http.Request) error {
	g := routeGroup(r)
	statements, err := s.ledger.GroupStatements(r.Context(), g.ID)
	if err != nil {
		return err
	}
	_, digits := s.ledger.Currency()
	t := views.Table{Title: "Statements", Head: []string{"Period", "Number", "Total"}, Numeric: []bool{false, false, true},
		Empty: "No closed periods yet: statements appear here when finance closes a month."}
	for _, st := range statements {
		period := st.Month.Format("2006-01")
		t.Rows = append(t.Rows, views.Row{Cells: []string{period, st.Number, s.moneyMinor(st.TotalMinor, digits)},
			Link: "/groups/" + g.Slug + "/statements/" + period})
	}
	note := "Statements are for billable groups: this group's usage is billed to the group above it that is billable."
	if g.Billable {
		open := s.now().In(s.ledger.Location())
		note = "Final statements never change. The current month's statement is a draft until finance closes the month."
		t.Rows = append([]views.Row{{Cells: []string{open.Format("January 2006"), "draft", "–"},
			Link: "/groups/" + g.Slug + "/statements/" + open.Format("2006-01")}}, t.Rows...)
	}
	return s.render(w, r, views.StatementList(views.StatementListPage{Layout: s.layout(r, "Statements · "+g.Name),
		Title: "Statements · " + g.Name, Note: note, Table: t}))
}

// findStatement returns the group's statement for the {period}.
func (s *Server) findStatement(r *http.Request) (ledger.Statement, error) {
	g := routeGroup(r)
	month, err := time.Parse("2006-01", chi.URLParam(r, "period"))
	if err != nil {
		return ledger.Statement{}, ledger.ErrNotFound
	}
	sts, _, err := s.ledger.Statements(r.Context(), month)
	if err != nil {
		return ledger.Statement{}, err
	}
	for _, st := range sts {
		if st.GroupID == g.ID {
			return st, nil
		}
	}
	return ledger.Statement{}, ledger.ErrNotFound
}

func (s *Server) statement(w http.ResponseWriter, r *http.Request) error {
	st, err := s.findStatement(r)
	if errors.Is(err, ledger.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	base := r.URL.Path
	return s.render(w, r, views.StatementPage(views.StatementPageProps{Layout: s.layout(r, "Statement "+st.Number), Statement: st,
		PDF: base + "/pdf", CSV: base + "/csv", Back: "/groups/" + st.GroupSlug + "/statements"}))
}

func (s *Server) statementPDF(w http.ResponseWriter, r *http.Request) error {
	st, err := s.findStatement(r)
	if errors.Is(err, ledger.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := statementdoc.PDF(&buf, s.siteName, st); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.pdf"`, st.Number, st.GroupSlug))
	w.Write(buf.Bytes())
	return nil
}

func (s *Server) statementCSV(w http.ResponseWriter, r *http.Request) error {
	st, err := s.findStatement(r)
	if errors.Is(err, ledger.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	// The finance export's columns and writer: text cells a spreadsheet would run
	// as formulas are quoted, the numbers stay numbers.
	cw, err := export.NewCSVWriter(w)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, st.Number, st.GroupSlug))
	cw.Write(export.Columns)
	var rec []string
	for _, row := range export.StatementRows(st) {
		rec = row.Record(rec, st.MinorDigits)
		cw.Write(rec)
	}
	if err := cw.Flush(); err != nil {
		s.log.Warn("statement csv not written whole", "statement", st.Number, "err", err)
	}
	return nil
}
