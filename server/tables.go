package server

import (
	"fmt"
	"net/http"

	"github.com/parsimony-hpc/parsimony/internal/csvsafe"
	"github.com/parsimony-hpc/parsimony/views"
)

// What a page's tables share: how many rows a card shows, and any table of the
// page as CSV (?csv=ID).

// tableRows is how many rows a dashboard table shows; the rest are in its CSV.
const tableRows = 25

// topRows keeps a table's first n rows and says how many more there are.
func topRows(t views.Table, n int) views.Table {
	if len(t.Rows) > n {
		t.More = len(t.Rows) - n
		t.Rows = t.Rows[:n]
	}
	return t
}

// csvLink is the page's own URL asking for one of its tables as CSV.
func csvLink(r *http.Request, id string) string {
	q := r.URL.Query()
	q.Set("csv", id)
	return r.URL.Path + "?" + q.Encode()
}

// tableCSV writes the page's table named id as CSV: its data (each row's Data
// under DataHead, in the page's order), not the page's formatted text. An id the
// page has no such table for is not found.
func (s *Server) tableCSV(w http.ResponseWriter, r *http.Request, slug, id string, tables []views.Table) error {
	for _, t := range tables {
		if t.ID != id || id == "" || len(t.DataHead) == 0 {
			continue
		}
		for _, row := range t.Rows {
			if len(row.Data) != len(t.DataHead) {
				return fmt.Errorf("table %s: a row has %d data columns for %d named", id, len(row.Data), len(t.DataHead))
			}
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, slug, id))
		// Names a spreadsheet would run as formulas are quoted; numeric columns
		// are written as they are (package csvsafe).
		cw := csvsafe.NewWriter(w, t.DataNumeric)
		cw.Write(t.DataHead)
		for _, row := range t.Rows {
			cw.Write(row.Data)
		}
		if err := cw.Flush(); err != nil {
			// The answer has begun: all that is left is to say so in the log.
			s.log.Warn("table csv not written whole", "table", id, "err", err)
		}
		return nil
	}
	return errNotFound
}
