package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/internal/oidctest"
	"github.com/parsimony-hpc/parsimony/server"
)

// Signing in with OIDC through the app's own routes: /login/oidc sends the browser
// to the provider (with PKCE), the provider sends it back to the callback, and the
// person lands where they were going, signed in, with a session cookie.
func TestOIDCSignInThroughTheApp(t *testing.T) {
	var idp *oidctest.Provider
	f := newFixtureWith(t, func(base string, pool *pgxpool.Pool) server.AuthOptions {
		idp = oidctest.New(t, "parsimony", "secret", base+"/login/oidc/callback")
		idp.Claims["preferred_username"] = "mem-a@uni.example"
		o, err := auth.NewOIDC(context.Background(), auth.OIDCConfig{Issuer: idp.URL(), ClientID: "parsimony", ClientSecret: "secret",
			RedirectURL: base + "/login/oidc/callback", LoginStrip: "@uni.example", HTTPClient: idp.Client()}, auth.NewStore(pool, nil, 0))
		if err != nil {
			t.Fatal(err)
		}
		return server.AuthOptions{OIDC: o}
	})
	institution(t, f)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar} // follows the redirects, keeps the cookie
	resp, err := browser.Get(f.srv.URL + "/groups/lab-a/leaderboard")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Sign in with your institution") {
		t.Fatalf("signed out: %d, want the sign-in page with the OIDC button", resp.StatusCode)
	}
	resp, err = browser.Get(f.srv.URL + "/login/oidc?next=/groups/lab-a/leaderboard")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/groups/lab-a/leaderboard" || !strings.Contains(string(body), "You (mem-a)") {
		t.Fatalf("after OIDC: %d at %s (provider refused: %v)", resp.StatusCode, resp.Request.URL, idp.Refusals())
	}
	if got := idp.LastAuth().Get("code_challenge_method"); got != "S256" {
		t.Errorf("code_challenge_method %q, want S256", got)
	}
	// Someone the ledger does not know is refused, with a clear message.
	idp.Claims["preferred_username"] = "stranger@uni.example"
	jar2, _ := cookiejar.New(nil)
	resp, err = (&http.Client{Jar: jar2}).Get(f.srv.URL + "/login/oidc")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "stranger") {
		t.Errorf("unknown person: %d %q", resp.StatusCode, body)
	}
}
