package seed

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/parsimony-hpc/parsimony/collectors/cgroup"
	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/usagebatch"
)

// The shared machines' usage comes the way a real machine's does: the seed makes
// up who is logged in and how busy they are, and from that the per-user cgroups'
// counters as `parsimony agent` would read them; one cgroup.Accountant per host
// turns the snapshots into records, which are encoded as the agent sends them and
// decoded as the ingest API reads them. There is no separate fake path, so the
// demo shows what the agent would have sent.

// The seed's agents sample every 15 minutes, far coarser than the agent's default
// 30 s (a thirtieth of the samples) but plenty for hourly windows; they allow two
// intervals between readings before memory is no longer integrated, as an agent
// configured with interval = "15m" and max_gap = "30m" would.
const (
	agentInterval = 15 * 60 // seconds
	firstInode    = 4026    // any number: only a change of inode matters
	agentMaxGap   = 2 * agentInterval * time.Second
	agentWindow   = cgroup.DefaultWindow
)

// hostAgent is the cgroup agent of one shared machine: the cgroups of the users
// logged in today, and its accountant, which lives for the whole history.
type hostAgent struct {
	h         *host
	paths     []string // each user's cgroup, by index in host.users
	acc       *cgroup.Accountant
	nextInode uint64
	sessions  []*hostSession // today's logins, in login order
	free      []*hostSession // spent sessions, for reuse

	readings []cgroup.Reading
	latest   map[recordKey]ledger.Record // the latest version of each record today
	out      []ledger.Record
}

// recordKey is a record's natural key within one host.
type recordKey struct {
	path, resource string
	start          int64
}

// hostSession is one login of one user: the life of one instance of their
// user-UID.slice. It is created just after the sample at from (counters at 0)
// and last read at to; its usage comes in spans of constant load.
type hostSession struct {
	user     int // index in host.users
	inode    uint64
	from, to int64 // Unix seconds: from on the sampling grid, to on it or Now
	spans    []loadSpan
	cpuUsec  uint64 // usage_usec as read at the latest sample
	memory   uint64 // memory.current at the latest sample
}

// loadSpan is a stretch of a session with one mean load, until a time.
type loadSpan struct {
	until  int64   // Unix seconds
	cores  float64 // busy cores on average
	memory float64 // resident bytes on average
}

func newHostAgent(h *host, people []*person, start time.Time) *hostAgent {
	a := &hostAgent{
		h:         h,
		acc:       cgroup.NewAccountant(cgroup.AccountConfig{Host: h.name, Window: agentWindow, MaxGap: agentMaxGap}),
		nextInode: firstInode,
		latest:    make(map[recordKey]ledger.Record),
	}
	for _, u := range h.users {
		a.paths = append(a.paths, "/user.slice/user-"+strconv.Itoa(people[u.person].uid)+".slice")
	}
	// The agent starts before anyone logs in: its first snapshot, a baseline that
	// is never billed, holds no cgroup, so every session is billed whole.
	a.acc.Add(cgroup.Snapshot{At: start})
	return a
}

// login adds load to a user's session over [from, to) (Unix seconds, from on
// the sampling grid): a new session, or more of the one that ended at from, so
// that back-to-back hours are one login.
func (a *hostAgent) login(user int, from, to int64, cores, memory float64) {
	if to <= from {
		return
	}
	for _, s := range a.sessions {
		if s.user == user && s.to == from {
			s.to = to
			s.spans = append(s.spans, loadSpan{until: to, cores: cores, memory: memory})
			return
		}
	}
	var s *hostSession
	if n := len(a.free); n > 0 {
		s, a.free = a.free[n-1], a.free[:n-1]
		*s = hostSession{spans: s.spans[:0]}
	} else {
		s = &hostSession{}
	}
	s.user, s.inode, s.from, s.to = user, a.nextInode, from, to
	a.nextInode++ // a logout and login again makes a new cgroup: a new inode
	s.spans = append(s.spans, loadSpan{until: to, cores: cores, memory: memory})
	a.sessions = append(a.sessions, s)
}

