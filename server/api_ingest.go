package server

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parsimony-hpc/parsimony/auth"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/usagebatch"
)

// POST /api/v1/usage (docs/ingest-api.md): a batch of usage records from an agent
// or script, decoded by package usagebatch and stored by ledger.Ingest, the one
// ingest path every collector uses. Records the ledger cannot take are
// quarantined with their raw JSON and the reason, and counted in the answer;
// nothing is dropped. The idempotency of ingest is the ledger's (natural keys):
// replaying a batch changes no total, a revised interval replaces its earlier
// version.
//
// Each batch is ingested without a collector run of its own: a run per HTTP
// request would open a database connection for its lock on every request and
// fill the runs page with one row per machine every 30 seconds.

// Limits of the ingest API, besides usagebatch's (body and batch size).
const (
	// ingestRate and ingestBurst are each token's (or signed-in person's)
	// request budget: an agent posts once per interval and, after an outage,
	// replays its spool; this lets a replay go at ingestRate batches a second
	// and stops a runaway client from taking the server.
	ingestRate  = 10.0
	ingestBurst = 50
	// ingestConcurrency bounds the batches decoded and ingested at once. The
	// ledger stores batches of different machines side by side, but each holds a
	// pool connection and a batch's memory, and a few keep a small server's cores
	// busy: more would starve the pages of connections.
	ingestConcurrency = 4
)

// ingestAnswer is the reply to an accepted batch: what became of each record.
// Read = Ingested + Revised + Unchanged + Quarantined.
type ingestAnswer struct {
	Read        int64 `json:"read"`
	Ingested    int64 `json:"ingested"`
	Revised     int64 `json:"revised"`
	Unchanged   int64 `json:"unchanged"`
	Quarantined int64 `json:"quarantined"`
	Unmapped    int64 `json:"unmapped"`
	// Rejected lists the records the API refused, by their index in the batch;
	// records the ledger itself refuses (one longer than site.max_record_days)
	// are counted in Quarantined but not listed.
	Rejected []ingestRejected `json:"rejected"`
}

type ingestRejected struct {
	Index  int    `json:"index"`
	Reason string `json:"reason"`
}

// ingestState is a server's rate limits and concurrency bound for the ingest API.
type ingestState struct {
	slots chan struct{}

	mu      sync.Mutex
	buckets map[string]*bucket
}

// newIngestState makes a server's ingest limits: a concurrency bound and an
// empty token bucket per client.
func newIngestState() *ingestState {
	return &ingestState{slots: make(chan struct{}, ingestConcurrency), buckets: map[string]*bucket{}}
}

// bucket is a token bucket: tokens refill at ingestRate a second up to ingestBurst.
type bucket struct {
	tokens float64
	at     time.Time
}

// allow takes one request from key's bucket, or says how long until one is there.
func (st *ingestState) allow(key string, now time.Time) (bool, time.Duration) {
	st.mu.Lock()
	defer st.mu.Unlock()
	b, ok := st.buckets[key]
	if !ok {
		if len(st.buckets) >= 100_000 {
			st.prune(now)
		}
		b = &bucket{tokens: ingestBurst, at: now}
		st.buckets[key] = b
	}
	b.tokens = math.Min(ingestBurst, b.tokens+now.Sub(b.at).Seconds()*ingestRate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / ingestRate * float64(time.Second))
}

// prune forgets buckets full again, which are as good as new.
func (st *ingestState) prune(now time.Time) {
	for k, b := range st.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*ingestRate >= ingestBurst {
			delete(st.buckets, k)
		}
	}
}

// tooLarge is a body or batch over the limits: 413.
func tooLarge(format string, args ...any) error {
	return &formError{http.StatusRequestEntityTooLarge, fmt.Sprintf(format, args...)}
}

