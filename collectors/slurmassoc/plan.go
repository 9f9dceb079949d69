package slurmassoc

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// GroupKind is the kind of the groups the sync creates.
const GroupKind = "account"

// Actor is the audit actor of a cluster's sync.
//
// It is also how the sync knows which groups it made, without a column of its own in
// the schema: a group belongs to a cluster's sync when the audit log records its
// creation under Actor(cluster) (or "Actor(cluster) (WHO)", see Apply). That entry
// is written in the transaction that creates the group, so it can neither be missing
// nor outlive a group that was never made, and admins have no way to forge it by
// hand. Only such groups are moved when Slurm moves their account; every other
// group — made by hand, by the seed, or by another cluster's sync — is never moved.
// If an admin re-maps the account to another group, that group is used from then on,
// and moved only if the same rule says this sync made it.
func Actor(cluster string) string { return "slurm-accounts:" + cluster }

// Origin is the origin of the memberships a cluster's sync makes, and the only
// memberships it ever ends.
func Origin(cluster string) string { return "slurm:" + cluster }

// GroupRef names a group of a plan: an existing one by id (and its slug, to show),
// or one the plan creates by its slug alone. The zero GroupRef is the top level.
type GroupRef struct {
	ID   int64  // 0 for a group this plan creates
	Slug string // "" for the top level
}

func (g GroupRef) String() string {
	if g.Slug == "" && g.ID == 0 {
		return "(top level)"
	}
	if g.Slug == "" {
		return fmt.Sprintf("#%d", g.ID)
	}
	return g.Slug
}

// key identifies a group within a plan.
func (g GroupRef) key() string {
	if g.ID != 0 {
		return fmt.Sprintf("#%d", g.ID)
	}
	return g.Slug
}

// GroupCreate is a group to create for a Slurm account.
type GroupCreate struct {
	Account string
	Slug    string
	Name    string
	Parent  GroupRef
}

// MappingAdd maps a Slurm account of the cluster to a group.
type MappingAdd struct {
	Account string
	Group   GroupRef
}

// GroupMove puts a group the sync made under the group of its account's new parent.
type GroupMove struct {
	Account  string
	Group    GroupRef
	From, To GroupRef
}

// MembershipAdd makes a user a member of an account's group.
type MembershipAdd struct {
	User   string // the Slurm user name; the login of the user to create when UserID is 0
	UserID int64
	Group  GroupRef
	From   time.Time // zero: since always (the first time the sync sees the pair)
}

// MembershipEnd ends a membership the sync made, whose association is gone.
type MembershipEnd struct {
	User       string // the user's login
	Group      GroupRef
	Membership ledger.Membership
}

// Changes is what a sync would do to the ledger, in the order Apply does it.
type Changes struct {
	Cluster  string
	Today    time.Time // the site-local date of the plan; memberships end on it
	Users    []string  // logins of users to create
	Groups   []GroupCreate
	Mappings []MappingAdd
	Moves    []GroupMove
	Adds     []MembershipAdd
	Ends     []MembershipEnd
	// Notes are what the sync saw but leaves alone (a group made by hand where Slurm
	// has another parent, an account gone from Slurm…). They are not changes.
	Notes []string
}

// Len is the number of changes.
func (c Changes) Len() int {
	return len(c.Users) + len(c.Groups) + len(c.Mappings) + len(c.Moves) + len(c.Adds) + len(c.Ends)
}

// Summary says in one line how many changes of each kind there are.
func (c Changes) Summary() string {
	return fmt.Sprintf("slurm-accounts %s: create %d users, %d groups, %d mappings; move %d groups; add %d memberships, end %d",
		c.Cluster, len(c.Users), len(c.Groups), len(c.Mappings), len(c.Moves), len(c.Adds), len(c.Ends))
}

