package ledger_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Children lists only a group's direct children; LeaderboardOpen reads the group's
// flag and says ErrNotFound for no group.
func TestChildrenAndLeaderboardOpen(t *testing.T) {
	s := newSetup(t, "UTC")
	dept := group(t, s, 0, "dept", false)
	a := group(t, s, dept.ID, "lab-a", true)
	b := group(t, s, dept.ID, "lab-b", true)
	group(t, s, a.ID, "sub", false)
	kids, err := s.l.Children(s.ctx, dept.ID)
	if err != nil {
		t.Fatal(err)
	}
	var slugs []string
	for _, k := range kids {
		slugs = append(slugs, k.Slug)
	}
	slices.Sort(slugs)
	if !slices.Equal(slugs, []string{"lab-a", "lab-b"}) {
		t.Errorf("children of dept: %v", slugs)
	}
	if kids, err := s.l.Children(s.ctx, b.ID); err != nil || len(kids) != 0 {
		t.Errorf("children of lab-b: %v, %v", kids, err)
	}
	if open, err := s.l.LeaderboardOpen(s.ctx, a.ID); err != nil || open {
		t.Errorf("new group's leaderboard open: %v, %v", open, err)
	}
	if _, err := s.pool.Exec(s.ctx, `UPDATE groups SET open_leaderboard = true WHERE id = $1`, a.ID); err != nil {
		t.Fatal(err)
	}
	if open, err := s.l.LeaderboardOpen(s.ctx, a.ID); err != nil || !open {
		t.Errorf("opened leaderboard: %v, %v", open, err)
	}
	if _, err := s.l.LeaderboardOpen(s.ctx, 999_999); !errors.Is(err, ledger.ErrNotFound) {
		t.Errorf("no group: %v, want ErrNotFound", err)
	}
}