// sampleDay samples the host every interval from the first login of the day to
// the day's end (the next midnight, or Now on the last day), and
// returns the latest version of every record the accountant made: by the day's
// end every window of the day has closed, except the one still open at Now.
// Each sample's counters grow by the session's load, with some noise.
func (g *generator) sampleDay(a *hostAgent, endAt time.Time) []ledger.Record {
	a.out = a.out[:0]
	if len(a.sessions) == 0 {
		return a.out
	}
	end := endAt.Unix()
	first := a.sessions[0].from
	for _, s := range a.sessions {
		first = min(first, s.from)
	}
	for t, prev := first, first; ; prev, t = t, min(t-t%agentInterval+agentInterval, end) {
		a.readings = a.readings[:0]
		for _, s := range a.sessions {
			if t <= s.from || t > s.to {
				continue
			}
			span := s.spans[len(s.spans)-1]
			for _, sp := range s.spans {
				if t <= sp.until {
					span = sp
					break
				}
			}
			u := a.h.users[s.user]
			cores := math.Min(span.cores*math.Exp(0.3*g.hostRand.NormFloat64()-0.045), float64(a.h.cores))
			used := uint64(cores * float64(t-prev) * 1e6)
			s.cpuUsec += used
			g.cgroupCPUUsec += used
			s.memory = uint64(span.memory * math.Exp(0.1*g.hostRand.NormFloat64()-0.005))
			px := g.p.people[u.person]
			a.readings = append(a.readings, cgroup.Reading{
				Path: a.paths[s.user], Inode: s.inode,
				UID: px.uid, User: px.login, Group: u.group,
				CPUUsageUsec: s.cpuUsec, MemoryBytes: &s.memory,
			})
		}
		at := time.Unix(t, 0)
		if t == end {
			at = endAt // Now itself, on the last day
		}
		for _, rec := range a.acc.Add(cgroup.Snapshot{At: at, Cgroups: a.readings}) {
			a.latest[recordKey{rec.ExternalID, rec.Resource, rec.Start.Unix()}] = rec
		}
		if t >= end {
			break
		}
	}
	for _, s := range a.sessions {
		a.free = append(a.free, s)
	}
	a.sessions = a.sessions[:0]
	for k, rec := range a.latest {
		a.out = append(a.out, rec)
		delete(a.latest, k)
	}
	slices.SortFunc(a.out, func(x, y ledger.Record) int {
		return cmp.Or(cmp.Compare(x.ExternalID, y.ExternalID), x.Start.Compare(y.Start), cmp.Compare(x.Resource, y.Resource))
	})
	return a.out
}

// sendAgentRecords hands one host's records on as the ingest API receives them:
// encoded as the agent encodes a batch (usagebatch.FromLedger, at most
// usagebatch.MaxRecords to a body), read back as the API's handler reads one
// (usagebatch.Split, DecodeRecord, LedgerRecord), so that each record keeps the
// JSON it came as in Raw. A record the decoder refuses is the seed's bug: an error.
func (g *generator) sendAgentRecords(host string, recs []ledger.Record) error {
	for len(recs) > 0 {
		n := min(len(recs), usagebatch.MaxRecords)
		g.wire = g.wire[:0]
		for _, rec := range recs[:n] {
			g.wire = append(g.wire, usagebatch.FromLedger(rec))
		}
		recs = recs[n:]
		body, err := json.Marshal(usagebatch.Batch{Records: g.wire})
		if err != nil {
			return fmt.Errorf("encode the agent's batch for %s: %w", host, err)
		}
		raws, err := usagebatch.Split(body)
		if err != nil {
			return fmt.Errorf("the agent's batch for %s: %w", host, err)
		}
		for _, raw := range raws {
			rec, err := usagebatch.DecodeRecord(raw)
			if err != nil {
				return fmt.Errorf("the agent's record %s for %s: %w", raw, host, err)
			}
			g.add(rec.LedgerRecord(string(raw)))
		}
	}
	return nil
}
