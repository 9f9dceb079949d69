// Package auth knows who is asking and what they may see: sessions and API tokens
// stored in PostgreSQL (hashed), the principal a request acts as, with the global
// roles and group memberships that the web app's authorization reads. The rule
// (DESIGN.md rule 7): a member of a group sees it and its descendants' aggregates;
// its PIs and managers also see member-level detail; admin and finance see
// everything.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNoUser is returned when a login names nobody the ledger knows.
var ErrNoUser = errors.New("no such user")

// ErrNoSession is returned when a session cookie or an API token is unknown,
// expired or revoked: the request is then not signed in.
var ErrNoSession = errors.New("no live session or token")

// ErrInvalid is returned (wrapped) for a request the store refuses as given (a
// token without a name or scope); its message is safe to show to the person.
var ErrInvalid = errors.New("invalid")

// MaxTokenName is the longest token name, in characters.
const MaxTokenName = 100

// Membership is one of the principal's group roles in force today.
type Membership struct {
	GroupID int64
	Path    string // the group's ltree path of ids, e.g. "1.7.42"
	Role    string // pi, manager, member, viewer
}

// Principal is who a request acts as.
type Principal struct {
	UserID      int64
	Login       string
	Name        string
	Admin       bool
	Finance     bool
	Method      string   // how they signed in: oidc, proxy, demo, or token
	Scopes      []string // API tokens only: read, write, ingest
	TokenID     int64    // API tokens only: the token's id (rate limits, logs)
	Binding     Binding  // API tokens only: the source and host it may report for, if bound
	CSRF        string   // the session's CSRF token; empty for API tokens
	Memberships []Membership
}

// Display is the principal's name for pages.
func (p *Principal) Display() string {
	if p.Name != "" {
		return p.Name
	}
	return p.Login
}

// roleRank orders roles by what they may see.
var roleRank = map[string]int{"viewer": 1, "member": 2, "manager": 3, "pi": 4}

// RoleIn is the principal's strongest role in the group with this path or in any of
// its ancestors (a membership covers the whole subtree), or "".
func (p *Principal) RoleIn(path string) string {
	best := ""
	for _, m := range p.Memberships {
		if (path == m.Path || strings.HasPrefix(path, m.Path+".")) && roleRank[m.Role] > roleRank[best] {
			best = m.Role
		}
	}
	return best
}

// Everything reports whether the principal sees every group (admin or finance).
func (p *Principal) Everything() bool { return p != nil && (p.Admin || p.Finance) }

// CanView reports whether the principal may see the group with this path and its
// descendants' aggregates.
func (p *Principal) CanView(path string) bool {
	return p != nil && (p.Everything() || p.RoleIn(path) != "")
}

// CanSeeMembers reports whether the principal may see member-level detail in the
// group (who ran which job, names on the leaderboard): its PIs and managers, admin
// and finance — and every member when the group opens its leaderboard.
func (p *Principal) CanSeeMembers(path string, openLeaderboard bool) bool {
	if p == nil {
		return false
	}
	if p.Everything() {
		return true
	}
	switch p.RoleIn(path) {
	case "pi", "manager":
		return true
	case "member":
		return openLeaderboard
	}
	return false
}

// CanManage reports whether the principal is a PI or manager of the group (or
// above it), or admin/finance: statements and budgets.
func (p *Principal) CanManage(path string) bool {
	if p == nil {
		return false
	}
	r := p.RoleIn(path)
	return p.Everything() || r == "pi" || r == "manager"
}

// HasScope reports whether a token principal has the scope; session principals
// have every scope.
func (p *Principal) HasScope(scope string) bool {
	if p.Method != "token" {
		return true
	}
	return slices.Contains(p.Scopes, scope)
}

// Store keeps sessions and tokens.
type Store struct {
	pool       *pgxpool.Pool
	now        func() time.Time
	sessionTTL time.Duration
	maxAge     time.Duration
}

