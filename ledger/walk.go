package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
)

// A billable group's month as its statement bills it, for the dashboard: the
// statement's own figures (exact, rounded once, on its lines), broken down the ways
// the dashboard shows, so that every figure the dashboard prints for the month adds
// up to the statement's.
//
// Why not the summaries: they are the group's whole subtree by the day the usage
// ran, which is another figure. They count the descendants that are billable
// themselves (and billed on their own statements), put late usage back in the month
// it ran rather than the period that bills it, and know nothing of subsidies and
// adjustments.

// Walk is a billable group's statement for one month (a draft while the month is
// open, the final one once closed) with its breakdowns.
//
// The statement's usage figure (UsageMinor) is the month's own usage lines plus the
// late-usage lines; the walk from it to the total is
//
//	Usage − subsidies + late usage + adjustments = Total
//
// and every breakdown (by resource, cluster, partition, subgroup, user) adds up to
// UsageMinor + LateMinor exactly, in minor units.
type Walk struct {
	Statement  Statement
	Final      bool  // the month is closed: Statement is the final one
	UsageMinor int64 // the month's own usage lines (unpriced lines are 0)
	LateMinor  int64 // late-usage lines (corrections of closed months)
	// Breakdowns of UsageMinor + LateMinor. By resource and by cluster are the
	// statement's lines summed; by partition is apportioned from the exact charges
	// (lines have no partition) by largest remainder, as the statement apportions
	// its subgroups and users (Statement.Subgroups, Statement.Users).
	ByResource  []WalkRow
	ByCluster   []WalkRow
	ByPartition []WalkRow // Key "cluster/partition"
	// ByDay is the month's own usage by day × resource × cluster, for the daily
	// chart (display amounts in currency; late usage ran on other months' days).
	ByDay []WalkDay
	// BilledSeparately are the billable descendants nearest to the group: their
	// usage (and their own descendants') is on their own statements, not this one.
	BilledSeparately []Group
}

// WalkRow is one line of a walk's breakdown.
type WalkRow struct {
	Key         string  // resource, cluster or "cluster/partition"
	Quantity    float64 // by resource: in the priced unit
	AmountMinor int64
}

// WalkDay is a day's share of a month's own usage.
type WalkDay struct {
	Day               time.Time
	Resource, Cluster string
	Amount            float64
}

// StatementWalk returns billable group groupID's walk for month (any day of it). A
// month with no charges yet walks from zero.
func (l *Ledger) StatementWalk(ctx context.Context, groupID int64, month time.Time) (Walk, error) {
	month = monthKey(month)
	var w Walk
	err := pgx.BeginTxFunc(ctx, l.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var slug string
		var billable bool
		err := tx.QueryRow(ctx, `SELECT slug, billable FROM groups WHERE id = $1`, groupID).Scan(&slug, &billable)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("group %d: %w", groupID, ErrNotFound)
		} else if err != nil {
			return fmt.Errorf("read group: %w", err)
		}
		if !billable {
			return fmt.Errorf("%w: group %s is not billable, so it has no statement", ErrConflict, slug)
		}
		st, final, err := l.groupStatementInTx(ctx, tx, groupID, month)
		if err != nil {
			return err
		}
		w = walkOf(st, final)
		// The groups the statement bills for are its subgroups (as they were when a
		// final one was written: the charges name those).
		members := make([]int64, 0, len(st.Subgroups))
		for _, sg := range st.Subgroups {
			members = append(members, sg.ID)
		}
		// The billable descendants with no billable group between them and this one.
		rows, err := tx.Query(ctx, `
			WITH top AS (SELECT path AS top_path FROM groups WHERE id = $1)
			SELECT `+groupColumns+` FROM groups, top
			WHERE billable AND id <> $1 AND path <@ top_path
			  AND NOT EXISTS (SELECT 1 FROM groups b WHERE b.billable AND b.id <> $1 AND b.id <> groups.id
			                  AND b.path <@ top_path AND groups.path <@ b.path)
			ORDER BY path`, groupID)
		if err != nil {
			return fmt.Errorf("read billable descendants: %w", err)
		}
		if w.BilledSeparately, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Group, error) { return scanGroup(r) }); err != nil {
			return fmt.Errorf("read billable descendants: %w", err)
		}
		return l.walkCharges(ctx, tx, &w, month, members)
	})
	if err != nil {
		return Walk{}, fmt.Errorf("walk of group %d for %s: %w", groupID, month.Format("2006-01"), err)
	}
	return w, nil
}