func (s *Server) ingestUsage(w http.ResponseWriter, r *http.Request) error {
	p := principal(r)
	// Usage decides what groups are charged: only an admin (or an admin's
	// token, usually bound to its machine) may write it, as only admins run
	// collectors.
	if !p.Admin {
		return forbiddenf("ingesting usage is for admins and their ingest tokens")
	}
	st := s.ingestLimits
	key := "user:" + strconv.FormatInt(p.UserID, 10)
	if p.Method == "token" {
		key = "token:" + strconv.FormatInt(p.TokenID, 10)
	}
	if ok, wait := st.allow(key, time.Now()); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		return &formError{http.StatusTooManyRequests, fmt.Sprintf(
			"too many batches: at most %g a second (bursts of %d) per token; retry in %d s", ingestRate, ingestBurst, secs)}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return &formError{http.StatusUnsupportedMediaType, "send the batch as Content-Type: application/json"}
	}
	body, err := readBatchBody(w, r)
	if err != nil {
		return err
	}
	raws, err := usagebatch.Split(body)
	if errors.Is(err, usagebatch.ErrTooManyRecords) {
		return tooLarge("%s", err)
	}
	if err != nil {
		return badInputf("%s", err)
	}
	select {
	case st.slots <- struct{}{}:
		defer func() { <-st.slots }()
	case <-r.Context().Done():
		return fmt.Errorf("ingest: waiting for a slot: %w", r.Context().Err())
	}
	batch, rejected, names := decodeBatch(p.Binding, raws)
	if err := checkBinding(p, names); err != nil {
		s.log.Warn("ingest refused: a bound token reported for another source or host",
			"token", p.TokenID, "login", p.Login, "binding", p.Binding.String(), "err", err)
		return err
	}
	c, err := s.ledger.Ingest(r.Context(), batch)
	if err != nil {
		return fmt.Errorf("ingest %d records from %s: %w", len(raws), p.Login, err)
	}
	writeJSON(w, http.StatusOK, ingestAnswer{Read: c.Read, Ingested: c.Ingested, Revised: c.Revised, Unchanged: c.Unchanged,
		Quarantined: c.Quarantined, Unmapped: c.Unmapped, Rejected: rejected})
	return nil
}

// readBatchBody reads the request's body, gunzipping it when it says
// Content-Encoding: gzip, and refuses (413) one over usagebatch.MaxBodyBytes on
// the wire or once decompressed: the limit is on what the server must hold, so a
// small gzip bomb is refused as soon as it has inflated past the limit.
func readBatchBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	const max = usagebatch.MaxBodyBytes
	if r.ContentLength > max {
		return nil, tooLarge("the body is %d bytes; at most %d are taken", r.ContentLength, max)
	}
	var in io.Reader = http.MaxBytesReader(w, r.Body, max)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, badInputf("the body is not gzip: %s", err)
		}
		defer zr.Close()
		in = zr
	default:
		return nil, &formError{http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %q is not taken: send gzip or nothing", enc)}
	}
	body, err := io.ReadAll(io.LimitReader(in, max+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, tooLarge("the body is over %d bytes", max)
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.Is(err, io.ErrUnexpectedEOF):
		return nil, badInputf("the gzip body is corrupt or cut short: %s", err)
	case err != nil:
		return nil, fmt.Errorf("read usage batch: %w", err)
	case len(body) > max:
		return nil, tooLarge("the body is over %d bytes once decompressed", max)
	}
	return body, nil
}

// checkBinding refuses (403) the whole batch of a bound token if any record
// names another source or cluster: such a batch comes from a machine that is
// misconfigured or not what it claims, so none of it is stored, and the sender
// keeps it (an agent spools it) until an admin fixes the token. A record whose
// source or cluster cannot be read is not refused here: it is quarantined under
// the token's own.
func checkBinding(p *auth.Principal, names []recordNames) error {
	if !p.Binding.Bound() {
		return nil
	}
	for i, n := range names {
		if (n.source != "" && n.source != p.Binding.Source) || (n.cluster != "" && n.cluster != p.Binding.Cluster) {
			return forbiddenf("this token reports only for source %q on %q; record %d is for source %q on %q, so the batch is refused",
				p.Binding.Source, p.Binding.Cluster, i, clipName(n.source), clipName(n.cluster))
		}
	}
	return nil
}

// recordNames are the source and cluster a record names ("" where unreadable).
type recordNames struct{ source, cluster string }

func clipName(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// decodeBatch turns each raw record into a ledger record, or into a reject with
// its raw JSON and the reason, filed under the source and cluster it names (else
// the token's binding, else "api" and "unknown"); and says what each record names,
// for checkBinding.
func decodeBatch(b auth.Binding, raws []json.RawMessage) (ledger.Batch, []ingestRejected, []recordNames) {
	batch := ledger.Batch{Records: make([]ledger.Record, 0, len(raws))}
	rejected := []ingestRejected{}
	names := make([]recordNames, len(raws))
	for i, raw := range raws {
		rec, err := usagebatch.DecodeRecord(raw)
		if err == nil {
			batch.Records = append(batch.Records, rec.LedgerRecord(string(raw)))
			names[i] = recordNames{rec.Source, rec.Cluster}
			continue
		}
		source, cluster := usagebatch.Names(raw)
		names[i] = recordNames{source, cluster}
		if _, ok := ledger.MappingKind(source); !ok {
			source = ledger.SourceAPI
			if b.Bound() {
				source = b.Source
			}
		}
		if cluster == "" || len(cluster) > usagebatch.MaxShortBytes {
			cluster = "unknown"
			if b.Bound() {
				cluster = b.Cluster
			}
		}
		reason := "ingest API: " + err.Error()
		batch.Rejects = append(batch.Rejects, usagebatch.Reject(raw, reason, source, cluster))
		rejected = append(rejected, ingestRejected{Index: i, Reason: err.Error()})
	}
	return batch, rejected, names
}
