package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/internal/oidctest"
	"github.com/parsimony-hpc/parsimony/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const testRedirect = "https://parsimony.test/login/oidc/callback"

// oidcSetup is a test's provider, store and client, with a store clock that the
// test can move forward.
type oidcSetup struct {
	idp   *oidctest.Provider
	store *Store
	cfg   OIDCConfig
	skew  *atomic.Int64 // added to the store's clock, in nanoseconds
}

func newOIDCSetup(t *testing.T) *oidcSetup {
	t.Helper()
	idp := oidctest.New(t, "parsimony", "s3cret/+=", testRedirect)
	skew := &atomic.Int64{}
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	return &oidcSetup{
		idp:   idp,
		store: NewStore(pgtest.NewPool(t), now, 0),
		cfg: OIDCConfig{
			Issuer: idp.URL(), ClientID: "parsimony", ClientSecret: "s3cret/+=",
			RedirectURL: testRedirect, LoginStrip: "@uni.example", HTTPClient: idp.Client(),
		},
		skew: skew,
	}
}

func (s *oidcSetup) oidc(t *testing.T) *OIDC {
	t.Helper()
	o, err := NewOIDC(context.Background(), s.cfg, s.store)
	if err != nil {
		t.Fatalf("NewOIDC: %v", err)
	}
	return o
}

// signIn starts a sign-in, follows the browser to the provider and returns the
// request the provider sends the browser back with.
func signIn(t *testing.T, o *OIDC, returnTo string) *http.Request {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := o.Start(rec, httptest.NewRequest(http.MethodGet, "/login/oidc", nil), returnTo); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if rec.Code != http.StatusFound {
		t.Fatalf("Start: status %d, want 302", rec.Code)
	}
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := browser.Get(rec.Header().Get("Location"))
	if err != nil {
		t.Fatalf("follow to the provider: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("provider: status %d, want 302", resp.StatusCode)
	}
	back := resp.Header.Get("Location")
	if !strings.HasPrefix(back, testRedirect+"?") {
		t.Fatalf("provider redirected to %q, want the callback", back)
	}
	return httptest.NewRequest(http.MethodGet, back, nil)
}

func TestOIDCSignIn(t *testing.T) {
	t.Parallel()
	s := newOIDCSetup(t)
	o := s.oidc(t)
	cb := signIn(t, o, "/groups/7?month=2025-03")

	auth := s.idp.LastAuth()
	if got := auth.Get("code_challenge_method"); got != "S256" {
		t.Errorf("code_challenge_method = %q, want S256", got)
	}
	if auth.Get("code_challenge") == "" || auth.Get("nonce") == "" || auth.Get("state") == "" {
		t.Errorf("authorization request lacks challenge, nonce or state: %v", auth)
	}
	if got := auth.Get("scope"); got != "openid profile email" {
		t.Errorf("scope = %q", got)
	}

	login, returnTo, err := o.Callback(context.Background(), cb)
	if err != nil {
		t.Fatalf("Callback: %v (provider refused: %v)", err, s.idp.Refusals())
	}
	if login != "alice" || returnTo != "/groups/7?month=2025-03" {
		t.Errorf("Callback = %q, %q; want alice, /groups/7?month=2025-03", login, returnTo)
	}

	// The state is good once.
	if _, _, err := o.Callback(context.Background(), cb); !errors.Is(err, ErrOIDCState) {
		t.Errorf("replayed callback: err = %v, want ErrOIDCState", err)
	}
}

func TestOIDCPublicClientAndClaim(t *testing.T) {
	t.Parallel()
	s := newOIDCSetup(t)
	s.idp.ClientSecret = ""
	s.idp.Claims["eppn"] = " Bob@UNI.example "
	s.cfg.ClientSecret = ""
	s.cfg.LoginClaim = "eppn"
	o := s.oidc(t)
	login, _, err := o.Callback(context.Background(), signIn(t, o, "/"))
	if err != nil {
		t.Fatalf("Callback: %v (provider refused: %v)", err, s.idp.Refusals())
	}
	if login != "Bob" {
		t.Errorf("login = %q, want Bob (suffix cut without regard to case, spaces trimmed, case kept)", login)
	}
}

func TestOIDCReturnToSanitised(t *testing.T) {
	t.Parallel()
	s := newOIDCSetup(t)
	o := s.oidc(t)
	_, returnTo, err := o.Callback(context.Background(), signIn(t, o, "//evil.example/x"))
	if err != nil {
		t.Fatalf("Callback: %v", err)
	}
	if returnTo != "/" {
		t.Errorf("returnTo = %q, want /", returnTo)
	}
}

func TestOIDCUnknownState(t *testing.T) {
	t.Parallel()
	s := newOIDCSetup(t)
	o := s.oidc(t)
	cb := signIn(t, o, "/")
	q := cb.URL.Query()
	q.Set("state", "not-a-state-we-made")
	cb.URL.RawQuery = q.Encode()
	if _, _, err := o.Callback(context.Background(), cb); !errors.Is(err, ErrOIDCState) {
		t.Errorf("err = %v, want ErrOIDCState", err)
	}
	cb.URL.RawQuery = "code=x"
	if _, _, err := o.Callback(context.Background(), cb); !errors.Is(err, ErrOIDCState) {
		t.Errorf("no state: err = %v, want ErrOIDCState", err)
	}
}

func TestOIDCStateExpires(t *testing.T) {
	t.Parallel()
	s := newOIDCSetup(t)
	o := s.oidc(t)
	cb := signIn(t, o, "/")
	s.skew.Store(int64(11 * time.Minute))
	if _, _, err := o.Callback(context.Background(), cb); !errors.Is(err, ErrOIDCState) {
		t.Errorf("err = %v, want ErrOIDCState", err)
	}
}

func TestOIDCProviderError(t *testing.T) {
	t.Parallel()
	s := newOIDCSetup(t)
	s.idp.Deny = true
	o := s.oidc(t)
	cb := signIn(t, o, "/")
	_, _, err := o.Callback(context.Background(), cb)
	var oerr *OIDCError
	if !errors.As(err, &oerr) || oerr.Code != "access_denied" || !strings.Contains(err.Error(), "access_denied") ||
		!strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("err = %v, want an OIDCError naming access_denied", err)
	}
	// The login in flight is gone.
	q := cb.URL.Query()
	q.Del("error")
	q.Set("code", "x")
	cb.URL.RawQuery = q.Encode()
	if _, _, err := o.Callback(context.Background(), cb); !errors.Is(err, ErrOIDCState) {
		t.Errorf("after a refusal: err = %v, want ErrOIDCState", err)
	}
}

