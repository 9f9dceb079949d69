package ledger_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/internal/pgtest"
	"github.com/parsimony-hpc/parsimony/ledger"
)

// BenchmarkSubtreeTotals measures a month's subtree totals in a tree of 10,000 groups,
// 8 levels deep, with a month of daily usage for every group: for the root (the whole
// tree), a department (a tenth of it) and a leaf.
func BenchmarkSubtreeTotals(b *testing.B) {
	ctx := context.Background()
	pool := pgtest.NewPool(b)
	l, err := ledger.Open(ctx, pool, ledger.Options{Location: time.UTC})
	if err != nil {
		b.Fatal(err)
	}
	// Ten departments under the root, then a fan-out of three: 10,000 groups reach
	// depth 8. Built with SQL for speed, with paths as CreateGroup writes them.
	const groups = 10_000
	_, err = pool.Exec(ctx, `
		INSERT INTO groups (id, parent_id, path, kind, slug, name)
		SELECT 1, NULL, '1', 'institution', 'root', 'Root'`)
	if err != nil {
		b.Fatal(err)
	}
	parents := []int64{1}
	paths := map[int64]string{1: "1"}
	next := int64(2)
	depth := map[int64]int{1: 1}
	for next <= groups {
		var children []int64
		for _, p := range parents {
			fan := 3
			if p == 1 {
				fan = 10
			}
			for i := 0; i < fan && next <= groups; i++ {
				id := next
				next++
				paths[id] = fmt.Sprintf("%s.%d", paths[p], id)
				depth[id] = depth[p] + 1
				if _, err := pool.Exec(ctx, `INSERT INTO groups (id, parent_id, path, kind, slug, name) VALUES ($1, $2, $3::ltree, 'lab', $4, $4)`,
					id, p, paths[id], fmt.Sprintf("g%d", id)); err != nil {
					b.Fatal(err)
				}
				children = append(children, id)
			}
		}
		parents = children
	}
	maxDepth, leaf := 0, int64(0)
	for id, d := range depth {
		if d > maxDepth {
			maxDepth, leaf = d, id
		}
	}
	if _, err := pool.Exec(ctx, `SELECT setval(pg_get_serial_sequence('groups', 'id'), $1)`, groups); err != nil {
		b.Fatal(err)
	}
	// A month of daily usage for every group.
	month := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	var recs []ledger.Record
	for id := int64(1); id <= groups; id++ {
		if _, err := l.SetGroupMapping(ctx, "bench", ledger.Mapping{Kind: ledger.KindSlurm, Scope: "c1", Identity: fmt.Sprintf("a%d", id), GroupID: id}); err != nil {
			b.Fatal(err)
		}
		for day := 0; day < 31; day++ {
			s := month.AddDate(0, 0, day).Add(9 * time.Hour)
			recs = append(recs, ledger.Record{Source: "slurm", Cluster: "c1", ExternalID: fmt.Sprintf("%d-%d", id, day), Resource: "cpu",
				Start: s, End: s.Add(time.Hour), Quantity: 3600, Allocated: 3600, Used: 1800, Account: fmt.Sprintf("a%d", id), User: fmt.Sprintf("u%d", id%400)})
		}
		if len(recs) >= 50_000 {
			if _, err := l.Ingest(ctx, ledger.Batch{Records: recs}); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	if _, err := l.Ingest(ctx, ledger.Batch{Records: recs}); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d groups, depth %d", groups, maxDepth)
	for _, tc := range []struct {
		name string
		id   int64
	}{{"root", 1}, {"department", 2}, {fmt.Sprintf("leaf-depth-%d", maxDepth), leaf}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				rows, err := l.SubtreeTotals(ctx, tc.id, month, month.AddDate(0, 1, 0))
				if err != nil || len(rows) == 0 {
					b.Fatalf("%v %v", rows, err)
				}
			}
		})
	}
}
