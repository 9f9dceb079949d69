package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/parsimony-hpc/parsimony/export"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// Finance's billing periods (/statements): closing a month (as a job the browser
// follows, /jobs/{id}) and the finance export of any month.

// statementsPage is finance's view of the periods: close the next one, export any.
func (s *Server) statementsPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	periods, err := s.ledger.Periods(ctx)
	if err != nil {
		return err
	}
	first, err := s.ledger.FirstOpenMonth(ctx)
	if err != nil {
		return err
	}
	// What each closed month billed.
	totals, err := s.ledger.BilledByMonth(ctx)
	if err != nil {
		return err
	}
	_, digits := s.ledger.Currency()
	current := s.ledger.CurrentMonth()
	page := views.StatementListPage{Layout: s.layout(r, "Statements"), Title: "Billing periods",
		Note: fmt.Sprintf("Close months in order, once they have ended; a closed month's statements never change (late usage goes to the next open month). %s can be closed from %s.",
			current.Format("January 2006"), s.ledger.PeriodEnd(current).Format("2 January 2006 15:04 MST")),
		Table: views.Table{Title: "Periods", Head: []string{"Period", "State", "Statements", "Billed", "Rated", "Closed", "Export"},
			Numeric: []bool{false, false, true, true, false, false, false}, Empty: "Nothing has been rated yet.", NameCol: 6}}
	for _, p := range periods {
		state := "open"
		if p.ClosedAt != nil {
			state = "closed by " + p.ClosedBy
		}
		period := p.Month.Format("2006-01")
		count, amount := "drafts", "–"
		if b, ok := totals[period]; ok {
			count, amount = strconv.Itoa(b.Statements), s.moneyMinor(b.TotalMinor, digits)
		}
		page.Table.Rows = append(page.Table.Rows, views.Row{Cells: []string{p.Month.Format("January 2006"), state, count, amount,
			since(p.RatedAt), since(p.ClosedAt), "CSV"}, Link: "/statements/" + period + "/export.csv"})
		if p.ClosedAt == nil && p.Month.Before(current) {
			page.Close = append(page.Close, views.ClosablePeriod{Period: period, Label: p.Month.Format("January 2006"),
				Next: first.IsZero() || p.Month.Equal(first)})
		}
	}
	if page.Jobs, err = s.jobsTable(ctx); err != nil {
		return err
	}
	return s.render(w, r, views.StatementList(page))
}

func (s *Server) exportCSV(w http.ResponseWriter, r *http.Request) error {
	month, err := time.Parse("2006-01", chi.URLParam(r, "period"))
	if err != nil {
		return errNotFound
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="parsimony-%s.csv"`, month.Format("2006-01")))
	if _, err := export.CSV(r.Context(), s.ledger, month, w); err != nil {
		// Headers are gone: the truncated file ends without its trailer, which an
		// import checking the control total rejects.
		s.log.Error("export failed", "period", month.Format("2006-01"), "err", err)
	}
	return nil
}

// jobClose is the kind of job that closes a month.
const jobClose = "close"

// closePeriod checks at once that the month can close (ended, the next in order)
// and answers a mistake with 409 and the reason; the closing itself runs as a job
// the browser follows, since a large month takes longer than a response may.
func (s *Server) closePeriod(w http.ResponseWriter, r *http.Request) error {
	month, err := time.Parse("2006-01", chi.URLParam(r, "period"))
	if err != nil {
		return errNotFound
	}
	already, err := s.ledger.CheckClosable(r.Context(), month)
	if errors.Is(err, ledger.ErrConflict) {
		return s.renderStatus(w, r, http.StatusConflict, views.Message(s.layout(r, "Cannot close"), "Cannot close "+month.Format("January 2006"),
			strings.TrimPrefix(err.Error(), ledger.ErrConflict.Error()+": ")))
	}
	if err != nil {
		return err
	}
	if already {
		http.Redirect(w, r, "/statements", http.StatusSeeOther)
		return nil
	}
	actor := "web:" + principal(r).Login
	return s.startJob(w, r, jobClose, month.Format("2006-01"), func(ctx context.Context) (string, error) {
		sts, rec, err := s.ledger.Close(ctx, actor, month)
		if err != nil {
			return "", err
		}
		_, digits := s.ledger.Currency()
		return fmt.Sprintf("%s is closed: %d final statements, %s billed.", month.Format("January 2006"), len(sts),
			s.moneyMinor(rec.StatementsMinor, digits)), nil
	})
}

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
func (s *Server) startJob(w http.ResponseWriter, r *http.Request, kind, subject string, work func(ctx context.Context) (string, error)) error {
	actor := "web:" + principal(r).Login
	job, started, err := s.ledger.StartJob(r.Context(), kind, subject, actor)
	if err != nil {
		return err
	}
	if started {
		reqID := middleware.GetReqID(r.Context())
		// The request's values (its id for the log) without its cancellation.
		ctx := context.WithoutCancel(r.Context())
		s.jobs.wg.Add(1)
		go s.runJob(ctx, job, reqID, work)
	}
	http.Redirect(w, r, "/jobs/"+strconv.FormatInt(job.ID, 10), http.StatusSeeOther)
	return nil
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
func (s *Server) jobPage(w http.ResponseWriter, r *http.Request) error {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		return errNotFound
	}
	job, err := s.ledger.JobByID(r.Context(), id)
	if errors.Is(err, ledger.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
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
	return s.render(w, r, views.JobPage(views.JobPageProps{Layout: lp, Heading: heading, State: job.State, Facts: facts,
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
