package server

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// The admin's groups (/admin/groups): the tree, creating, moving and archiving a
// group, and mapping source identities to a group.

func (s *Server) adminGroups(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	groups, err := s.ledger.Groups(ctx)
	if err != nil {
		return err
	}
	mappings, err := s.ledger.Mappings(ctx)
	if err != nil {
		return err
	}
	mapped := map[int64]int{}
	for _, m := range mappings {
		mapped[m.GroupID]++
	}
	kinds := []string{"institution", "department", "lab", "project"}
	tree := views.GroupTree{Title: "The tree", Note: "Open a group to move or archive it, or to map identities to it.",
		Head:    []string{"Group", "Kind", "Slug", "Cost centre", "Billable", "Mappings", "Archived"},
		Numeric: []bool{false, false, false, false, true, false}, Empty: "No groups yet: create the institution first, at the top level."}
	for _, g := range treeOrder(groups) {
		if !slices.Contains(kinds, g.Kind) {
			kinds = append(kinds, g.Kind)
		}
		archived := ""
		if g.ArchivedAt != nil {
			archived = g.ArchivedAt.In(s.ledger.Location()).Format(time.DateOnly)
		}
		tree.Rows = append(tree.Rows, views.TreeRow{Depth: g.Depth(), Name: g.Name, Link: "/admin/groups/" + g.Slug, Archived: g.ArchivedAt != nil,
			Cells: []string{g.Kind, g.Slug, g.CostCentre, yesNo(g.Billable), strconv.Itoa(mapped[g.ID]), archived}})
	}
	return s.render(w, r, views.AdminGroups(views.AdminGroupsPage{Layout: s.layout(r, "Groups"), Done: doneNote(r.URL.Query()),
		Links: adminLinks(r), Parents: groupChoices(groups, nil), Kinds: kinds, Tree: tree}))
}

var kindRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) error {
	done, err := func() (url.Values, error) {
		ctx := r.Context()
		n := ledger.NewGroup{Kind: strings.TrimSpace(r.PostFormValue("kind")), Slug: strings.TrimSpace(r.PostFormValue("slug")),
			Name: strings.TrimSpace(r.PostFormValue("name")), CostCentre: strings.TrimSpace(r.PostFormValue("cost_centre")),
			Billable: r.PostFormValue("billable") != ""}
		switch {
		case !kindRE.MatchString(n.Kind):
			return nil, badForm("The kind %q is not one: use lower-case letters, digits, _ and -, starting with a letter (e.g. lab).", n.Kind)
		case !ledger.ValidSlug(n.Slug):
			return nil, badForm("The slug %q is not one: use lower-case letters, digits and . _ -, starting with a letter or digit.", n.Slug)
		case n.Name == "":
			return nil, badForm("Give the group a name.")
		}
		if r.PostFormValue("parent") != "" {
			parent, err := s.formGroup(ctx, r, "parent", "the parent")
			if err != nil {
				return nil, err
			}
			n.ParentID = parent.ID
		}
		g, err := s.ledger.CreateGroup(ctx, actor(r), n)
		if err != nil {
			return nil, err
		}
		return url.Values{"done": {"group-created"}, "g": {g.Slug}}, nil
	}()
	return s.finish(w, r, page{"/admin/groups", "Groups"}, done, err)
}

// adminGroupFromPath is the {group} of an admin route (the guard loads groups
// only for group routes); one that is not there is not found.
func (s *Server) adminGroupFromPath(r *http.Request) (ledger.Group, error) {
	return s.ledger.GroupBySlug(r.Context(), chi.URLParam(r, "group"))
}

func (s *Server) adminGroup(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	g, err := s.adminGroupFromPath(r)
	if err != nil {
		return err
	}
	groups, err := s.ledger.Groups(ctx)
	if err != nil {
		return err
	}
	mappings, err := s.ledger.Mappings(ctx)
	if err != nil {
		return err
	}
	byID := map[int64]ledger.Group{}
	for _, x := range groups {
		byID[x.ID] = x
	}
	var names []string
	for _, part := range strings.Split(g.Path, ".") {
		id, _ := strconv.ParseInt(part, 10, 64)
		names = append(names, byID[id].Name)
	}
	var pi string
	if g.PIUserID != 0 {
		u, err := s.ledger.UserByID(ctx, g.PIUserID)
		if err != nil && !errors.Is(err, ledger.ErrNotFound) {
			return err
		}
		pi = u.Login
	}
	billable := "no"
	if g.Billable {
		billable = "yes: a statement each month"
	}
	facts := []views.Fact{{Label: "In", Value: strings.Join(names, " › ")}, {Label: "Kind", Value: g.Kind}, {Label: "Slug", Value: g.Slug},
		{Label: "Cost centre", Value: orDash(g.CostCentre)}, {Label: "Billable", Value: billable}}
	if pi != "" {
		facts = append(facts, views.Fact{Label: "PI", Value: pi})
	}
	if g.ArchivedAt != nil {
		facts = append(facts, views.Fact{Label: "Archived", Value: g.ArchivedAt.In(s.ledger.Location()).Format(time.DateOnly)})
	}
	mt := views.Table{Title: "Mappings", Note: "Source identities whose usage is this group's.", Head: []string{"Kind", "Scope", "Identity"},
		Empty: "None: no usage comes to this group by itself."}
	for _, m := range mappings {
		if m.GroupID == g.ID {
			mt.Rows = append(mt.Rows, views.Row{Cells: []string{m.Kind, m.Scope, m.Identity}})
		}
	}
	parent := ""
	if g.ParentID != 0 {
		parent = byID[g.ParentID].Slug
	}
	return s.render(w, r, views.AdminGroup(views.AdminGroupPage{Layout: s.layout(r, g.Name+" · Groups"), Done: doneNote(r.URL.Query()),
		Slug: g.Slug, Name: g.Name, Facts: facts, Archived: g.ArchivedAt != nil, Parents: groupChoices(groups, &g), CurrentParent: parent,
		Kinds: mappingKinds, Mappings: mt}))
}

