package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Sources a record may come from. Each source names its group identities in one
// mapping kind (see MappingKind).
const (
	SourceSlurm   = "slurm"
	SourceCgroup  = "cgroup"
	SourceK8s     = "k8s"
	SourceStorage = "storage"
	SourceAPI     = "api"
)

// Resources known to the ledger, with their base units (the resources table holds
// the same list; a migration adding a resource adds it here too).
const (
	ResourceCPU     = "cpu"     // core-seconds
	ResourceGPU     = "gpu"     // gpu-seconds
	ResourceMemory  = "memory"  // byte-seconds
	ResourceStorage = "storage" // byte-seconds
	ResourceBilling = "billing" // billing-seconds
)

var resourceUnits = map[string]string{
	ResourceCPU:     "core-seconds",
	ResourceGPU:     "gpu-seconds",
	ResourceMemory:  "byte-seconds",
	ResourceStorage: "byte-seconds",
	ResourceBilling: "billing-seconds",
}

// Unit returns the base unit of a resource, or "" for an unknown one.
func Unit(resource string) string { return resourceUnits[resource] }

// Resources lists the known resources in a stable order.
func Resources() []string {
	return []string{ResourceCPU, ResourceGPU, ResourceMemory, ResourceStorage, ResourceBilling}
}

// MappingKind is the namespace a source's group identities (Record.Account) live in.
func MappingKind(source string) (string, bool) {
	switch source {
	case SourceSlurm:
		return "slurm", true
	case SourceCgroup:
		return "unix-group", true
	case SourceK8s:
		return "k8s", true
	case SourceStorage:
		return "storage", true
	case SourceAPI:
		return "api", true
	}
	return "", false
}

// sourcesOfKind is the inverse of MappingKind.
func sourcesOfKind(kind string) []string {
	var out []string
	for _, s := range []string{SourceSlurm, SourceCgroup, SourceK8s, SourceStorage, SourceAPI} {
		if k, _ := MappingKind(s); k == kind {
			out = append(out, s)
		}
	}
	return out
}

// Record is one measured use of one resource over [Start, End), as a collector reads
// it. Its natural key is (Source, Cluster, ExternalID, Resource, Start): ingesting a
// record with the same key again replaces the earlier version (a running job that has
// run longer) or, if nothing changed, does nothing.
type Record struct {
	Source     string // slurm, cgroup, k8s, storage, api
	Cluster    string // cluster, host or file system
	ExternalID string // job id (and run), cgroup path, pod uid, owner…
	Resource   string
	Start, End time.Time

	// Quantity is what is billed; Allocated and Used keep what was reserved and what
	// was consumed, so waste (Allocated − Used) can be priced. All in base units.
	Quantity, Allocated, Used int64

	Account string // the source's group identity: Slurm account, unix group, namespace, path
	User    string // the source's user name

	Partition string
	QoS       string
	Nodes     int32
	JobName   string
	State     string
	Attrs     map[string]string // everything else worth keeping

	// Raw is the input the record was made from; it is what quarantine keeps if the
	// record cannot be stored.
	Raw string
}

// Reject is input a collector could not turn into a record. It goes to quarantine
// with its raw text and reason, in the same transaction as the batch it came with.
type Reject struct {
	Source  string
	Cluster string
	Raw     string
	Reason  string
}

// Batch is what Ingest stores atomically.
type Batch struct {
	RunID   int64 // the collector run it belongs to; 0 for none
	Records []Record
	Rejects []Reject
}

// Counts say what became of a batch's input. Read = Ingested + Revised + Unchanged +
// Quarantined: every record read is accounted for. Unmapped counts the stored records
// (of any of the first three) that landed in the unassigned bucket.
type Counts struct {
	Read        int64
	Ingested    int64 // new records
	Revised     int64 // records that replaced an earlier version
	Unchanged   int64 // records already stored exactly so
	Quarantined int64
	Unmapped    int64
}

// Add accumulates o into c.
func (c *Counts) Add(o Counts) {
	c.Read += o.Read
	c.Ingested += o.Ingested
	c.Revised += o.Revised
	c.Unchanged += o.Unchanged
	c.Quarantined += o.Quarantined
	c.Unmapped += o.Unmapped
}

func (c Counts) String() string {
	return fmt.Sprintf("read %d, ingested %d, revised %d, unchanged %d, quarantined %d, unmapped %d",
		c.Read, c.Ingested, c.Revised, c.Unchanged, c.Quarantined, c.Unmapped)
}

// naturalKey identifies a record; see Record.
type naturalKey struct {
	source, cluster, externalID, resource string
	start                                 int64 // unix microseconds
}

func (r *Record) key() naturalKey {
	return naturalKey{r.Source, r.Cluster, r.ExternalID, r.Resource, r.Start.UnixMicro()}
}

