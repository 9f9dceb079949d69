package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/parsimony-hpc/parsimony/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const testRedirect = "https://parsimony.test/login/oidc/callback"

// testIdP is a small OpenID provider: discovery, JWKS, an authorization endpoint
// that approves its one user at once, and a token endpoint that checks the client,
// the code, the redirect URI and PKCE before it signs an RS256 ID token. Its
// misbehaviour fields make it issue bad tokens.
type testIdP struct {
	srv          *httptest.Server
	key          *rsa.PrivateKey
	clientID     string
	clientSecret string // empty: a public client
	claims       map[string]any

	// Misbehaviour, set before the sign-in.
	deny     bool            // refuse at the authorization endpoint (access_denied)
	nonce    string          // put this nonce in the ID token instead
	audience string          // put this audience in the ID token instead
	issuer   string          // put this issuer in the ID token instead
	lifetime time.Duration   // the ID token's lifetime; negative: already expired
	signer   *rsa.PrivateKey // sign with this key instead

	mu    sync.Mutex
	auth  url.Values            // the last authorization request
	codes map[string]url.Values // code → its authorization request
	errs  []string              // what the token endpoint refused, and why
}

func newTestIdP(t *testing.T, clientID, clientSecret string) *testIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	idp := &testIdP{
		key:          key,
		clientID:     clientID,
		clientSecret: clientSecret,
		claims:       map[string]any{"sub": "123", "preferred_username": "alice@uni.example", "email": "alice@uni.example", "name": "Alice"},
		lifetime:     5 * time.Minute,
		codes:        map[string]url.Values{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", idp.discovery)
	mux.HandleFunc("GET /jwks", idp.jwks)
	mux.HandleFunc("GET /authorize", idp.authorize)
	mux.HandleFunc("POST /token", idp.token)
	idp.srv = httptest.NewServer(mux)
	t.Cleanup(idp.srv.Close)
	return idp
}

func (idp *testIdP) discovery(w http.ResponseWriter, r *http.Request) {
	u := idp.srv.URL
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                u,
		"authorization_endpoint":                u + "/authorize",
		"token_endpoint":                        u + "/token",
		"jwks_uri":                              u + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "none"},
	})
}

func (idp *testIdP) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &idp.key.PublicKey, KeyID: "k1", Algorithm: string(jose.RS256), Use: "sig"},
	}})
}

func (idp *testIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.auth = q
	if q.Get("client_id") != idp.clientID || q.Get("redirect_uri") != testRedirect || q.Get("response_type") != "code" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	back := url.Values{"state": {q.Get("state")}}
	if idp.deny {
		back.Set("error", "access_denied")
		back.Set("error_description", "The user cancelled the sign-in")
	} else {
		code := rand.Text()
		idp.codes[code] = q
		back.Set("code", code)
	}
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+back.Encode(), http.StatusFound)
}

func (idp *testIdP) token(w http.ResponseWriter, r *http.Request) {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	refuse := func(code, why string) {
		idp.errs = append(idp.errs, why)
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": code, "error_description": why})
	}
	if err := r.ParseForm(); err != nil {
		refuse("invalid_request", err.Error())
		return
	}
	// Client authentication: HTTP Basic (form-escaped, RFC 6749 2.3.1) or the form.
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
	}
	if id != idp.clientID || subtle.ConstantTimeCompare([]byte(secret), []byte(idp.clientSecret)) != 1 {
		refuse("invalid_client", "wrong client id or secret")
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		refuse("unsupported_grant_type", r.PostForm.Get("grant_type"))
		return
	}
	req, ok := idp.codes[r.PostForm.Get("code")]
	if !ok {
		refuse("invalid_grant", "unknown code")
		return
	}
	delete(idp.codes, r.PostForm.Get("code")) // a code is good once
	if r.PostForm.Get("redirect_uri") != req.Get("redirect_uri") {
		refuse("invalid_grant", "redirect_uri differs")
		return
	}
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if req.Get("code_challenge_method") != "S256" || base64.RawURLEncoding.EncodeToString(sum[:]) != req.Get("code_challenge") {
		refuse("invalid_grant", "PKCE verification failed")
		return
	}

	now := time.Now()
	claims := maps.Clone(idp.claims)
	claims["iss"] = or(idp.issuer, idp.srv.URL)
	claims["aud"] = or(idp.audience, idp.clientID)
	claims["iat"] = now.Add(min(idp.lifetime, 0) - time.Minute).Unix()
	claims["exp"] = now.Add(idp.lifetime).Unix()
	claims["nonce"] = or(idp.nonce, req.Get("nonce"))
	key := idp.key
	if idp.signer != nil {
		key = idp.signer
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		refuse("server_error", err.Error())
		return
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		refuse("server_error", err.Error())
		return
	}
	idToken, _ := jws.CompactSerialize()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": rand.Text(), "token_type": "Bearer", "expires_in": 300, "id_token": idToken,
	})
}