// walkOf sums a statement's lines into the walk's steps and its breakdowns by
// resource and by cluster.
func walkOf(st Statement, final bool) Walk {
	w := Walk{Statement: st, Final: final}
	byRes, byCluster := map[string]*WalkRow{}, map[string]*WalkRow{}
	var resOrder, clusterOrder []string
	for _, ln := range st.Lines {
		switch ln.Kind {
		case LineUsage, LineUnpriced:
			w.UsageMinor += ln.AmountMinor
		case LineLate:
			w.LateMinor += ln.AmountMinor
		default:
			continue
		}
		r := byRes[ln.Resource]
		if r == nil {
			r = &WalkRow{Key: ln.Resource}
			byRes[ln.Resource] = r
			resOrder = append(resOrder, ln.Resource)
		}
		r.AmountMinor += ln.AmountMinor
		if q, ok := new(big.Rat).SetString(ln.Quantity); ok {
			f, _ := q.Float64()
			r.Quantity += f
		}
		c := byCluster[ln.Cluster]
		if c == nil {
			c = &WalkRow{Key: ln.Cluster}
			byCluster[ln.Cluster] = c
			clusterOrder = append(clusterOrder, ln.Cluster)
		}
		c.AmountMinor += ln.AmountMinor
	}
	for _, k := range resOrder {
		w.ByResource = append(w.ByResource, *byRes[k])
	}
	for _, k := range clusterOrder {
		w.ByCluster = append(w.ByCluster, *byCluster[k])
	}
	return w
}

// chargeSums are a month's charges of the groups a statement bills for: the exact
// usage + late amount per "cluster/partition" (in order), and the own usage by day.
type chargeSums struct {
	partKeys []string
	parts    []*big.Rat
	days     []WalkDay
}

// walkCharges reads the month's charges of the groups the statement bills for: the
// own usage by day for the chart, and the exact usage + late amounts by partition,
// apportioned to the statement's usage figure. Charges change only when rating
// rewrites them, which bumps the summaries' generation in the same transaction: the
// sums are cached under it (the members are in the key), the apportioning is not.
func (l *Ledger) walkCharges(ctx context.Context, tx pgx.Tx, w *Walk, month time.Time, members []int64) error {
	// The generation as this transaction sees it goes into the key: the cache checks
	// the latest one, which may be newer than this transaction's snapshot, and an
	// older snapshot's sums must not be kept as the newer generation's.
	var gen string
	if err := tx.QueryRow(ctx, `SELECT coalesce((SELECT value FROM settings WHERE key = 'summary_generation'), '0')`).Scan(&gen); err != nil {
		return fmt.Errorf("read the summaries' generation: %w", err)
	}
	key := cacheKey("walk-charges", w.Statement.GroupID, month, month, gen, fmt.Sprint(members))
	sums, err := cachedReadAt(l, gen, key, func() (chargeSums, error) { return readChargeSums(ctx, tx, month, members) })
	if err != nil {
		return err
	}
	w.ByDay = sums.days
	if len(sums.parts) == 0 {
		return nil // nothing charged: nothing to share out
	}
	amounts, err := apportion(w.UsageMinor+w.LateMinor, sums.parts, w.Statement.MinorDigits, func(i int) string {
		return "the share of partition " + sums.partKeys[i]
	})
	if err != nil {
		return err
	}
	for i, k := range sums.partKeys {
		w.ByPartition = append(w.ByPartition, WalkRow{Key: k, AmountMinor: amounts[i]})
	}
	return nil
}

