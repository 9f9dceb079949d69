package server_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

func e2eMember(t *testing.T, tb *e2eTab) {
	m := tb.signIn("member", "Member of ")
	lab := strings.TrimPrefix(m.Role, "Member of ")
	home := tb.homeCard(lab)
	if !strings.Contains(home.Text, "Your rank") {
		t.Errorf("the member's home card of %s has no rank:\n%s", lab, home.Text)
	}
	slug := strings.TrimPrefix(home.Href, "/groups/")

	// The leaderboard hides others' names and marks their own row.
	tb.follow("member-leaderboard", `main section.group-card a[href^="/groups/`+slug+`/leaderboard"]`)
	if note := tb.text("main p.note"); !strings.Contains(note, "Names are shown to the group's PIs and managers") {
		t.Errorf("the member's leaderboard does not say names are hidden: %q", note)
	}
	members := tb.card("Members")
	me := "You (" + m.Login + ")"
	found := false
	for _, r := range members.Rows {
		switch {
		case len(r.Cells) < 2:
			t.Errorf("short leaderboard row %q", r.Cells)
		case r.Cells[1] == me:
			found = true
		case r.Cells[1] == "(no person: shared storage, services)":
			// Usage no person ran is nobody's name to hide (server.noUser).
		case r.Cells[1] != "—":
			t.Errorf("the member sees a name on the leaderboard: %q", r.Cells)
		}
	}
	if !found {
		t.Errorf("the member's leaderboard has no row %q:\n%s", me, members.Text)
	}

	// The dashboard, without member detail or statements.
	tb.follow("member-dashboard", `main p.lede a[href="/groups/`+slug+`"]`)
	tb.waitVisible("figure.chart svg[role=img]")
	if titles := cardTitles(tb.cards()); slices.Contains(titles, "By user") || !slices.Contains(titles, "By resource") {
		t.Errorf("the member's dashboard tables: %q (want By resource and no By user)", titles)
	}
	if links := tb.texts(`main p.lede a[href$="/statements"]`); len(links) > 0 {
		t.Errorf("the member is offered statements: %q", links)
	}

	// Pages that are not theirs.
	tb.open("member-admin", "/admin", http.StatusForbidden)
	if h := tb.text("main h1"); h != "Not allowed" {
		t.Errorf("/admin as a member: %q, want Not allowed", h)
	}
	var other string
	err := tb.e.f.l.Pool().QueryRow(tb.ctx, `
		SELECT g.slug FROM groups g
		WHERE g.kind = 'lab' AND NOT EXISTS (
			SELECT 1 FROM memberships ms JOIN users u ON u.id = ms.user_id JOIN groups mg ON mg.id = ms.group_id
			WHERE u.login = $1 AND (g.path <@ mg.path OR mg.path <@ g.path))
		ORDER BY g.path LIMIT 1`, m.Login).Scan(&other)
	if err != nil {
		t.Fatalf("find a lab %s is not in: %v", m.Login, err)
	}
	tb.open("member-other-group", "/groups/"+other, http.StatusNotFound)
	if h := tb.text("main h1"); h != "Not found" {
		t.Errorf("/groups/%s as a member of %s: %q, want Not found", other, slug, h)
	}
	tb.signOut()
}
