package slurmassoc

import (
	"context"
	"fmt"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Apply carries out a plan's changes through the ledger's own functions, each
// audited, in the order Changes lists them: users, groups (parents first), mappings
// (which move the accounts' unassigned usage into their groups), moves, then
// memberships added and ended. It stops at the first error; what was done stays
// done, and planning again picks up from there (a group created but not yet mapped
// is recognised as this sync's own and reused, see Actor).
//
// Every change is audited under Actor(c.Cluster) — which is also what marks the
// groups as made by this sync — or, when actor names someone else (the admin who
// ran it), under "Actor(c.Cluster) (actor)".
func Apply(ctx context.Context, l *ledger.Ledger, actor string, c Changes) error {
	if c.Cluster == "" {
		return fmt.Errorf("apply slurm-accounts changes: no cluster")
	}
	who := Actor(c.Cluster)
	if actor != "" && actor != who {
		who += " (" + actor + ")"
	}
	fail := func(err error) error { return fmt.Errorf("apply slurm-accounts changes for %s: %w", c.Cluster, err) }

	users := map[string]int64{}
	for _, login := range c.Users {
		u, _, err := l.CreateUserIfMissing(ctx, who, login)
		if err != nil {
			return fail(err)
		}
		users[login] = u.ID
	}
	created := map[string]int64{} // slug → id of the groups created here
	groupID := func(g GroupRef) (int64, error) {
		switch {
		case g.ID != 0:
			return g.ID, nil
		case g.Slug == "":
			return 0, nil
		}
		if id, ok := created[g.Slug]; ok {
			return id, nil
		}
		found, err := l.GroupBySlug(ctx, g.Slug)
		return found.ID, err
	}
	for _, g := range c.Groups {
		parent, err := groupID(g.Parent)
		if err != nil {
			return fail(err)
		}
		made, err := l.CreateGroup(ctx, who, ledger.NewGroup{ParentID: parent, Kind: GroupKind, Slug: g.Slug, Name: g.Name})
		if err != nil {
			return fail(err)
		}
		created[g.Slug] = made.ID
	}
	for _, m := range c.Mappings {
		id, err := groupID(m.Group)
		if err != nil {
			return fail(err)
		}
		if _, err := l.SetGroupMapping(ctx, who, ledger.Mapping{
			Kind: ledger.KindSlurm, Scope: c.Cluster, Identity: m.Account, GroupID: id,
		}); err != nil {
			return fail(err)
		}
	}
	for _, m := range c.Moves {
		id, err := groupID(m.Group)
		if err != nil {
			return fail(err)
		}
		to, err := groupID(m.To)
		if err != nil {
			return fail(err)
		}
		if err := l.MoveGroup(ctx, who, id, to); err != nil {
			return fail(err)
		}
	}
	for _, a := range c.Adds {
		uid := a.UserID
		if uid == 0 {
			uid = users[a.User]
		}
		if uid == 0 {
			u, _, err := l.CreateUserIfMissing(ctx, who, a.User)
			if err != nil {
				return fail(err)
			}
			uid, users[a.User] = u.ID, u.ID
		}
		gid, err := groupID(a.Group)
		if err != nil {
			return fail(err)
		}
		if err := l.AddMembership(ctx, who, ledger.Membership{
			UserID: uid, GroupID: gid, Role: ledger.RoleMember, From: a.From, Origin: Origin(c.Cluster),
		}); err != nil {
			return fail(err)
		}
	}
	for _, e := range c.Ends {
		if err := l.EndMembership(ctx, who, e.Membership, c.Today); err != nil {
			return fail(err)
		}
	}
	return nil
}