// Session lifetimes by default: a session ends after 12 hours without use, and
// after 7 days however much it is used, so a stolen cookie does not live for
// ever by being used.
const (
	DefaultSessionIdle   = 12 * time.Hour
	DefaultSessionMaxAge = 7 * 24 * time.Hour
)

// NewStore returns a store on pool; sessions last ttl since their last use
// (DefaultSessionIdle when ttl ≤ 0) and DefaultSessionMaxAge at most.
func NewStore(pool *pgxpool.Pool, now func() time.Time, ttl time.Duration) *Store {
	if now == nil {
		now = time.Now
	}
	if ttl <= 0 {
		ttl = DefaultSessionIdle
	}
	return &Store{pool: pool, now: now, sessionTTL: ttl, maxAge: DefaultSessionMaxAge}
}

// WithMaxAge sets how long a session lasts at most since it began, however
// often it is used (d ≤ 0 keeps the default); it returns s.
func (s *Store) WithMaxAge(d time.Duration) *Store {
	if d > 0 {
		s.maxAge = d
	}
	return s
}

// firstExpiry is when a session begun at t ends if it is not used again.
func (s *Store) firstExpiry(t time.Time) time.Time {
	return t.Add(min(s.sessionTTL, s.maxAge))
}

// interval writes a duration as a PostgreSQL interval parameter.
func interval(d time.Duration) string { return fmt.Sprintf("%d microseconds", d.Microseconds()) }

// randomToken returns a random URL-safe token of 32 bytes with a prefix.
func randomToken(prefix string) string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func hash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// UserID finds the user with this login.
func (s *Store) UserID(ctx context.Context, login string) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT id FROM users WHERE login = $1`, login).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("%w: %q", ErrNoUser, login)
	}
	return id, err
}

// CreateSession signs a user in: it returns the cookie's token.
func (s *Store) CreateSession(ctx context.Context, userID int64, method string) (string, error) {
	token := randomToken("ps_")
	csrf := randomToken("")
	now := s.now()
	_, err := s.pool.Exec(ctx, `
		INSERT INTO sessions (token_hash, user_id, csrf_token, method, created_at, last_seen, expires_at)
		VALUES ($1, $2, $3, $4, $5, $5, $6)`, hash(token), userID, csrf, method, now, s.firstExpiry(now))
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	return token, nil
}

// DeleteSession signs a session out.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, hash(token)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// Session returns the principal of a live session, extending it (up to its
// maximum age), or ErrNoSession. An expired session it is asked about is deleted there
// and then; DeleteExpired sweeps those nobody asks about.
//
// Proxy sessions are never found by a cookie: their key is not secret (see
// ProxySession), only the proxy's header reaches them.
func (s *Store) Session(ctx context.Context, token string) (*Principal, error) {
	p := &Principal{}
	err := s.pool.QueryRow(ctx, `
		WITH gone AS (DELETE FROM sessions WHERE token_hash = $1 AND expires_at <= $2)
		UPDATE sessions SET last_seen = $2, expires_at = least($2 + $3::interval, created_at + $4::interval)
		WHERE token_hash = $1 AND expires_at > $2 AND method <> 'proxy'
		RETURNING user_id, method, csrf_token`, hash(token), s.now(), interval(s.sessionTTL), interval(s.maxAge)).
		Scan(&p.UserID, &p.Method, &p.CSRF)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	return p, s.fill(ctx, p)
}

// proxyKey is the row key of a user's proxy session. It is derived from the user
// rather than random, so that every request the proxy signs in finds the same
// row instead of adding one (clients behind a proxy need not keep cookies). It
// is not a secret: Session refuses proxy rows, whatever cookie is sent.
func proxyKey(userID int64) []byte { return hash(fmt.Sprintf("proxy-session\x00%d", userID)) }

// ProxySession returns the principal of a user whom a trusted proxy vouches for:
// the user's one proxy session, begun now if there is none live (a new one gets
// a new CSRF token), else extended. Concurrent first requests meet in the same
// row (INSERT … ON CONFLICT), so there is one row per user, not per request.
func (s *Store) ProxySession(ctx context.Context, userID int64) (*Principal, error) {
	p := &Principal{UserID: userID, Method: "proxy"}
	now := s.now()
	err := s.pool.QueryRow(ctx, `
		INSERT INTO sessions AS x (token_hash, user_id, csrf_token, method, created_at, last_seen, expires_at)
		VALUES ($1, $2, $3, 'proxy', $4, $4, $5)
		ON CONFLICT (token_hash) DO UPDATE SET
		    csrf_token = CASE WHEN x.expires_at <= $4 THEN excluded.csrf_token ELSE x.csrf_token END,
		    created_at = CASE WHEN x.expires_at <= $4 THEN $4 ELSE x.created_at END,
		    expires_at = CASE WHEN x.expires_at <= $4 THEN excluded.expires_at
		                      ELSE least($4 + $6::interval, x.created_at + $7::interval) END,
		    last_seen = $4
		RETURNING csrf_token`, proxyKey(userID), userID, randomToken(""), now, s.firstExpiry(now),
		interval(s.sessionTTL), interval(s.maxAge)).Scan(&p.CSRF)
	if err != nil {
		return nil, fmt.Errorf("proxy session of user %d: %w", userID, err)
	}
	return p, s.fill(ctx, p)
}

// DeleteProxySession ends a user's proxy session (signing out): the next request
// the proxy vouches for begins a new one, with a new CSRF token.
func (s *Store) DeleteProxySession(ctx context.Context, userID int64) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE token_hash = $1`, proxyKey(userID)); err != nil {
		return fmt.Errorf("delete proxy session of user %d: %w", userID, err)
	}
	return nil
}

