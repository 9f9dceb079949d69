package server

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/ledger"
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
	page := views.TokensPage{Layout: s.layout(r, "API tokens"), New: created, NoIngest: !p.Admin,
		Sources: []string{ledger.SourceCgroup, ledger.SourceSlurm, ledger.SourceK8s, ledger.SourceStorage, ledger.SourceAPI},
		Table: views.Table{Title: "Your tokens", Head: []string{"Name", "Starts with", "Scopes", "Bound to", "Created", "Last used", "State"},
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
			t.Binding.String(), since(&created), since(t.LastUsedAt), state}})
	}
	return s.render(w, r, views.Tokens(page))
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	if err := r.ParseForm(); err != nil {
		return &badInput{"the form cannot be read"}
	}
	scopes := r.Form["scope"]
	// Only admins' tokens may send usage (api_ingest.go): an ingest scope
	// for anyone else would be a token that cannot do what it says.
	if slices.Contains(scopes, "ingest") && !p.Admin {
		return &badInput{"only admins' tokens may have the ingest scope"}
	}
	secret, _, err := s.auth.IssueToken(r.Context(), p.UserID, auth.TokenRequest{Name: r.FormValue("name"), Scopes: scopes,
		Binding: auth.Binding{Source: r.FormValue("bound_source"), Cluster: r.FormValue("bound_cluster")}})
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
