package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/config"
	"github.com/parsimony-hpc/parsimony/ledger"
)

// runToken makes API tokens from the command line, for installing agents without
// a browser: `token create --user alice --name "agent ws-01" --scope ingest
// --source cgroup --cluster ws-01` prints the secret (once) on stdout.
func runToken(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "token", "create --user LOGIN --name NAME --scope read,write,ingest [--source S --cluster HOST] [--expires YYYY-MM-DD]")
	cfgPath := configFlag(fs)
	login := fs.String("user", "", "the `login` the token acts as")
	name := fs.String("name", "", "the token's name, e.g. \"agent ws-01\"")
	scopeS := fs.String("scope", "", "comma-separated scopes: read, write, ingest")
	source := fs.String("source", "", "bind an ingest token to this source (cgroup, slurm, k8s, storage, api); with --cluster")
	cluster := fs.String("cluster", "", "bind an ingest token to this cluster or host; with --source")
	expiresS := fs.String("expires", "", "the day the token stops working (YYYY-MM-DD, UTC); default never")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || fs.Arg(0) != "create" {
		return usageError(e, fs, "say `parsimony token create …`")
	}
	if *login == "" || *name == "" || *scopeS == "" {
		return usageError(e, fs, "--user, --name and --scope are required")
	}
	var scopes []string
	for _, s := range strings.Split(*scopeS, ",") {
		if s = strings.TrimSpace(s); s != "" {
			scopes = append(scopes, s)
		}
	}
	if (*source == "") != (*cluster == "") {
		return usageError(e, fs, "--source and --cluster bind a token together: give both or neither")
	}
	if *source != "" {
		if _, ok := ledger.MappingKind(*source); !ok {
			return usageError(e, fs, "--source %q is not one of slurm, cgroup, k8s, storage, api", *source)
		}
	}
	var expires *time.Time
	if *expiresS != "" {
		d, err := time.Parse(time.DateOnly, *expiresS)
		if err != nil {
			return usageError(e, fs, "--expires %q is not a date like 2027-06-30", *expiresS)
		}
		expires = &d
	}
	return withLedger(ctx, e, *cfgPath, func(l *ledger.Ledger, _ config.Config) error {
		store := auth.NewStore(l.Pool(), time.Now, 0)
		id, err := store.UserID(ctx, *login)
		if err != nil {
			return fmt.Errorf("token for %s: %w", *login, err)
		}
		p, err := store.Principal(ctx, id, "cli")
		if err != nil {
			return fmt.Errorf("token for %s: %w", *login, err)
		}
		if !p.Admin && slices.Contains(scopes, "ingest") {
			// The server refuses ingest from anyone else's token (docs/ingest-api.md).
			return fmt.Errorf("%s is not an admin: only admins' tokens may send usage (ingest)", *login)
		}
		secret, tokenID, err := store.IssueToken(ctx, id, auth.TokenRequest{Name: *name, Scopes: scopes, Expires: expires,
			Binding: auth.Binding{Source: *source, Cluster: *cluster}})
		if errors.Is(err, auth.ErrInvalid) {
			return errors.New(strings.TrimPrefix(err.Error(), auth.ErrInvalid.Error()+": "))
		}
		if err != nil {
			return err
		}
		bound := "unbound"
		if *source != "" {
			bound = "bound to " + *source + "/" + *cluster
		}
		e.log.Info("created API token", "id", tokenID, "user", *login, "scopes", strings.Join(scopes, ","), "binding", bound)
		fmt.Fprintln(e.stdout, secret)
		return nil
	})
}
