package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/ledger"
)

// access is who may use a route. It is checked in one place (s.guard), before any
// handler runs; handlers only narrow further what a page shows (member names on a
// leaderboard).
type access int

const (
	// sessionless: anyone, and the request's session or token is not even read,
	// so that health checks, metrics and static files answer (and answer
	// quickly) whatever state the database is in.
	sessionless access = iota
	public             // anyone, signed in or not
	signedIn           // any signed-in person
	groupView          // a member (any role) of {group} or of a group above it; admin, finance
	groupManage        // a PI or manager of {group} or above; admin, finance
	financeRole        // finance or admin
	adminRole          // admin
)

func (a access) String() string {
	return [...]string{"sessionless", "public", "signed in", "group member", "group PI or manager", "finance", "admin"}[a]
}

// route is one line of the route table.
type route struct {
	method, pattern string
	access          access
	scope           string // for API tokens: the scope the route needs ("" for pages)
	handler         handler
}

// routes is the table of every route the app serves. A route added here without
// an entry in the authorization test's expectations fails that test.
func (s *Server) routes() []route {
	return []route{
		// Operations.
		{"GET", "/healthz", sessionless, "", s.healthz},
		{"GET", "/readyz", sessionless, "", s.readyz},
		{"GET", "/metrics", sessionless, "", always(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))},
		{"GET", "/static/*", sessionless, "", always(s.assets)},

		// Signing in and out.
		{"GET", "/login", public, "", s.loginPage},
		{"POST", "/login/demo", public, "", s.loginDemo},
		{"GET", "/login/oidc", public, "", s.loginOIDC},
		{"GET", "/login/oidc/callback", public, "", s.loginOIDCCallback},
		{"POST", "/logout", signedIn, "", s.logout},

		// Pages.
		{"GET", "/", signedIn, "", s.home},
		{"GET", "/overview", financeRole, "", s.overview},
		{"GET", "/groups/{group}", groupView, "", s.dashboard},
		{"GET", "/groups/{group}/leaderboard", groupView, "", s.leaderboard},
		{"GET", "/groups/{group}/statements", groupManage, "", s.groupStatements},
		{"GET", "/groups/{group}/statements/{period}", groupManage, "", s.statement},
		{"GET", "/groups/{group}/statements/{period}/pdf", groupManage, "", s.statementPDF},
		{"GET", "/groups/{group}/statements/{period}/csv", groupManage, "", s.statementCSV},
		{"GET", "/tokens", signedIn, "", s.tokensPage},
		{"POST", "/tokens", signedIn, "", s.createToken},
		{"POST", "/tokens/{id}/revoke", signedIn, "", s.revokeToken},

		// Finance.
		{"GET", "/statements", financeRole, "", s.statementsPage},
		{"GET", "/statements/{period}/export.csv", financeRole, "", s.exportCSV},
		{"POST", "/periods/{period}/close", financeRole, "", s.closePeriod},
		{"GET", "/jobs/{id}", financeRole, "", s.jobPage},

		// Admin.
		{"GET", "/admin", adminRole, "", s.adminPage},
		{"GET", "/admin/quarantine", adminRole, "", s.quarantinePage},
		{"GET", "/admin/runs", adminRole, "", s.runsPage},
		{"POST", "/admin/mappings", adminRole, "", s.mapIdentity},
		{"GET", "/admin/groups", adminRole, "", s.adminGroups},
		{"POST", "/admin/groups", adminRole, "", s.createGroup},
		{"GET", "/admin/groups/{group}", adminRole, "", s.adminGroup},
		{"POST", "/admin/groups/{group}/move", adminRole, "", s.moveGroup},
		{"POST", "/admin/groups/{group}/archive", adminRole, "", s.archiveGroup},
		{"GET", "/admin/users", adminRole, "", s.adminUsers},
		{"POST", "/admin/users", adminRole, "", s.addUser},
		{"GET", "/admin/users/{login}", adminRole, "", s.adminUser},
		{"POST", "/admin/users/{login}/roles", adminRole, "", s.grantRole},
		{"POST", "/admin/users/{login}/roles/revoke", adminRole, "", s.revokeRole},
		{"POST", "/admin/users/{login}/memberships", adminRole, "", s.addMembership},
		{"POST", "/admin/users/{login}/memberships/end", adminRole, "", s.endMembership},
		// Prices and budgets: finance's as much as the admin's.
		{"GET", "/admin/rates", financeRole, "", s.adminRates},
		{"POST", "/admin/rates", financeRole, "", s.setRate},
		{"POST", "/admin/rates/{id}/end", financeRole, "", s.endRate},
		{"GET", "/admin/budgets", financeRole, "", s.adminBudgets},
		{"POST", "/admin/budgets", financeRole, "", s.setBudget},

		// The JSON API (docs/api.md): the same authorization as the pages.
		{"GET", "/api/v1/me", signedIn, "read", s.apiMe},
		{"GET", "/api/v1/groups", signedIn, "read", s.apiGroups},
		{"GET", "/api/v1/groups/{group}/usage", groupView, "read", s.apiUsage},
		{"GET", "/api/v1/groups/{group}/leaderboard", groupView, "read", s.apiLeaderboard},
		{"GET", "/api/v1/groups/{group}/statements/{period}", groupManage, "read", s.apiStatement},
		{"GET", "/api/v1/groups/{group}/estimate", groupView, "read", s.apiEstimate},
		{"POST", "/api/v1/usage", signedIn, "ingest", s.ingestUsage}, // admins only: see api_ingest.go
	}
}

