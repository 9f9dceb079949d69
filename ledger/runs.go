package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Run is one execution of a collector.
type Run struct {
	ID         int64
	Source     string
	Cluster    string
	WindowFrom *time.Time
	WindowTo   *time.Time
	StartedAt  time.Time
	FinishedAt *time.Time
	Counts     Counts
	Watermark  *time.Time
	// State is RunRunning, RunDone, RunFailed or RunAbandoned.
	State string
	// Error says why a run failed or was abandoned.
	Error string
}

// The states of a collector run.
const (
	RunRunning = "running"
	RunDone    = "done"
	RunFailed  = "failed"
	// RunAbandoned is a run whose process ended without finishing it (killed,
	// crashed, its connection lost): the next run of its source and cluster
	// marks it so.
	RunAbandoned = "abandoned"
)

// runLockClass is the first key of the session-level advisory lock a live run
// holds, pg_advisory_lock(runLockClass, id): the two-key form, so it shares no
// key with the single-key locks elsewhere in the ledger.
const runLockClass = 1347568206

// runLockKey is a run's second lock key: an int4, so ids wrap (a clash needs two
// runs 2³¹ ids apart both unfinished).
func runLockKey(id int64) int32 { return int32(id % (1 << 31)) }

// runLocks holds, for each run this process started and has not finished, the
// connection whose session holds the run's advisory lock. Each is a connection
// of its own, outside the pool, so that runs in flight never starve ingest of
// pooled connections and a run's lock lives exactly as long as this process
// keeps it: when the process dies, PostgreSQL ends the session and frees it.
type runLocks struct {
	mu    sync.Mutex
	conns map[int64]*pgx.Conn
}

func (r *runLocks) put(id int64, c *pgx.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns == nil {
		r.conns = map[int64]*pgx.Conn{}
	}
	r.conns[id] = c
}

func (r *runLocks) take(id int64) *pgx.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.conns[id]
	delete(r.conns, id)
	return c
}

// StartRun records that a collector begins reading [from, to) of a source, and
// marks abandoned the earlier runs of the same source and cluster whose process
// has gone without finishing them. The run holds its advisory lock on a
// connection of its own until FinishRun, so that a run still going in another
// process (its lock held) is never taken for abandoned. Collectors run inside
// Collect, which calls StartRun and FinishRun for them; the two stay exported for
// tests and tools that record a run by hand.
func (l *Ledger) StartRun(ctx context.Context, source, cluster string, from, to time.Time) (int64, error) {
	conn, err := pgx.ConnectConfig(ctx, l.pool.Config().ConnConfig.Copy())
	if err != nil {
		return 0, fmt.Errorf("start %s run for %s: connect for the run's lock: %w", source, cluster, err)
	}
	// One statement: the row becomes visible to others only when it commits, and
	// by then its lock is held, so no other run can see it unfinished and unlocked.
	var id int64
	err = conn.QueryRow(ctx, `
		WITH run AS (
		    INSERT INTO collector_runs (source, cluster, window_from, window_to)
		    VALUES ($1, $2, $3, $4) RETURNING id)
		SELECT id, pg_advisory_lock($5::int, (id % 2147483648)::int) FROM run`,
		source, cluster, nullTime(from), nullTime(to), runLockClass).Scan(&id, nil)
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return 0, fmt.Errorf("start %s run for %s: %w", source, cluster, err)
	}
	l.runLocks.put(id, conn)
	abandoned, err := l.abandonRuns(ctx, source, cluster, id)
	if err != nil {
		return 0, errors.Join(err, l.FinishRun(context.WithoutCancel(ctx), id, Counts{}, time.Time{}, err))
	}
	for _, old := range abandoned {
		l.log.Warn("collector run abandoned: its process ended without finishing it", "run", old, "source", source, "cluster", cluster, "noticed_by", id)
	}
	return id, nil
}