// DeleteExpired deletes the sessions and OIDC logins in flight that have
// expired, and says how many sessions went. The server runs it periodically, so
// the table holds live sessions only, even of people who never come back.
func (s *Store) DeleteExpired(ctx context.Context) (int64, error) {
	now := s.now()
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM oidc_logins WHERE expires_at <= $1`, now); err != nil {
		return tag.RowsAffected(), fmt.Errorf("delete expired oidc logins: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Principal loads a user's principal by id (for a fresh sign-in).
func (s *Store) Principal(ctx context.Context, userID int64, method string) (*Principal, error) {
	p := &Principal{UserID: userID, Method: method}
	return p, s.fill(ctx, p)
}

// fill loads the user's name, global roles and memberships in force today: one
// query, run on every request (no cache to go stale when roles change).
func (s *Store) fill(ctx context.Context, p *Principal) error {
	var roles []string
	var groupIDs []int64
	var paths, groupRoles []string
	err := s.pool.QueryRow(ctx, `
		SELECT u.login, u.display_name,
		       coalesce((SELECT array_agg(role) FROM global_roles WHERE user_id = u.id), '{}'),
		       coalesce(array_agg(m.group_id ORDER BY m.group_id) FILTER (WHERE m.group_id IS NOT NULL), '{}'),
		       coalesce(array_agg(coalesce(g.path::text, '') ORDER BY m.group_id) FILTER (WHERE m.group_id IS NOT NULL), '{}'),
		       coalesce(array_agg(m.role ORDER BY m.group_id) FILTER (WHERE m.group_id IS NOT NULL), '{}')
		FROM users u
		LEFT JOIN memberships m ON m.user_id = u.id AND m.valid_from <= $2::date AND m.valid_to > $2::date
		LEFT JOIN groups g ON g.id = m.group_id AND g.archived_at IS NULL
		WHERE u.id = $1
		GROUP BY u.id`, p.UserID, s.now().Format(time.DateOnly)).
		Scan(&p.Login, &p.Name, &roles, &groupIDs, &paths, &groupRoles)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%w: user %d", ErrNoUser, p.UserID)
	}
	if err != nil {
		return fmt.Errorf("load user %d: %w", p.UserID, err)
	}
	p.Admin = slices.Contains(roles, "admin")
	p.Finance = slices.Contains(roles, "finance")
	p.Memberships = p.Memberships[:0]
	for i := range groupIDs {
		if paths[i] == "" {
			continue // an archived group
		}
		p.Memberships = append(p.Memberships, Membership{GroupID: groupIDs[i], Path: paths[i], Role: groupRoles[i]})
	}
	return nil
}

// CheckCSRF compares a submitted CSRF token with the session's in constant time.
func (p *Principal) CheckCSRF(submitted string) bool {
	return p.CSRF != "" && subtle.ConstantTimeCompare([]byte(p.CSRF), []byte(submitted)) == 1
}

// Token is an API token as listed (never its secret).
type Token struct {
	ID         int64
	Name       string
	Prefix     string
	Scopes     []string
	Binding    Binding
	CreatedAt  time.Time
	LastUsedAt *time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
}

// Binding ties an ingest token to one source and one cluster or host: the ingest
// API refuses its records for any other, so a machine's token, if stolen, reports
// only for that machine. The zero Binding is unbound.
type Binding struct {
	Source  string
	Cluster string
}

// Bound reports whether the binding restricts anything.
func (b Binding) Bound() bool { return b.Source != "" }

func (b Binding) String() string {
	if !b.Bound() {
		return ""
	}
	return b.Source + "/" + b.Cluster
}

// Scopes a token may have.
var Scopes = []string{"read", "write", "ingest"}

// TokenRequest is what a new API token is to be.
type TokenRequest struct {
	Name    string
	Scopes  []string
	Expires *time.Time // nil: never
	Binding Binding    // zero: unbound; else only with the ingest scope
}

// maxBindingSource and maxBindingCluster bound a binding (the ingest API's own
// bounds: usagebatch.MaxNameBytes and MaxShortBytes).
const (
	maxBindingSource  = 32
	maxBindingCluster = 256
)

// CreateToken makes an unbound API token for a user and returns its secret,
// which is shown once: only its hash is kept.
func (s *Store) CreateToken(ctx context.Context, userID int64, name string, scopes []string, expires *time.Time) (string, int64, error) {
	return s.IssueToken(ctx, userID, TokenRequest{Name: name, Scopes: scopes, Expires: expires})
}

// IssueToken makes an API token as req says and returns its secret, which is
// shown once (only its hash is kept), and its id. A binding needs both a source
// and a cluster, and the ingest scope: it only restricts ingest.
func (s *Store) IssueToken(ctx context.Context, userID int64, req TokenRequest) (string, int64, error) {
	name := strings.TrimSpace(req.Name)
	scopes := req.Scopes
	b := Binding{Source: strings.TrimSpace(req.Binding.Source), Cluster: strings.TrimSpace(req.Binding.Cluster)}
	switch {
	case name == "":
		return "", 0, fmt.Errorf("%w: a token needs a name", ErrInvalid)
	case utf8.RuneCountInString(name) > MaxTokenName:
		return "", 0, fmt.Errorf("%w: a token's name is at most %d characters", ErrInvalid, MaxTokenName)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl):
		return "", 0, fmt.Errorf("%w: a token's name is text without control characters", ErrInvalid)
	case len(scopes) == 0:
		return "", 0, fmt.Errorf("%w: a token needs at least one scope", ErrInvalid)
	}
	for _, sc := range scopes {
		if !slices.Contains(Scopes, sc) {
			return "", 0, fmt.Errorf("%w: unknown scope %q (one of %s)", ErrInvalid, sc, strings.Join(Scopes, ", "))
		}
	}
	var boundSource, boundCluster any // NULL unless bound
	if b.Source != "" || b.Cluster != "" {
		switch {
		case b.Source == "" || b.Cluster == "":
			return "", 0, fmt.Errorf("%w: a binding names both a source and a cluster or host", ErrInvalid)
		case !slices.Contains(scopes, "ingest"):
			return "", 0, fmt.Errorf("%w: only a token with the ingest scope can be bound to a source and host", ErrInvalid)
		case len(b.Source) > maxBindingSource || len(b.Cluster) > maxBindingCluster:
			return "", 0, fmt.Errorf("%w: a binding's source is at most %d bytes and its cluster %d", ErrInvalid, maxBindingSource, maxBindingCluster)
		case !utf8.ValidString(b.Source+b.Cluster) || strings.ContainsFunc(b.Source+b.Cluster, unicode.IsControl):
			return "", 0, fmt.Errorf("%w: a binding's source and cluster are text without control characters", ErrInvalid)
		}
		boundSource, boundCluster = b.Source, b.Cluster
	}
	secret := randomToken("pat_")
	var id int64
	err := s.pool.QueryRow(ctx, `
		INSERT INTO api_tokens (user_id, name, token_hash, prefix, scopes, expires_at, bound_source, bound_cluster)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		userID, name, hash(secret), secret[:10], scopes, req.Expires, boundSource, boundCluster).Scan(&id)
	if err != nil {
		return "", 0, fmt.Errorf("create token: %w", err)
	}
	return secret, id, nil
}

