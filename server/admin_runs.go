package server

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/parsimony-hpc/parsimony/views"
)

// The collectors' side of the admin: their runs (/admin/runs) and the input
// quarantined (/admin/quarantine).

func (s *Server) runsPage(w http.ResponseWriter, r *http.Request) error {
	runs, err := s.ledger.Runs(r.Context(), 100)
	if err != nil {
		return err
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
	return s.render(w, r, views.Tables(views.TablesPage{Layout: s.layout(r, "Collector runs"), Title: "Collector runs", Tables: []views.Table{t}}))
}

func (s *Server) quarantinePage(w http.ResponseWriter, r *http.Request) error {
	q, err := s.ledger.Quarantined(r.Context(), 200)
	if err != nil {
		return err
	}
	t := views.Table{Title: "Quarantined input", Note: "Input that could not become usage, with its raw text and the reason. Nothing is dropped.",
		Head: []string{"Source", "Cluster", "Reason", "Raw", "Seen", "Last seen"}, Empty: "Nothing in quarantine."}
	for _, x := range q {
		last := x.LastSeen
		t.Rows = append(t.Rows, views.Row{Cells: []string{x.Source, x.Cluster, x.Reason, x.Raw, strconv.FormatInt(x.SeenCount, 10), since(&last)}})
	}
	return s.render(w, r, views.Tables(views.TablesPage{Layout: s.layout(r, "Quarantine"), Title: "Quarantine", Tables: []views.Table{t}}))
}
