// Package oidctest is an OpenID Connect provider that runs inside a test, for
// testing sign-in end to end: discovery, JWKS, an authorization endpoint that
// approves at once, and a token endpoint that checks the client, the code, the
// redirect URI and PKCE before it signs an RS256 ID token.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Provider is a small OpenID provider, for tests: discovery, JWKS, an authorization endpoint
// that approves its one user at once, and a token endpoint that checks the client,
// the code, the redirect URI and PKCE before it signs an RS256 ID token. Its
// misbehaviour fields (set before a sign-in) make it refuse or issue bad tokens.
type Provider struct {
	srv          *httptest.Server
	key          *rsa.PrivateKey
	ClientID     string
	ClientSecret string         // empty: a public client
	Claims       map[string]any // the ID token's claims (iss, aud, iat, exp and nonce are added)

	// Misbehaviour, set before the sign-in.
	Deny     bool            // refuse at the authorization endpoint (access_denied)
	Nonce    string          // put this nonce in the ID token instead
	Audience string          // put this audience in the ID token instead
	Issuer   string          // put this issuer in the ID token instead
	Lifetime time.Duration   // the ID token's lifetime; negative: already expired
	Signer   *rsa.PrivateKey // sign with this key instead

	mu    sync.Mutex
	auth  url.Values            // the last authorization request
	codes map[string]url.Values // code → its authorization request
	errs  []string              // what the token endpoint refused, and why

	redirect string
}

// New starts a provider for one client whose only redirect URI is redirect.
func New(t testing.TB, clientID, clientSecret, redirect string) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	idp := &Provider{
		key:          key,
		ClientID:     clientID,
		ClientSecret: clientSecret,
		Claims:       map[string]any{"sub": "123", "preferred_username": "alice@uni.example", "email": "alice@uni.example", "name": "Alice"},
		Lifetime:     5 * time.Minute,
		codes:        map[string]url.Values{},
		redirect:     redirect,
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

func (idp *Provider) discovery(w http.ResponseWriter, r *http.Request) {
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

func (idp *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &idp.key.PublicKey, KeyID: "k1", Algorithm: string(jose.RS256), Use: "sig"},
	}})
}

func (idp *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	idp.mu.Lock()
	defer idp.mu.Unlock()
	idp.auth = q
	if q.Get("client_id") != idp.ClientID || q.Get("redirect_uri") != idp.redirect || q.Get("response_type") != "code" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	back := url.Values{"state": {q.Get("state")}}
	if idp.Deny {
		back.Set("error", "access_denied")
		back.Set("error_description", "The user cancelled the sign-in")
	} else {
		code := rand.Text()
		idp.codes[code] = q
		back.Set("code", code)
	}
	http.Redirect(w, r, q.Get("redirect_uri")+"?"+back.Encode(), http.StatusFound)
}

func (idp *Provider) token(w http.ResponseWriter, r *http.Request) {
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
	if id != idp.ClientID || subtle.ConstantTimeCompare([]byte(secret), []byte(idp.ClientSecret)) != 1 {
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
	claims := maps.Clone(idp.Claims)
	claims["iss"] = or(idp.Issuer, idp.srv.URL)
	claims["aud"] = or(idp.Audience, idp.ClientID)
	claims["iat"] = now.Add(min(idp.Lifetime, 0) - time.Minute).Unix()
	claims["exp"] = now.Add(idp.Lifetime).Unix()
	claims["nonce"] = or(idp.Nonce, req.Get("nonce"))
	key := idp.key
	if idp.Signer != nil {
		key = idp.Signer
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

// LastAuth is the last authorization request the provider saw.
func (idp *Provider) LastAuth() url.Values {
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

// URL is the provider's issuer URL.
func (idp *Provider) URL() string { return idp.srv.URL }

// Client is an HTTP client for the provider's test server.
func (idp *Provider) Client() *http.Client { return idp.srv.Client() }

// Refusals are what the token endpoint refused so far, and why.
func (idp *Provider) Refusals() []string {
	idp.mu.Lock()
	defer idp.mu.Unlock()
	return append([]string(nil), idp.errs...)
}
