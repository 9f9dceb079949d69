package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/views"
)

// Signing in and out: the sign-in page, the demo's sign-in as anyone, OpenID
// Connect, and signing out.

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) error {
	page := views.LoginPage{Layout: s.layout(r, "Sign in"), Next: safeNext(r.URL.Query().Get("next")),
		OIDC: s.authOpts.OIDC != nil, Proxy: s.authOpts.ProxyHeader != ""}
	if s.authOpts.DemoLogin {
		users, err := s.demoUsers(r.Context())
		if err != nil {
			return err
		}
		page.DemoUsers = users
	}
	return s.render(w, r, views.Login(page))
}

// demoUsers offers one person of each kind to sign in as.
func (s *Server) demoUsers(ctx context.Context) ([]views.DemoUser, error) {
	users, err := s.ledger.DemoUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]views.DemoUser, 0, len(users))
	for _, u := range users {
		out = append(out, views.DemoUser{Login: u.Login, Name: u.DisplayName, Role: u.Role})
	}
	return out, nil
}

func (s *Server) loginDemo(w http.ResponseWriter, r *http.Request) error {
	if !s.authOpts.DemoLogin {
		return errNotFound
	}
	login := strings.TrimSpace(r.FormValue("login"))
	if _, err := s.signIn(w, r, login, "demo"); err != nil {
		if errors.Is(err, auth.ErrNoUser) {
			http.Error(w, "No such user in the demo: "+login, http.StatusBadRequest)
			return nil
		}
		return err
	}
	http.Redirect(w, r, safeNext(r.FormValue("next")), http.StatusSeeOther)
	return nil
}

func (s *Server) loginOIDC(w http.ResponseWriter, r *http.Request) error {
	if s.authOpts.OIDC == nil {
		return errNotFound
	}
	return s.authOpts.OIDC.Start(w, r, safeNext(r.URL.Query().Get("next")))
}

func (s *Server) loginOIDCCallback(w http.ResponseWriter, r *http.Request) error {
	if s.authOpts.OIDC == nil {
		return errNotFound
	}
	login, next, err := s.authOpts.OIDC.Callback(r.Context(), r)
	if err != nil {
		// The detail (a provider's answer, a database error) is logged, not shown:
		// the person gets what they can act on and the id to quote.
		reqID := middleware.GetReqID(r.Context())
		s.log.Warn("oidc sign-in failed", "err", err, "request_id", reqID)
		msg := "Sign-in failed: the identity provider's answer could not be verified. Please start again; if it keeps failing, quote request " + reqID + " to your research-computing team."
		if errors.Is(err, auth.ErrOIDCState) {
			msg = "Sign-in failed: " + auth.ErrOIDCState.Error() + "."
		}
		http.Error(w, msg, http.StatusForbidden)
		return nil
	}
	if _, err := s.signIn(w, r, login, "oidc"); err != nil {
		if errors.Is(err, auth.ErrNoUser) {
			http.Error(w, "You signed in as "+login+", whom Parsimony does not know yet. Ask your research-computing team to add you.", http.StatusForbidden)
			return nil
		}
		return err
	}
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if p := principal(r); p != nil && p.Method == "proxy" {
		// The proxy will sign them in again on the next request; ending the
		// session still retires its CSRF token.
		if err := s.auth.DeleteProxySession(r.Context(), p.UserID); err != nil {
			return err
		}
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.auth.DeleteSession(r.Context(), c.Value); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true,
		Secure: s.authOpts.SecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}
