package ledger

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// The dashboards' reads of the group summaries are cached in memory: summaries
// change only when rating rewrites them, and rating bumps a generation number in
// the settings table in the same transaction. Each read checks that number (one
// primary-key lookup), so every web server behind a load balancer sees a new rating
// at once, and a cached answer is never older than the summaries it came from.
type summaryCache struct {
	mu    sync.Mutex
	gen   string
	spend map[string]Spend
	usage map[string][]UsageRow
}

// maxCached bounds the cache; past it the cache starts afresh (dashboards are
// cheap to recompute, memory is not free).
const maxCached = 4096

// bumpSummaryGeneration marks the summaries as rewritten, inside rating's transaction.
const bumpSummaryGeneration = `
	INSERT INTO settings (key, value) VALUES ('summary_generation', '1')
	ON CONFLICT (key) DO UPDATE SET value = (settings.value::bigint + 1)::text`

func (l *Ledger) summaryGeneration(ctx context.Context) (string, error) {
	var gen string
	err := l.pool.QueryRow(ctx, `SELECT coalesce((SELECT value FROM settings WHERE key = 'summary_generation'), '0')`).Scan(&gen)
	if err != nil {
		return "", fmt.Errorf("read the summaries' generation: %w", err)
	}
	return gen, nil
}

// cached returns the cache's entries for generation gen, emptying it when the
// generation moved on.
func (c *summaryCache) forGeneration(gen string) {
	if c.gen != gen || len(c.spend)+len(c.usage) > maxCached {
		c.gen, c.spend, c.usage = gen, map[string]Spend{}, map[string][]UsageRow{}
	}
}

func cacheKey(groupID int64, from, to time.Time, rest ...string) string {
	return fmt.Sprintf("%d|%s|%s|%s", groupID, from.Format(time.DateOnly), to.Format(time.DateOnly), strings.Join(rest, ","))
}

// GroupSpend reads the dashboard's money for groupID's subtree over [from, to)
// (local midnights), from the group summaries that rating writes, through the cache.
// The result is shared: callers must not modify it.
//
// With dims, only those breakdowns are read ("res" — by day and resource, and the
// totals —, "cluster-day", "child", "user", "cluster", "part"); without, all but
// cluster-day.
func (l *Ledger) GroupSpend(ctx context.Context, groupID int64, from, to time.Time, dims ...string) (Spend, error) {
	if len(dims) == 0 {
		dims = []string{"res", "child", "user", "cluster", "part"}
	}
	gen, err := l.summaryGeneration(ctx)
	if err != nil {
		return Spend{}, err
	}
	key := cacheKey(groupID, from, to, dims...)
	l.cache.mu.Lock()
	l.cache.forGeneration(gen)
	sp, ok := l.cache.spend[key]
	l.cache.mu.Unlock()
	if ok {
		return sp, nil
	}
	if sp, err = l.groupSpend(ctx, groupID, from, to, dims); err != nil {
		return Spend{}, err
	}
	l.cache.mu.Lock()
	if l.cache.gen == gen {
		l.cache.spend[key] = sp
	}
	l.cache.mu.Unlock()
	return sp, nil
}

// GroupUsage reads the subtree's usage per user (byUser) or per child group over
// site-local days [from, to), from the group summaries, through the cache. The
// result is shared: callers must not modify it.
func (l *Ledger) GroupUsage(ctx context.Context, groupID int64, from, to time.Time, byUser bool) ([]UsageRow, error) {
	gen, err := l.summaryGeneration(ctx)
	if err != nil {
		return nil, err
	}
	key := cacheKey(groupID, from, to, fmt.Sprint(byUser))
	l.cache.mu.Lock()
	l.cache.forGeneration(gen)
	rows, ok := l.cache.usage[key]
	l.cache.mu.Unlock()
	if ok {
		return rows, nil
	}
	if rows, err = l.groupUsage(ctx, groupID, from, to, byUser); err != nil {
		return nil, err
	}
	l.cache.mu.Lock()
	if l.cache.gen == gen {
		l.cache.usage[key] = rows
	}
	l.cache.mu.Unlock()
	return rows, nil
}
