package ledger

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The dashboards' reads of what rating writes (group summaries, top jobs, storage
// snapshots) are cached in memory: they change only when rating rewrites them, and
// rating bumps a generation number in the settings table in the same transaction.
// Each read checks that number (one primary-key lookup), so every web server behind
// a load balancer sees a new rating at once, and a cached answer is never older
// than the data it came from. Cached results are shared: callers must not modify
// them.
type summaryCache struct {
	mu      sync.Mutex
	gen     string
	entries map[string]any
}

// maxCached bounds the cache; past it the cache starts afresh (dashboards are
// cheap to recompute, memory is not free).
const maxCached = 4096

// bumpSummaryGeneration marks the summaries as rewritten, inside rating's transaction
// (and people's names as changed, inside UpsertUser's: see UserNames).
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

// cachedRead returns the cached result of read under key for the current
// generation, reading (and keeping) it when there is none.
func cachedRead[T any](ctx context.Context, l *Ledger, key string, read func() (T, error)) (T, error) {
	gen, err := l.summaryGeneration(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	return cachedReadAt(l, gen, key, read)
}

// cachedReadAt is cachedRead for a reader inside a transaction, which names the
// generation its snapshot sees: asking the pool for it would take a second
// connection while the transaction holds one, and enough such requests at once
// wait on each other for ever. A result of an older generation than the cache's
// is returned but not kept.
func cachedReadAt[T any](l *Ledger, gen, key string, read func() (T, error)) (T, error) {
	var zero T
	c := &l.cache
	c.mu.Lock()
	if generationAfter(gen, c.gen) || len(c.entries) > maxCached {
		c.gen, c.entries = gen, map[string]any{}
	}
	v, ok := c.entries[key]
	if c.gen != gen {
		ok = false
	}
	c.mu.Unlock()
	if ok {
		return v.(T), nil
	}
	out, err := read()
	if err != nil {
		return zero, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.entries[key] = out
	}
	c.mu.Unlock()
	return out, nil
}

// generationAfter says whether generation a is newer than b (a cache that has
// none yet is older than any).
func generationAfter(a, b string) bool {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errB != nil {
		return true
	}
	return errA == nil && x > y
}

func cacheKey(kind string, groupID int64, from, to time.Time, rest ...string) string {
	return fmt.Sprintf("%s|%d|%s|%s|%s", kind, groupID, from.Format(time.RFC3339), to.Format(time.RFC3339), strings.Join(rest, ","))
}

// GroupSpend reads the dashboard's money for groupID's subtree over [from, to)
// (local midnights), from the group summaries that rating writes, through the cache.
//
// With dims, only those breakdowns are read ("res" — by day and resource, and the
// totals —, "cluster-day", "child", "user", "cluster", "part"); without, all but
// cluster-day.
func (l *Ledger) GroupSpend(ctx context.Context, groupID int64, from, to time.Time, dims ...string) (Spend, error) {
	if len(dims) == 0 {
		dims = []string{"res", "child", "user", "cluster", "part"}
	}
	return cachedRead(ctx, l, cacheKey("spend", groupID, from, to, dims...), func() (Spend, error) {
		return l.groupSpend(ctx, groupID, from, to, dims)
	})
}

// GroupUsage reads the subtree's usage per user (byUser) or per child group over
// site-local days [from, to), from the group summaries, through the cache.
func (l *Ledger) GroupUsage(ctx context.Context, groupID int64, from, to time.Time, byUser bool) ([]UsageRow, error) {
	return cachedRead(ctx, l, cacheKey("usage", groupID, from, to, fmt.Sprint(byUser)), func() ([]UsageRow, error) {
		return l.groupUsage(ctx, groupID, from, to, byUser)
	})
}

// TopJobs returns the subtree's n most expensive jobs (byWaste false) or most
// wasteful ones, among the months that overlap [from, to), through the cache.
func (l *Ledger) TopJobs(ctx context.Context, groupID int64, from, to time.Time, byWaste bool, n int) ([]TopJob, error) {
	return cachedRead(ctx, l, cacheKey("top", groupID, from, to, fmt.Sprint(byWaste), fmt.Sprint(n)), func() ([]TopJob, error) {
		return l.topJobs(ctx, groupID, from, to, byWaste, n)
	})
}

// GroupStorage is the subtree's storage per file system at the end of the latest
// rated month up to at's, through the cache.
func (l *Ledger) GroupStorage(ctx context.Context, groupID int64, at time.Time) ([]StorageUse, error) {
	at = at.In(l.loc)
	month := time.Date(at.Year(), at.Month(), 1, 0, 0, 0, 0, time.UTC)
	return cachedRead(ctx, l, cacheKey("storage", groupID, month, month), func() ([]StorageUse, error) {
		return l.groupStorage(ctx, groupID, month)
	})
}
