package slurm

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Reservation is one row of `sacctmgr -P show reservation`.
type Reservation struct {
	Name, ID   string
	Start, End time.Time
	CPUs       int64
	Assocs     []string // association ids its idle time is shared among
	Flags      string
	Raw        string
	Line       int
}

// ReservationArgs are sacctmgr's arguments for the reservations of a window.
func ReservationArgs(cluster string, from, to time.Time) []string {
	args := []string{"--parsable2", "show", "reservation",
		"start=" + from.UTC().Format("2006-01-02T15:04:05"), "end=" + to.UTC().Format("2006-01-02T15:04:05"),
		"format=Cluster,Name,ID,TRES,TimeStart,TimeEnd,Associations,Flags"}
	if cluster != "" {
		args = append(args, "cluster="+cluster)
	}
	return args
}

// AssocIDArgs are sacctmgr's arguments for association ids and who they are.
func AssocIDArgs(cluster string) []string {
	args := []string{"--parsable2", "show", "associations", "format=ID,Account,User"}
	if cluster != "" {
		args = append(args, "cluster="+cluster)
	}
	return args
}

// headerIndex reads a '|' header into lower-case name → position.
func headerIndex(line string) map[string]int {
	idx := map[string]int{}
	for i, n := range strings.Split(line, "|") {
		idx[strings.ToLower(strings.TrimSpace(n))] = i
	}
	return idx
}

// ParseReservations reads sacctmgr's reservation listing with its header (fields in
// any order). Times without an offset are read in loc (sacctmgr prints local time:
// run it with TZ=UTC). A line that cannot be read becomes a reject.
func ParseReservations(r io.Reader, loc *time.Location, cluster string) ([]Reservation, []ledger.Reject, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		return nil, nil, fmt.Errorf("reservations: no header line")
	}
	idx := headerIndex(sc.Text())
	assocCol, ok := idx["assocs"]
	if !ok {
		assocCol, ok = idx["associations"]
	}
	missing := []string{}
	if !ok {
		missing = append(missing, "Associations")
	}
	for _, need := range []string{"name", "id", "tres", "timestart", "timeend"} {
		if _, has := idx[need]; !has {
			missing = append(missing, need)
		}
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("reservations: header %q lacks %s; list them with sacctmgr %s", sc.Text(),
			strings.Join(missing, ", "), strings.Join(ReservationArgs("", time.Time{}, time.Time{}), " "))
	}
	var out []Reservation
	var rejects []ledger.Reject
	line := 1
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		f := strings.Split(text, "|")
		bad := func(reason string) {
			rejects = append(rejects, ledger.Reject{Source: ledger.SourceSlurm, Cluster: cluster, Raw: text,
				Reason: fmt.Sprintf("reservations line %d: %s", line, reason)})
		}
		if len(f) != len(idx) {
			bad(fmt.Sprintf("%d fields, the header has %d", len(f), len(idx)))
			continue
		}
		res := Reservation{Name: f[idx["name"]], ID: f[idx["id"]], Raw: text, Line: line}
		if i, ok := idx["flags"]; ok {
			res.Flags = f[i]
		}
		var err error
		if res.Start, err = parseTime(f[idx["timestart"]], loc); err != nil {
			bad("TimeStart: " + err.Error())
			continue
		}
		if res.End, err = parseTime(f[idx["timeend"]], loc); err != nil {
			bad("TimeEnd: " + err.Error())
			continue
		}
		tres, err := ParseTRES(f[idx["tres"]])
		if err != nil {
			bad(err.Error())
			continue
		}
		res.CPUs = tres.CPU
		for _, a := range strings.Split(f[assocCol], ",") {
			if a = strings.TrimSpace(a); a != "" && !strings.HasPrefix(a, "-") {
				res.Assocs = append(res.Assocs, a)
			}
		}
		if res.End.Before(res.Start) {
			bad("TimeEnd before TimeStart")
			continue
		}
		out = append(out, res)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read reservations: %w", err)
	}
	return out, rejects, nil
}

