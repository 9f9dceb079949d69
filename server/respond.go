package server

import (
	"encoding/json"
	"errors"
	"net/http"

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

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	if isAPI(r) {
		s.apiError(w, http.StatusNotFound, "not found")
		return
	}
	s.renderStatus(w, r, http.StatusNotFound, views.Message(s.layout(r, "Not found"), "Not found",
		"There is nothing here, or nothing you may see. Your groups are on the home page."))
}

// badRequest answers a mistake in the request with 400 and the reason, as JSON
// for the API and as a page for people.
func (s *Server) badRequest(w http.ResponseWriter, r *http.Request, reason string) {
	if isAPI(r) {
		s.apiError(w, http.StatusBadRequest, reason)
		return
	}
	s.renderStatus(w, r, http.StatusBadRequest, views.Message(s.layout(r, "Bad request"), "That cannot be shown",
		"The address asks for something that cannot be: "+reason+"."))
}

// requestFailed answers err: a *badInput with 400 and its reason, anything else
// as an internal error.
func (s *Server) requestFailed(w http.ResponseWriter, r *http.Request, err error) {
	var bad *badInput
	if errors.As(err, &bad) {
		s.badRequest(w, r, bad.reason)
		return
	}
	s.serverError(w, r, err)
}

func (s *Server) forbidden(w http.ResponseWriter, r *http.Request, why string) {
	if isAPI(r) {
		s.apiError(w, http.StatusForbidden, why)
		return
	}
	s.renderStatus(w, r, http.StatusForbidden, views.Message(s.layout(r, "Not allowed"), "Not allowed", "Sorry: "+why+"."))
}

func (s *Server) apiError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