// always is a handler that cannot fail (the metrics and static files).
func always(h http.Handler) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		h.ServeHTTP(w, r)
		return nil
	}
}

// Handler is the router.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(s.middleware()...)
	for _, rt := range s.routes() {
		h := s.guard(rt)
		if rt.access != sessionless {
			h = s.authenticate(h)
		}
		r.Method(rt.method, rt.pattern, h)
	}
	// The not-found page shows who is signed in, like every page.
	r.NotFound(s.authenticate(s.handle(func(http.ResponseWriter, *http.Request) error { return errNotFound })).ServeHTTP)
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "Method not allowed.", http.StatusMethodNotAllowed)
	})
	return r
}

type ctxKey int

const (
	principalKey ctxKey = iota
	groupKey
)

// principal is the request's signed-in person, or nil.
func principal(r *http.Request) *auth.Principal {
	p, _ := r.Context().Value(principalKey).(*auth.Principal)
	return p
}

// routeGroup is the {group} a guarded route is about.
func routeGroup(r *http.Request) ledger.Group {
	g, _ := r.Context().Value(groupKey).(ledger.Group)
	return g
}

func isAPI(r *http.Request) bool { return len(r.URL.Path) >= 8 && r.URL.Path[:8] == "/api/v1/" }

// guard enforces a route's access rule:
//   - not signed in: pages redirect to /login, the API answers 401;
//   - a group the person may not see: 404, as if it did not exist (group names are
//     not for everyone to probe);
//   - a group they see but may not manage, or a finance/admin page: 403;
//   - an API token without the route's scope: 403.
//
// State-changing requests made with a session cookie must carry its CSRF token.
func (s *Server) guard(rt route) http.Handler {
	next := s.handle(rt.handler)
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		p := principal(r)
		if rt.access == public || rt.access == sessionless {
			next(w, r)
			return nil
		}
		if p == nil {
			switch {
			case isAPI(r):
				s.apiError(w, http.StatusUnauthorized, "sign in or send an API token (Authorization: Bearer …)")
			case r.Method == http.MethodGet:
				http.Redirect(w, r, "/login?next="+safeNext(r.URL.RequestURI()), http.StatusSeeOther)
			default:
				http.Error(w, "Sign in first.", http.StatusUnauthorized)
			}
			return nil
		}
		if rt.scope != "" && !p.HasScope(rt.scope) {
			return forbiddenf("this token lacks the %s scope", rt.scope)
		}
		if p.Method == "token" && rt.scope == "" {
			return forbiddenf("API tokens are for /api/v1 only")
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && p.Method != "token" && !p.CheckCSRF(csrfToken(r)) {
			return forbiddenf("the form is out of date (CSRF token missing or wrong): reload the page and try again")
		}
		switch rt.access {
		case financeRole:
			if !p.Everything() {
				return forbiddenf("this page is for finance and admins")
			}
		case adminRole:
			if !p.Admin {
				return forbiddenf("this page is for admins")
			}
		case groupView, groupManage:
			g, err := s.ledger.GroupBySlug(r.Context(), chi.URLParam(r, "group"))
			if errors.Is(err, ledger.ErrNotFound) || (err == nil && !p.CanView(g.Path)) {
				return errNotFound
			}
			if err != nil {
				return err
			}
			if rt.access == groupManage && !p.CanManage(g.Path) {
				return forbiddenf("this is for the group's PIs and managers")
			}
			r = r.WithContext(context.WithValue(r.Context(), groupKey, g))
		}
		next(w, r)
		return nil
	})
}

// csrfHeader is where a script may send the CSRF token instead of the form.
const csrfHeader = "X-CSRF-Token"

// csrfToken is the CSRF token a state-changing request submits: from the
// csrfHeader or the form body, never the query string, which ends up in logs,
// browser history and Referer headers (r.FormValue would read it there too).
func csrfToken(r *http.Request) string {
	if t := r.Header.Get(csrfHeader); t != "" {
		return t
	}
	return r.PostFormValue("csrf")
}

// Routes lists every route of a router made by Handler as "METHOD pattern", for the
// authorization test that requires an expectation for each.
func Routes(h http.Handler) []string {
	var out []string
	if mux, ok := h.(chi.Routes); ok {
		chi.Walk(mux, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
			out = append(out, method+" "+route)
			return nil
		})
	}
	return out
}