func (s *Server) moveGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := s.adminGroupFromPath(r)
	if err != nil {
		return err
	}
	done, err := func() (url.Values, error) {
		if _, ok := r.PostForm["parent"]; !ok {
			return nil, badForm("Choose the new parent (or the top level).")
		}
		var parentID int64
		if r.PostFormValue("parent") != "" {
			parent, err := s.formGroup(r.Context(), r, "parent", "the new parent")
			if err != nil {
				return nil, err
			}
			parentID = parent.ID
		}
		if err := s.ledger.MoveGroup(r.Context(), actor(r), g.ID, parentID); err != nil {
			return nil, err
		}
		return url.Values{"done": {"group-moved"}, "g": {g.Slug}}, nil
	}()
	return s.finish(w, r, page{"/admin/groups/" + g.Slug, g.Name}, done, err)
}

func (s *Server) archiveGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := s.adminGroupFromPath(r)
	if err != nil {
		return err
	}
	if r.PostFormValue("confirm") != "yes" {
		err = badForm("Tick “yes, archive” to archive %s.", g.Name)
	} else {
		err = s.ledger.ArchiveGroup(r.Context(), actor(r), g.ID)
	}
	return s.finish(w, r, page{"/admin/groups/" + g.Slug, g.Name}, url.Values{"done": {"group-archived"}, "g": {g.Slug}}, err)
}

// mappingKinds are the namespaces a mapping can claim identities in.
var mappingKinds = []string{ledger.KindSlurm, ledger.KindUnixGroup, ledger.KindK8s, ledger.KindStorage, ledger.KindAPI}

// mapIdentity maps a source identity to a group, moving its unassigned usage there:
// from a row of /admin's unassigned usage, or the form of a group's page.
func (s *Server) mapIdentity(w http.ResponseWriter, r *http.Request) error {
	back := page{"/admin", "Admin"}
	if b := r.PostFormValue("back"); strings.HasPrefix(b, "/admin/groups/") && ledger.ValidSlug(strings.TrimPrefix(b, "/admin/groups/")) {
		back = page{b, "the group"}
	}
	done, err := func() (url.Values, error) {
		kind := r.PostFormValue("kind")
		if src := r.PostFormValue("source"); kind == "" && src != "" {
			kind, _ = ledger.MappingKind(src)
		}
		if !slices.Contains(mappingKinds, kind) {
			return nil, badForm("Choose the kind of identity: one of %s.", strings.Join(mappingKinds, ", "))
		}
		scope, identity := strings.TrimSpace(r.PostFormValue("scope")), strings.TrimSpace(r.PostFormValue("identity"))
		if scope == "" || identity == "" {
			return nil, badForm("Give the scope (a cluster, host or file system, or * for all) and the identity to map.")
		}
		g, err := s.formGroup(r.Context(), r, "group", "the group to map it to")
		if err != nil {
			return nil, err
		}
		m := ledger.Mapping{Kind: kind, Scope: scope, Identity: identity, GroupID: g.ID}
		moved, err := s.ledger.SetGroupMapping(r.Context(), actor(r), m)
		if err != nil {
			return nil, err
		}
		return url.Values{"done": {"mapped"}, "g": {g.Slug}, "n": {strconv.FormatInt(moved, 10)}}, nil
	}()
	return s.finish(w, r, back, done, err)
}

// treeOrder puts groups in the order of the tree: each parent followed by its
// children (by name), so that indenting by depth draws the tree.
func treeOrder(groups []ledger.Group) []ledger.Group {
	byID := make(map[int64]bool, len(groups))
	for _, g := range groups {
		byID[g.ID] = true
	}
	children := map[int64][]ledger.Group{}
	for _, g := range groups {
		parent := g.ParentID
		if !byID[parent] {
			parent = 0
		}
		children[parent] = append(children[parent], g)
	}
	out := make([]ledger.Group, 0, len(groups))
	var visit func(id int64)
	visit = func(id int64) {
		kids := children[id]
		slices.SortFunc(kids, func(a, b ledger.Group) int { return strings.Compare(a.Name+"\x00"+a.Slug, b.Name+"\x00"+b.Slug) })
		for _, k := range kids {
			out = append(out, k)
			visit(k.ID)
		}
	}
	visit(0)
	return out
}

// groupChoices is a group picker's options in tree order: every group that is not
// archived and not in the subtree of skip (when set).
func groupChoices(groups []ledger.Group, skip *ledger.Group) []views.Option {
	var out []views.Option
	for _, g := range treeOrder(groups) {
		if g.ArchivedAt != nil || (skip != nil && (g.Path == skip.Path || strings.HasPrefix(g.Path, skip.Path+"."))) {
			continue
		}
		out = append(out, views.Option{Value: g.Slug, Label: strings.Repeat("\u00a0\u00a0\u00a0", g.Depth()-1) + g.Slug + " — " + g.Name})
	}
	return out
}