func (idp *testIdP) lastAuth() url.Values {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	return idp.auth
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func or(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}

// oidcSetup is a test's provider, store and client, with a store clock that the
// test can move forward.
type oidcSetup struct {
	idp   *testIdP
	store *Store
	cfg   OIDCConfig
	skew  *atomic.Int64 // added to the store's clock, in nanoseconds
}

func newOIDCSetup(t *testing.T) *oidcSetup {
	t.Helper()
	idp := newTestIdP(t, "parsimony", "s3cret/+=")
	skew := &atomic.Int64{}
	now := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	return &oidcSetup{
		idp:   idp,
		store: NewStore(pgtest.NewPool(t), now, 0),
		cfg: OIDCConfig{
			Issuer: idp.srv.URL, ClientID: "parsimony", ClientSecret: "s3cret/+=",
			RedirectURL: testRedirect, LoginStrip: "@uni.example", HTTPClient: idp.srv.Client(),
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

	auth := s.idp.lastAuth()
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
		t.Fatalf("Callback: %v (provider refused: %v)", err, s.idp.errs)
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
	s.idp.clientSecret = ""
	s.idp.claims["eppn"] = " Bob@UNI.example "
	s.cfg.ClientSecret = ""
	s.cfg.LoginClaim = "eppn"
	o := s.oidc(t)
	login, _, err := o.Callback(context.Background(), signIn(t, o, "/"))
	if err != nil {
		t.Fatalf("Callback: %v (provider refused: %v)", err, s.idp.errs)
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
	s.idp.deny = true
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
		{"wrong nonce", func(s *oidcSetup) { s.idp.nonce = "someone-elses-nonce" }, "nonce"},
		{"wrong audience", func(s *oidcSetup) { s.idp.audience = "another-app" }, "audience"},
		{"wrong issuer", func(s *oidcSetup) { s.idp.issuer = "https://evil.example" }, "issue"},
		{"expired", func(s *oidcSetup) { s.idp.lifetime = -time.Minute }, "expired"},
		{"wrong key", func(s *oidcSetup) { s.idp.signer = otherKey }, "signature"},
		{"missing claim", func(s *oidcSetup) { delete(s.idp.claims, "preferred_username") }, `"preferred_username"`},
		{"claim not a string", func(s *oidcSetup) { s.idp.claims["preferred_username"] = 42 }, "not a string"},
		{"other domain", func(s *oidcSetup) { s.idp.claims["preferred_username"] = "alice@evil.example" }, "does not end with"},
		{"empty login", func(s *oidcSetup) { s.idp.claims["preferred_username"] = "@uni.example" }, "no login"},
		{"unverified email", func(s *oidcSetup) {
			s.cfg.LoginClaim = "email"
			s.idp.claims["email_verified"] = false
		}, "not verified"},
		{"issued to another client (azp)", func(s *oidcSetup) {
			s.idp.audience = "parsimony"
			s.idp.claims["azp"] = "another-app"
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
	idp := newTestIdP(t, "parsimony", "")
	for _, cfg := range []OIDCConfig{
		{ClientID: "parsimony", RedirectURL: testRedirect},
		{Issuer: idp.srv.URL, RedirectURL: testRedirect},
		{Issuer: idp.srv.URL, ClientID: "parsimony", RedirectURL: "/login/oidc/callback"},
		{Issuer: idp.srv.URL + "/", ClientID: "parsimony", RedirectURL: testRedirect}, // not the issuer it names
	} {
		cfg.HTTPClient = idp.srv.Client()
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
