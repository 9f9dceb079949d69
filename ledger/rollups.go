package ledger

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// rollupDelta is the shared tail of the statements that move rollups for usage rows
// that leave or change group (deleting a revised record, re-mapping): it adds the
// signed sums of the rows of a CTE named "changed" (usage columns and a sign, +1 for
// rows that arrive, -1 for rows that leave) to rollup_daily. GROUP BY makes each key
// appear once, as ON CONFLICT DO UPDATE needs.
const rollupDelta = `
	INSERT INTO rollup_daily AS r (day, group_id, user_id, source, cluster, resource, partition, quantity, allocated, used, records)
	SELECT day, group_id, user_id, source, cluster, resource, partition,
	       sum(sign * quantity), sum(sign * allocated), sum(sign * used),
	       sum(sign * (start_time = record_start)::int)
	FROM (SELECT day, group_id, user_id, source, cluster, resource, partition,
	             quantity, allocated, used, start_time, record_start, sign FROM changed) c
	GROUP BY day, group_id, user_id, source, cluster, resource, partition
	ON CONFLICT ON CONSTRAINT rollup_daily_key DO UPDATE SET
	    quantity  = r.quantity  + excluded.quantity,
	    allocated = r.allocated + excluded.allocated,
	    used      = r.used      + excluded.used,
	    records   = r.records   + excluded.records`

// rollupKey is one row of rollup_daily.
type rollupKey struct {
	day                                  time.Time
	group, user                          int64 // 0: unassigned / unknown
	source, cluster, resource, partition string
}

// sum128 adds non-negative int64s without overflow: a day of a large file system in
// byte-seconds passes int64's range.
type sum128 struct{ hi, lo uint64 }

func (s *sum128) add(v int64) {
	var carry uint64
	s.lo, carry = bits.Add64(s.lo, uint64(v), 0)
	s.hi += carry
}

// value is the sum as pgx encodes it into numeric.
func (s sum128) value() any {
	if s.hi == 0 && s.lo <= math.MaxInt64 {
		return int64(s.lo)
	}
	n := new(big.Int).SetUint64(s.hi)
	n.Lsh(n, 64)
	n.Or(n, new(big.Int).SetUint64(s.lo))
	return pgtype.Numeric{Int: n, Valid: true}
}

type rollupSums struct {
	quantity, allocated, used sum128
	records                   int64
}

// addToRollups adds the parts' sums to the daily rollups. The sums are made here,
// from the parts in memory, so PostgreSQL only upserts one row per rollup key.
func addToRollups(ctx context.Context, tx pgx.Tx, rows []stagedPart) error {
	sums := map[rollupKey]*rollupSums{}
	for i := range rows {
		p := &rows[i]
		k := rollupKey{day: p.part.day, source: p.rec.Source, cluster: p.rec.Cluster, resource: p.rec.Resource, partition: p.rec.Partition}
		if p.groupID != nil {
			k.group = *p.groupID
		}
		if p.userID != nil {
			k.user = *p.userID
		}
		s := sums[k]
		if s == nil {
			s = &rollupSums{}
			sums[k] = s
		}
		s.quantity.add(p.part.quantity)
		s.allocated.add(p.part.allocated)
		s.used.add(p.part.used)
		if p.part.start.Equal(p.rec.Start) {
			s.records++
		}
	}
	out := make([][]any, 0, len(sums))
	for k, s := range sums {
		out = append(out, []any{k.day, nullID(k.group), nullID(k.user), k.source, k.cluster, k.resource, k.partition,
			s.quantity.value(), s.allocated.value(), s.used.value(), s.records})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"stage_rollup"},
		[]string{"day", "group_id", "user_id", "source", "cluster", "resource", "partition", "quantity", "allocated", "used", "records"},
		pgx.CopyFromRows(out)); err != nil {
		return fmt.Errorf("stage rollups: %w", err)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO rollup_daily AS r (day, group_id, user_id, source, cluster, resource, partition, quantity, allocated, used, records)
		SELECT * FROM stage_rollup
		ON CONFLICT ON CONSTRAINT rollup_daily_key DO UPDATE SET
		    quantity  = r.quantity  + excluded.quantity,
		    allocated = r.allocated + excluded.allocated,
		    used      = r.used      + excluded.used,
		    records   = r.records   + excluded.records`); err != nil {
		return fmt.Errorf("add to rollups: %w", err)
	}
	return nil
}