// TokenPrincipal returns the principal of a live API token, or ErrNoSession.
func (s *Store) TokenPrincipal(ctx context.Context, secret string) (*Principal, error) {
	p := &Principal{Method: "token"}
	var source, cluster *string
	err := s.pool.QueryRow(ctx, `
		UPDATE api_tokens SET last_used_at = $2
		WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
		RETURNING id, user_id, scopes, bound_source, bound_cluster`, hash(secret), s.now()).
		Scan(&p.TokenID, &p.UserID, &p.Scopes, &source, &cluster)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoSession
	}
	if err != nil {
		return nil, fmt.Errorf("read token: %w", err)
	}
	if source != nil && cluster != nil {
		p.Binding = Binding{Source: *source, Cluster: *cluster}
	}
	return p, s.fill(ctx, p)
}

// Tokens lists a user's tokens, newest first.
func (s *Store) Tokens(ctx context.Context, userID int64) ([]Token, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT id, name, prefix, scopes, coalesce(bound_source, ''), coalesce(bound_cluster, ''),
		       created_at, last_used_at, expires_at, revoked_at
		FROM api_tokens WHERE user_id = $1 ORDER BY id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Token, error) {
		var t Token
		err := r.Scan(&t.ID, &t.Name, &t.Prefix, &t.Scopes, &t.Binding.Source, &t.Binding.Cluster,
			&t.CreatedAt, &t.LastUsedAt, &t.ExpiresAt, &t.RevokedAt)
		return t, err
	})
}

