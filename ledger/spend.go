package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Dashboards read money from the charges (as of the last rating) and quantities
// from the daily rollups — never the raw usage rows — so a page costs the same for a
// month of a small lab as for a year of the whole institution's 10 million jobs.
// Amounts here are for display (float64 currency, exact to far below a cent at
// these sizes); statements are where money is exact.

// SpendRow is money and quantity by one dimension.
type SpendRow struct {
	Key      string // the dimension's value: a day "2026-11-03", a resource, cluster, partition
	Resource string // with ByDayResource: the resource of the day's share
	GroupID  int64  // with BySubgroup: the child of the group that holds the usage (0: the group itself)
	UserID   int64  // with ByUser (0: unknown)
	Amount   float64
	Quantity float64 // in the priced unit (with a single resource)
}

// Spend is a group's subtree's charges over site-local days [from, to), broken down
// every way the dashboard shows, from one scan.
type Spend struct {
	Total      float64
	ByDay      []SpendRow // Key = day, Resource set: stacked by resource
	BySubgroup []SpendRow
	ByUser     []SpendRow
	ByCluster  []SpendRow
	ByPart     []SpendRow // Key = "cluster/partition"
	ByResource []SpendRow // with Quantity in the priced unit
	// ByDayCluster (dim "cluster-day"): Key = day, Resource holds the cluster.
	ByDayCluster []SpendRow
}

// groupSpend reads the summaries (see GroupSpend).
func (l *Ledger) groupSpend(ctx context.Context, groupID int64, from, to time.Time, dims []string) (Spend, error) {
	var sp Spend
	// By day and resource (the chart, the totals): the daily summaries; the other
	// breakdowns from the monthly ones when the window allows (summaryTable).
	table, col, lo, hi := l.summaryTable(from, to)
	rows, err := l.pool.Query(ctx, `
		SELECT 'res', s.day::text, 0, '', s.resource, sum(s.amount), sum(s.quantity) / r.per_unit::float8
		FROM group_summary s JOIN resources r ON r.name = s.resource
		WHERE s.group_id = $1 AND s.dim = 'res' AND s.day >= $2 AND s.day < $3 AND 'res' = ANY($4)
		GROUP BY s.day, s.resource, r.per_unit
		UNION ALL
		SELECT 'total-res', '', 0, '', s.resource, sum(s.amount), sum(s.quantity) / r.per_unit::float8
		FROM group_summary s JOIN resources r ON r.name = s.resource
		WHERE s.group_id = $1 AND s.dim = 'res' AND s.day >= $2 AND s.day < $3 AND 'res' = ANY($4)
		GROUP BY s.resource, r.per_unit
		UNION ALL
		SELECT 'cluster-day', s.day::text, 0, s.key_text, '', sum(s.amount), 0
		FROM group_summary s
		WHERE s.group_id = $1 AND s.dim = 'cluster' AND s.day >= $2 AND s.day < $3 AND 'cluster-day' = ANY($4)
		GROUP BY s.day, s.key_text
		UNION ALL
		SELECT s.dim, '', s.key_id, s.key_text, s.resource, sum(s.amount), 0
		FROM `+table+` s
		WHERE s.group_id = $1 AND s.dim = ANY($4) AND s.dim <> 'res' AND s.`+col+` >= $5 AND s.`+col+` <= $6
		GROUP BY s.dim, s.key_id, s.key_text, s.resource`,
		groupID, from.Format(time.DateOnly), to.Format(time.DateOnly), dims, lo, hi)
	if err != nil {
		return sp, fmt.Errorf("spend of group %d: %w", groupID, err)
	}
	defer rows.Close()
	byKey := map[string]map[string]*SpendRow{}
	add := func(dim, key string, r SpendRow) {
		if byKey[dim] == nil {
			byKey[dim] = map[string]*SpendRow{}
		}
		if x := byKey[dim][key]; x != nil {
			x.Amount += r.Amount
			return
		}
		rr := r
		byKey[dim][key] = &rr
	}
	for rows.Next() {
		var dim, day, keyText, resource string
		var keyID int64
		var amount, quantity float64
		if err := rows.Scan(&dim, &day, &keyID, &keyText, &resource, &amount, &quantity); err != nil {
			return sp, fmt.Errorf("spend of group %d: %w", groupID, err)
		}
		switch dim {
		case "res":
			sp.ByDay = append(sp.ByDay, SpendRow{Key: day, Resource: resource, Amount: amount, Quantity: quantity})
		case "cluster-day":
			sp.ByDayCluster = append(sp.ByDayCluster, SpendRow{Key: day, Resource: keyText, Amount: amount})
		case "total-res":
			sp.ByResource = append(sp.ByResource, SpendRow{Key: resource, Resource: resource, Amount: amount, Quantity: quantity})
			sp.Total += amount
		case "child":
			add(dim, fmt.Sprint(keyID), SpendRow{GroupID: keyID, Amount: amount})
		case "user":
			add(dim, fmt.Sprint(keyID), SpendRow{UserID: keyID, Amount: amount})
		case "cluster", "part":
			add(dim, keyText, SpendRow{Key: keyText, Amount: amount})
		}
	}
	if err := rows.Err(); err != nil {
		return sp, err
	}
	for dim, dst := range map[string]*[]SpendRow{"child": &sp.BySubgroup, "user": &sp.ByUser, "cluster": &sp.ByCluster, "part": &sp.ByPart} {
		for _, r := range byKey[dim] {
			*dst = append(*dst, *r)
		}
	}
	return sp, nil
}