// AssocRef is who an association id stands for.
type AssocRef struct{ Account, User string }

// ParseAssocIDs reads `sacctmgr -P show associations format=ID,Account,User` (any
// order, extra fields ignored) into id → account and user.
func ParseAssocIDs(r io.Reader) (map[string]AssocRef, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		return nil, fmt.Errorf("associations: no header line")
	}
	idx := headerIndex(sc.Text())
	for _, need := range []string{"id", "account", "user"} {
		if _, ok := idx[need]; !ok {
			return nil, fmt.Errorf("associations: header %q lacks %s; list them with sacctmgr %s", sc.Text(), need, strings.Join(AssocIDArgs(""), " "))
		}
	}
	out := map[string]AssocRef{}
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) != len(idx) {
			continue // not an association row (a wrapped or empty line): nothing to map
		}
		out[f[idx["id"]]] = AssocRef{Account: f[idx["account"]], User: f[idx["user"]]}
	}
	return out, sc.Err()
}

// ReservedJob is the part of a job that ran inside a reservation.
type ReservedJob struct {
	ReservationID string
	Start, End    time.Time
}

// IdleRecords charges reservations' idle time as slurmdbd's hourly rollup does, so
// totals match sreport: per clock hour, the reserved core-seconds less, for each job
// that ran in the reservation, the reservation's own CPU count times the job's
// seconds in it (slurmdbd counts a job in a reservation as using all of it); what is
// left, if positive, is split evenly (whole seconds, remainder dropped) among the
// reservation's associations. Only hours that lie within [from, to) are charged —
// earlier hours were charged by the run that saw their jobs — and the hour in
// progress up to to. Each (reservation, association, hour) is one record, revised
// as the hour fills.
func IdleRecords(cluster string, resvs []Reservation, jobs []ReservedJob, assocs map[string]AssocRef, from, to time.Time) ([]ledger.Record, []ledger.Reject) {
	var out []ledger.Record
	var rejects []ledger.Reject
	for _, r := range resvs {
		if r.CPUs <= 0 || len(r.Assocs) == 0 {
			continue
		}
		end := r.End
		if end.After(to) {
			end = to
		}
		var refs []AssocRef
		missing := ""
		for _, a := range r.Assocs {
			ref, ok := assocs[a]
			if !ok {
				missing = a
				break
			}
			refs = append(refs, ref)
		}
		if missing != "" {
			rejects = append(rejects, ledger.Reject{Source: ledger.SourceSlurm, Cluster: cluster, Raw: r.Raw,
				Reason: fmt.Sprintf("reservation %s: association id %s is unknown (list associations with ID)", r.Name, missing)})
			continue
		}
		for h := r.Start.Truncate(time.Hour); h.Before(end); h = h.Add(time.Hour) {
			s, e := maxTime(r.Start, h), minTime(end, h.Add(time.Hour))
			if !from.IsZero() && h.Before(from) {
				continue
			}
			secs := int64(e.Sub(s) / time.Second)
			if secs <= 0 {
				continue
			}
			idle := r.CPUs * secs
			for _, j := range jobs {
				if j.ReservationID != r.ID {
					continue
				}
				js, je := maxTime(j.Start, s), minTime(j.End, e)
				if je.After(js) {
					idle -= r.CPUs * int64(je.Sub(js)/time.Second)
				}
			}
			if idle <= 0 {
				continue
			}
			per := idle / int64(len(refs))
			for i, ref := range refs {
				out = append(out, ledger.Record{
					Source: ledger.SourceSlurm, Cluster: cluster, ExternalID: "resv-" + r.ID + "-" + r.Assocs[i],
					Resource: ledger.ResourceCPU, Start: s, End: e, Quantity: per, Allocated: per,
					Account: ref.Account, User: ref.User, JobName: r.Name, State: "RESERVED",
					Attrs: map[string]string{"reservation": r.Name, "reservation_id": r.ID}, Raw: r.Raw,
				})
			}
		}
	}
	return out, rejects
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
