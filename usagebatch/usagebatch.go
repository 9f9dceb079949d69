// Package usagebatch is the one schema of a batch of usage records sent to the
// ingest API (POST /api/v1/usage): its Go types, its strict JSON decoding, and
// its conversion to ledger records and rejects. The server decodes with it and
// agents on other machines (the cgroup agent) encode with it, so the two cannot
// drift apart. docs/ingest-api.md describes the format for people and
// docs/usage-batch.schema.json as JSON Schema; a test holds all three together.
//
// A batch is a JSON object with one member, "records", an array of records:
//
//	{"records": [{"source": "cgroup", "cluster": "ws-01", "external_id": "user-1000.slice",
//	  "resource": "cpu", "start": "2026-12-03T10:00:00Z", "end": "2026-12-03T10:00:30Z",
//	  "quantity": 27, "user": "ada", "account": "chem"}]}
//
// A record's idempotency key is the ledger's natural key (source, cluster,
// external_id, resource, start), and nothing else: sending a record again with
// the same key and the same values changes nothing; with other values (a longer
// end, more used) it replaces the earlier version. There is deliberately no
// second, free-form key: one that could disagree with the natural key would let
// one measurement be stored twice, or two be stored as one.
package usagebatch

import (
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Limits of a batch and of its records. A body or batch over them is refused as
// a whole (413); a record over them is quarantined with the reason.
const (
	// MaxBodyBytes bounds a batch's JSON, after gzip decompression when it was
	// sent compressed (and before it, on the wire).
	MaxBodyBytes = 8 << 20
	// MaxRecords bounds the records of one batch: about 4 MiB of typical
	// records, a few intervals of a machine with hundreds of cgroups.
	MaxRecords = 10_000
	// MaxRecordBytes bounds one record's JSON; quarantine keeps at most this much
	// of a longer one.
	MaxRecordBytes = 16 << 10

	MaxNameBytes  = 32   // source, resource
	MaxShortBytes = 256  // cluster, user, account, partition, qos, state
	MaxLongBytes  = 1024 // external_id, job_name, an attribute's value
	MaxAttrs      = 32   // attributes per record
	MaxAttrKey    = 64   // an attribute's name
)

// Batch is what one POST /api/v1/usage carries.
type Batch struct {
	Records []Record `json:"records"`
}

// Record is one measured use of one resource over [Start, End): the JSON form of
// a ledger.Record. Quantities are whole numbers of the resource's base unit
// (core-seconds, GPU-seconds, byte-seconds, billing-seconds; ledger.Unit).
type Record struct {
	Source     string    `json:"source"`      // slurm, cgroup, k8s, storage or api
	Cluster    string    `json:"cluster"`     // the cluster, host or file system
	ExternalID string    `json:"external_id"` // the source's id of what was used: job, cgroup path, pod uid…
	Resource   string    `json:"resource"`    // cpu, gpu, memory, storage, billing
	Start      time.Time `json:"start"`       // RFC 3339 with a zone
	End        time.Time `json:"end"`         // RFC 3339 with a zone; not before Start
	Quantity   int64     `json:"quantity"`    // what is billed

	// Allocated is what was reserved (default: Quantity); Used what was
	// consumed (default 0). Waste is Allocated − Used.
	Allocated *int64 `json:"allocated,omitempty"`
	Used      *int64 `json:"used,omitempty"`

	User    string `json:"user,omitempty"`    // the source's user name (a login)
	Account string `json:"account,omitempty"` // the group hint: unix group, Slurm account, namespace…

	Partition string            `json:"partition,omitempty"`
	QoS       string            `json:"qos,omitempty"`
	Nodes     int32             `json:"nodes,omitempty"`
	JobName   string            `json:"job_name,omitempty"`
	State     string            `json:"state,omitempty"`
	Attrs     map[string]string `json:"attrs,omitempty"`
}

// Required are the members every record must have (non-empty, not null).
var Required = []string{"source", "cluster", "external_id", "resource", "start", "end", "quantity"}

// Key is the record's idempotency key, the ledger's natural key, as text (for
// logs and an agent's spool index).
func (r Record) Key() string {
	return r.Source + "\x1f" + r.Cluster + "\x1f" + r.ExternalID + "\x1f" + r.Resource + "\x1f" +
		r.Start.UTC().Format(time.RFC3339Nano)
}

// LedgerRecord is the record as the ledger stores it; raw is the JSON it was
// read from (what quarantine keeps if the ledger refuses it).
func (r Record) LedgerRecord(raw string) ledger.Record {
	alloc, used := r.Quantity, int64(0)
	if r.Allocated != nil {
		alloc = *r.Allocated
	}
	if r.Used != nil {
		used = *r.Used
	}
	return ledger.Record{Source: r.Source, Cluster: r.Cluster, ExternalID: r.ExternalID, Resource: r.Resource,
		Start: r.Start, End: r.End, Quantity: r.Quantity, Allocated: alloc, Used: used,
		Account: r.Account, User: r.User, Partition: r.Partition, QoS: r.QoS, Nodes: r.Nodes,
		JobName: r.JobName, State: r.State, Attrs: r.Attrs, Raw: raw}
}

// FromLedger is the record an agent sends for a ledger record: the inverse of
// LedgerRecord (Raw, which the server fills with what it received, is dropped).
// Allocated and Used are left out where they equal the defaults the server
// applies (Quantity and 0), which keeps a batch small and changes nothing.
func FromLedger(r ledger.Record) Record {
	out := Record{Source: r.Source, Cluster: r.Cluster, ExternalID: r.ExternalID, Resource: r.Resource,
		Start: r.Start, End: r.End, Quantity: r.Quantity,
		User: r.User, Account: r.Account, Partition: r.Partition, QoS: r.QoS, Nodes: r.Nodes,
		JobName: r.JobName, State: r.State}
	if r.Allocated != r.Quantity {
		alloc := r.Allocated
		out.Allocated = &alloc
	}
	if r.Used != 0 {
		used := r.Used
		out.Used = &used
	}
	if len(r.Attrs) > 0 {
		// A copy: the batch may be encoded (or spooled) after the caller has
		// reused its map.
		out.Attrs = make(map[string]string, len(r.Attrs))
		for k, v := range r.Attrs {
			out.Attrs[k] = v
		}
	}
	return out
}