// TestOIDCBadTokens has the provider issue ID tokens that must be refused.
func TestOIDCBadTokens(t *testing.T) {
	t.Parallel()
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		spoil  func(*oidcSetup)
		expect string // in the error
	}{
		{"wrong nonce", func(s *oidcSetup) { s.idp.Nonce = "someone-elses-nonce" }, "nonce"},
		{"wrong audience", func(s *oidcSetup) { s.idp.Audience = "another-app" }, "audience"},
		{"wrong issuer", func(s *oidcSetup) { s.idp.Issuer = "https://evil.example" }, "issue"},
		{"expired", func(s *oidcSetup) { s.idp.Lifetime = -time.Minute }, "expired"},
		{"wrong key", func(s *oidcSetup) { s.idp.Signer = otherKey }, "signature"},
		{"missing claim", func(s *oidcSetup) { delete(s.idp.Claims, "preferred_username") }, `"preferred_username"`},
		{"claim not a string", func(s *oidcSetup) { s.idp.Claims["preferred_username"] = 42 }, "not a string"},
		{"other domain", func(s *oidcSetup) { s.idp.Claims["preferred_username"] = "alice@evil.example" }, "does not end with"},
		{"empty login", func(s *oidcSetup) { s.idp.Claims["preferred_username"] = "@uni.example" }, "no login"},
		{"unverified email", func(s *oidcSetup) {
			s.cfg.LoginClaim = "email"
			s.idp.Claims["email_verified"] = false
		}, "not verified"},
		{"issued to another client (azp)", func(s *oidcSetup) {
			s.idp.Audience = "parsimony"
			s.idp.Claims["azp"] = "another-app"
		}, "not to this client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newOIDCSetup(t)
			tc.spoil(s)
			o := s.oidc(t)
			login, _, err := o.Callback(context.Background(), signIn(t, o, "/"))
			t.Log(err)
			if err == nil || !strings.Contains(err.Error(), tc.expect) {
				t.Errorf("Callback = %q, %v; want an error about %q", login, err, tc.expect)
			}
		})
	}
}

func TestOIDCConfigErrors(t *testing.T) {
	t.Parallel()
	idp := oidctest.New(t, "parsimony", "", testRedirect)
	for _, cfg := range []OIDCConfig{
		{ClientID: "parsimony", RedirectURL: testRedirect},
		{Issuer: idp.URL(), RedirectURL: testRedirect},
		{Issuer: idp.URL(), ClientID: "parsimony", RedirectURL: "/login/oidc/callback"},
		{Issuer: idp.URL() + "/", ClientID: "parsimony", RedirectURL: testRedirect}, // not the issuer it names
	} {
		cfg.HTTPClient = idp.Client()
		if _, err := NewOIDC(context.Background(), cfg, NewStore(nil, nil, 0)); err == nil {
			t.Errorf("NewOIDC(%+v) succeeded", cfg)
		}
	}
}

func TestSafeReturnPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/groups/x":            "/groups/x",
		"/groups/7?month=3#a":  "/groups/7?month=3#a",
		"/":                    "/",
		"":                     "/",
		"//evil.com":           "/",
		"///evil.com":          "/",
		"/\\evil.com":          "/",
		"/\t/evil.com":         "/",
		"https://evil.com/":    "/",
		"javascript:alert(1)":  "/",
		"groups/x":             "/",
		"evil.com":             "/",
		"/%2F%2Fevil.com":      "/%2F%2Fevil.com", // a path, percent-encoded slashes and all
		"/a\nLocation: x":      "/",
		"http:/evil.com":       "/",
		" /groups/x":           "/",
		"/groups/%zz":          "/",
		"/x/" + "https://a.b/": "/x/https://a.b/",
	} {
		if got := SafeReturnPath(in); got != want {
			t.Errorf("SafeReturnPath(%q) = %q, want %q", in, got, want)
		}
	}
}
