package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// OIDCConfig says how to sign people in with an OpenID Connect provider.
type OIDCConfig struct {
	// Issuer is the provider's URL exactly as it names itself; discovery is at
	// Issuer/.well-known/openid-configuration.
	Issuer       string
	ClientID     string
	ClientSecret string // empty for a public client (PKCE only)
	// RedirectURL is this app's callback, e.g.
	// https://parsimony.example.edu/login/oidc/callback.
	RedirectURL string
	Scopes      []string // default openid, profile, email; openid is always asked for
	// LoginClaim names the ID token claim (a string) that holds the ledger login:
	// default preferred_username (Keycloak, Entra ID; or upn), eppn or email for
	// CILogon, email for Google.
	LoginClaim string
	// LoginStrip is a suffix, e.g. "@example.edu", that the claim must end with
	// (compared without regard to case) and that is cut off: alice@example.edu
	// signs in as alice. A value without it is refused, so that nobody from
	// another domain can sign in as a local login of the same name.
	LoginStrip string
	// HTTPClient talks to the provider (tests); default a client with a 30 s timeout.
	HTTPClient *http.Client
}

// OIDC signs people in with the authorization code flow, PKCE (S256) and a
// nonce; the login in flight is kept by the Store, so any instance of the app can
// take the callback.
type OIDC struct {
	cfg      OIDCConfig
	store    *Store
	client   *http.Client
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// ErrOIDCState is returned by Callback when the state names no login in flight:
// unknown, already used, or started more than ten minutes ago. Starting again is
// the cure.
var ErrOIDCState = errors.New("oidc: sign-in unknown or expired, please start again")

// OIDCError is the provider's refusal, from the error parameter of the callback
// (e.g. access_denied when the person cancels). Description comes from the
// provider through the browser's URL: escape it when shown.
type OIDCError struct {
	Code        string
	Description string
}

func (e *OIDCError) Error() string {
	if e.Description == "" {
		return "oidc: the identity provider refused the sign-in: " + e.Code
	}
	return fmt.Sprintf("oidc: the identity provider refused the sign-in: %s: %s", e.Code, e.Description)
}

// NewOIDC discovers the provider and prepares the flow.
func NewOIDC(ctx context.Context, cfg OIDCConfig, store *Store) (*OIDC, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.RedirectURL == "" {
		return nil, errors.New("oidc: issuer, client id and redirect URL are required")
	}
	if u, err := url.Parse(cfg.RedirectURL); err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("oidc: redirect URL %q is not an absolute URL", cfg.RedirectURL)
	}
	if cfg.LoginClaim == "" {
		cfg.LoginClaim = "preferred_username"
	}
	scopes := cfg.Scopes
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "profile", "email"}
	} else if !slices.Contains(scopes, oidc.ScopeOpenID) {
		scopes = append([]string{oidc.ScopeOpenID}, scopes...)
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}

	provider, err := oidc.NewProvider(oidc.ClientContext(ctx, client), cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc: discover %s: %w", cfg.Issuer, err)
	}
	var meta struct {
		AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := provider.Claims(&meta); err != nil {
		return nil, fmt.Errorf("oidc: read discovery of %s: %w", cfg.Issuer, err)
	}
	endpoint := provider.Endpoint()
	endpoint.AuthStyle = authStyle(cfg.ClientSecret, meta.AuthMethods)

	return &OIDC{
		cfg:    cfg,
		store:  store,
		client: client,
		oauth: oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     endpoint,
			RedirectURL:  cfg.RedirectURL,
			Scopes:       scopes,
		},
		// Signature (the provider's JWKS, algorithms it announces), issuer,
		// audience (our client id) and expiry, on the store's clock.
		verifier: provider.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: store.now}),
	}, nil
}