// Lines are the changes, one a line, then the notes (prefixed "note: ").
func (c Changes) Lines() []string {
	var out []string
	for _, u := range c.Users {
		out = append(out, "create user "+u)
	}
	for _, g := range c.Groups {
		parent := "parent " + g.Parent.String()
		if g.Parent == (GroupRef{}) {
			parent = "top level"
		}
		out = append(out, fmt.Sprintf("create group %s (%s) ← slurm account %s", g.Slug, parent, g.Account))
	}
	for _, m := range c.Mappings {
		out = append(out, fmt.Sprintf("map slurm %s/%s → %s", c.Cluster, m.Account, m.Group))
	}
	for _, m := range c.Moves {
		out = append(out, fmt.Sprintf("move group %s from %s to %s ← slurm account %s", m.Group, m.From, m.To, m.Account))
	}
	for _, a := range c.Adds {
		line := fmt.Sprintf("add member %s to %s", a.User, a.Group)
		if !a.From.IsZero() {
			line += " from " + a.From.Format(time.DateOnly)
		}
		out = append(out, line)
	}
	for _, e := range c.Ends {
		out = append(out, fmt.Sprintf("end membership %s in %s", e.User, e.Group))
	}
	for _, n := range c.Notes {
		out = append(out, "note: "+n)
	}
	return out
}

// String is Lines, one a line: what --dry-run prints.
func (c Changes) String() string {
	var b strings.Builder
	c.WriteTo(&b)
	return b.String()
}

