package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// summarise rebuilds the group summaries (migration 000003: every group's whole
// subtree per day, summed by resource, child group, user, cluster and partition) for
// the site-local days of month: money from every charge of the month's usage (late
// rows included), quantities from the daily rollups. It runs inside rating, so the
// dashboards are exactly as fresh as the charges.
func (l *Ledger) summarise(ctx context.Context, tx pgx.Tx, month time.Time) (int64, error) {
	began := time.Now()
	from := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 1, 0)
	if _, err := tx.Exec(ctx, `DELETE FROM group_summary WHERE day >= $1 AND day < $2`, from, to); err != nil {
		return 0, fmt.Errorf("clear group summaries: %w", err)
	}
	tag, err := tx.Exec(ctx, `
		WITH base AS (
			SELECT day, group_id, user_id, cluster, partition, resource,
			       sum(amount) AS amount, sum(quantity) AS quantity, sum(allocated) AS allocated,
			       sum(used) AS used, sum(records) AS records, sum(waste) AS waste
			FROM (
				SELECT c.day, c.group_id, coalesce(c.user_id, 0) AS user_id, c.cluster, c.partition, c.resource,
				       c.value / r.per_unit AS amount, 0 AS quantity, 0 AS allocated, 0 AS used, 0 AS records, 0 AS waste
				FROM charges c JOIN resources r ON r.name = c.resource
				WHERE c.usage_month = $1 AND c.group_id IS NOT NULL
				UNION ALL
				SELECT day, group_id, coalesce(user_id, 0), cluster, partition, resource,
				       0, quantity, allocated, used, records, 0
				FROM rollup_daily
				WHERE day >= $1 AND day < $2 AND group_id IS NOT NULL
				UNION ALL
				SELECT day, group_id, coalesce(user_id, 0), cluster, partition, resource, 0, 0, 0, 0, 0, waste
				FROM (`+pricedParts("$3", "$4", "$1")+`) p
				WHERE waste > 0
			) x
			GROUP BY 1, 2, 3, 4, 5, 6
		), anc AS (
			SELECT s.id AS group_id, subpath(s.path, i - 1, 1)::text::bigint AS ancestor,
			       CASE WHEN i < nlevel(s.path) THEN subpath(s.path, i, 1)::text::bigint ELSE 0 END AS child
			FROM groups s, generate_series(1, nlevel(s.path)) i
		)
		INSERT INTO group_summary (day, group_id, dim, key_id, key_text, resource, amount, quantity, allocated, used, records, waste)
		SELECT b.day, a.ancestor,
		       CASE WHEN grouping(a.child) = 0 THEN 'child'
		            WHEN grouping(b.user_id) = 0 THEN 'user'
		            WHEN grouping(b.partition) = 0 THEN 'part'
		            WHEN grouping(b.cluster) = 0 THEN 'cluster'
		            ELSE 'res' END,
		       coalesce(a.child, b.user_id, 0),
		       CASE WHEN grouping(b.partition) = 0 THEN b.cluster || '/' || b.partition
		            WHEN grouping(b.cluster) = 0 THEN b.cluster ELSE '' END,
		       b.resource, sum(b.amount)::float8, sum(b.quantity)::float8, sum(b.allocated)::float8, sum(b.used)::float8, sum(b.records),
		       sum(b.waste)::float8
		FROM base b JOIN anc a ON a.group_id = b.group_id
		GROUP BY GROUPING SETS (
			(b.day, a.ancestor, b.resource),
			(b.day, a.ancestor, b.resource, a.child),
			(b.day, a.ancestor, b.resource, b.user_id),
			(b.day, a.ancestor, b.resource, b.cluster),
			(b.day, a.ancestor, b.resource, b.cluster, b.partition))`, from, to, l.monthStartLocal(from), l.monthStartLocal(to))
	if err != nil {
		return 0, fmt.Errorf("summarise %s: %w", month.Format("2006-01"), err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM group_summary_month WHERE month = $1`, from); err != nil {
		return 0, fmt.Errorf("clear monthly group summaries: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO group_summary_month (month, group_id, dim, key_id, key_text, resource, amount, quantity, allocated, used, records, waste)
		SELECT $1, group_id, dim, key_id, key_text, resource, sum(amount), sum(quantity), sum(allocated), sum(used), sum(records), sum(waste)
		FROM group_summary WHERE day >= $1 AND day < $2 AND dim <> 'res'
		GROUP BY group_id, dim, key_id, key_text, resource`, from, to); err != nil {
		return 0, fmt.Errorf("summarise %s by month: %w", month.Format("2006-01"), err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM group_storage WHERE month = $1`, from); err != nil {
		return 0, fmt.Errorf("clear storage snapshots: %w", err)
	}
	// Each owner's last day of the month: bytes held = byte-seconds ÷ the part's seconds.
	if _, err := tx.Exec(ctx, `
		INSERT INTO group_storage (month, group_id, filesystem, owner, day, bytes, quota)
		SELECT DISTINCT ON (cluster, external_id) $1::date, group_id, cluster, external_id, day,
		       quantity / greatest(extract(epoch FROM end_time - start_time), 1),
		       nullif(attrs->>'quota_bytes', '')::float8
		FROM usage
		WHERE start_time >= $2 AND start_time < $3 AND resource = 'storage' AND group_id IS NOT NULL
		ORDER BY cluster, external_id, day DESC`, from, l.monthStartLocal(from), l.monthStartLocal(to)); err != nil {
		return 0, fmt.Errorf("storage snapshots of %s: %w", from.Format("2006-01"), err)
	}
	l.log.Debug("summarised", "month", from.Format("2006-01"), "took", time.Since(began).Round(time.Millisecond))
	if err := topJobs(ctx, tx, month, l.loc); err != nil {
		return 0, err
	}
	l.log.Debug("top jobs", "month", from.Format("2006-01"), "took", time.Since(began).Round(time.Millisecond))
	return tag.RowsAffected(), nil
}

// topJobs writes each group's own ten most expensive and ten most wasteful jobs of
// the month. Every day part of a job is priced by the charge of its own key (day,
// group, user, cluster, partition, QoS, resource), which holds exactly one rate, so
// a job costs what the statements bill for it, and wastes what waste.go defines.
// Storage is not a job.
func topJobs(ctx context.Context, tx pgx.Tx, month time.Time, loc *time.Location) error {
	m := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, time.UTC)
	from := time.Date(month.Year(), month.Month(), 1, 0, 0, 0, 0, loc)
	to := from.AddDate(0, 1, 0)
	if _, err := tx.Exec(ctx, `DELETE FROM group_top_jobs WHERE month = $1`, m); err != nil {
		return fmt.Errorf("clear top jobs: %w", err)
	}
	// A month of a big cluster is a few million day parts and a million jobs: hash
	// the join and the per-job sums (the planner, misled by the join's estimate,
	// would sort millions of rows to disk instead: 19 s against 4.5 s), with room
	// to do it in memory. Both settings end with this statement.
	if _, err := tx.Exec(ctx, `SET LOCAL enable_mergejoin = off; SET LOCAL enable_sort = off; SET LOCAL work_mem = '128MB'`); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `
		WITH parts AS (`+pricedParts("$1", "$2", "$3")+`
		), jobs AS (
			SELECT source, cluster, external_id, record_start, group_id,
			       max(user_id) AS user_id, max(job_name) AS job_name, max(partition) AS partition, max(state) AS state,
			       max(record_end) AS record_end, sum(cost) AS cost, sum(waste) AS waste,
			       (sum(used) FILTER (WHERE resource = 'cpu') / nullif(sum(allocated) FILTER (WHERE resource = 'cpu'), 0))::float8 AS cpu_eff,
			       (sum(used) FILTER (WHERE resource = 'memory') / nullif(sum(allocated) FILTER (WHERE resource = 'memory'), 0))::float8 AS mem_eff
			FROM parts
			GROUP BY source, cluster, external_id, record_start, group_id
		), ranked AS (
			SELECT *, row_number() OVER (PARTITION BY group_id ORDER BY cost DESC, external_id) AS by_cost,
			          row_number() OVER (PARTITION BY group_id ORDER BY waste DESC, external_id) AS by_waste
			FROM jobs
		)
		INSERT INTO group_top_jobs (month, group_id, source, cluster, external_id, user_id, job_name, partition, state,
		                            start_time, end_time, cost, waste, cpu_eff, mem_eff)
		SELECT $3, group_id, source, cluster, external_id, user_id, job_name, partition, state,
		       record_start, record_end, cost, waste, cpu_eff, mem_eff
		FROM ranked WHERE by_cost <= 10 OR (by_waste <= 10 AND waste > 0)`, from, to, m)
	if err != nil {
		return fmt.Errorf("top jobs of %s: %w", m.Format("2006-01"), err)
	}
	if _, err := tx.Exec(ctx, `SET LOCAL enable_mergejoin = on; SET LOCAL enable_sort = on; SET LOCAL work_mem = DEFAULT`); err != nil {
		return err
	}
	return nil
}

// summaryTable says where a window's breakdowns (other than by day) are read from:
// the monthly summaries when the window is one site-local month, or the part of one
// month up to now (this month to date: every summarised day of it is before now),
// else the daily ones. It returns the table, its day column and the bounds to use.
func (l *Ledger) summaryTable(from, to time.Time) (table, col string, lo, hi string) {
	f, t := from.In(l.loc), to.In(l.loc)
	monthEnd := time.Date(f.Year(), f.Month()+1, 1, 0, 0, 0, 0, l.loc)
	if f.Day() == 1 && f.Hour() == 0 && (t.Equal(monthEnd) || (t.Before(monthEnd) && t.After(time.Now()))) {
		m := time.Date(f.Year(), f.Month(), 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		return "group_summary_month", "month", m, m
	}
	return "group_summary", "day", from.Format(time.DateOnly), to.AddDate(0, 0, -1).Format(time.DateOnly)
}

// monthStartLocal is the site-local midnight of a month named by its first day.
func (l *Ledger) monthStartLocal(m time.Time) time.Time {
	return time.Date(m.Year(), m.Month(), 1, 0, 0, 0, 0, l.loc)
}
