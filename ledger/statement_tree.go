package ledger

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// billingTree is the group tree as statements need it.
type billingTree struct {
	groups map[int64]*Group
	kids   map[int64][]int64
	bill   map[int64]int64 // group → its nearest billable ancestor-or-self (0: none)
	slugs  map[int64]string
	users  map[int64]User
	// rateLabel says what sets a rate apart from the list price of its resource and
	// cluster ("QoS scavenger", "partition gpu", "chemistry rate"), for line
	// descriptions; empty for a plain rate.
	rateLabel map[int64]string
}

func loadRateLabels(ctx context.Context, tx pgx.Tx, t *billingTree) error {
	rows, err := tx.Query(ctx, `SELECT id, partition, qos, coalesce(group_id, 0) FROM rates`)
	if err != nil {
		return fmt.Errorf("read rates: %w", err)
	}
	defer rows.Close()
	t.rateLabel = map[int64]string{}
	for rows.Next() {
		var id, group int64
		var partition, qos string
		if err := rows.Scan(&id, &partition, &qos, &group); err != nil {
			return err
		}
		var parts []string
		if qos != Any {
			parts = append(parts, "QoS "+qos)
		}
		if partition != Any {
			parts = append(parts, "partition "+partition)
		}
		if g := t.groups[group]; g != nil {
			parts = append(parts, g.Slug+" rate")
		}
		t.rateLabel[id] = strings.Join(parts, ", ")
	}
	return rows.Err()
}

func (l *Ledger) loadBillingTree(ctx context.Context, q pgx.Tx) (*billingTree, error) {
	rows, err := q.Query(ctx, `SELECT `+groupColumns+` FROM groups ORDER BY nlevel(path), path`)
	if err != nil {
		return nil, fmt.Errorf("load groups: %w", err)
	}
	groups, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Group, error) { return scanGroup(r) })
	if err != nil {
		return nil, fmt.Errorf("load groups: %w", err)
	}
	t := &billingTree{groups: map[int64]*Group{}, kids: map[int64][]int64{}, bill: map[int64]int64{},
		slugs: map[int64]string{}, users: map[int64]User{}}
	for i := range groups { // parents come first
		g := &groups[i]
		t.groups[g.ID] = g
		t.kids[g.ParentID] = append(t.kids[g.ParentID], g.ID)
		if g.Billable {
			t.bill[g.ID] = g.ID
		} else {
			t.bill[g.ID] = t.bill[g.ParentID]
		}
		if p, ok := t.slugs[g.ParentID]; ok {
			t.slugs[g.ID] = p + "/" + g.Slug
		} else {
			t.slugs[g.ID] = g.Slug
		}
	}
	rows, err = q.Query(ctx, `SELECT id, login, display_name, email FROM users`)
	if err != nil {
		return nil, fmt.Errorf("load users: %w", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) {
		var u User
		err := r.Scan(&u.ID, &u.Login, &u.DisplayName, &u.Email)
		return u, err
	})
	if err != nil {
		return nil, fmt.Errorf("load users: %w", err)
	}
	for _, u := range users {
		t.users[u.ID] = u
	}
	return t, nil
}
