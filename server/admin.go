package server

// The admin's pages and the changes they make: the group tree, mappings (with the
// unassigned usage they claim), people and their roles, rates and budgets. Each
// change is a plain form POSTed to a route of the table; done, it redirects (303)
// back to its page with ?done=… for a note of what it did. A mistake in the form is
// shown with its reason (400, or 409 when the ledger's rules forbid the change),
// never as an internal error.

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/jackc/pgx/v5"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// formError is a mistake in a submitted form: the person sees the reason, with the
// status, and nothing is logged as a failure.
type formError struct {
	code int
	msg  string
}

func (e *formError) Error() string { return e.msg }

func badForm(format string, args ...any) error {
	return &formError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// page is where a form came from and goes back to.
type page struct{ path, name string }

// finish answers a form's POST: on success a redirect back to its page with done
// as the query; on a mistake the reason; anything else is an internal error.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, back page, done url.Values, err error) {
	var fe *formError
	switch {
	case err == nil:
		target := back.path
		if len(done) > 0 {
			target += "?" + done.Encode()
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	case errors.As(err, &fe):
		s.formFailed(w, r, fe.code, fe.msg, back)
	case errors.Is(err, ledger.ErrConflict):
		s.formFailed(w, r, http.StatusConflict, ledgerReason(err), back)
	case errors.Is(err, ledger.ErrNotFound), errors.Is(err, ledger.ErrInvalid):
		s.formFailed(w, r, http.StatusBadRequest, ledgerReason(err), back)
	default:
		s.serverError(w, r, err)
	}
}

func (s *Server) formFailed(w http.ResponseWriter, r *http.Request, code int, reason string, back page) {
	s.renderStatus(w, r, code, views.AdminError(views.AdminErrorPage{Layout: s.layout(r, "Not saved"),
		Reason: reason, Back: back.path, BackName: back.name}))
}

// ledgerReason is the ledger's explanation of a refused change, without the
// sentinel's own word.
func ledgerReason(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{ledger.ErrConflict, ledger.ErrNotFound, ledger.ErrInvalid} {
		msg = strings.TrimSuffix(msg, ": "+sentinel.Error())
		msg = strings.ReplaceAll(msg, sentinel.Error()+": ", "")
	}
	return "The ledger refused the change: " + msg + "."
}

// doneNote is the note of what a form did, from the query its redirect carries.
// Only known words and checked values are shown: the query is anyone's to write.
func doneNote(q url.Values) string {
	g := q.Get("g")
	if !ledger.ValidSlug(g) {
		g = "the group"
	}
	role := q.Get("role")
	if !slices.Contains([]string{ledger.RoleAdmin, ledger.RoleFinance}, role) {
		role = "the"
	}
	switch q.Get("done") {
	case "mapped":
		n, _ := strconv.ParseInt(q.Get("n"), 10, 64)
		rows := "usage rows"
		if n == 1 {
			rows = "usage row"
		}
		return fmt.Sprintf("Mapped to %s: %s unassigned %s moved into it.", g, ledger.GroupThousands(strconv.FormatInt(max(n, 0), 10)), rows)
	case "group-created":
		return "Created the group " + g + "."
	case "group-moved":
		return "Moved " + g + " with its subtree."
	case "group-archived":
		return "Archived " + g + "."
	case "user-added":
		return "Added."
	case "role-granted":
		return "Granted the " + role + " role."
	case "role-revoked":
		return "Revoked the " + role + " role."
	case "membership-added":
		return "Added the membership in " + g + "."
	case "membership-ended":
		return "Ended the membership in " + g + "."
	case "rate-set":
		return "The rate is set."
	case "rate-unchanged":
		return "That rate was in force already: nothing changed."
	case "rate-ended":
		return "The rate is ended."
	case "budget-set":
		return "Set the budget of " + g + "."
	}
	return ""
}

// adminLinks are the links between the admin's pages (finance sees its own two),
// but for the page at hand.
func adminLinks(r *http.Request) []views.Crumb {
	links := []views.Crumb{{Slug: "/admin/rates", Name: "Rates"}, {Slug: "/admin/budgets", Name: "Budgets"}}
	if principal(r).Admin {
		links = append([]views.Crumb{{Slug: "/admin", Name: "Admin"}, {Slug: "/admin/groups", Name: "Groups"}, {Slug: "/admin/users", Name: "Users"}},
			append(links, views.Crumb{Slug: "/admin/runs", Name: "Collector runs"}, views.Crumb{Slug: "/admin/quarantine", Name: "Quarantine"},
				views.Crumb{Slug: "/statements", Name: "Billing periods"})...)
	}
	return slices.DeleteFunc(links, func(c views.Crumb) bool { return c.Slug == r.URL.Path })
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
func groupChoices(groups []ledger.Group, skip *ledger.Group) []views.GroupChoice {
	var out []views.GroupChoice
	for _, g := range treeOrder(groups) {
		if g.ArchivedAt != nil || (skip != nil && (g.Path == skip.Path || strings.HasPrefix(g.Path, skip.Path+"."))) {
			continue
		}
		out = append(out, views.GroupChoice{Slug: g.Slug, Label: strings.Repeat("\u00a0\u00a0\u00a0", g.Depth()-1) + g.Slug + " — " + g.Name})
	}
	return out
}

// formGroup is the group a form names by slug in field: it must exist and not be
// archived.
func (s *Server) formGroup(ctx context.Context, r *http.Request, field, what string) (ledger.Group, error) {
	slug := strings.TrimSpace(r.PostFormValue(field))
	if slug == "" {
		return ledger.Group{}, badForm("Choose %s.", what)
	}
	g, err := s.ledger.GroupBySlug(ctx, slug)
	if errors.Is(err, ledger.ErrNotFound) {
		return ledger.Group{}, badForm("There is no group %q.", slug)
	}
	if err != nil {
		return ledger.Group{}, err
	}
	if g.ArchivedAt != nil {
		return ledger.Group{}, badForm("The group %s is archived.", g.Slug)
	}
	return g, nil
}

var decimalRE = regexp.MustCompile(`^([0-9]+(\.[0-9]*)?|\.[0-9]+)$`)

// formDecimal reads a non-negative decimal number, e.g. a price or an amount, and
// checks it with parse: one of the ledger's parsers, which hold it to the documented
// maxima (docs/billing.md, "Limits").
func formDecimal(r *http.Request, field, what string, parse func(string) (*big.Rat, error)) (*big.Rat, error) {
	v := strings.TrimSpace(r.PostFormValue(field))
	switch {
	case v == "":
		return nil, badForm("Give the %s.", what)
	case strings.HasPrefix(v, "-") || strings.HasPrefix(v, "−"):
		return nil, badForm("The %s must be zero or more, not %s.", what, v)
	case !decimalRE.MatchString(v):
		return nil, badForm("The %s %q is not a number: write digits, with a point for decimals and no thousands separators, e.g. 2500 or 0.05.", what, v)
	}
	// The ledger's numbers have digits on both sides of a point; a form may say
	// ".5" or "5.".
	if strings.HasPrefix(v, ".") {
		v = "0" + v
	}
	v = strings.TrimSuffix(v, ".")
	x, err := parse(v)
	if err != nil {
		return nil, badForm("The %s is not accepted: %v.", what, err)
	}
	return x, nil
}

// formDate reads a day (YYYY-MM-DD); empty is the zero time, or a mistake when the
// date is required.
func formDate(r *http.Request, field, what string, required bool) (time.Time, error) {
	v := strings.TrimSpace(r.PostFormValue(field))
	if v == "" {
		if required {
			return time.Time{}, badForm("Give the %s.", what)
		}
		return time.Time{}, nil
	}
	d, err := time.Parse(time.DateOnly, v)
	if err != nil || d.Year() < 1900 || d.Year() > 9000 {
		return time.Time{}, badForm("The %s %q is not a date: write it as YYYY-MM-DD.", what, v)
	}
	return d, nil
}

// today is the site-local date.
func (s *Server) today() time.Time {
	now := s.now().In(s.ledger.Location())
	return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
}

func actor(r *http.Request) string { return "web:" + principal(r).Login }

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

// mappingKinds are the namespaces a mapping can claim identities in.
var mappingKinds = []string{ledger.KindSlurm, ledger.KindUnixGroup, ledger.KindK8s, ledger.KindStorage, ledger.KindAPI}

// ---- Mappings ----

// mapIdentity maps a source identity to a group, moving its unassigned usage there:
// from a row of /admin's unassigned usage, or the form of a group's page.
func (s *Server) mapIdentity(w http.ResponseWriter, r *http.Request) {
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
	s.finish(w, r, back, done, err)
}

// ---- Groups ----

func (s *Server) adminGroups(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	groups, err := s.ledger.Groups(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	mappings, err := s.ledger.Mappings(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
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
	s.render(w, r, views.AdminGroups(views.AdminGroupsPage{Layout: s.layout(r, "Groups"), Done: doneNote(r.URL.Query()),
		Links: adminLinks(r), Parents: groupChoices(groups, nil), Kinds: kinds, Tree: tree}))
}

var kindRE = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) {
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
	s.finish(w, r, page{"/admin/groups", "Groups"}, done, err)
}

// adminGroupFromPath is the {group} of an admin route (the guard loads groups
// only for group routes), or a 404 answered.
func (s *Server) adminGroupFromPath(w http.ResponseWriter, r *http.Request) (ledger.Group, bool) {
	g, err := s.ledger.GroupBySlug(r.Context(), chi.URLParam(r, "group"))
	if errors.Is(err, ledger.ErrNotFound) {
		s.notFound(w, r)
		return g, false
	}
	if err != nil {
		s.serverError(w, r, err)
		return g, false
	}
	return g, true
}

func (s *Server) adminGroup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	g, ok := s.adminGroupFromPath(w, r)
	if !ok {
		return
	}
	groups, err := s.ledger.Groups(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	mappings, err := s.ledger.Mappings(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
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
		err := s.ledger.Pool().QueryRow(ctx, `SELECT login FROM users WHERE id = $1`, g.PIUserID).Scan(&pi)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			s.serverError(w, r, err)
			return
		}
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
	s.render(w, r, views.AdminGroup(views.AdminGroupPage{Layout: s.layout(r, g.Name+" · Groups"), Done: doneNote(r.URL.Query()),
		Slug: g.Slug, Name: g.Name, Facts: facts, Archived: g.ArchivedAt != nil, Parents: groupChoices(groups, &g), CurrentParent: parent,
		Kinds: mappingKinds, Mappings: mt}))
}

func (s *Server) moveGroup(w http.ResponseWriter, r *http.Request) {
	g, ok := s.adminGroupFromPath(w, r)
	if !ok {
		return
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
	s.finish(w, r, page{"/admin/groups/" + g.Slug, g.Name}, done, err)
}

func (s *Server) archiveGroup(w http.ResponseWriter, r *http.Request) {
	g, ok := s.adminGroupFromPath(w, r)
	if !ok {
		return
	}
	var err error
	if r.PostFormValue("confirm") != "yes" {
		err = badForm("Tick “yes, archive” to archive %s.", g.Name)
	} else {
		err = s.ledger.ArchiveGroup(r.Context(), actor(r), g.ID)
	}
	s.finish(w, r, page{"/admin/groups/" + g.Slug, g.Name}, url.Values{"done": {"group-archived"}, "g": {g.Slug}}, err)
}

// ---- Users and roles ----

// userRow is a person as the users page lists them.
type userRow struct {
	login, name, email, roles, memberships string
}

// findUsers lists up to limit people whose login or name contains q (everyone
// when q is empty), those with a global role first, with their memberships in
// force on day; and how many match in all.
func (s *Server) findUsers(ctx context.Context, q string, day time.Time, limit int) ([]userRow, int, error) {
	rows, err := s.ledger.Pool().Query(ctx, `
		SELECT u.login, u.display_name, u.email,
		       coalesce((SELECT string_agg(r.role, ', ' ORDER BY r.role) FROM global_roles r WHERE r.user_id = u.id), ''),
		       coalesce((SELECT string_agg(CASE m.role WHEN 'pi' THEN 'PI' ELSE m.role END || ' of ' || g.slug, ', ' ORDER BY g.path, m.role)
		                 FROM memberships m JOIN groups g ON g.id = m.group_id
		                 WHERE m.user_id = u.id AND m.valid_from <= $2::date AND m.valid_to > $2::date), ''),
		       count(*) OVER ()
		FROM users u
		WHERE $1 = '' OR strpos(lower(u.login), lower($1)) > 0 OR strpos(lower(u.display_name), lower($1)) > 0
		ORDER BY EXISTS (SELECT 1 FROM global_roles r WHERE r.user_id = u.id) DESC, u.login
		LIMIT $3`, q, day.Format(time.DateOnly), limit)
	if err != nil {
		return nil, 0, fmt.Errorf("find users: %w", err)
	}
	var out []userRow
	var total int
	var u userRow
	_, err = pgx.ForEachRow(rows, []any{&u.login, &u.name, &u.email, &u.roles, &u.memberships, &total}, func() error {
		out = append(out, u)
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("find users: %w", err)
	}
	return out, total, nil
}

func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	const limit = 200
	users, total, err := s.findUsers(r.Context(), q, s.today(), limit)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	t := views.Table{Title: "People", Head: []string{"Login", "Name", "E-mail", "Global roles", "Memberships today"}, Empty: "Nobody matches."}
	if q != "" {
		t.Title = "People matching “" + q + "”"
	}
	for _, u := range users {
		t.Rows = append(t.Rows, views.Row{Link: "/admin/users/" + url.PathEscape(u.login), Cells: []string{u.login, u.name, u.email, u.roles, u.memberships}})
	}
	if total > len(users) {
		t.Note = fmt.Sprintf("The first %d of %d: narrow the search to find the others.", len(users), total)
	}
	s.render(w, r, views.AdminUsers(views.AdminUsersPage{Layout: s.layout(r, "Users"), Done: doneNote(r.URL.Query()), Links: adminLinks(r),
		Query: q, Table: t}))
}

func (s *Server) addUser(w http.ResponseWriter, r *http.Request) {
	login := strings.TrimSpace(r.PostFormValue("login"))
	back := page{"/admin/users", "Users"}
	done, err := func() (url.Values, error) {
		if n := utf8.RuneCountInString(login); n > ledger.MaxLoginLen {
			return nil, badForm("The login is %d characters long; at most %d are taken.", n, ledger.MaxLoginLen)
		}
		if login == "" || strings.ContainsFunc(login, func(c rune) bool { return c <= ' ' || c == '/' || c == 0x7f }) {
			return nil, badForm("The login %q is not one: give it as the clusters know it, without spaces or slashes.", login)
		}
		switch _, err := s.ledger.UserByLogin(r.Context(), login); {
		case err == nil:
			return nil, &formError{http.StatusConflict, fmt.Sprintf("There is someone with the login %s already.", login)}
		case !errors.Is(err, ledger.ErrNotFound):
			return nil, err
		}
		_, err := s.ledger.UpsertUser(r.Context(), actor(r), ledger.User{Login: login,
			DisplayName: strings.TrimSpace(r.PostFormValue("display_name")), Email: strings.TrimSpace(r.PostFormValue("email"))})
		return url.Values{"done": {"user-added"}}, err
	}()
	if err == nil {
		back.path = "/admin/users/" + url.PathEscape(login)
	}
	s.finish(w, r, back, done, err)
}

// adminUserFromPath is the {login} of an admin route, or a 404 answered.
func (s *Server) adminUserFromPath(w http.ResponseWriter, r *http.Request) (ledger.User, bool) {
	login, err := url.PathUnescape(chi.URLParam(r, "login"))
	if err != nil {
		s.notFound(w, r)
		return ledger.User{}, false
	}
	u, err := s.ledger.UserByLogin(r.Context(), login)
	if errors.Is(err, ledger.ErrNotFound) {
		s.notFound(w, r)
		return u, false
	}
	if err != nil {
		s.serverError(w, r, err)
		return u, false
	}
	return u, true
}

var (
	globalRoles = []string{ledger.RoleAdmin, ledger.RoleFinance}
	groupRoles  = []string{ledger.RolePI, ledger.RoleManager, ledger.RoleMember, ledger.RoleViewer}
)

func (s *Server) adminUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, ok := s.adminUserFromPath(w, r)
	if !ok {
		return
	}
	rows, err := s.ledger.Pool().Query(ctx, `SELECT role FROM global_roles WHERE user_id = $1 ORDER BY role`, u.ID)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	today := s.today()
	rows, err = s.ledger.Pool().Query(ctx, `
		SELECT g.slug, g.name, m.role, m.valid_from::text, m.valid_to::text, m.origin, m.valid_to > $2::date
		FROM memberships m JOIN groups g ON g.id = m.group_id
		WHERE m.user_id = $1
		ORDER BY m.valid_to <= $2::date, g.path, m.role, m.valid_from`, u.ID, today.Format(time.DateOnly))
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	var ms []views.MembershipRow
	var m views.MembershipRow
	_, err = pgx.ForEachRow(rows, []any{&m.GroupSlug, &m.GroupName, &m.Role, &m.From, &m.To, &m.Origin, &m.Current}, func() error {
		x := m
		x.FromValue = x.From
		switch x.From {
		case "-infinity":
			x.From, x.FromValue = "always", ""
		}
		if x.To == "infinity" {
			x.To = "—"
		}
		ms = append(ms, x)
		return nil
	})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	groups, err := s.ledger.Groups(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	var grantable []string
	for _, role := range globalRoles {
		if !slices.Contains(roles, role) {
			grantable = append(grantable, role)
		}
	}
	s.render(w, r, views.AdminUser(views.AdminUserPage{Layout: s.layout(r, u.Login+" · Users"), Done: doneNote(r.URL.Query()),
		Login: u.Login, Base: "/admin/users/" + url.PathEscape(u.Login),
		Facts: []views.Fact{{Label: "Name", Value: orDash(u.DisplayName)}, {Label: "E-mail", Value: orDash(u.Email)}},
		Roles: roles, Grantable: grantable, Memberships: ms, Groups: groupChoices(groups, nil), GroupRoles: groupRoles,
		Today: today.Format(time.DateOnly)}))
}

func (s *Server) userPage(u ledger.User) page {
	return page{"/admin/users/" + url.PathEscape(u.Login), u.Login}
}

func formRole(r *http.Request, roles []string) (string, error) {
	role := r.PostFormValue("role")
	if !slices.Contains(roles, role) {
		return "", badForm("Choose a role: one of %s.", strings.Join(roles, ", "))
	}
	return role, nil
}

func (s *Server) grantRole(w http.ResponseWriter, r *http.Request) {
	u, ok := s.adminUserFromPath(w, r)
	if !ok {
		return
	}
	role, err := formRole(r, globalRoles)
	if err == nil {
		err = s.ledger.GrantGlobalRole(r.Context(), actor(r), u.ID, role)
	}
	s.finish(w, r, s.userPage(u), url.Values{"done": {"role-granted"}, "role": {role}}, err)
}

func (s *Server) revokeRole(w http.ResponseWriter, r *http.Request) {
	u, ok := s.adminUserFromPath(w, r)
	if !ok {
		return
	}
	role, err := formRole(r, globalRoles)
	switch {
	case err != nil:
	case role == ledger.RoleAdmin && u.ID == principal(r).UserID:
		// Nobody locks themselves out (nor the site, when they are its only admin).
		err = &formError{http.StatusConflict, "You cannot revoke your own admin role: ask another admin to."}
	default:
		err = s.ledger.RevokeGlobalRole(r.Context(), actor(r), u.ID, role)
		if errors.Is(err, ledger.ErrNotFound) {
			err = badForm("%s does not hold the %s role.", u.Login, role)
		}
	}
	s.finish(w, r, s.userPage(u), url.Values{"done": {"role-revoked"}, "role": {role}}, err)
}

func (s *Server) addMembership(w http.ResponseWriter, r *http.Request) {
	u, ok := s.adminUserFromPath(w, r)
	if !ok {
		return
	}
	done, err := func() (url.Values, error) {
		g, err := s.formGroup(r.Context(), r, "group", "a group")
		if err != nil {
			return nil, err
		}
		role, err := formRole(r, groupRoles)
		if err != nil {
			return nil, err
		}
		from, err := formDate(r, "from", "start", false)
		if err != nil {
			return nil, err
		}
		err = s.ledger.AddMembership(r.Context(), actor(r), ledger.Membership{UserID: u.ID, GroupID: g.ID, Role: role, From: from})
		return url.Values{"done": {"membership-added"}, "g": {g.Slug}}, err
	}()
	s.finish(w, r, s.userPage(u), done, err)
}

func (s *Server) endMembership(w http.ResponseWriter, r *http.Request) {
	u, ok := s.adminUserFromPath(w, r)
	if !ok {
		return
	}
	done, err := func() (url.Values, error) {
		slug := strings.TrimSpace(r.PostFormValue("group"))
		if slug == "" {
			return nil, badForm("Say which membership to end: its group and role.")
		}
		g, err := s.ledger.GroupBySlug(r.Context(), slug) // archived groups' memberships may end too
		if errors.Is(err, ledger.ErrNotFound) {
			return nil, badForm("There is no group %q.", slug)
		}
		if err != nil {
			return nil, err
		}
		role, err := formRole(r, groupRoles)
		if err != nil {
			return nil, err
		}
		from, err := formDate(r, "from", "start", false)
		if err != nil {
			return nil, err
		}
		day, err := formDate(r, "date", "day it ends on", false)
		if err != nil {
			return nil, err
		}
		if day.IsZero() {
			day = s.today()
		}
		m := ledger.Membership{UserID: u.ID, GroupID: g.ID, Role: role, From: from, Origin: r.PostFormValue("origin")}
		err = s.ledger.EndMembership(r.Context(), actor(r), m, day)
		if errors.Is(err, ledger.ErrNotFound) {
			return nil, badForm("%s has no such %s membership of %s in force on %s.", u.Login, role, g.Slug, day.Format(time.DateOnly))
		}
		return url.Values{"done": {"membership-ended"}, "g": {g.Slug}}, err
	}()
	s.finish(w, r, s.userPage(u), done, err)
}

// ---- Rates and budgets (finance too) ----

// resourceChoices are the resources with the unit they are priced in.
func resourceChoices() []views.Choice {
	var out []views.Choice
	for _, res := range ledger.Resources() {
		unit, _ := ledger.PricedUnit(res)
		out = append(out, views.Choice{Value: res, Label: res + " (per " + unit + ")"})
	}
	return out
}

func (s *Server) adminRates(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rates, err := s.ledger.Rates(ctx, time.Time{})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	groups, err := s.ledger.Groups(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	first, err := s.ledger.FirstOpenMonth(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	cur, _ := s.ledger.Currency()
	today := s.today()
	p := views.AdminRatesPage{Layout: s.layout(r, "Rates"), Done: doneNote(r.URL.Query()), Links: adminLinks(r),
		Currency: cur, Resources: resourceChoices(), Groups: groupChoices(groups, nil), Today: today.Format(time.DateOnly)}
	if !first.IsZero() {
		p.FirstOpen = first.Format(time.DateOnly)
	}
	for _, x := range rates {
		unit, _ := ledger.PricedUnit(x.Resource)
		group, to := "*", "—"
		if x.GroupSlug != "" {
			group = x.GroupSlug
		}
		if x.ValidTo.Before(ledger.Forever) {
			to = x.ValidTo.Format(time.DateOnly)
		}
		p.Rates = append(p.Rates, views.RateRow{ID: strconv.FormatInt(x.ID, 10), Resource: x.Resource, Cluster: x.Cluster, Partition: x.Partition,
			QoS: x.QoS, Group: group, Price: priceText(x.Price), Per: unit, From: x.ValidFrom.Format(time.DateOnly), To: to, Note: x.Note,
			Endable: x.ValidTo.After(today)})
	}
	s.render(w, r, views.AdminRates(p))
}

func (s *Server) setRate(w http.ResponseWriter, r *http.Request) {
	done, err := func() (url.Values, error) {
		rate := ledger.Rate{Resource: r.PostFormValue("resource"), Cluster: strings.TrimSpace(r.PostFormValue("cluster")),
			Partition: strings.TrimSpace(r.PostFormValue("partition")), QoS: strings.TrimSpace(r.PostFormValue("qos")),
			Note: strings.TrimSpace(r.PostFormValue("note"))}
		if !slices.Contains(ledger.Resources(), rate.Resource) {
			return nil, badForm("Choose a resource: one of %s.", strings.Join(ledger.Resources(), ", "))
		}
		if r.PostFormValue("group") != "" {
			g, err := s.formGroup(r.Context(), r, "group", "a group")
			if err != nil {
				return nil, err
			}
			rate.GroupID = g.ID
		}
		var err error
		if rate.Price, err = formDecimal(r, "price", "price", ledger.ParsePrice); err != nil {
			return nil, err
		}
		if rate.ValidFrom, err = formDate(r, "valid_from", "first day of the price", true); err != nil {
			return nil, err
		}
		_, changed, err := s.ledger.SetRate(r.Context(), actor(r), rate)
		if !changed {
			return url.Values{"done": {"rate-unchanged"}}, err
		}
		return url.Values{"done": {"rate-set"}}, err
	}()
	s.finish(w, r, page{"/admin/rates", "Rates"}, done, err)
}

func (s *Server) endRate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		s.notFound(w, r)
		return
	}
	rates, err := s.ledger.Rates(ctx, time.Time{})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	i := slices.IndexFunc(rates, func(x ledger.Rate) bool { return x.ID == id })
	if i < 0 {
		s.notFound(w, r)
		return
	}
	rate := rates[i]
	day, err := formDate(r, "date", "day the rate ends on", true)
	switch {
	case err != nil:
	case !day.After(rate.ValidFrom):
		err = badForm("The rate starts on %s: it can only end after that.", rate.ValidFrom.Format(time.DateOnly))
	case day.After(rate.ValidTo):
		err = badForm("The rate ends on %s already: a rate can end sooner, not later.", rate.ValidTo.Format(time.DateOnly))
	default:
		err = s.ledger.EndRate(ctx, actor(r), id, day)
	}
	s.finish(w, r, page{"/admin/rates", "Rates"}, url.Values{"done": {"rate-ended"}}, err)
}

// decimalText writes a non-negative amount with digits decimals and grouped thousands.
func decimalText(x *big.Rat, digits int) string {
	whole, frac, ok := strings.Cut(ledger.DecimalString(x, digits), ".")
	if !ok {
		return ledger.GroupThousands(whole)
	}
	return ledger.GroupThousands(whole) + "." + frac
}

func (s *Server) adminBudgets(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	groups, err := s.ledger.Groups(ctx)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	cur, minor := s.ledger.Currency()
	today := s.today()
	t := views.Table{Title: "Budgets in force or to come", Head: []string{"Group", "Per", "Of", "Amount", "From", "Until", "Note"},
		Numeric: []bool{false, false, false, true, false, false, false}, Empty: "No budgets yet."}
	rows, err := s.ledger.Pool().Query(ctx, `
		SELECT g.slug, g.name, b.span, coalesce(b.resource, ''), b.amount::text, b.valid_from::text, b.valid_to::text, b.note
		FROM budgets b JOIN groups g ON g.id = b.group_id
		WHERE b.valid_to > $1::date
		ORDER BY g.path, b.span, b.resource NULLS FIRST, b.valid_from`, today.Format(time.DateOnly))
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	var slug, name, span, resource, amount, from, to, note string
	_, err = pgx.ForEachRow(rows, []any{&slug, &name, &span, &resource, &amount, &from, &to, &note}, func() error {
		x, _ := new(big.Rat).SetString(amount)
		of, amt := "money", decimalText(x, minor)+" "+cur
		if resource != "" {
			unit, _ := ledger.PricedUnit(resource)
			of, amt = resource, strings.TrimSuffix(decimalText(x, 2), ".00")+" "+unit+"s"
		}
		if to == "infinity" {
			to = "—"
		}
		t.Rows = append(t.Rows, views.Row{Link: "/groups/" + slug, Cells: []string{name, strings.ReplaceAll(span, "_", " "), of, amt, from, to, note}})
		return nil
	})
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, views.AdminBudgets(views.AdminBudgetsPage{Layout: s.layout(r, "Budgets"), Done: doneNote(r.URL.Query()),
		Links: adminLinks(r), Currency: cur, Resources: resourceChoices(), Groups: groupChoices(groups, nil),
		Today: today.Format(time.DateOnly), Budgets: t}))
}

func (s *Server) setBudget(w http.ResponseWriter, r *http.Request) {
	done, err := func() (url.Values, error) {
		g, err := s.formGroup(r.Context(), r, "group", "a group")
		if err != nil {
			return nil, err
		}
		b := ledger.Budget{GroupID: g.ID, Span: r.PostFormValue("span"), Resource: r.PostFormValue("resource"),
			Note: strings.TrimSpace(r.PostFormValue("note"))}
		if b.Span != ledger.SpanMonth && b.Span != ledger.SpanFiscalYear {
			return nil, badForm("Choose whether the budget is per month or per fiscal year.")
		}
		if b.Resource != "" && !slices.Contains(ledger.Resources(), b.Resource) {
			return nil, badForm("Choose money or a resource: one of %s.", strings.Join(ledger.Resources(), ", "))
		}
		if b.Amount, err = formDecimal(r, "amount", "amount", func(v string) (*big.Rat, error) {
			return ledger.ParseQuantity(v, "amount")
		}); err != nil {
			return nil, err
		}
		if b.ValidFrom, err = formDate(r, "valid_from", "first day of the budget", true); err != nil {
			return nil, err
		}
		_, err = s.ledger.SetBudget(r.Context(), actor(r), b)
		return url.Values{"done": {"budget-set"}, "g": {g.Slug}}, err
	}()
	s.finish(w, r, page{"/admin/budgets", "Budgets"}, done, err)
}