// UserNames maps user ids to their display names (login when none).
//
// The answer is cached under the summaries' generation, which rating and every
// change of a person's names (UpsertUser) move on; callers share the map and must
// not change it. A dashboard names every person of its group on each view.
func (l *Ledger) UserNames(ctx context.Context, ids []int64) (map[int64]User, error) {
	return cachedRead(ctx, l, cacheKey("users", 0, time.Time{}, time.Time{}, fmt.Sprint(ids)), func() (map[int64]User, error) {
		return l.userNames(ctx, ids)
	})
}

func (l *Ledger) userNames(ctx context.Context, ids []int64) (map[int64]User, error) {
	rows, err := l.pool.Query(ctx, `SELECT id, login, display_name, email FROM users WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("user names: %w", err)
	}
	out := map[int64]User{}
	for rows.Next() {
		var u User
		if err := rows.Scan(&u.ID, &u.Login, &u.DisplayName, &u.Email); err != nil {
			rows.Close()
			return nil, err
		}
		out[u.ID] = u
	}
	return out, rows.Err()
}

// StorageUse is a subtree's storage on one file system against its quotas.
type StorageUse struct {
	Filesystem string
	Day        time.Time // the snapshot's day
	Bytes      float64
	Quota      float64 // sum of the owners' quotas (0: none reported)
	Owners     int
	OverQuota  int // owners at or above 90% of their quota
}

// groupStorage reads the storage snapshots of the latest month up to month (see
// GroupStorage).
func (l *Ledger) groupStorage(ctx context.Context, groupID int64, month time.Time) ([]StorageUse, error) {
	rows, err := l.pool.Query(ctx, `
		WITH m AS (SELECT max(month) AS month FROM group_storage WHERE month <= $2)
		SELECT s.filesystem, max(s.day), sum(s.bytes), coalesce(sum(s.quota), 0), count(*),
		       count(*) FILTER (WHERE s.quota > 0 AND s.bytes >= 0.9 * s.quota)
		FROM group_storage s JOIN m ON s.month = m.month JOIN groups g ON g.id = s.group_id
		WHERE g.path <@ (SELECT path FROM groups WHERE id = $1)
		GROUP BY s.filesystem ORDER BY sum(s.bytes) DESC`, groupID, month)
	if err != nil {
		return nil, fmt.Errorf("storage of group %d: %w", groupID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (StorageUse, error) {
		var s StorageUse
		err := r.Scan(&s.Filesystem, &s.Day, &s.Bytes, &s.Quota, &s.Owners, &s.OverQuota)
		return s, err
	})
}
