package slurmassoc_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parsimony-hpc/parsimony/collectors/slurmassoc"
	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/ledger"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const cluster = "testbed"

// setup is a fresh database and a ledger on it.
type setup struct {
	ctx  context.Context
	pool *pgxpool.Pool
	l    *ledger.Ledger
}

func newSetup(t *testing.T) setup {
	t.Helper()
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	l, err := ledger.Open(ctx, pool, ledger.Options{Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	return setup{ctx: ctx, pool: pool, l: l}
}

// fixture is the testbed's associations, with edit applied to its text.
func fixture(t *testing.T, edit func(string) string) slurmassoc.Tree {
	t.Helper()
	b, err := os.ReadFile("testdata/testbed-assoc.txt")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if edit != nil {
		text = edit(text)
	}
	tree, rejects, err := slurmassoc.Parse(strings.NewReader(text))
	if err != nil || len(rejects) > 0 {
		t.Fatalf("Parse: %v %v", err, reasons(rejects))
	}
	return tree
}

// without drops the given lines from the text.
func without(lines ...string) func(string) string {
	return func(text string) string {
		for _, l := range lines {
			if !strings.Contains(text, l+"\n") {
				panic("fixture has no line " + l)
			}
			text = strings.Replace(text, l+"\n", "", 1)
		}
		return text
	}
}

func (s setup) plan(t *testing.T, tree slurmassoc.Tree) slurmassoc.Changes {
	t.Helper()
	c, err := slurmassoc.Plan(s.ctx, s.l, cluster, tree)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return c
}

// sync plans and applies, then checks that planning again finds nothing to do.
func (s setup) sync(t *testing.T, tree slurmassoc.Tree) slurmassoc.Changes {
	t.Helper()
	c := s.plan(t, tree)
	if err := slurmassoc.Apply(s.ctx, s.l, "", c); err != nil {
		t.Fatalf("Apply: %v\nchanges:\n%s", err, c)
	}
	if again := s.plan(t, tree); again.Len() != 0 {
		t.Fatalf("a second sync would change:\n%s\nafter the first:\n%s", again, c)
	}
	return c
}

// tree is the ledger's groups as "slug<parent-slug" lines, sorted.
func (s setup) tree(t *testing.T) []string {
	t.Helper()
	groups, err := s.l.Groups(s.ctx)
	if err != nil {
		t.Fatal(err)
	}
	slug := map[int64]string{}
	for _, g := range groups {
		slug[g.ID] = g.Slug
	}
	var out []string
	for _, g := range groups {
		out = append(out, g.Slug+"<"+slug[g.ParentID])
	}
	slices.Sort(out)
	return out
}

// memberships are the ledger's memberships as "login@slug role [from,to) origin", sorted.
func (s setup) memberships(t *testing.T) []string {
	t.Helper()
	rows, err := s.pool.Query(s.ctx, `
		SELECT format('%s@%s %s [%s,%s) %s', u.login, g.slug, m.role, m.valid_from, m.valid_to, m.origin)
		FROM memberships m JOIN users u ON u.id = m.user_id JOIN groups g ON g.id = m.group_id`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// mappings are the ledger's group mappings as "kind scope/identity→slug", sorted.
func (s setup) mappings(t *testing.T) []string {
	t.Helper()
	rows, err := s.pool.Query(s.ctx, `
		SELECT format('%s %s/%s→%s', m.kind, m.scope, m.identity, g.slug)
		FROM group_mappings m JOIN groups g ON g.id = m.group_id`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n  %s\nwant:\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func contains(t *testing.T, c slurmassoc.Changes, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if !slices.Contains(c.Lines(), l) {
			t.Errorf("changes lack %q:\n%s", l, c)
		}
	}
}

func (s setup) group(t *testing.T, parent int64, kind, slug, name string) ledger.Group {
	t.Helper()
	g, err := s.l.CreateGroup(s.ctx, "admin", ledger.NewGroup{ParentID: parent, Kind: kind, Slug: slug, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (s setup) user(t *testing.T, login, name string) ledger.User {
	t.Helper()
	u, err := s.l.UpsertUser(s.ctx, "admin", ledger.User{Login: login, DisplayName: name})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (s setup) member(t *testing.T, u ledger.User, g ledger.Group, role string) {
	t.Helper()
	if err := s.l.AddMembership(s.ctx, "admin", ledger.Membership{UserID: u.ID, GroupID: g.ID, Role: role}); err != nil {
		t.Fatal(err)
	}
}

// synced is how the fixture's memberships look after a first sync: since always,
// of the cluster's origin.
func synced(pairs ...string) []string {
	var out []string
	for _, p := range pairs {
		out = append(out, p+" member [-infinity,infinity) slurm:"+cluster)
	}
	return out
}

var fixtureMembers = []string{
	"alice@phys-qlab", "bob@bio-genomics", "bob@phys-astro", "carol@phys-qlab", "carol@qlab-sim",
	"dave@bio-genomics", "erin@physics", "frank@bio-imaging",
}

func TestSyncBuildsNestedGroups(t *testing.T) {
	s := newSetup(t)
	tree := parseFile(t, "testdata/testbed-assoc.txt")
	c := s.sync(t, tree)

	contains(t, c,
		"create user alice",
		"create group biology (top level) ← slurm account biology",
		"create group physics (top level) ← slurm account physics",
		"create group phys-qlab (parent physics) ← slurm account phys-qlab",
		"create group qlab-sim (parent phys-qlab) ← slurm account qlab-sim",
		"map slurm testbed/phys-qlab → phys-qlab",
		"add member alice to phys-qlab",
		"add member carol to qlab-sim",
	)
	if len(c.Notes) != 0 {
		t.Errorf("notes: %v", c.Notes)
	}
	if len(c.Users) != 6 || len(c.Groups) != 7 || len(c.Mappings) != 7 || len(c.Adds) != 8 || len(c.Ends) != 0 || len(c.Moves) != 0 {
		t.Errorf("changes: %s\n%s", c.Summary(), c)
	}
	// Parents come before children, so Apply can create them in order.
	seen := map[string]bool{"": true}
	for _, g := range c.Groups {
		if !seen[g.Parent.Slug] {
			t.Errorf("group %s is listed before its parent %s", g.Slug, g.Parent.Slug)
		}
		seen[g.Slug] = true
	}

	equal(t, "groups", s.tree(t), []string{
		"biology<", "bio-genomics<biology", "bio-imaging<biology",
		"physics<", "phys-astro<physics", "phys-qlab<physics", "qlab-sim<phys-qlab",
	})
	qlab, err := s.l.GroupBySlug(s.ctx, "qlab-sim")
	if err != nil {
		t.Fatal(err)
	}
	if qlab.Depth() != 3 || qlab.Kind != slurmassoc.GroupKind || qlab.Name != "qlab-sim" {
		t.Errorf("qlab-sim: %+v, want an account group at depth 3", qlab)
	}
	var want []string
	for _, a := range []string{"biology", "bio-genomics", "bio-imaging", "physics", "phys-astro", "phys-qlab", "qlab-sim"} {
		want = append(want, fmt.Sprintf("slurm %s/%s→%s", cluster, a, a))
	}
	equal(t, "mappings", s.mappings(t), want)
	equal(t, "memberships", s.memberships(t), synced(fixtureMembers...))

	// Users are made as ingest makes them, and audited.
	var auto int
	if err := s.pool.QueryRow(s.ctx, `SELECT count(*) FROM users WHERE auto_created`).Scan(&auto); err != nil {
		t.Fatal(err)
	}
	if auto != 6 {
		t.Errorf("%d auto-created users, want 6", auto)
	}
	log, err := s.l.AuditLog(s.ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]int{}
	for _, e := range log {
		if e.Actor != slurmassoc.Actor(cluster) {
			t.Errorf("audit entry by %q, want %q", e.Actor, slurmassoc.Actor(cluster))
		}
		actions[e.Action+" "+e.ObjectKind]++
	}
	wantActions := map[string]int{"create user": 6, "create group": 7, "set group_mapping": 7, "add membership": 8}
	if fmt.Sprint(actions) != fmt.Sprint(wantActions) {
		t.Errorf("audit: %v, want %v", actions, wantActions)
	}
}

// counts are the sizes of the tables a sync writes.
func (s setup) counts(t *testing.T) string {
	t.Helper()
	var out []string
	for _, table := range []string{"users", "groups", "group_mappings", "memberships", "audit_log"} {
		var n int
		if err := s.pool.QueryRow(s.ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s=%d", table, n))
	}
	var ended int
	if err := s.pool.QueryRow(s.ctx, `SELECT count(*) FROM memberships WHERE valid_to <> 'infinity'`).Scan(&ended); err != nil {
		t.Fatal(err)
	}
	return strings.Join(append(out, fmt.Sprintf("ended=%d", ended)), " ")
}

func TestDryRunChangesNothing(t *testing.T) {
	s := newSetup(t)
	s.sync(t, fixture(t, nil))
	before := s.counts(t)
	beforeTree := s.tree(t)

	// Slurm changed: a new account, a user gone, a group moved.
	tree := fixture(t, func(text string) string {
		text = strings.Replace(text, "testbed|phys-astro|physics|", "testbed|phys-astro|biology|", 1)
		text = without("testbed|bio-genomics||bob||normal")(text)
		return text + "testbed|chem|root|||normal\ntestbed|chem||gina||normal\n"
	})
	c := s.plan(t, tree)
	want := []string{
		"create user gina",
		"create group chem (top level) ← slurm account chem",
		"map slurm testbed/chem → chem",
		"move group phys-astro from physics to biology ← slurm account phys-astro",
		"add member gina to chem",
		"end membership bob in bio-genomics",
	}
	if got := c.Lines(); !slices.Equal(got, want) {
		t.Errorf("dry run lists:\n%s\nwant:\n%s", c, strings.Join(want, "\n"))
	}
	if c.String() != strings.Join(want, "\n")+"\n" {
		t.Errorf("String() = %q", c.String())
	}
	if after := s.counts(t); after != before {
		t.Errorf("planning changed the ledger: %s, was %s", after, before)
	}
	equal(t, "groups after planning", s.tree(t), beforeTree)
}

func TestHandMadeGroupIsNotClobbered(t *testing.T) {
	s := newSetup(t)
	uni := s.group(t, 0, "institution", "uni", "University")
	physics := s.group(t, uni.ID, "department", "physics", "Department of Physics")
	erin := s.user(t, "erin", "Erin Example")
	s.member(t, erin, physics, ledger.RolePI)

	c := s.sync(t, fixture(t, nil))
	contains(t, c,
		"create group physics-testbed (top level) ← slurm account physics",
		"create group phys-qlab (parent physics-testbed) ← slurm account phys-qlab",
		"map slurm testbed/physics → physics-testbed",
	)
	equal(t, "groups", s.tree(t), []string{
		"uni<", "physics<uni",
		"biology<", "bio-genomics<biology", "bio-imaging<biology",
		"physics-testbed<", "phys-astro<physics-testbed", "phys-qlab<physics-testbed", "qlab-sim<phys-qlab",
	})
	got, err := s.l.GroupBySlug(s.ctx, "physics")
	if err != nil {
		t.Fatal(err)
	}
	if got != physics {
		t.Errorf("the hand-made group changed: %+v, was %+v", got, physics)
	}
	for _, m := range s.mappings(t) {
		if strings.HasSuffix(m, "→physics") {
			t.Errorf("the hand-made group was mapped: %s", m)
		}
	}
	// erin's PI role stays; her Slurm membership is in the account's own group.
	members := s.memberships(t)
	if !slices.Contains(members, "erin@physics pi [-infinity,infinity) manual") ||
		!slices.Contains(members, "erin@physics-testbed member [-infinity,infinity) slurm:testbed") {
		t.Errorf("memberships: %v", members)
	}
	u, err := s.l.UserByLogin(s.ctx, "erin")
	if err != nil {
		t.Fatal(err)
	}
	if u.DisplayName != "Erin Example" {
		t.Errorf("erin's name became %q", u.DisplayName)
	}
}

// A group an admin mapped to an account is the account's group: used, never moved.
func TestMappedHandMadeGroupIsUsedNotMoved(t *testing.T) {
	s := newSetup(t)
	labs := s.group(t, 0, "institution", "labs", "Labs")
	qlab := s.group(t, labs.ID, "lab", "quantum-lab", "Quantum Lab")
	if _, err := s.l.SetGroupMapping(s.ctx, "admin", ledger.Mapping{Kind: ledger.KindSlurm, Scope: cluster, Identity: "phys-qlab", GroupID: qlab.ID}); err != nil {
		t.Fatal(err)
	}
	// An account mapped for all clusters is used too, and not mapped again.
	bio := s.group(t, 0, "department", "bio", "Biology")
	if _, err := s.l.SetGroupMapping(s.ctx, "admin", ledger.Mapping{Kind: ledger.KindSlurm, Scope: "*", Identity: "biology", GroupID: bio.ID}); err != nil {
		t.Fatal(err)
	}

	c := s.sync(t, fixture(t, nil))
	contains(t, c,
		"create group qlab-sim (parent quantum-lab) ← slurm account qlab-sim",
		"create group bio-genomics (parent bio) ← slurm account bio-genomics",
		"add member alice to quantum-lab",
		"note: group quantum-lab (slurm account phys-qlab) is under labs, Slurm has its account under physics; not moved, as this sync did not create it",
	)
	if len(c.Groups) != 5 || len(c.Moves) != 0 || len(c.Mappings) != 5 {
		t.Errorf("changes:\n%s", c)
	}
	equal(t, "groups", s.tree(t), []string{
		"labs<", "quantum-lab<labs", "qlab-sim<quantum-lab",
		"bio<", "bio-genomics<bio", "bio-imaging<bio",
		"physics<", "phys-astro<physics",
	})
	if m := s.mappings(t); !slices.Contains(m, "slurm */biology→bio") || slices.Contains(m, "slurm testbed/biology→bio") {
		t.Errorf("mappings: %v", m)
	}
}

func TestRemovedAssociationEndsOnlySyncedMemberships(t *testing.T) {
	s := newSetup(t)
	s.sync(t, fixture(t, nil))
	today := time.Now().UTC().Format(time.DateOnly)

	// By hand: erin manages phys-qlab, dave is a member of physics, bob of bio-imaging.
	group := func(slug string) ledger.Group {
		g, err := s.l.GroupBySlug(s.ctx, slug)
		if err != nil {
			t.Fatal(err)
		}
		return g
	}
	login := func(name string) ledger.User {
		u, err := s.l.UserByLogin(s.ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	s.member(t, login("erin"), group("phys-qlab"), ledger.RoleManager)
	s.member(t, login("dave"), group("physics"), ledger.RoleMember)
	s.member(t, login("bob"), group("bio-imaging"), ledger.RoleMember)
	manual := []string{
		"erin@phys-qlab manager [-infinity,infinity) manual",
		"dave@physics member [-infinity,infinity) manual",
		"bob@bio-imaging member [-infinity,infinity) manual",
	}

	// bob leaves bio-genomics; dave keeps one of his two partitions there; erin leaves
	// physics (where she has a Slurm membership only).
	tree := fixture(t, without(
		"testbed|bio-genomics||bob||normal",
		"testbed|bio-genomics||dave|gpu|normal,gpu",
		"testbed|physics||erin||normal",
	))
	c := s.sync(t, tree)
	want := []string{"end membership bob in bio-genomics", "end membership erin in physics"}
	if got := c.Lines(); !slices.Equal(got, want) {
		t.Errorf("changes:\n%s\nwant:\n%s", c, strings.Join(want, "\n"))
	}
	members := append(synced("alice@phys-qlab", "bob@phys-astro", "carol@phys-qlab", "carol@qlab-sim",
		"dave@bio-genomics", "frank@bio-imaging"), manual...)
	members = append(members,
		"bob@bio-genomics member [-infinity,"+today+") slurm:testbed",
		"erin@physics member [-infinity,"+today+") slurm:testbed")
	equal(t, "memberships", s.memberships(t), members)

	// bob comes back the same day, and leaves again: the short row goes, the first stays.
	c = s.sync(t, fixture(t, without("testbed|bio-genomics||dave|gpu|normal,gpu", "testbed|physics||erin||normal")))
	if got := c.Lines(); !slices.Equal(got, []string{"add member bob to bio-genomics from " + today}) {
		t.Errorf("changes:\n%s", c)
	}
	if !slices.Contains(s.memberships(t), "bob@bio-genomics member ["+today+",infinity) slurm:testbed") {
		t.Errorf("memberships: %v", s.memberships(t))
	}
	s.sync(t, tree)
	equal(t, "memberships", s.memberships(t), members)

	// frank leaves bio-imaging, where bob is a member by hand: bob's row stays.
	c = s.sync(t, fixture(t, without(
		"testbed|bio-genomics||bob||normal",
		"testbed|bio-genomics||dave|gpu|normal,gpu",
		"testbed|physics||erin||normal",
		"testbed|bio-imaging||frank||normal",
	)))
	if got := c.Lines(); !slices.Equal(got, []string{"end membership frank in bio-imaging"}) {
		t.Errorf("changes:\n%s", c)
	}
	for _, m := range manual {
		if !slices.Contains(s.memberships(t), m) {
			t.Errorf("manual membership %s was touched", m)
		}
	}
}

// A membership by hand that Slurm also has is left alone: no synced duplicate.
func TestManualMembershipSatisfiesAssociation(t *testing.T) {
	s := newSetup(t)
	s.sync(t, fixture(t, nil))
	alice, err := s.l.UserByLogin(s.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	bio, err := s.l.GroupBySlug(s.ctx, "bio-imaging")
	if err != nil {
		t.Fatal(err)
	}
	s.member(t, alice, bio, ledger.RolePI)
	c := s.sync(t, fixture(t, func(text string) string { return text + "testbed|bio-imaging||alice||normal\n" }))
	if c.Len() != 0 {
		t.Errorf("alice, PI of bio-imaging by hand, got:\n%s", c)
	}
	c = s.sync(t, fixture(t, nil))
	if c.Len() != 0 {
		t.Errorf("removing an association that gave no membership changed:\n%s", c)
	}
	if !slices.Contains(s.memberships(t), "alice@bio-imaging pi [-infinity,infinity) manual") {
		t.Errorf("memberships: %v", s.memberships(t))
	}
}

func TestSlurmMovesOnlySyncedGroups(t *testing.T) {
	s := newSetup(t)
	// phys-astro is a hand-made group the admin mapped; the rest are synced.
	astro := s.group(t, 0, "lab", "phys-astro", "Astrophysics")
	if _, err := s.l.SetGroupMapping(s.ctx, "admin", ledger.Mapping{Kind: ledger.KindSlurm, Scope: cluster, Identity: "phys-astro", GroupID: astro.ID}); err != nil {
		t.Fatal(err)
	}
	c := s.plan(t, fixture(t, nil))
	if err := slurmassoc.Apply(s.ctx, s.l, "ops", c); err != nil { // the audit says who ran it
		t.Fatal(err)
	}
	// Slurm moves qlab-sim to biology, phys-qlab to the top and phys-astro under biology.
	tree := fixture(t, func(text string) string {
		text = strings.Replace(text, "testbed|qlab-sim|phys-qlab|", "testbed|qlab-sim|biology|", 1)
		text = strings.Replace(text, "testbed|phys-qlab|physics|", "testbed|phys-qlab|root|", 1)
		return strings.Replace(text, "testbed|phys-astro|physics|", "testbed|phys-astro|biology|", 1)
	})
	c = s.sync(t, tree)
	want := []string{
		"move group phys-qlab from physics to (top level) ← slurm account phys-qlab",
		"move group qlab-sim from phys-qlab to biology ← slurm account qlab-sim",
		"note: group phys-astro (slurm account phys-astro) is under (top level), Slurm has its account under biology; not moved, as this sync did not create it",
	}
	if got := c.Lines(); !slices.Equal(got, want) {
		t.Errorf("changes:\n%s\nwant:\n%s", c, strings.Join(want, "\n"))
	}
	equal(t, "groups", s.tree(t), []string{
		"biology<", "bio-genomics<biology", "bio-imaging<biology", "qlab-sim<biology",
		"physics<", "phys-qlab<", "phys-astro<",
	})
	log, err := s.l.AuditLog(s.ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if log[0].Actor != "slurm-accounts:testbed" || log[0].Action != "move" {
		t.Errorf("last audit entry %+v", log[0])
	}
}

// A move that would put a synced group below a hand-made group inside its own
// subtree is left out, with a note; the rest of the sync goes on.
func TestMoveIntoOwnSubtreeIsSkipped(t *testing.T) {
	s := newSetup(t)
	s.sync(t, fixture(t, nil))
	physics, err := s.l.GroupBySlug(s.ctx, "physics")
	if err != nil {
		t.Fatal(err)
	}
	// By hand, a group below physics, which the admin maps to the new account theory.
	theory := s.group(t, physics.ID, "lab", "theory", "Theory")
	if _, err := s.l.SetGroupMapping(s.ctx, "admin", ledger.Mapping{Kind: ledger.KindSlurm, Scope: cluster, Identity: "theory", GroupID: theory.ID}); err != nil {
		t.Fatal(err)
	}
	// Slurm has theory at the top and physics under it.
	tree := fixture(t, func(text string) string {
		text = strings.Replace(text, "testbed|physics|root|", "testbed|physics|theory|", 1)
		return text + "testbed|theory|root|||normal\n"
	})
	c := s.sync(t, tree)
	contains(t, c,
		"note: group theory (slurm account theory) is under physics, Slurm has its account under (top level); not moved, as this sync did not create it",
		"note: group physics (slurm account physics) is not moved under theory, which lies below it in the ledger",
	)
	if c.Len() != 0 {
		t.Errorf("changes:\n%s", c)
	}
}

// A sync that stopped between creating a group and mapping it: the next one
// recognises the group as its own and maps it, instead of making another.
func TestGroupCreatedButNotMappedIsReused(t *testing.T) {
	s := newSetup(t)
	if _, err := s.l.CreateGroup(s.ctx, slurmassoc.Actor(cluster)+" (ops)", ledger.NewGroup{Kind: slurmassoc.GroupKind, Slug: "physics", Name: "physics"}); err != nil {
		t.Fatal(err)
	}
	// Made by hand: not reused, whatever its slug.
	s.group(t, 0, "department", "biology", "Biology")
	// Made by another cluster's sync: not this one's either.
	if _, err := s.l.CreateGroup(s.ctx, slurmassoc.Actor("other"), ledger.NewGroup{Kind: slurmassoc.GroupKind, Slug: "phys-astro", Name: "phys-astro"}); err != nil {
		t.Fatal(err)
	}
	c := s.sync(t, fixture(t, nil))
	contains(t, c,
		"map slurm testbed/physics → physics",
		"create group biology-testbed (top level) ← slurm account biology",
		"create group phys-astro-testbed (parent physics) ← slurm account phys-astro",
		"create group phys-qlab (parent physics) ← slurm account phys-qlab",
	)
	for _, g := range c.Groups {
		if g.Slug == "physics" {
			t.Errorf("physics created again")
		}
	}
}

// Another cluster with the same accounts uses the groups mapped to them, and does not
// move them.
func TestSecondClusterSharesGroups(t *testing.T) {
	s := newSetup(t)
	s.sync(t, fixture(t, nil))
	other := fixture(t, func(text string) string {
		text = strings.ReplaceAll(text, "testbed|", "other|")
		return strings.Replace(text, "other|qlab-sim|phys-qlab|", "other|qlab-sim|physics|", 1)
	})
	c, err := slurmassoc.Plan(s.ctx, s.l, "other", other)
	if err != nil {
		t.Fatal(err)
	}
	if err := slurmassoc.Apply(s.ctx, s.l, "", c); err != nil {
		t.Fatal(err)
	}
	if len(c.Groups) != 0 || len(c.Moves) != 0 || len(c.Mappings) != 7 || len(c.Adds) != 0 {
		t.Errorf("changes for the other cluster:\n%s", c)
	}
	contains(t, c, "map slurm other/qlab-sim → qlab-sim",
		"note: group qlab-sim (slurm account qlab-sim) is under phys-qlab, Slurm has its account under physics; not moved, as this sync did not create it")
	if again, err := slurmassoc.Plan(s.ctx, s.l, "other", other); err != nil || again.Len() != 0 {
		t.Errorf("second sync of the other cluster: %v\n%s", err, again)
	}
	if again := s.plan(t, fixture(t, nil)); again.Len() != 0 {
		t.Errorf("the first cluster's sync now changes:\n%s", again)
	}
}

func TestUsersAreNotOverwritten(t *testing.T) {
	s := newSetup(t)
	s.user(t, "alice", "Alice Liddell")
	// frank is fschmidt in the ledger.
	fs := s.user(t, "fschmidt", "Frank Schmidt")
	if err := s.l.SetUserMapping(s.ctx, "admin", ledger.KindSlurm, cluster, "frank", fs.ID); err != nil {
		t.Fatal(err)
	}
	c := s.sync(t, fixture(t, nil))
	if slices.Contains(c.Users, "alice") || slices.Contains(c.Users, "frank") {
		t.Errorf("users to create: %v", c.Users)
	}
	contains(t, c, "add member frank to bio-imaging")
	u, err := s.l.UserByLogin(s.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if u.DisplayName != "Alice Liddell" {
		t.Errorf("alice's name became %q", u.DisplayName)
	}
	if _, err := s.l.UserByLogin(s.ctx, "frank"); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("user frank: %v, want not found", err)
	}
	if !slices.Contains(s.memberships(t), "fschmidt@bio-imaging member [-infinity,infinity) slurm:testbed") {
		t.Errorf("memberships: %v", s.memberships(t))
	}
}

// Usage ingested before its account was mapped sits unassigned; the sync's mapping
// moves it into the account's group, and no total changes.
func TestSyncMovesUnassignedUsage(t *testing.T) {
	s := newSetup(t)
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var recs []ledger.Record
	for i, acct := range []string{"phys-qlab", "phys-qlab", "qlab-sim", "nobody"} {
		recs = append(recs, ledger.Record{
			Source: ledger.SourceSlurm, Cluster: cluster, ExternalID: fmt.Sprint(100 + i), Resource: ledger.ResourceCPU,
			Start: start, End: start.Add(time.Hour), Quantity: int64(3600 * (i + 1)), Allocated: int64(3600 * (i + 1)),
			Account: acct, User: "alice",
		})
	}
	if _, err := s.l.Ingest(s.ctx, ledger.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	// Another cluster's usage of the same account is not this cluster's to move.
	other := recs[0]
	other.Cluster = "other"
	if _, err := s.l.Ingest(s.ctx, ledger.Batch{Records: []ledger.Record{other}}); err != nil {
		t.Fatal(err)
	}
	report := func() map[string]string {
		rows, err := s.l.Report(s.ctx, ledger.ReportQuery{
			From: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC),
			By: []string{ledger.ByGroup}, Resource: ledger.ResourceCPU,
		})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range rows {
			out[r.Keys[0]] = r.Quantity.String()
		}
		return out
	}
	if got := fmt.Sprint(report()); got != "map[(unassigned):39600]" {
		t.Fatalf("before the sync: %s", got)
	}
	s.sync(t, fixture(t, nil))
	// phys-qlab: 3600 + 7200; qlab-sim: 10800; unassigned: nobody's 14400 and the
	// other cluster's 3600.
	if got := fmt.Sprint(report()); got != "map[(unassigned):18000 phys-qlab:10800 qlab-sim:10800]" {
		t.Errorf("after the sync: %s", got)
	}
}

func TestPlanErrors(t *testing.T) {
	s := newSetup(t)
	if _, err := slurmassoc.Plan(s.ctx, s.l, "nope", fixture(t, nil)); err == nil ||
		!strings.Contains(err.Error(), `no associations of cluster "nope"`) || !strings.Contains(err.Error(), `"testbed"`) {
		t.Errorf("Plan for a cluster not in the input: %v", err)
	}
	cycle := fixture(t, func(text string) string {
		text = strings.Replace(text, "testbed|physics|root|", "testbed|physics|qlab-sim|", 1)
		return text
	})
	if _, err := slurmassoc.Plan(s.ctx, s.l, cluster, cycle); err == nil || !strings.Contains(err.Error(), "circle") {
		t.Errorf("Plan for a tree with a cycle: %v", err)
	}
	if err := slurmassoc.Apply(s.ctx, s.l, "", slurmassoc.Changes{}); err == nil {
		t.Errorf("Apply without a cluster: no error")
	}
}

// Accounts the input names only as a parent, or only in user associations, are put
// at the top level, and say so.
func TestPartialInput(t *testing.T) {
	s := newSetup(t)
	input := "Cluster|Account|Par Name|User\n" +
		"testbed|phys-qlab|physics|\n" + // physics is not in the input
		"testbed|phys-qlab||alice\n" +
		"testbed|lonely||bob\n" // lonely has no account association
	tree, rejects, err := slurmassoc.Parse(strings.NewReader(input))
	if err != nil || len(rejects) != 0 {
		t.Fatal(err, rejects)
	}
	c := s.sync(t, tree)
	contains(t, c,
		"create group phys-qlab (top level) ← slurm account phys-qlab",
		"create group lonely (top level) ← slurm account lonely",
		"add member bob to lonely",
		"note: slurm account phys-qlab: its parent physics has no association in the input; a new group for it goes to the top level, an existing one stays where it is",
		"note: slurm account lonely has user associations but no account association; a new group for it goes to the top level, an existing one stays where it is",
	)
	// The full tree later: phys-qlab moves under physics; lonely stays (Slurm still
	// says nothing of its parent).
	c = s.sync(t, fixture(t, func(text string) string { return text + "testbed|lonely||bob||normal\n" }))
	contains(t, c, "move group phys-qlab from (top level) to physics ← slurm account phys-qlab")
	equal(t, "groups", s.tree(t), []string{
		"biology<", "bio-genomics<biology", "bio-imaging<biology", "lonely<",
		"physics<", "phys-astro<physics", "phys-qlab<physics", "qlab-sim<phys-qlab",
	})
	// Accounts gone from Slurm keep their groups.
	c = s.sync(t, fixture(t, nil))
	contains(t, c, "end membership bob in lonely", "note: slurm account lonely is gone from testbed; its group lonely and mapping are kept")
}

func TestSlugs(t *testing.T) {
	s := newSetup(t)
	input := "Cluster|Account|Par Name|User\n" +
		"testbed|Phys Lab|root|\n" +
		"testbed|phys-lab|root|\n" +
		"testbed|_x|root|\n" +
		"testbed|ÄÖÜ|root|\n" +
		"testbed|a.b_c|root|\n"
	tree, rejects, err := slurmassoc.Parse(strings.NewReader(input))
	if err != nil || len(rejects) != 0 {
		t.Fatal(err, rejects)
	}
	c := s.sync(t, tree)
	var got []string
	for _, g := range c.Groups {
		got = append(got, g.Account+"→"+g.Slug)
	}
	want := []string{"Phys Lab→phys-lab", "_x→x", "a.b_c→a.b_c", "phys-lab→phys-lab-testbed", "ÄÖÜ→account"}
	if !slices.Equal(got, want) {
		t.Errorf("slugs %v, want %v", got, want)
	}
}

// The ledger functions the sync adds: they never touch what is not theirs.
func TestLedgerSyncHelpers(t *testing.T) {
	s := newSetup(t)
	alice := s.user(t, "alice", "Alice Liddell")
	u, created, err := s.l.CreateUserIfMissing(s.ctx, "test", "alice")
	if err != nil || created || u != alice {
		t.Errorf("CreateUserIfMissing(alice) = %+v, %v, %v; want the user as she was", u, created, err)
	}
	bob, created, err := s.l.CreateUserIfMissing(s.ctx, "test", "bob")
	if err != nil || !created || bob.Login != "bob" {
		t.Errorf("CreateUserIfMissing(bob) = %+v, %v, %v", bob, created, err)
	}

	g := s.group(t, 0, "lab", "lab", "Lab")
	s.member(t, alice, g, ledger.RoleMember)
	m := ledger.Membership{UserID: alice.ID, GroupID: g.ID, Role: ledger.RoleMember, Origin: slurmassoc.Origin(cluster)}
	if err := s.l.EndMembership(s.ctx, "test", m, time.Now()); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("EndMembership of a manual row as a synced one: %v, want not found", err)
	}
	if got := s.memberships(t); !slices.Equal(got, []string{"alice@lab member [-infinity,infinity) manual"}) {
		t.Errorf("memberships: %v", got)
	}

	for _, actor := range []string{slurmassoc.Actor(cluster), slurmassoc.Actor(cluster) + " (ops)", slurmassoc.Actor(cluster) + "2", "admin"} {
		if _, err := s.l.CreateGroup(s.ctx, actor, ledger.NewGroup{Kind: "lab", Slug: slugOf(actor), Name: actor}); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := s.l.GroupsCreatedBy(s.ctx, slurmassoc.Actor(cluster))
	if err != nil {
		t.Fatal(err)
	}
	var slugs []string
	for _, id := range ids {
		g, err := s.l.GroupByID(s.ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		slugs = append(slugs, g.Slug)
	}
	if want := []string{slugOf(slurmassoc.Actor(cluster)), slugOf(slurmassoc.Actor(cluster) + " (ops)")}; !slices.Equal(slugs, want) {
		t.Errorf("groups created by the sync: %v, want %v", slugs, want)
	}
}

func slugOf(s string) string {
	return strings.NewReplacer(":", "-", " ", "-", "(", "", ")", "").Replace(s)
}