// RevokeToken revokes one of the user's tokens.
func (s *Store) RevokeToken(ctx context.Context, userID, id int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL`,
		id, userID, s.now())
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke token %d: %w", id, pgx.ErrNoRows)
	}
	return nil
}

// SaveOIDCLogin keeps an OIDC login in flight (state, PKCE verifier, nonce) for ten
// minutes.
func (s *Store) SaveOIDCLogin(ctx context.Context, state, verifier, nonce, returnTo string) error {
	_, err := s.pool.Exec(ctx, `
		WITH gone AS (DELETE FROM oidc_logins WHERE expires_at < $5)
		INSERT INTO oidc_logins (state_hash, verifier, nonce, return_to, expires_at) VALUES ($1, $2, $3, $4, $5 + interval '10 minutes')`,
		hash(state), verifier, nonce, returnTo, s.now())
	if err != nil {
		return fmt.Errorf("save oidc login: %w", err)
	}
	return nil
}

// TakeOIDCLogin returns and forgets an OIDC login in flight; ok is false for an
// unknown or expired state (a replay, or a login left too long).
func (s *Store) TakeOIDCLogin(ctx context.Context, state string) (verifier, nonce, returnTo string, ok bool, err error) {
	err = s.pool.QueryRow(ctx, `
		DELETE FROM oidc_logins WHERE state_hash = $1 RETURNING verifier, nonce, return_to, expires_at > $2`,
		hash(state), s.now()).Scan(&verifier, &nonce, &returnTo, &ok)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", "", false, nil
	}
	if err != nil {
		return "", "", "", false, fmt.Errorf("take oidc login: %w", err)
	}
	return verifier, nonce, returnTo, ok, nil
}
