package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// finishTimeout bounds recording a run's outcome. It runs on a context detached
// from the collector's, so a run cancelled by Ctrl-C or a deadline still leaves a
// finished row behind; the bound keeps a dead database from hanging the exit.
const finishTimeout = 30 * time.Second

// CollectFunc is a collector's part of a run: it reads its source and stores what
// it read through sink, and returns how far the source has been read (the
// watermark the next run starts from; zero for none). Its ctx is Collect's.
type CollectFunc func(ctx context.Context, sink *Sink) (watermark time.Time, err error)

// Collect runs collect as one recorded collector run of source on cluster over
// [from, to) (zero times for a run with no window, such as a file import) and
// returns what the run stored.
//
// Collect owns the run's record, so that every collector keeps the same rules:
// the run is started (holding its advisory lock, so that a run whose process
// dies is later marked abandoned) before collect reads anything; every batch
// collect stores through sink belongs to the run; and the run is finished with
// its counts and collect's error whatever happens, on a context detached from
// ctx, so that a cancelled or failed collector still records its outcome. Only
// a run that succeeds moves the watermark, so the next run reads a failed one's
// window again (ingest is idempotent). A panic in collect is recorded as the
// run's failure and then goes on up. An error (collect's, or recording the run's
// end) comes back wrapped with the run's id; the counts come back with it.
func (l *Ledger) Collect(ctx context.Context, source, cluster string, from, to time.Time, collect CollectFunc) (Counts, error) {
	id, err := l.StartRun(ctx, source, cluster, from, to)
	if err != nil {
		return Counts{}, err
	}
	sink := &Sink{l: l, runID: id}
	finished := false
	finish := func(watermark time.Time, runErr error) error {
		finished = true
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
		defer cancel()
		return l.FinishRun(fctx, id, sink.Counts(), watermark, runErr)
	}
	defer func() {
		if finished {
			return
		}
		// Only a panic (or runtime.Goexit, as t.FailNow does) gets here: record
		// it, or the run would look live for as long as this process (a server
		// that recovers panics) holds its lock.
		p := recover()
		why := errors.New("the collector's goroutine exited")
		if p != nil {
			why = fmt.Errorf("panic: %v", p)
		}
		if ferr := finish(time.Time{}, why); ferr != nil {
			l.log.Error("record a collector run that did not return", "run", id, "source", source, "cluster", cluster, "err", ferr)
		}
		if p != nil {
			panic(p)
		}
	}()
	watermark, runErr := collect(ctx, sink)
	ferr := finish(watermark, runErr)
	c := sink.Counts()
	// The error names the run (what an admin finds on the runs page); the caller
	// knows, and says, which source and cluster it collected.
	switch {
	case runErr != nil && ferr != nil:
		return c, fmt.Errorf("run %d: %w", id, errors.Join(runErr, ferr))
	case runErr != nil:
		return c, fmt.Errorf("run %d: %w", id, runErr)
	case ferr != nil:
		return c, fmt.Errorf("run %d: %w", id, ferr)
	}
	return c, nil
}

// Sink is a collector run's way into the ledger: what goes through it is
// ingested as part of the run, and its counts add up to the run's. It is safe
// for concurrent use (a collector may store one batch while it reads the next).
type Sink struct {
	l     *Ledger
	runID int64

	mu     sync.Mutex
	counts Counts
}

// RunID is the id of the run the sink stores into.
func (s *Sink) RunID() int64 { return s.runID }

// Ingest stores b (see Ledger.Ingest) as part of the run, whatever run id b
// carries, and returns what became of it.
func (s *Sink) Ingest(ctx context.Context, b Batch) (Counts, error) {
	b.RunID = s.runID
	c, err := s.l.Ingest(ctx, b)
	if err != nil {
		return c, err
	}
	s.mu.Lock()
	s.counts.Add(c)
	s.mu.Unlock()
	return c, nil
}

// Counts is the sum of what the run has stored so far.
func (s *Sink) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts
}
