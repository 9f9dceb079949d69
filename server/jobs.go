package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// Work that can take longer than a response may (closing a month of a large site
// took a minute, past the write timeout: the browser got an empty reply while the
// month closed) runs as a job. The request records the job and redirects to its
// status page at once; the server runs it in the background, beating a heartbeat
// into the job's row, and records the outcome there. The status page reloads itself
// while the job runs, so it needs no script.

// jobBeat is how often a running job says it is alive (ledger.JobStaleAfter is when
// a silent one counts as abandoned).
const jobBeat = 15 * time.Second

// jobRunner runs jobs beside the requests and lets shutdown wait for them.
type jobRunner struct {
	wg sync.WaitGroup
}

// wait blocks until every job has ended or ctx ends. A job cut off by the process
// ending rolls its transaction back; its row, no longer beating, reads abandoned.
func (j *jobRunner) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { j.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("jobs still running at shutdown: %w", ctx.Err())
	}
}

// userError marks a job failure whose text is safe and useful to show (the
// ledger's conflicts); any other failure is shown as an internal error and logged.
func jobFailure(err error) string {
	if errors.Is(err, ledger.ErrConflict) || errors.Is(err, ledger.ErrNotFound) {
		return err.Error()
	}
	return "Internal error: the work was not done and nothing of it was kept. The server's log has the details."
}

// startJob records a job of kind on subject and runs work in the background with a
// context that outlives the request; it redirects to the job's page. A job already
// running for the same kind and subject is followed instead of started twice.
func (s *Server) startJob(w http.ResponseWriter, r *http.Request, kind, subject string, work func(ctx context.Context) (string, error)) {
	actor := "web:" + principal(r).Login
	job, started, err := s.ledger.StartJob(r.Context(), kind, subject, actor)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if started {
		reqID := middleware.GetReqID(r.Context())
		// The request's values (its id for the log) without its cancellation.
		ctx := context.WithoutCancel(r.Context())
		s.jobs.wg.Add(1)
		go s.runJob(ctx, job, reqID, work)
	}
	http.Redirect(w, r, "/jobs/"+strconv.FormatInt(job.ID, 10), http.StatusSeeOther)
}

func (s *Server) runJob(ctx context.Context, job ledger.Job, reqID string, work func(ctx context.Context) (string, error)) {
	defer s.jobs.wg.Done()
	log := s.log.With("job", job.ID, "kind", job.Kind, "subject", job.Subject, "request_id", reqID)
	beatCtx, stopBeat := context.WithCancel(ctx)
	defer stopBeat()
	go func() {
		t := time.NewTicker(jobBeat)
		defer t.Stop()
		for {
			select {
			case <-beatCtx.Done():
				return
			case <-t.C:
				if err := s.ledger.BeatJob(beatCtx, job.ID); err != nil && beatCtx.Err() == nil {
					log.Warn("job heartbeat failed", "err", err)
				}
			}
		}
	}()
	start := time.Now()
	outcome, err := func() (outcome string, err error) {
		// A panic in the work fails the job rather than the server.
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return work(ctx)
	}()
	stopBeat()
	failure := ""
	if err != nil {
		failure = jobFailure(err)
		log.Error("job failed", "duration", time.Since(start), "err", err)
	} else {
		log.Info("job done", "duration", time.Since(start), "outcome", outcome)
	}
	// Recording the outcome must not depend on the request that started the job.
	finishCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.ledger.FinishJob(finishCtx, job.ID, outcome, failure); err != nil {
		log.Error("record job outcome", "err", err)
	}
}

// jobPage follows a job: what it is, who asked, how long it has run, and its outcome.
func (s *Server) jobPage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		s.notFound(w, r)
		return
	}
	job, err := s.ledger.JobByID(r.Context(), id)
	if errors.Is(err, ledger.ErrNotFound) {
		s.notFound(w, r)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	heading := jobTitle(job)
	started := job.StartedAt
	facts := [][2]string{{"State", job.State}, {"Asked by", job.RequestedBy}, {"Started", since(&started)}}
	if job.FinishedAt != nil {
		facts = append(facts, [2]string{"Finished", since(job.FinishedAt)},
			[2]string{"Took", job.FinishedAt.Sub(job.StartedAt).Round(time.Second).String()})
	} else {
		facts = append(facts, [2]string{"Running for", time.Since(job.StartedAt).Round(time.Second).String()})
	}
	lp := s.layout(r, heading)
	if job.State == ledger.JobRunning {
		lp.Refresh = 2
	}
	s.render(w, r, views.JobPage(views.JobPageProps{Layout: lp, Heading: heading, State: job.State, Facts: facts,
		Outcome: job.Outcome, Error: job.Error, Back: "/statements"}))
}

// jobTitle says what a job does, for people: "Closing October 2026".
func jobTitle(job ledger.Job) string {
	if job.Kind == jobClose {
		if m, err := time.Parse("2006-01", job.Subject); err == nil {
			return "Closing " + m.Format("January 2006")
		}
	}
	return job.Kind + " " + job.Subject
}

// jobsTable is the latest jobs, for the periods page.
func (s *Server) jobsTable(ctx context.Context) (views.Table, error) {
	jobs, err := s.ledger.RecentJobs(ctx, 10)
	if err != nil {
		return views.Table{}, err
	}
	t := views.Table{Title: "Recent closing", Head: []string{"Job", "State", "Asked by", "Started", "Outcome"}}
	for _, j := range jobs {
		started := j.StartedAt
		result := j.Outcome
		if j.Error != "" {
			result = j.Error
		}
		t.Rows = append(t.Rows, views.Row{Cells: []string{jobTitle(j), j.State, j.RequestedBy, since(&started), result},
			Link: "/jobs/" + strconv.FormatInt(j.ID, 10)})
	}
	return t, nil
}
