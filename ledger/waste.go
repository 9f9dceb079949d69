package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Waste has one definition, here. A job's waste is what it reserved and did not
// use, priced at the job's own rates:
//
//   - idle cores: allocated − used core-seconds (core-hours × (1 − CPU efficiency));
//   - memory reserved above the peak: allocated − peak byte-seconds;
//   - idle GPUs: allocated − busy GPU-seconds, where utilisation is known. A source
//     that does not measure GPU use records used = allocated (the Slurm collector
//     does so without gres/gpuutil), so an unmeasured GPU is never waste;
//   - storage is never waste, nor is Slurm's billing TRES (it measures a
//     reservation, not a use).
//
// Each resource's idle quantity (never below zero: a part that used more than it
// reserved wasted nothing) is priced at the price of the charge that priced that
// usage: the charge of the part's own key (day, group, user, cluster, partition,
// QoS, resource), which holds exactly one rate — the month's own usage charge, or,
// for usage that arrived after its month closed, the late charge that billed it.
// Unpriced usage has no waste in money. Rating writes it twice from pricedParts:
// per job into group_top_jobs (the dashboards' top jobs by waste) and per group,
// child and person into the group summaries (UsageRow.Waste: the leaderboards and
// the efficiency table), so every page adds up the same parts.

// idleSQL is a usage day part u's wasted quantity in base units.
const idleSQL = `CASE WHEN u.resource IN ('cpu', 'memory', 'gpu') THEN greatest(u.allocated - u.used, 0) ELSE 0 END`

// pricedParts is the SQL of every usage day part that starts in [from, to) (SQL
// expressions: site-local month bounds) with its cost and waste in currency, each
// priced by the charges whose usage month is month (an SQL expression: the month's
// first day) for the part's own key: the usage charge's price, or the late
// charge's where usage came after the month closed (a key has one rate, so they
// agree where both exist). The charges are grouped by key first, one price each,
// so the join hashes a month's parts against its keys and never counts a part twice.
// Storage is not a job and never waste; unassigned and unpriced usage is left out
// (neither has a price to count).
func pricedParts(from, to, month string) string {
	return `
		SELECT u.source, u.cluster, u.external_id, u.record_start, u.record_end, u.day, u.group_id, u.user_id,
		       u.job_name, u.partition, u.state, u.resource, u.allocated, u.used,
		       (u.quantity * c.price / r.per_unit)::float8 AS cost,
		       (` + idleSQL + ` * c.price / r.per_unit)::float8 AS waste
		FROM usage u
		JOIN (SELECT day, group_id, coalesce(user_id, 0) AS user_id, cluster, partition, qos, resource,
		             coalesce(max(price) FILTER (WHERE kind = 'usage'), max(price)) AS price
		      FROM charges
		      WHERE usage_month = ` + month + ` AND group_id IS NOT NULL AND price IS NOT NULL
		      GROUP BY day, group_id, coalesce(user_id, 0), cluster, partition, qos, resource) c
		     ON c.day = u.day AND c.group_id = u.group_id AND c.user_id = coalesce(u.user_id, 0) AND c.cluster = u.cluster
		     AND c.partition = u.partition AND c.qos = u.qos AND c.resource = u.resource
		JOIN resources r ON r.name = u.resource
		WHERE u.start_time >= ` + from + ` AND u.start_time < ` + to + ` AND u.group_id IS NOT NULL
		  AND u.resource <> 'storage'`
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
	// Waste is the money its jobs reserved and did not use (see the top of this
	// file), priced at each job's own rates.
	Waste float64
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

// groupUsage reads the summaries (see GroupUsage).
func (l *Ledger) groupUsage(ctx context.Context, groupID int64, from, to time.Time, byUser bool) ([]UsageRow, error) {
	dim := "child"
	if byUser {
		dim = "user"
	}
	table, col, lo, hi := l.summaryTable(from, to)
	rows, err := l.pool.Query(ctx, `
		SELECT key_id,
		       (sum(allocated) FILTER (WHERE resource = 'cpu') / 3600)::float8,
		       (sum(used) FILTER (WHERE resource = 'cpu') / 3600)::float8,
		       (sum(quantity) FILTER (WHERE resource = 'gpu') / 3600)::float8,
		       (sum(allocated) FILTER (WHERE resource = 'memory') / 3.6e12)::float8,
		       (sum(used) FILTER (WHERE resource = 'memory') / 3.6e12)::float8,
		       (sum(quantity) FILTER (WHERE resource = 'storage') / 2.592e18)::float8,
		       coalesce(sum(records) FILTER (WHERE resource = 'cpu'), 0)::bigint,
		       coalesce(sum(waste), 0)::float8
		FROM `+table+`
		WHERE group_id = $1 AND dim = $2 AND `+col+` >= $3 AND `+col+` <= $4
		GROUP BY key_id`, groupID, dim, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("usage of group %d: %w", groupID, err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (UsageRow, error) {
		var u UsageRow
		var k int64
		var cpu, cpuUsed, gpu, mem, memUsed, storage *float64
		if err := row.Scan(&k, &cpu, &cpuUsed, &gpu, &mem, &memUsed, &storage, &u.Jobs, &u.Waste); err != nil {
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

// TopJob is one of a subtree's most expensive or most wasteful jobs.
type TopJob struct {
	Source, Cluster, ExternalID string
	GroupID, UserID             int64
	JobName, Partition, State   string
	Start, End                  time.Time
	Cost, Waste                 float64
	CPUEff, MemEff              *float64
}

// topJobs reads the top jobs (see TopJobs).
func (l *Ledger) topJobs(ctx context.Context, groupID int64, from, to time.Time, byWaste bool, n int) ([]TopJob, error) {
	order := "t.cost"
	if byWaste {
		order = "t.waste"
	}
	mf := time.Date(from.In(l.loc).Year(), from.In(l.loc).Month(), 1, 0, 0, 0, 0, time.UTC)
	last := to.In(l.loc).Add(-time.Second)
	mt := time.Date(last.Year(), last.Month(), 1, 0, 0, 0, 0, time.UTC)
	rows, err := l.pool.Query(ctx, `
		SELECT t.source, t.cluster, t.external_id, t.group_id, coalesce(t.user_id, 0), t.job_name, t.partition, t.state,
		       t.start_time, t.end_time, t.cost, t.waste, t.cpu_eff, t.mem_eff
		FROM group_top_jobs t JOIN groups g ON g.id = t.group_id
		WHERE t.month >= $2 AND t.month <= $3 AND g.path <@ (SELECT path FROM groups WHERE id = $1)
		  AND `+order+` > 0
		ORDER BY `+order+` DESC, t.external_id LIMIT $4`, groupID, mf, mt, n)
	if err != nil {
		return nil, fmt.Errorf("top jobs of group %d: %w", groupID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TopJob, error) {
		var j TopJob
		err := r.Scan(&j.Source, &j.Cluster, &j.ExternalID, &j.GroupID, &j.UserID, &j.JobName, &j.Partition, &j.State,
			&j.Start, &j.End, &j.Cost, &j.Waste, &j.CPUEff, &j.MemEff)
		return j, err
	})
}
