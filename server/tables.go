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

// tableCSV writes the page's table named id as CSV — the same rows and formatted
// values the page shows, with each row's hint — or 404 when there is none.
func (s *Server) tableCSV(w http.ResponseWriter, r *http.Request, slug, id string, tables []views.Table) {
	for _, t := range tables {
		if t.ID != id || id == "" {
			continue
		}
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.csv"`, slug, id))
		// Names a spreadsheet would run as formulas are quoted; the table's numeric
		// columns are written as they are (package csvsafe).
		cw := csvsafe.NewWriter(w, t.Numeric)
		cw.Write(append(append([]string{}, t.Head...), "note"))
		for _, row := range t.Rows {
			cw.Write(append(append([]string{}, row.Cells...), row.Hint))
		}
		if err := cw.Flush(); err != nil {
			s.log.Warn("table csv not written whole", "table", id, "err", err)
		}
		return
	}
	s.notFound(w, r)
}