// authStyle picks how the client authenticates at the token endpoint: a public
// client sends only its id in the form; a confidential one uses HTTP Basic
// unless the provider announces only client_secret_post (Basic is the default
// when it announces nothing).
func authStyle(secret string, methods []string) oauth2.AuthStyle {
	switch {
	case secret == "":
		return oauth2.AuthStyleInParams
	case len(methods) == 0 || slices.Contains(methods, "client_secret_basic"):
		return oauth2.AuthStyleInHeader
	case slices.Contains(methods, "client_secret_post"):
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleAutoDetect
}

// Start begins a sign-in: it keeps a fresh state, nonce and PKCE verifier with
// returnTo (a local path; anything else becomes "/") and redirects the browser to
// the provider.
func (o *OIDC) Start(w http.ResponseWriter, r *http.Request, returnTo string) error {
	state := randomToken("")
	nonce := randomToken("")
	verifier := oauth2.GenerateVerifier()
	if err := o.store.SaveOIDCLogin(r.Context(), state, verifier, nonce, SafeReturnPath(returnTo)); err != nil {
		return err
	}
	target := o.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
	return nil
}

// Callback finishes a sign-in from the provider's redirect: it takes the login in
// flight named by state (once), exchanges the code with the PKCE verifier,
// verifies the ID token and its nonce, and returns the login named by the
// configured claim and the local path to go back to. The login is not looked up:
// Store.UserID does that.
func (o *OIDC) Callback(ctx context.Context, r *http.Request) (login, returnTo string, err error) {
	q := r.URL.Query()
	state := q.Get("state")
	if code := q.Get("error"); code != "" {
		if state != "" {
			// Forget the login in flight; the refusal is the news.
			if _, _, _, _, err := o.store.TakeOIDCLogin(ctx, state); err != nil {
				return "", "", err
			}
		}
		return "", "", &OIDCError{Code: code, Description: q.Get("error_description")}
	}
	if state == "" {
		return "", "", fmt.Errorf("%w (no state in the callback)", ErrOIDCState)
	}
	verifier, nonce, returnTo, ok, err := o.store.TakeOIDCLogin(ctx, state)
	if err != nil {
		return "", "", err
	}
	if !ok {
		return "", "", ErrOIDCState
	}
	returnTo = SafeReturnPath(returnTo)
	// RFC 9207: a provider that names itself must be the one we asked.
	if iss := q.Get("iss"); iss != "" && iss != o.cfg.Issuer {
		return "", "", fmt.Errorf("oidc: callback from issuer %q, expected %q", iss, o.cfg.Issuer)
	}
	code := q.Get("code")
	if code == "" {
		return "", "", errors.New("oidc: no code in the callback")
	}

	ctx = oidc.ClientContext(ctx, o.client)
	tok, err := o.oauth.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return "", "", fmt.Errorf("oidc: exchange code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return "", "", errors.New("oidc: the token response has no ID token")
	}
	idToken, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return "", "", fmt.Errorf("oidc: verify ID token: %w", err)
	}
	if idToken.Nonce == "" || subtle.ConstantTimeCompare([]byte(idToken.Nonce), []byte(nonce)) != 1 {
		return "", "", errors.New("oidc: the ID token's nonce does not match this sign-in")
	}

	var claims map[string]any
	if err := idToken.Claims(&claims); err != nil {
		return "", "", fmt.Errorf("oidc: read ID token claims: %w", err)
	}
	// With several audiences, the token must say it was issued to us (azp).
	azp, _ := claims["azp"].(string)
	if (len(idToken.Audience) > 1 || azp != "") && azp != o.cfg.ClientID {
		return "", "", fmt.Errorf("oidc: ID token issued to %q, not to this client", azp)
	}
	login, err = o.login(claims)
	if err != nil {
		return "", "", err
	}
	return login, returnTo, nil
}

// login reads the configured claim and makes the ledger login of it.
func (o *OIDC) login(claims map[string]any) (string, error) {
	name := o.cfg.LoginClaim
	v, present := claims[name]
	if !present {
		return "", fmt.Errorf("oidc: the ID token has no %q claim (check the provider's claim mapping or the login claim setting)", name)
	}
	s, isString := v.(string)
	if !isString {
		return "", fmt.Errorf("oidc: the ID token's %q claim is not a string", name)
	}
	if name == "email" {
		if verified, ok := claims["email_verified"].(bool); ok && !verified {
			return "", errors.New("oidc: the provider has not verified this email address")
		}
	}
	s = strings.TrimSpace(s)
	if strip := o.cfg.LoginStrip; strip != "" {
		if len(s) < len(strip) || !strings.EqualFold(s[len(s)-len(strip):], strip) {
			return "", fmt.Errorf("oidc: %s %q does not end with %q", name, s, strip)
		}
		s = strings.TrimSpace(s[:len(s)-len(strip)])
	}
	if s == "" {
		return "", fmt.Errorf("oidc: the ID token's %q claim names no login", name)
	}
	return s, nil
}

// SafeReturnPath returns s if it is a path on this site ("/groups/7?month=3"),
// else "/": nothing with a scheme or host ("https://evil.example/",
// "//evil.example", "javascript:…"), no backslashes or control characters (which
// browsers may read as "//"), so a sign-in cannot be turned into an open redirect.
func SafeReturnPath(s string) string {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || len(s) > 2048 {
		return "/"
	}
	for _, c := range s {
		if c == '\\' || c < 0x20 || c == 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return s
}
