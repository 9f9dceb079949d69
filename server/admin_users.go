package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// The admin's people (/admin/users): finding and adding people, global roles, and
// memberships in groups.

func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	const limit = 200
	users, total, err := s.ledger.FindUsers(r.Context(), q, s.today(), limit)
	if err != nil {
		return err
	}
	t := views.Table{Title: "People", Head: []string{"Login", "Name", "E-mail", "Global roles", "Memberships today"}, Empty: "Nobody matches."}
	if q != "" {
		t.Title = "People matching “" + q + "”"
	}
	for _, u := range users {
		t.Rows = append(t.Rows, views.Row{Link: "/admin/users/" + url.PathEscape(u.Login), Cells: []string{u.Login, u.DisplayName, u.Email, u.Roles, u.Memberships}})
	}
	if total > len(users) {
		t.Note = fmt.Sprintf("The first %d of %d: narrow the search to find the others.", len(users), total)
	}
	return s.render(w, r, views.AdminUsers(views.AdminUsersPage{Layout: s.layout(r, "Users"), Done: doneNote(r.URL.Query()), Links: adminLinks(r),
		Query: q, Table: t}))
}

func (s *Server) addUser(w http.ResponseWriter, r *http.Request) error {
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
	return s.finish(w, r, back, done, err)
}

// adminUserFromPath is the {login} of an admin route; one that is not there is
// not found.
func (s *Server) adminUserFromPath(r *http.Request) (ledger.User, error) {
	login, err := url.PathUnescape(chi.URLParam(r, "login"))
	if err != nil {
		return ledger.User{}, errNotFound
	}
	return s.ledger.UserByLogin(r.Context(), login)
}

var (
	globalRoles = []string{ledger.RoleAdmin, ledger.RoleFinance}
	groupRoles  = []string{ledger.RolePI, ledger.RoleManager, ledger.RoleMember, ledger.RoleViewer}
)

func (s *Server) adminUser(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	u, err := s.adminUserFromPath(r)
	if err != nil {
		return err
	}
	roles, err := s.ledger.GlobalRoles(ctx, u.ID)
	if err != nil {
		return err
	}
	today := s.today()
	memberships, err := s.ledger.UserMemberships(ctx, u.ID, today)
	if err != nil {
		return err
	}
	var ms []views.MembershipRow
	for _, m := range memberships {
		x := views.MembershipRow{GroupSlug: m.GroupSlug, GroupName: m.GroupName, Role: m.Role,
			From: "always", To: "—", Origin: m.Origin, Current: m.Current}
		if !m.From.IsZero() {
			x.From = m.From.Format(time.DateOnly)
			x.FromValue = x.From
		}
		if !m.To.IsZero() {
			x.To = m.To.Format(time.DateOnly)
		}
		ms = append(ms, x)
	}
	groups, err := s.ledger.Groups(ctx)
	if err != nil {
		return err
	}
	var grantable []string
	for _, role := range globalRoles {
		if !slices.Contains(roles, role) {
			grantable = append(grantable, role)
		}
	}
	return s.render(w, r, views.AdminUser(views.AdminUserPage{Layout: s.layout(r, u.Login+" · Users"), Done: doneNote(r.URL.Query()),
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

func (s *Server) grantRole(w http.ResponseWriter, r *http.Request) error {
	u, err := s.adminUserFromPath(r)
	if err != nil {
		return err
	}
	role, err := formRole(r, globalRoles)
	if err == nil {
		err = s.ledger.GrantGlobalRole(r.Context(), actor(r), u.ID, role)
	}
	return s.finish(w, r, s.userPage(u), url.Values{"done": {"role-granted"}, "role": {role}}, err)
}

func (s *Server) revokeRole(w http.ResponseWriter, r *http.Request) error {
	u, err := s.adminUserFromPath(r)
	if err != nil {
		return err
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
	return s.finish(w, r, s.userPage(u), url.Values{"done": {"role-revoked"}, "role": {role}}, err)
}

func (s *Server) addMembership(w http.ResponseWriter, r *http.Request) error {
	u, err := s.adminUserFromPath(r)
	if err != nil {
		return err
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
	return s.finish(w, r, s.userPage(u), done, err)
}

func (s *Server) endMembership(w http.ResponseWriter, r *http.Request) error {
	u, err := s.adminUserFromPath(r)
	if err != nil {
		return err
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
	return s.finish(w, r, s.userPage(u), done, err)
}