// normalise truncates times to PostgreSQL's microsecond resolution so that a record
// read again compares equal to the one stored.
func (r *Record) normalise() {
	r.Start = r.Start.Truncate(time.Microsecond)
	r.End = r.End.Truncate(time.Microsecond)
}

// validate says why a record cannot be stored, or nil.
// checkSpan refuses a record longer than max: splitting a job that claims to run
// to year 9999 into days would take every partition up to then (and once made the
// whole import fail with "out of shared memory", run after run).
func (r *Record) checkSpan(max time.Duration) error {
	// In seconds, not time.Duration: a Duration saturates at 292 years.
	if secs := r.End.Unix() - r.Start.Unix(); secs > int64(max/time.Second) {
		return fmt.Errorf("spans %s, from %s to %s: longer than the most one record may cover (%s; site.max_record_days)",
			humanSpan(secs), r.Start.Format(time.RFC3339), r.End.Format(time.RFC3339), humanSpan(int64(max/time.Second)))
	}
	return nil
}

// humanSpan writes a span of seconds in days ("13,149 days"), or as a duration
// when it is under two days.
func humanSpan(secs int64) string {
	if secs >= 2*86400 {
		return GroupThousands(fmt.Sprintf("%.0f", float64(secs)/86400)) + " days"
	}
	return (time.Duration(secs) * time.Second).String()
}

func (r *Record) validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if _, ok := MappingKind(r.Source); !ok {
		bad("unknown source %q", r.Source)
	}
	if r.Cluster == "" {
		bad("empty cluster/host")
	}
	if r.ExternalID == "" {
		bad("empty external id")
	}
	if Unit(r.Resource) == "" {
		bad("unknown resource %q", r.Resource)
	}
	if r.Start.IsZero() || r.End.IsZero() {
		bad("missing start or end time")
	} else if r.End.Before(r.Start) {
		bad("end %s is before start %s", r.End.Format(time.RFC3339), r.Start.Format(time.RFC3339))
	} else if r.Start.Year() < 1970 || r.End.Year() > 9999 {
		bad("time out of range")
	}
	if r.Quantity < 0 || r.Allocated < 0 || r.Used < 0 {
		bad("negative quantity (quantity %d, allocated %d, used %d)", r.Quantity, r.Allocated, r.Used)
	}
	if r.Nodes < 0 {
		bad("negative node count %d", r.Nodes)
	}
	// PostgreSQL text holds neither NUL nor invalid UTF-8; one such value would fail
	// the whole COPY, so the record is refused here instead.
	texts := [...]struct{ name, value string }{
		{"source", r.Source}, {"cluster", r.Cluster}, {"external id", r.ExternalID}, {"account", r.Account},
		{"user", r.User}, {"partition", r.Partition}, {"qos", r.QoS}, {"job name", r.JobName}, {"state", r.State},
	}
	for _, t := range texts {
		if !storableText(t.value) {
			bad("%s is not valid UTF-8 text", t.name)
		}
	}
	for k, v := range r.Attrs {
		if !storableText(k) || !storableText(v) {
			bad("attribute %q is not valid UTF-8 text", SafeText(k))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return errors.New(strings.Join(problems, "; "))
}

func storableText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// SafeText makes any bytes storable as PostgreSQL text without losing them: invalid
// UTF-8 bytes and NUL are written as \xNN escapes, and backslashes are doubled so the
// escaping can be undone.
func SafeText(s string) string {
	if storableText(s) && !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == 0:
			b.WriteString(`\x00`)
		case r == '\\':
			b.WriteString(`\\`)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// rawText is what quarantine keeps of a record that has no raw input of its own.
func (r *Record) rawText() string {
	if r.Raw != "" {
		return r.Raw
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s|%d|%d|%d|%s|%s",
		r.Source, r.Cluster, r.ExternalID, r.Resource,
		r.Start.UTC().Format(time.RFC3339Nano), r.End.UTC().Format(time.RFC3339Nano),
		r.Quantity, r.Allocated, r.Used, r.Account, r.User)
}

// hash fingerprints everything of a record but its key, so a re-read record is
// recognised as unchanged. It is stored on every part of the record.
func (r *Record) hash() int64 {
	h := fnv.New64a()
	var buf [8]byte
	num := func(v int64) {
		binary.LittleEndian.PutUint64(buf[:], uint64(v))
		h.Write(buf[:])
	}
	str := func(s string) {
		num(int64(len(s)))
		h.Write([]byte(s))
	}
	num(r.End.UnixMicro())
	num(r.Quantity)
	num(r.Allocated)
	num(r.Used)
	num(int64(r.Nodes))
	str(r.Account)
	str(r.User)
	str(r.Partition)
	str(r.QoS)
	str(r.JobName)
	str(r.State)
	keys := make([]string, 0, len(r.Attrs))
	for k := range r.Attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		str(k)
		str(r.Attrs[k])
	}
	v := h.Sum64()
	return int64(v & math.MaxInt64) // a positive bigint reads better in psql
}
