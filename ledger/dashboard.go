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
}

// GroupSpend reads the dashboard's money for groupID's subtree over [from, to)
// (local midnights).
func (l *Ledger) GroupSpend(ctx context.Context, groupID int64, from, to time.Time) (Spend, error) {
	var sp Spend
	rows, err := l.pool.Query(ctx, `
		WITH g AS (SELECT id, path FROM groups WHERE id = $1),
		sub AS (SELECT s.id, CASE WHEN s.id = g.id THEN 0 ELSE subpath(s.path, nlevel(g.path), 1)::text::bigint END AS child
		        FROM groups s, g WHERE s.path <@ g.path)
		SELECT grouping(c.day, c.resource)::int AS g_day, grouping(sub.child)::int AS g_child,
		       grouping(c.user_id)::int AS g_user, grouping(c.cluster)::int AS g_cluster,
		       grouping(c.cluster, c.partition)::int AS g_part, grouping(c.resource)::int AS g_res,
		       coalesce(c.day::text, ''), coalesce(c.resource, ''), coalesce(sub.child, 0), coalesce(c.user_id, 0),
		       coalesce(c.cluster, ''), coalesce(c.partition, ''),
		       sum(c.value / r.per_unit)::float8, sum(c.quantity / r.per_unit)::float8
		FROM charges c JOIN sub ON sub.id = c.group_id JOIN resources r ON r.name = c.resource
		WHERE c.day >= $2 AND c.day < $3
		GROUP BY GROUPING SETS ((c.day, c.resource), (sub.child), (c.user_id), (c.cluster), (c.cluster, c.partition), (c.resource))`,
		groupID, from.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		return sp, fmt.Errorf("spend of group %d: %w", groupID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var gDay, gChild, gUser, gCluster, gPart, gRes int
		var row SpendRow
		var day, resource, cluster, partition string
		if err := rows.Scan(&gDay, &gChild, &gUser, &gCluster, &gPart, &gRes, &day, &resource, &row.GroupID, &row.UserID,
			&cluster, &partition, &row.Amount, &row.Quantity); err != nil {
			return sp, fmt.Errorf("spend of group %d: %w", groupID, err)
		}
		switch {
		case gDay == 0:
			row.Key, row.Resource = day, resource
			sp.ByDay = append(sp.ByDay, row)
		case gChild == 0:
			sp.BySubgroup = append(sp.BySubgroup, row)
		case gUser == 0:
			sp.ByUser = append(sp.ByUser, row)
		case gPart == 0:
			row.Key = cluster + "/" + partition
			sp.ByPart = append(sp.ByPart, row)
		case gCluster == 0:
			row.Key = cluster
			sp.ByCluster = append(sp.ByCluster, row)
		case gRes == 0:
			row.Key, row.Resource = resource, resource
			sp.ByResource = append(sp.ByResource, row)
			sp.Total += row.Amount
		}
	}
	return sp, rows.Err()
}

// UsageRow is a member's or subgroup's usage over a window, from the rollups.
type UsageRow struct {
	UserID  int64 // by user (0: unknown)
	GroupID int64 // by subgroup: the child (0: the group itself)
	// Quantities in priced units.
	CoreHours, CoreHoursUsed float64
	GPUHours                 float64
	MemGBHours, MemGBUsed    float64
	StorageTBMonths          float64
	Jobs                     int64
}

// CPUEfficiency is used / allocated core-hours (0 without any).
func (u UsageRow) CPUEfficiency() float64 {
	if u.CoreHours == 0 {
		return 0
	}
	return u.CoreHoursUsed / u.CoreHours
}

// MemEfficiency is peak / allocated memory (0 without any).
func (u UsageRow) MemEfficiency() float64 {
	if u.MemGBHours == 0 {
		return 0
	}
	return u.MemGBUsed / u.MemGBHours
}

// GroupUsage reads the subtree's usage per user (byUser) or per child group over
// site-local days [from, to).
func (l *Ledger) GroupUsage(ctx context.Context, groupID int64, from, to time.Time, byUser bool) ([]UsageRow, error) {
	key := `coalesce(r.user_id, 0)`
	if !byUser {
		key = `sub.child`
	}
	rows, err := l.pool.Query(ctx, `
		WITH g AS (SELECT id, path FROM groups WHERE id = $1),
		sub AS (SELECT s.id, CASE WHEN s.id = g.id THEN 0 ELSE subpath(s.path, nlevel(g.path), 1)::text::bigint END AS child
		        FROM groups s, g WHERE s.path <@ g.path)
		SELECT `+key+`,
		       (sum(r.allocated) FILTER (WHERE r.resource = 'cpu') / 3600)::float8,
		       (sum(r.used) FILTER (WHERE r.resource = 'cpu') / 3600)::float8,
		       (sum(r.quantity) FILTER (WHERE r.resource = 'gpu') / 3600)::float8,
		       (sum(r.allocated) FILTER (WHERE r.resource = 'memory') / 3.6e12)::float8,
		       (sum(r.used) FILTER (WHERE r.resource = 'memory') / 3.6e12)::float8,
		       (sum(r.quantity) FILTER (WHERE r.resource = 'storage') / 2.592e18)::float8,
		       coalesce(sum(r.records) FILTER (WHERE r.resource = 'cpu' AND r.source = 'slurm'), 0)::bigint
		FROM rollup_daily r JOIN sub ON sub.id = r.group_id
		WHERE r.day >= $2 AND r.day < $3
		GROUP BY 1`, groupID, from.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("usage of group %d: %w", groupID, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (UsageRow, error) {
		var u UsageRow
		var k int64
		var cpu, cpuUsed, gpu, mem, memUsed, storage *float64
		if err := row.Scan(&k, &cpu, &cpuUsed, &gpu, &mem, &memUsed, &storage, &u.Jobs); err != nil {
			return u, err
		}
		if byUser {
			u.UserID = k
		} else {
			u.GroupID = k
		}
		for _, p := range []struct {
			dst *float64
			src *float64
		}{{&u.CoreHours, cpu}, {&u.CoreHoursUsed, cpuUsed}, {&u.GPUHours, gpu}, {&u.MemGBHours, mem}, {&u.MemGBUsed, memUsed}, {&u.StorageTBMonths, storage}} {
			if p.src != nil {
				*p.dst = *p.src
			}
		}
		return u, nil
	})
}

// UserNames maps user ids to their display names (login when none).
func (l *Ledger) UserNames(ctx context.Context, ids []int64) (map[int64]User, error) {
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
