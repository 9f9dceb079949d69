package main

import (
	"context"
	"fmt"
	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/config"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/migrations"
	"github.com/parsimony-hpc/parsimony/server"
)

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "serve", "[--config FILE] [--listen ADDR]")
	cfgPath := configFlag(fs)
	listen := fs.String("listen", "", "address to serve on (default: the configuration's, 127.0.0.1:8080)")
	if err := parseFlagsOnly(e, fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Server.Listen = *listen
	}
	if err := requireCurrentSchema(cfg.Database.URL); err != nil {
		return err
	}
	l, pool, err := openLedger(ctx, e, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	authOpts, err := authOptions(ctx, l, cfg)
	if err != nil {
		return err
	}
	return serve(ctx, e, l, cfg.Site.Name, cfg.Server.Listen, authOpts)
}

// authOptions turns the [auth] configuration into the server's sign-in methods.
func authOptions(ctx context.Context, l *ledger.Ledger, cfg config.Config) (server.AuthOptions, error) {
	a := cfg.Auth
	opts := server.AuthOptions{ProxyHeader: a.ProxyHeader, SecureCookies: !a.InsecureCookies,
		SessionTTL: a.SessionIdleTimeout.Duration, SessionMaxAge: a.SessionLifetime.Duration}
	for _, p := range a.TrustedProxies {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				return opts, fmt.Errorf("auth.trusted_proxies: %q is not an address or CIDR range", p)
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		opts.TrustedProxies = append(opts.TrustedProxies, prefix)
	}
	if a.OIDCIssuer != "" {
		secret := a.OIDCClientSecret
		if env := os.Getenv("PARSIMONY_OIDC_CLIENT_SECRET"); env != "" {
			secret = env
		}
		base := strings.TrimSuffix(cfg.Server.BaseURL, "/")
		if base == "" {
			return opts, fmt.Errorf("auth.oidc_issuer is set: server.base_url is needed for the OIDC redirect URL")
		}
		o, err := auth.NewOIDC(ctx, auth.OIDCConfig{Issuer: a.OIDCIssuer, ClientID: a.OIDCClientID, ClientSecret: secret,
			RedirectURL: base + "/login/oidc/callback", LoginClaim: a.OIDCLoginClaim, LoginStrip: a.OIDCLoginStrip},
			auth.NewStore(l.Pool(), nil, 0))
		if err != nil {
			return opts, fmt.Errorf("oidc: %w", err)
		}
		opts.OIDC = o
	}
	return opts, nil
}

// requireCurrentSchema refuses to run against a database whose schema is behind
// or ahead of this binary's: the queries would fail in confusing ways.
func requireCurrentSchema(url string) error {
	m, err := migrations.New(url)
	if err != nil {
		return err
	}
	defer m.Close()
	v, dirty, err := m.Version()
	if err != nil {
		return err
	}
	latest, err := migrations.Latest()
	if err != nil {
		return err
	}
	if dirty || v != latest {
		return fmt.Errorf("the database schema is at version %d (dirty: %v), this binary needs %d: run `parsimony migrate up`", v, dirty, latest)
	}
	return nil
}

// serve runs the web app on addr until ctx ends.
func serve(ctx context.Context, e *env, l *ledger.Ledger, siteName, addr string, authOpts server.AuthOptions) error {
	srv, err := server.New(server.Options{Ledger: l, Logger: e.log, SiteName: siteName, Auth: authOpts})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	e.log.Info("serving", "url", "http://"+ln.Addr().String()+"/")
	return srv.Run(ctx, ln)
}
