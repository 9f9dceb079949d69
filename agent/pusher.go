package agent

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/parsimony-hpc/parsimony/usagebatch"
)

// Backoff says how long the pusher waits after a failed push.
type Backoff struct {
	// Min and Max bound the exponential backoff after a failure the server may
	// recover from (no answer, a timeout, 5xx): Min, 2·Min, 4·Min… up to Max,
	// each jittered down by up to half so that the agents of a whole machine
	// room do not return in step after an outage.
	Min, Max time.Duration
	// Refused is the wait after the server refused a batch for good (400, 401,
	// 403, 413, 415): it will not accept it until an admin changes something,
	// so asking often would only fill its logs.
	Refused time.Duration
	// RetryAfterMax caps a 429's Retry-After.
	RetryAfterMax time.Duration
}

// DefaultBackoff is the pusher's backoff unless configured otherwise.
var DefaultBackoff = Backoff{Min: time.Second, Max: 5 * time.Minute, Refused: 10 * time.Minute, RetryAfterMax: 10 * time.Minute}

// pusher sends the spool's pending entries to the server, one request at a
// time and in sequence order, and acknowledges them once accepted.
type pusher struct {
	client  *Client
	spool   *Spool
	log     *slog.Logger
	metrics *Metrics
	backoff Backoff

	failures int  // consecutive failures, for the backoff
	failing  bool // the last push failed (to log the recovery once)
}

// pushResult is what a drain came to.
type pushResult struct {
	pushed int           // records the server accepted
	wait   time.Duration // how long to wait before trying again; 0 when the spool was emptied
}

// drain pushes pending batches until the spool is empty, a push fails or ctx
// ends.
func (p *pusher) drain(ctx context.Context) pushResult {
	var res pushResult
	for ctx.Err() == nil {
		// Batches stay well under the server's limits: half its records and
		// its body (the spool's estimate of JSON bytes is not exact).
		b, ok, err := p.spool.Next(usagebatch.MaxRecords/2, usagebatch.MaxBodyBytes/2)
		if err != nil {
			p.log.Error("push: reading the spool", "err", err)
			res.wait = p.backoff.Max
			return res
		}
		if !ok {
			return res
		}
		answer, err := p.client.Post(ctx, b.Records)
		if err != nil {
			if ctx.Err() != nil {
				return res // shutting down: the batch stays spooled
			}
			res.wait = p.failed(err, len(b.Records))
			return res
		}
		if err := p.spool.Ack(b.LastSeq); err != nil {
			// The server has the batch; it is sent again later, which changes nothing there.
			p.log.Error("push: the server accepted a batch but the spool could not record it; it will be sent again (harmless)", "err", err)
			res.wait = p.backoff.Min
			return res
		}
		p.accepted(answer, b)
		res.pushed += len(b.Records)
	}
	return res
}

// accepted notes a batch the server took.
func (p *pusher) accepted(a PushAnswer, b SpoolBatch) {
	if p.failing {
		entries, _ := p.spool.Pending()
		p.log.Info("push: the server accepts batches again", "after_failures", p.failures, "entries_still_pending", entries)
	}
	p.failures, p.failing = 0, false
	p.metrics.pushed.Add(float64(len(b.Records)))
	p.metrics.lastPush.SetToCurrentTime()
	if a.Quarantined > 0 {
		p.metrics.quarantined.Add(float64(a.Quarantined))
		args := []any{"quarantined", a.Quarantined, "records", len(b.Records), "last_seq", b.LastSeq}
		if len(a.Rejected) > 0 {
			args = append(args, "first_reason", a.Rejected[0].Reason)
		}
		p.log.Warn("push: the server quarantined records of a batch (see its quarantine page)", args...)
	}
	p.log.Debug("push: batch accepted", "records", len(b.Records), "entries", b.Entries, "last_seq", b.LastSeq)
}

// failed logs and counts a failed push and says how long to wait.
func (p *pusher) failed(err error, records int) time.Duration {
	p.failures++
	p.failing = true
	var pe *PushError
	if !errors.As(err, &pe) {
		// No request was made (the token file is unreadable): the admin's to fix.
		p.metrics.pushErrors.WithLabelValues("local").Inc()
		p.log.Error("push: cannot send", "err", err)
		return p.backoff.Refused
	}
	p.metrics.pushErrors.WithLabelValues(pe.Code).Inc()
	entries, _ := p.spool.Pending()
	switch {
	case pe.Refused:
		p.log.Error("push: the server refused a batch; it stays spooled and is retried rarely until this is fixed",
			"status", pe.Code, "message", pe.Message, "records", records, "entries_pending", entries, "retry_in", p.backoff.Refused)
		return p.backoff.Refused
	case pe.Code == "429" && pe.RetryAfter > 0:
		wait := min(pe.RetryAfter, p.backoff.RetryAfterMax)
		p.log.Info("push: the server asks to slow down", "retry_in", wait)
		return wait
	}
	wait := p.exponential()
	if pe.RetryAfter > 0 {
		wait = min(max(wait, pe.RetryAfter), p.backoff.RetryAfterMax)
	}
	// The first failure of a run is worth a warning; the rest are the same
	// outage, which the metrics show.
	level := slog.LevelDebug
	if p.failures == 1 {
		level = slog.LevelWarn
	}
	p.log.Log(context.Background(), level, "push: the server is unreachable or failing; records stay spooled",
		"code", pe.Code, "err", pe.Message, "failures", p.failures, "entries_pending", entries, "retry_in", wait.Round(time.Millisecond))
	return wait
}

// exponential is the jittered backoff after p.failures consecutive failures.
func (p *pusher) exponential() time.Duration {
	d := p.backoff.Min
	for i := 1; i < p.failures && d < p.backoff.Max; i++ {
		d *= 2
	}
	d = min(d, p.backoff.Max)
	return d/2 + rand.N(d/2+1)
}

// run pushes whenever woken (after each sample) and after each backoff, until
// ctx ends. A wake during a backoff does not cut it short.
func (p *pusher) run(ctx context.Context, wake <-chan struct{}) {
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
			if retry != nil {
				continue // backing off
			}
		case <-retry:
		}
		retry = nil
		if res := p.drain(ctx); res.wait > 0 {
			retry = time.After(res.wait)
		}
	}
}
