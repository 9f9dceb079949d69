package ledger

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Job states.
const (
	JobRunning   = "running"
	JobDone      = "done"
	JobFailed    = "failed"
	JobAbandoned = "abandoned"
)

// JobStaleAfter is how long a running job may go without a heartbeat before it is
// taken for abandoned (its server stopped mid-way). Runners beat far more often.
const JobStaleAfter = 2 * time.Minute

// Job is work that outlasts a request (closing a month): who asked, its state, and
// its outcome once it ends.
type Job struct {
	ID          int64
	Kind        string
	Subject     string
	RequestedBy string
	State       string
	StartedAt   time.Time
	HeartbeatAt time.Time
	FinishedAt  *time.Time
	Outcome     string
	Error       string
}

const jobColumns = `id, kind, subject, requested_by, state, started_at, heartbeat_at, finished_at, outcome, error`

func scanJob(row pgx.Row) (Job, error) {
	var j Job
	err := row.Scan(&j.ID, &j.Kind, &j.Subject, &j.RequestedBy, &j.State, &j.StartedAt, &j.HeartbeatAt, &j.FinishedAt, &j.Outcome, &j.Error)
	return j, err
}

// StartJob records a running job of kind on subject. When one is already running
// for the same kind and subject it returns that one and started = false, so a
// second click follows the first job instead of racing it. A running job whose
// heartbeat stopped is marked abandoned first.
func (l *Ledger) StartJob(ctx context.Context, kind, subject, actor string) (job Job, started bool, err error) {
	err = pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			UPDATE jobs SET state = 'abandoned', finished_at = now(),
			       error = $4
			WHERE kind = $1 AND subject = $2 AND state = 'running' AND heartbeat_at < now() - make_interval(secs => $3)`,
			kind, subject, JobStaleAfter.Seconds(), abandonedReason)
		if err != nil {
			return err
		}
		job, err = scanJob(tx.QueryRow(ctx, `
			INSERT INTO jobs (kind, subject, requested_by) VALUES ($1, $2, $3)
			ON CONFLICT (kind, subject) WHERE state = 'running' DO NOTHING
			RETURNING `+jobColumns, kind, subject, actor))
		if err == nil {
			started = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		job, err = scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE kind = $1 AND subject = $2 AND state = 'running'`, kind, subject))
		return err
	})
	if err != nil {
		return Job{}, false, fmt.Errorf("start %s job on %s: %w", kind, subject, err)
	}
	return job, started, nil
}

// BeatJob tells that a running job's runner is still at work.
func (l *Ledger) BeatJob(ctx context.Context, id int64) error {
	if _, err := l.pool.Exec(ctx, `UPDATE jobs SET heartbeat_at = now() WHERE id = $1 AND state = 'running'`, id); err != nil {
		return fmt.Errorf("heartbeat of job %d: %w", id, err)
	}
	return nil
}

// FinishJob records a job's outcome: done with what it did, or failed with a
// message safe to show to the person who asked.
func (l *Ledger) FinishJob(ctx context.Context, id int64, outcome, failure string) error {
	state := JobDone
	if failure != "" {
		state = JobFailed
	}
	tag, err := l.pool.Exec(ctx, `
		UPDATE jobs SET state = $2, finished_at = now(), heartbeat_at = now(), outcome = $3, error = $4
		WHERE id = $1 AND state = 'running'`, id, state, outcome, failure)
	if err != nil {
		return fmt.Errorf("finish job %d: %w", id, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("finish job %d: %w: it is no longer running", id, ErrConflict)
	}
	return nil
}

// JobByID returns a job. A running job whose heartbeat has stopped is reported as
// abandoned.
func (l *Ledger) JobByID(ctx context.Context, id int64) (Job, error) {
	j, err := scanJob(l.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Job{}, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Job{}, fmt.Errorf("read job %d: %w", id, err)
	}
	j.settle()
	return j, nil
}

const abandonedReason = "the server running it stopped before it finished; nothing it did was kept"

// settle shows a running job whose heartbeat has stopped as what it is: abandoned.
// (Its row says so once the next job of its kind and subject starts.)
func (j *Job) settle() {
	if j.State == JobRunning && time.Since(j.HeartbeatAt) > JobStaleAfter {
		j.State = JobAbandoned
		j.Error = abandonedReason
	}
}

// RecentJobs lists the latest jobs, newest first.
func (l *Ledger) RecentJobs(ctx context.Context, limit int) ([]Job, error) {
	rows, err := l.pool.Query(ctx, `SELECT `+jobColumns+` FROM jobs ORDER BY started_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Job, error) { return scanJob(r) })
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	for i := range jobs {
		jobs[i].settle()
	}
	return jobs, nil
}
