package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/auth"
)

// AuthOptions say how people sign in.
type AuthOptions struct {
	// DemoLogin offers a sign-in as any user of the ledger, without a password.
	// Only `parsimony demo` sets it.
	DemoLogin bool
	// OIDC, when set, offers sign-in with the site's identity provider.
	OIDC *auth.OIDC
	// ProxyHeader names the header a trusted reverse proxy (Shibboleth, Apache
	// mod_auth_openidc, oauth2-proxy) puts the signed-in login in, e.g.
	// "X-Remote-User". It is honoured only on connections from TrustedProxies.
	ProxyHeader    string
	TrustedProxies []netip.Prefix
	// SecureCookies marks cookies Secure (HTTPS only). Off only for plain-HTTP
	// demos on localhost.
	SecureCookies bool
	// SessionTTL is how long a session lasts after its last use (default 12h).
	SessionTTL time.Duration
	// SessionMaxAge is how long a session lasts at most since sign-in, however
	// often it is used (default 7 days).
	SessionMaxAge time.Duration
}

const sessionCookie = "parsimony_session"

// remoteAddr is the connection's peer address: the address the trust in a proxy
// header rests on, never a forwarded-for header anyone can send.
func remoteAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	return a.Unmap(), err == nil
}

func (s *Server) fromTrustedProxy(r *http.Request) bool {
	a, ok := remoteAddr(r)
	if !ok {
		return false
	}
	for _, p := range s.authOpts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// authenticate finds who the request acts as, in order: an API token
// (Authorization: Bearer), a trusted proxy's header, the session cookie. The
// proxy is the authority when it speaks: its header wins over any cookie, and
// the person's one proxy session (not a new one per request: clients behind a
// proxy need not keep cookies) gives forms their CSRF token.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var p *auth.Principal
		var err error
		if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
			p, err = s.auth.TokenPrincipal(ctx, strings.TrimSpace(strings.TrimPrefix(h, "Bearer ")))
			if errors.Is(err, auth.ErrNoSession) {
				s.apiError(w, http.StatusUnauthorized, "the API token is unknown, expired or revoked")
				return
			}
			if err != nil {
				s.fail(w, r, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, principalKey, p)))
			return
		}
		if login := s.proxyLogin(r); login != "" {
			if p, err = s.proxySignIn(ctx, login); err != nil {
				if errors.Is(err, auth.ErrNoUser) {
					http.Error(w, "You are signed in as "+login+", whom Parsimony does not know yet. Ask your research-computing team to add you.", http.StatusForbidden)
					return
				}
				s.fail(w, r, err)
				return
			}
		} else if c, cerr := r.Cookie(sessionCookie); cerr == nil {
			// An unknown or expired cookie is a request not signed in.
			if p, err = s.auth.Session(ctx, c.Value); err != nil && !errors.Is(err, auth.ErrNoSession) {
				s.fail(w, r, err)
				return
			}
		}
		if p != nil {
			ctx = context.WithValue(ctx, principalKey, p)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// proxyLogin is the login a trusted proxy's header names, or "".
func (s *Server) proxyLogin(r *http.Request) string {
	if s.authOpts.ProxyHeader == "" || !s.fromTrustedProxy(r) {
		return ""
	}
	return strings.TrimSpace(r.Header.Get(s.authOpts.ProxyHeader))
}

// proxySignIn is the principal of a login the proxy vouches for, in the user's
// one proxy session.
func (s *Server) proxySignIn(ctx context.Context, login string) (*auth.Principal, error) {
	id, err := s.auth.UserID(ctx, login)
	if err != nil {
		return nil, err
	}
	return s.auth.ProxySession(ctx, id)
}

// signIn starts a session for login and sets its cookie.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, login, method string) (*auth.Principal, error) {
	id, err := s.auth.UserID(r.Context(), login)
	if err != nil {
		return nil, err
	}
	token, err := s.auth.CreateSession(r.Context(), id, method)
	if err != nil {
		return nil, err
	}
	// The cookie may outlive an idle session (the server refuses it then), but
	// not the session's maximum age.
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true,
		Secure: s.authOpts.SecureCookies, SameSite: http.SameSiteLaxMode, MaxAge: int(s.sessionMaxAge().Seconds())})
	return s.auth.Session(r.Context(), token)
}

// sessionTTL is how long a session lasts after its last use.
func (s *Server) sessionTTL() time.Duration {
	if s.authOpts.SessionTTL > 0 {
		return s.authOpts.SessionTTL
	}
	return auth.DefaultSessionIdle
}

// sessionMaxAge is how long a session lasts at most.
func (s *Server) sessionMaxAge() time.Duration {
	if s.authOpts.SessionMaxAge > 0 {
		return s.authOpts.SessionMaxAge
	}
	return auth.DefaultSessionMaxAge
}

// safeNext keeps a post-sign-in destination local.
func safeNext(s string) string { return auth.SafeReturnPath(s) }
