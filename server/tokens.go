package server

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/views"
)

// The API tokens page (/tokens): a person's tokens, creating and revoking them.

func (s *Server) tokensPage(w http.ResponseWriter, r *http.Request) error {
	return s.renderTokens(w, r, "")
}

func (s *Server) renderTokens(w http.ResponseWriter, r *http.Request, created string) error {
	p := principal(r)
	tokens, err := s.auth.Tokens(r.Context(), p.UserID)
	if err != nil {
		return err
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
	return s.render(w, r, views.Tokens(page))
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	if err := r.ParseForm(); err != nil {
		return &badInput{"the form cannot be read"}
	}
	secret, _, err := s.auth.CreateToken(r.Context(), p.UserID, r.FormValue("name"), r.Form["scope"], nil)
	if errors.Is(err, auth.ErrInvalid) {
		// Only the store's own reasons are shown; a database's text never is.
		return &badInput{strings.TrimPrefix(err.Error(), auth.ErrInvalid.Error()+": ")}
	}
	if err != nil {
		return err
	}
	return s.renderTokens(w, r, secret)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	if err := s.auth.RevokeToken(r.Context(), principal(r).UserID, id); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		return err
	}
	http.Redirect(w, r, "/tokens", http.StatusSeeOther)
	return nil
}