// WriteTo writes Lines to w, one a line.
func (c Changes) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, line := range c.Lines() {
		k, err := io.WriteString(w, line+"\n")
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Plan compares a cluster's associations with the ledger and lists the changes that
// would bring the ledger in line, changing nothing itself (a dry run is Plan alone):
//
//   - every Slurm account but root gets a group: the one its slurm mapping for the
//     cluster (or for all clusters, "*") names; else a group whose slug is derived
//     from the account name and which is either mapped to the same account on
//     another cluster or was made by this sync (and lost its mapping in a crash);
//     else a new group under the parent account's group (top level under root), whose
//     slug is the account's, or, when a group made for something else has it, the
//     account's with "-CLUSTER" (then "-CLUSTER-2", …) appended;
//   - every account without a slurm mapping on the cluster (or "*") gets one, which
//     also moves its usage already ingested as unassigned into the group;
//   - a group this sync made (see Actor) whose parent differs from its Slurm parent's
//     group is moved; a group made otherwise never is (a note says so);
//   - every user association gives a membership (role member, origin
//     Origin(cluster)) unless the user has a current membership in the group already
//     (of any role and origin); users the ledger does not know are created;
//   - every current membership of origin Origin(cluster) whose association is gone
//     ends today.
//
// Running Plan again after Apply gives no changes.
func Plan(ctx context.Context, l *ledger.Ledger, cluster string, t Tree) (Changes, error) {
	c := Changes{Cluster: cluster, Today: dateOf(time.Now().In(l.Location()))}
	ct := t.Clusters[cluster]
	if ct == nil {
		return c, fmt.Errorf("plan slurm-accounts: no associations of cluster %q in the input (it has: %s)",
			cluster, strings.Join(quoteAll(t.ClusterNames()), ", "))
	}
	order, err := ct.ordered()
	if err != nil {
		return c, fmt.Errorf("plan slurm-accounts for %s: %w", cluster, err)
	}
	s, err := loadState(ctx, l, cluster)
	if err != nil {
		return c, fmt.Errorf("plan slurm-accounts for %s: %w", cluster, err)
	}
	groupOf := map[string]GroupRef{}
	if err := s.planGroups(&c, ct, order, groupOf); err != nil {
		return c, fmt.Errorf("plan slurm-accounts for %s: %w", cluster, err)
	}
	if err := s.planMemberships(ctx, l, &c, ct, order, groupOf); err != nil {
		return c, fmt.Errorf("plan slurm-accounts for %s: %w", cluster, err)
	}
	return c, nil
}

// state is what Plan reads of the ledger.
type state struct {
	cluster   string
	byID      map[int64]ledger.Group
	bySlug    map[string]ledger.Group
	onCluster map[string]int64          // slurm mappings of the cluster: account → group
	anyScope  map[string]int64          // slurm mappings for all clusters ("*")
	slurmIDs  map[int64]map[string]bool // group → the accounts mapped to it (any scope)
	mapped    map[int64]bool            // groups a slurm mapping of the cluster names
	owned     map[int64]bool            // groups this cluster's sync created
}

func loadState(ctx context.Context, l *ledger.Ledger, cluster string) (*state, error) {
	s := &state{
		cluster: cluster, byID: map[int64]ledger.Group{}, bySlug: map[string]ledger.Group{},
		onCluster: map[string]int64{}, anyScope: map[string]int64{}, slurmIDs: map[int64]map[string]bool{},
		mapped: map[int64]bool{}, owned: map[int64]bool{},
	}
	groups, err := l.Groups(ctx)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		s.byID[g.ID], s.bySlug[g.Slug] = g, g
	}
	maps, err := l.Mappings(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range maps {
		if m.Kind != ledger.KindSlurm {
			continue
		}
		switch m.Scope {
		case cluster:
			s.onCluster[m.Identity] = m.GroupID
			s.mapped[m.GroupID] = true
		case "*":
			s.anyScope[m.Identity] = m.GroupID
		}
		if s.slurmIDs[m.GroupID] == nil {
			s.slurmIDs[m.GroupID] = map[string]bool{}
		}
		s.slurmIDs[m.GroupID][m.Identity] = true
	}
	owned, err := l.GroupsCreatedBy(ctx, Actor(cluster))
	if err != nil {
		return nil, err
	}
	for _, id := range owned {
		s.owned[id] = true
	}
	return s, nil
}

func (s *state) ref(id int64) GroupRef {
	if id == 0 {
		return GroupRef{}
	}
	return GroupRef{ID: id, Slug: s.byID[id].Slug}
}

// planGroups finds or plans a group for every account, its mapping, and the moves.
func (s *state) planGroups(c *Changes, ct *Cluster, order []*Account, groupOf map[string]GroupRef) error {
	claimed := map[int64]bool{} // existing groups an account of this plan has taken over
	newSlugs := map[string]bool{}
	owner := map[string]bool{} // accounts whose group this sync made
	for _, a := range order {
		parent, known := GroupRef{}, true
		switch {
		case !a.Declared:
			known = false
			c.Notes = append(c.Notes, fmt.Sprintf("slurm account %s has user associations but no account association; a new group for it goes to the top level, an existing one stays where it is", a.Name))
		case a.Parent == RootAccount:
		case ct.Accounts[a.Parent] == nil:
			known = false
			c.Notes = append(c.Notes, fmt.Sprintf("slurm account %s: its parent %s has no association in the input; a new group for it goes to the top level, an existing one stays where it is", a.Name, a.Parent))
		default:
			parent = groupOf[a.Parent]
		}

		var g GroupRef
		if id, ok := s.onCluster[a.Name]; ok {
			g = s.ref(id)
			owner[a.Name] = s.owned[id]
		} else if id, ok := s.anyScope[a.Name]; ok {
			g = s.ref(id) // mapped for every cluster, by hand: used as it is
		} else {
			base := slugFor(a.Name)
			for i := 0; ; i++ {
				cand := base
				switch {
				case i == 1:
					cand = base + "-" + slugFor(s.cluster)
				case i > 1:
					cand = fmt.Sprintf("%s-%s-%d", base, slugFor(s.cluster), i)
				}
				if i > 1000 {
					return fmt.Errorf("account %s: no free slug from %q", a.Name, base)
				}
				if newSlugs[cand] {
					continue
				}
				if ex, ok := s.bySlug[cand]; ok {
					// Reuse a group mapped to the same account on another cluster, or one
					// this sync made but did not map (it stopped in between) — as long as
					// no other account of the cluster has it.
					if !s.mapped[ex.ID] && !claimed[ex.ID] && (s.slurmIDs[ex.ID][a.Name] || s.owned[ex.ID]) {
						g = s.ref(ex.ID)
						claimed[ex.ID] = true
						owner[a.Name] = s.owned[ex.ID]
						break
					}
					continue
				}
				g = GroupRef{Slug: cand}
				newSlugs[cand] = true
				owner[a.Name] = true
				c.Groups = append(c.Groups, GroupCreate{Account: a.Name, Slug: cand, Name: a.Name, Parent: parent})
				break
			}
			c.Mappings = append(c.Mappings, MappingAdd{Account: a.Name, Group: g})
		}
		groupOf[a.Name] = g

		if g.ID == 0 || !known {
			continue // a new group is made in its place
		}
		if cur := s.byID[g.ID].ParentID; parent.ID == 0 && parent.Slug != "" || cur != parent.ID {
			if owner[a.Name] {
				c.Moves = append(c.Moves, GroupMove{Account: a.Name, Group: g, From: s.ref(cur), To: parent})
			} else {
				c.Notes = append(c.Notes, fmt.Sprintf("group %s (slurm account %s) is under %s, Slurm has its account under %s; not moved, as this sync did not create it",
					g, a.Name, s.ref(cur), parent))
			}
		}
	}
	c.Moves = s.dropCycles(c, c.Moves)

	// Accounts gone from Slurm keep their group and mapping: usage ingested later for
	// them still lands there, and history stays where it is.
	var gone []string
	for acct := range s.onCluster {
		if _, ok := ct.Accounts[acct]; !ok && acct != RootAccount {
			gone = append(gone, acct)
		}
	}
	slices.Sort(gone)
	for _, acct := range gone {
		c.Notes = append(c.Notes, fmt.Sprintf("slurm account %s is gone from %s; its group %s and mapping are kept", acct, s.cluster, s.ref(s.onCluster[acct])))
	}
	return nil
}

// dropCycles leaves out the moves that would put a group inside its own subtree — which
// only a group made by hand, sitting below a synced group where Slurm has it above, can
// cause — and notes them.
func (s *state) dropCycles(c *Changes, moves []GroupMove) []GroupMove {
	parentOf := map[string]string{}
	for id, g := range s.byID {
		parentOf[GroupRef{ID: id}.key()] = s.ref(g.ParentID).key()
	}
	for _, g := range c.Groups {
		parentOf[GroupRef{Slug: g.Slug}.key()] = g.Parent.key()
	}
	var kept []GroupMove
	for _, m := range moves {
		self := m.Group.key()
		cycle := false
		for p, n := m.To.key(), 0; p != "" && n <= len(parentOf); p, n = parentOf[p], n+1 {
			if p == self {
				cycle = true
				break
			}
		}
		if cycle {
			c.Notes = append(c.Notes, fmt.Sprintf("group %s (slurm account %s) is not moved under %s, which lies below it in the ledger", m.Group, m.Account, m.To))
			continue
		}
		parentOf[self] = m.To.key()
		kept = append(kept, m)
	}
	return kept
}

// pair is a user in a group.
type pair struct{ user, group int64 }

// planMemberships lists the users to create and the memberships to add and end.
func (s *state) planMemberships(ctx context.Context, l *ledger.Ledger, c *Changes, ct *Cluster, order []*Account, groupOf map[string]GroupRef) error {
	origin := Origin(s.cluster)
	var names []string
	var groupIDs []int64
	for _, a := range order {
		names = append(names, a.Users...)
		if g := groupOf[a.Name]; g.ID != 0 {
			groupIDs = append(groupIDs, g.ID)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	userIDs, err := l.ResolveUserNames(ctx, ledger.KindSlurm, s.cluster, names)
	if err != nil {
		return err
	}
	for _, n := range names {
		if _, ok := userIDs[n]; !ok {
			c.Users = append(c.Users, n)
		}
	}
	entries, err := l.MembershipsForSync(ctx, origin, groupIDs)
	if err != nil {
		return err
	}
	current := map[pair]bool{}
	memberRow := map[pair]bool{} // a row of role member exists, current or not
	for _, e := range entries {
		p := pair{e.UserID, e.GroupID}
		if currentOn(e.Membership, c.Today) {
			current[p] = true
		}
		if e.Role == ledger.RoleMember {
			memberRow[p] = true
		}
	}

	wanted := map[pair]bool{}
	planned := map[string]bool{}
	for _, a := range order {
		g := groupOf[a.Name]
		for _, u := range a.Users {
			id := userIDs[u]
			if id != 0 && g.ID != 0 {
				p := pair{id, g.ID}
				if wanted[p] {
					continue
				}
				wanted[p] = true
				if current[p] {
					continue
				}
				add := MembershipAdd{User: u, UserID: id, Group: g}
				if memberRow[p] {
					// Back after an end: the earlier row keeps its own period.
					add.From = c.Today
				}
				c.Adds = append(c.Adds, add)
				continue
			}
			// A new user, or a new group: no membership can exist yet.
			k := fmt.Sprintf("%d/%s/%s", id, u, g.key())
			if !planned[k] {
				planned[k] = true
				c.Adds = append(c.Adds, MembershipAdd{User: u, UserID: id, Group: g})
			}
		}
	}
	for _, e := range entries {
		if e.Origin != origin || !currentOn(e.Membership, c.Today) || wanted[pair{e.UserID, e.GroupID}] {
			continue
		}
		c.Ends = append(c.Ends, MembershipEnd{User: e.Login, Group: s.ref(e.GroupID), Membership: e.Membership})
	}
	slices.SortFunc(c.Ends, func(a, b MembershipEnd) int {
		return strings.Compare(a.Group.Slug+"\x00"+a.User+"\x00"+a.Membership.Role, b.Group.Slug+"\x00"+b.User+"\x00"+b.Membership.Role)
	})
	return nil
}

// currentOn reports whether m is in effect on day (midnight UTC of a date).
func currentOn(m ledger.Membership, day time.Time) bool {
	return (m.From.IsZero() || !dateOf(m.From).After(day)) && (m.To.IsZero() || dateOf(m.To).After(day))
}

// dateOf is midnight UTC of t's date in t's own location.
func dateOf(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// ordered lists the cluster's accounts but root, parents before children (by name
// among equals), or says where the parent links go round in a circle.
func (ct *Cluster) ordered() ([]*Account, error) {
	depth := map[string]int{RootAccount: 0}
	for name := range ct.Accounts {
		// Walk up to an account of known depth (or one without a parent in the input),
		// then number the accounts walked through on the way back down.
		var chain []string
		onChain := map[string]bool{}
		d := 0
		for n := name; ; {
			if known, ok := depth[n]; ok {
				d = known
				break
			}
			a := ct.Accounts[n]
			if a == nil {
				break // a parent the input does not have: its child is at the top
			}
			if onChain[n] {
				i := slices.Index(chain, n)
				return nil, fmt.Errorf("the parents of slurm account %s go round in a circle: %s", n, strings.Join(append(chain[i:], n), " → "))
			}
			onChain[n] = true
			chain = append(chain, n)
			if a.Parent == "" {
				break
			}
			n = a.Parent
		}
		for i := len(chain) - 1; i >= 0; i-- {
			d++
			depth[chain[i]] = d
		}
	}
	out := make([]*Account, 0, len(ct.Accounts))
	for name, a := range ct.Accounts {
		if name != RootAccount {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b *Account) int {
		if d := depth[a.Name] - depth[b.Name]; d != 0 {
			return d
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// slugFor derives a group slug from a Slurm name: lower case, runs of anything but
// a-z, 0-9, '.', '_' and '-' as one '-', starting with a letter or digit.
func slugFor(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	s := strings.TrimRight(strings.TrimLeft(b.String(), "-_."), "-")
	if !ledger.ValidSlug(s) {
		return "account"
	}
	return s
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	if len(out) == 0 {
		return []string{"none"}
	}
	return out
}