// abandonRuns marks abandoned the unfinished runs of source and cluster (other
// than the run by) whose advisory lock nobody holds, and returns their ids.
func (l *Ledger) abandonRuns(ctx context.Context, source, cluster string, by int64) ([]int64, error) {
	reason := fmt.Sprintf("abandoned: its process ended without finishing it (killed, crashed or cut off from the database); found by run %d", by)
	rows, err := l.pool.Query(ctx, `
		UPDATE collector_runs r SET state = 'abandoned', finished_at = now(), error = $4
		WHERE r.source = $1 AND r.cluster = $2 AND r.state = 'running' AND r.id <> $3
		  AND NOT EXISTS (
		      SELECT 1 FROM pg_locks k
		      WHERE k.locktype = 'advisory' AND k.granted AND k.objsubid = 2
		        AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		        AND k.classid = $5::int::oid AND k.objid = (r.id % 2147483648)::oid)
		RETURNING r.id`, source, cluster, by, reason, runLockClass)
	if err != nil {
		return nil, fmt.Errorf("mark abandoned %s runs of %s: %w", source, cluster, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("mark abandoned %s runs of %s: %w", source, cluster, err)
	}
	return ids, nil
}

// FinishRun records a run's counts and ends its lock. A run that failed (runErr
// != nil) keeps its error and sets no watermark, so the next run starts where
// the last good one ended. A run another run took for abandoned (its lock's
// connection was lost while the process went on) is recorded as it finished: it
// did.
func (l *Ledger) FinishRun(ctx context.Context, id int64, c Counts, watermark time.Time, runErr error) error {
	defer l.releaseRun(ctx, id)
	var errText, mark any
	state := RunDone
	if runErr != nil {
		errText, state = SafeText(runErr.Error()), RunFailed
	} else {
		mark = nullTime(watermark)
	}
	_, err := l.pool.Exec(ctx, `
		UPDATE collector_runs SET finished_at = now(), read = $2, ingested = $3, revised = $4,
		       unchanged = $5, quarantined = $6, unmapped = $7, watermark = $8, error = $9, state = $10
		WHERE id = $1`, id, c.Read, c.Ingested, c.Revised, c.Unchanged, c.Quarantined, c.Unmapped, mark, errText, state)
	if err != nil {
		return fmt.Errorf("finish run %d: %w", id, err)
	}
	return nil
}

// releaseRun closes the connection holding a run's lock, which frees the lock.
// Its failure is only logged: the session ends either way (PostgreSQL frees a
// closed connection's locks), and the run's record is already written.
func (l *Ledger) releaseRun(ctx context.Context, id int64) {
	conn := l.runLocks.take(id)
	if conn == nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := conn.Close(cctx); err != nil {
		l.log.Warn("close the connection of a finished run", "run", id, "err", err)
	}
}

// Watermark is where the last successful run of a source on a cluster ended; ok is
// false when there has been none.
func (l *Ledger) Watermark(ctx context.Context, source, cluster string) (t time.Time, ok bool, err error) {
	var mark *time.Time
	err = l.pool.QueryRow(ctx, `
		SELECT max(watermark) FROM collector_runs
		WHERE source = $1 AND cluster = $2 AND state = 'done'`, source, cluster).Scan(&mark)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, fmt.Errorf("read watermark of %s on %s: %w", source, cluster, err)
	}
	if mark == nil {
		return time.Time{}, false, nil
	}
	return *mark, true, nil
}

// Runs lists the most recent collector runs, newest first.
func (l *Ledger) Runs(ctx context.Context, limit int) ([]Run, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT id, source, cluster, window_from, window_to,
		       started_at, finished_at, read, ingested, revised, unchanged, quarantined, unmapped,
		       watermark, state, coalesce(error, '')
		FROM collector_runs ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Run, error) {
		var run Run
		err := r.Scan(&run.ID, &run.Source, &run.Cluster, &run.WindowFrom, &run.WindowTo, &run.StartedAt, &run.FinishedAt,
			&run.Counts.Read, &run.Counts.Ingested, &run.Counts.Revised, &run.Counts.Unchanged,
			&run.Counts.Quarantined, &run.Counts.Unmapped, &run.Watermark, &run.State, &run.Error)
		return run, err
	})
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}

// LastSuccessfulRuns returns each source and cluster's latest run that finished
// without an error, ordered by source and cluster.
func (l *Ledger) LastSuccessfulRuns(ctx context.Context) ([]Run, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT DISTINCT ON (source, cluster) id, source, cluster, finished_at, started_at, read, ingested, revised, unchanged, quarantined, unmapped, state
		FROM collector_runs WHERE finished_at IS NOT NULL AND error IS NULL
		ORDER BY source, cluster, started_at DESC`)
	if err != nil {
		return nil, fmt.Errorf("last successful runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Run, error) {
		var run Run
		err := r.Scan(&run.ID, &run.Source, &run.Cluster, &run.FinishedAt, &run.StartedAt, &run.Counts.Read, &run.Counts.Ingested,
			&run.Counts.Revised, &run.Counts.Unchanged, &run.Counts.Quarantined, &run.Counts.Unmapped, &run.State)
		return run, err
	})
	if err != nil {
		return nil, fmt.Errorf("last successful runs: %w", err)
	}
	return out, nil
}

// CollectorState is a source and cluster's latest run state, and how many of its
// runs were abandoned in all.
type CollectorState struct {
	Source    string
	Cluster   string
	State     string // of the latest run: RunRunning, RunDone, RunFailed or RunAbandoned
	Abandoned int64
}

// CollectorStates lists every source and cluster that has run, ordered by source
// and cluster.
func (l *Ledger) CollectorStates(ctx context.Context) ([]CollectorState, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT DISTINCT ON (source, cluster) source, cluster, state,
		       (SELECT count(*) FROM collector_runs a WHERE a.source = r.source AND a.cluster = r.cluster AND a.state = 'abandoned')
		FROM collector_runs r ORDER BY source, cluster, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("collector states: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (CollectorState, error) {
		var c CollectorState
		err := r.Scan(&c.Source, &c.Cluster, &c.State, &c.Abandoned)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("collector states: %w", err)
	}
	return out, nil
}
