package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/a-h/templ"

	"github.com/parsimony-hpc/parsimony/views"
)

// layout is the page frame for the request's principal.
func (s *Server) layout(r *http.Request, title string) views.LayoutProps {
	lp := views.LayoutProps{Title: title, SiteName: s.siteName, CSSURL: s.assets.URL("app.css"),
		IconURL: s.assets.URL("favicon.svg"), Path: r.URL.Path}
	if p := principal(r); p != nil {
		lp.User, lp.CSRF, lp.Admin, lp.Finance = p.Display(), p.CSRF, p.Admin, p.Everything()
	}
	return lp
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// render writes a component through a buffer, so a render error becomes a clean
// 500 rather than half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, c templ.Component) error {
	return s.renderStatus(w, r, http.StatusOK, c)
}

func (s *Server) renderStatus(w http.ResponseWriter, r *http.Request, code int, c templ.Component) error {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		return fmt.Errorf("render: %w", err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
	return nil
}