func readChargeSums(ctx context.Context, tx pgx.Tx, month time.Time, members []int64) (chargeSums, error) {
	var out chargeSums
	rows, err := tx.Query(ctx, `
		SELECT kind, day, resource, cluster, partition, sum(value)::text
		FROM charges WHERE period = $1 AND group_id = ANY($2)
		GROUP BY kind, day, resource, cluster, partition
		ORDER BY cluster, partition, day, resource, kind`, month, members)
	if err != nil {
		return out, fmt.Errorf("read charges: %w", err)
	}
	defer rows.Close()
	index := map[string]int{}
	for rows.Next() {
		var kind, resource, cluster, partition, value string
		var day time.Time
		if err := rows.Scan(&kind, &day, &resource, &cluster, &partition, &value); err != nil {
			return out, fmt.Errorf("read charges: %w", err)
		}
		_, perUnit := PricedUnit(resource)
		amount := parseRat(value)
		amount.Quo(amount, new(big.Rat).SetInt(perUnit))
		key := cluster + "/" + partition
		i, ok := index[key]
		if !ok {
			i = len(out.parts)
			index[key] = i
			out.partKeys, out.parts = append(out.partKeys, key), append(out.parts, new(big.Rat))
		}
		out.parts[i].Add(out.parts[i], amount)
		if kind == LineUsage {
			f, _ := amount.Float64()
			out.days = append(out.days, WalkDay{Day: day, Resource: resource, Cluster: cluster, Amount: f})
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("read charges: %w", err)
	}
	return out, nil
}

// groupStatementInTx is billable group groupID's statement of month: the final
// one as stored when the month is closed (final true), else the draft as of the
// month's last rating. A group with nothing on it (an archived group gets no
// statement) has an empty one.
func (l *Ledger) groupStatementInTx(ctx context.Context, tx pgx.Tx, groupID int64, month time.Time) (Statement, bool, error) {
	var closed bool
	err := tx.QueryRow(ctx, `SELECT closed_at IS NOT NULL FROM periods WHERE month = $1`, month).Scan(&closed)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return Statement{}, false, fmt.Errorf("read period: %w", err)
	}
	empty := Statement{Status: "draft", Period: month.Format("2006-01"), Currency: l.currency, MinorDigits: l.minorDigits, GroupID: groupID}
	if closed {
		var doc []byte
		err := tx.QueryRow(ctx, `SELECT doc FROM statements WHERE period = $1 AND group_id = $2`, month, groupID).Scan(&doc)
		if errors.Is(err, pgx.ErrNoRows) {
			empty.Status = "final"
			return empty, true, nil
		}
		if err != nil {
			return Statement{}, true, fmt.Errorf("read statement: %w", err)
		}
		var st Statement
		if err := json.Unmarshal(doc, &st); err != nil {
			return Statement{}, true, fmt.Errorf("read statement: %w", err)
		}
		return st, true, nil
	}
	sts, _, err := l.buildStatementsOf(ctx, tx, month, "draft", groupID)
	if err != nil {
		return Statement{}, false, err
	}
	for _, st := range sts {
		if st.GroupID == groupID {
			return st, false, nil
		}
	}
	return empty, false, nil
}

// SplitMinor shares total minor units out over amounts (in currency) by largest
// remainder, as statements share their usage over subgroups and users: the parts
// add up to total exactly, each within a unit of its amount when the amounts add up
// to about total. For display figures read as floats (the dashboards' summaries).
func SplitMinor(total int64, amounts []float64, digits int) ([]int64, error) {
	return apportionFloats(total, amounts, digits, func(i int) string { return fmt.Sprintf("share %d of %d", i+1, len(amounts)) })
}
