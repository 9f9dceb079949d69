package ledger

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Report dimensions.
const (
	ByGroup     = "group"
	ByUser      = "user"
	ByCluster   = "cluster"
	ByResource  = "resource"
	BySource    = "source"
	ByPartition = "partition"
)

// Names of the buckets usage without a group or a known user falls in.
const (
	UnassignedGroup = "(unassigned)"
	UnknownUser     = "(unknown)"
)

// ReportQuery selects and groups usage over [From, To).
type ReportQuery struct {
	From, To time.Time
	By       []string // dimensions, in order; resource is always a column of its own
	GroupID  int64    // only this group's subtree (0: everything, unassigned included)
	Depth    int      // with ByGroup: report each group as its ancestor at this depth (0: the group itself)
	Resource string   // only this resource ("" for all)
}

// ReportRow is one line of a report. Quantities are in the resource's base unit.
type ReportRow struct {
	Keys      []string // one value per ReportQuery.By dimension (resource excluded)
	Resource  string
	Unit      string
	Quantity  *big.Int
	Allocated *big.Int
	Used      *big.Int
}

// DayAligned reports whether both ends of the window are local midnights, so that
// the daily rollups answer it exactly.
func (l *Ledger) DayAligned(from, to time.Time) bool {
	mid := func(t time.Time) bool {
		lt := t.In(l.loc)
		y, m, d := lt.Date()
		return lt.Equal(time.Date(y, m, d, 0, 0, 0, 0, l.loc))
	}
	return mid(from) && mid(to)
}

// Report sums usage over a window. A day-aligned window is read from the daily
// rollups. Any other window is computed from the usage rows, pro rata: a day part
// that overlaps the window by a fraction f of its length counts f of its quantities
// (so an hour-aligned window can be compared with sreport). Pro-rata sums are
// rounded to whole base units once, per report row, half away from zero.
func (l *Ledger) Report(ctx context.Context, q ReportQuery) ([]ReportRow, error) {
	if !q.To.After(q.From) {
		return nil, fmt.Errorf("report: window end %s is not after its start %s", q.To, q.From)
	}
	var keys []string
	for _, b := range q.By {
		switch b {
		case ByGroup:
			if q.Depth > 0 {
				keys = append(keys, "coalesce(a.slug, '"+UnassignedGroup+"')")
			} else {
				keys = append(keys, "coalesce(g.slug, '"+UnassignedGroup+"')")
			}
		case ByUser:
			keys = append(keys, "coalesce(p.login, '"+UnknownUser+"')")
		case ByCluster:
			keys = append(keys, "x.cluster")
		case BySource:
			keys = append(keys, "x.source")
		case ByPartition:
			keys = append(keys, "x.partition")
		case ByResource:
			// always a column of its own
		default:
			return nil, fmt.Errorf("report: unknown dimension %q (use group, user, cluster, resource, source, partition)", b)
		}
	}
	args := pgx.NamedArgs{"from": q.From, "to": q.To, "depth": q.Depth}
	var where []string
	var sums []string
	var table string
	if l.DayAligned(q.From, q.To) {
		table = "rollup_daily"
		args["from_day"] = q.From.In(l.loc).Format(time.DateOnly)
		args["to_day"] = q.To.In(l.loc).Format(time.DateOnly)
		where = append(where, "x.day >= @from_day::date", "x.day < @to_day::date")
		sums = []string{`sum(x.quantity)`, `sum(x.allocated)`, `sum(x.used)`}
	} else {
		table = "usage"
		// A part lies within one local day (at most 25 hours), so parts that start more
		// than that before the window cannot reach it; saying so lets PostgreSQL skip
		// whole monthly partitions.
		where = append(where,
			"x.start_time >= @from::timestamptz - interval '26 hours'",
			"x.start_time < @to",
			"(x.end_time > @from OR (x.end_time = x.start_time AND x.start_time >= @from))")
		frac := `CASE WHEN x.end_time = x.start_time THEN 1
		              ELSE extract(epoch FROM least(x.end_time, @to) - greatest(x.start_time, @from))
		                   / extract(epoch FROM x.end_time - x.start_time) END`
		for _, col := range []string{"quantity", "allocated", "used"} {
			sums = append(sums, fmt.Sprintf(`round(sum(x.%s * %s))`, col, frac))
		}
	}
	if q.GroupID != 0 {
		where = append(where, "g.path <@ (SELECT path FROM groups WHERE id = @group)")
		args["group"] = q.GroupID
	}
	if q.Resource != "" {
		where = append(where, "x.resource = @resource")
		args["resource"] = q.Resource
	}
	keyList := strings.Join(append(append([]string{}, keys...), "x.resource"), ", ")
	// Join only what the keys and filters use: on a month of a large site the
	// rollups hold hundreds of thousands of rows.
	var joins []string
	if q.GroupID != 0 || slices.Contains(q.By, ByGroup) {
		joins = append(joins, "LEFT JOIN groups g ON g.id = x.group_id")
	}
	if q.Depth > 0 && slices.Contains(q.By, ByGroup) {
		joins = append(joins, "LEFT JOIN groups a ON a.path = subpath(g.path, 0, least(@depth::int, nlevel(g.path)))")
	}
	if slices.Contains(q.By, ByUser) {
		joins = append(joins, "LEFT JOIN users p ON p.id = x.user_id")
	}
	sql := fmt.Sprintf(`
		SELECT %[1]s, %[2]s
		FROM %[3]s x
		%[5]s
		WHERE %[4]s
		GROUP BY %[1]s
		ORDER BY %[1]s`, keyList, "("+strings.Join(sums, ")::text, (")+")::text", table, strings.Join(where, " AND "), strings.Join(joins, "\n\t\t"))
	rows, err := l.pool.Query(ctx, sql, args)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer rows.Close()
	var out []ReportRow
	for rows.Next() {
		vals := make([]string, len(keys)+4)
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		row := ReportRow{Keys: vals[:len(keys)], Resource: vals[len(keys)], Unit: Unit(vals[len(keys)])}
		nums := []**big.Int{&row.Quantity, &row.Allocated, &row.Used}
		for i, s := range vals[len(keys)+1:] {
			n, ok := new(big.Int).SetString(s, 10)
			if !ok {
				return nil, fmt.Errorf("report: unexpected sum %q", s)
			}
			*nums[i] = n
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return out, nil
}

// SubtreeTotals sums a group's subtree over [from, to), per resource.
func (l *Ledger) SubtreeTotals(ctx context.Context, groupID int64, from, to time.Time) ([]ReportRow, error) {
	return l.Report(ctx, ReportQuery{From: from, To: to, GroupID: groupID})
}
