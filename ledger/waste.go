package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

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
		       coalesce(sum(records) FILTER (WHERE resource = 'cpu'), 0)::bigint
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
