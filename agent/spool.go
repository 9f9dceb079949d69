package agent

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parsimony-hpc/parsimony/usagebatch"
)

// The spool is an append-only file of entries, each a batch of records with a
// sequence number, and a cursor file naming the last sequence the server
// accepted. Entries after the cursor are pending; they are sent in sequence
// order. On disk an entry is:
//
//	magic   "PSP1"
//	seq     uint64, little endian
//	length  uint32, little endian: the payload's bytes
//	crc     uint32, little endian: CRC-32C of seq, length and payload
//	payload a JSON array of usagebatch.Records
//
// An entry is written with one write and fsync'd before Append returns. A kill
// -9 in the middle of that write leaves a torn last entry: it is found by its
// length or checksum when the spool is opened and cut off, so it is never
// replayed half (its sample is lost, which is the current interval's and no more).
const (
	spoolFile  = "spool.log"
	cursorFile = "spool.ack"

	entryMagic  = "PSP1"
	entryHeader = 20
	// maxPayload bounds one entry's payload when reading: a length over it is
	// corruption, not an entry (entries hold at most entryRecords records).
	maxPayload = 64 << 20
	// entryRecords bounds the records of one entry, so that any entry fits in
	// one request (usagebatch.MaxRecords) with room to spare.
	entryRecords = 2000
)

// DefaultSpoolMaxBytes is the spool's default bound: weeks of a 500-cgroup
// machine's compacted records.
const DefaultSpoolMaxBytes = 256 << 20

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Spool is the agent's on-disk queue of records waiting for the server. It is
// safe for one appender and one pusher at once.
type Spool struct {
	dir      string
	maxBytes int64
	log      *slog.Logger
	metrics  *Metrics

	mu      sync.Mutex
	f       *os.File
	size    int64
	entries []entryRef // the pending entries, in sequence order
	acked   uint64     // the last sequence the server accepted
	lastSeq uint64     // the last sequence written (or acked, after a rotation)
}

// entryRef locates one entry in the spool file.
type entryRef struct {
	seq     uint64
	off     int64
	size    int64 // header and payload
	records int
}

// SpoolBatch is pending records taken from the spool for one request: the
// entries after the cursor up to LastSeq, whole.
type SpoolBatch struct {
	Records []usagebatch.Record
	LastSeq uint64
	Entries int
}

// OpenSpool opens (or creates) the spool in dir, cutting off a torn last entry
// and forgetting entries the cursor says were accepted. maxBytes bounds the
// file (see Append).
func OpenSpool(dir string, maxBytes int64, log *slog.Logger, m *Metrics) (*Spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &Spool{dir: dir, maxBytes: maxBytes, log: log, metrics: m}
	acked, err := s.readCursor()
	if err != nil {
		return nil, err
	}
	s.acked, s.lastSeq = acked, acked
	if err := s.openFile(); err != nil {
		return nil, err
	}
	if len(s.entries) == 0 && s.size > 0 {
		// Everything in the file was accepted: start it afresh.
		if err := s.truncateLocked(); err != nil {
			s.f.Close()
			return nil, err
		}
	}
	s.updateGauges()
	return s, nil
}

func (s *Spool) path() string       { return filepath.Join(s.dir, spoolFile) }
func (s *Spool) cursorPath() string { return filepath.Join(s.dir, cursorFile) }

// readCursor reads the last accepted sequence. A cursor that cannot be read
// as a number is treated as none: everything in the spool is sent again, which
// the server's idempotency makes harmless, whereas trusting a damaged cursor
// could skip records.
func (s *Spool) readCursor() (uint64, error) {
	data, err := readFileIfExists(s.cursorPath())
	if err != nil || data == nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		s.log.Warn("spool: the acknowledgement cursor is damaged; everything spooled will be sent again (harmless: the server keeps one version of each record)",
			"file", s.cursorPath(), "err", err)
		return 0, nil
	}
	return n, nil
}

// openFile opens the spool file for appending and indexes its entries,
// truncating it after the last whole one.
func (s *Spool) openFile() error {
	f, err := os.OpenFile(s.path(), os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("spool: %w", err)
	}
	entries, good, err := scanEntries(f, info.Size())
	if err != nil {
		f.Close()
		return fmt.Errorf("spool: read %s: %w", s.path(), err)
	}
	if info.Size() > good {
		s.log.Warn("spool: cut off a torn or damaged entry at the end (an interrupted write; its sample is lost, nothing else)",
			"file", s.path(), "at", good, "bytes", info.Size()-good)
		if err := f.Truncate(good); err != nil {
			f.Close()
			return fmt.Errorf("spool: truncate torn entry: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("spool: %w", err)
		}
	}
	s.f, s.size, s.entries = f, good, nil
	for _, e := range entries {
		s.lastSeq = max(s.lastSeq, e.seq)
		if e.seq > s.acked {
			s.entries = append(s.entries, e)
		}
	}
	return nil
}

// scanEntries reads entries from the start of r (size bytes long) and returns
// them with the offset just after the last whole one. Reading stops at the first entry
// that is short, has a bad magic, length or checksum, or does not follow its
// predecessor's sequence: everything from there on is unusable.
func scanEntries(r io.ReadSeeker, size int64) ([]entryRef, int64, error) {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return nil, 0, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		entries []entryRef
		off     int64
		prev    uint64
		hdr     [entryHeader]byte
		payload []byte
	)
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return entries, off, nil // end of file or a torn header
		}
		seq, length, sum, ok := parseHeader(hdr[:])
		if !ok || seq <= prev || off+entryHeader+int64(length) > size {
			return entries, off, nil
		}
		payload = slices.Grow(payload[:0], int(length))[:length]
		if _, err := io.ReadFull(br, payload); err != nil {
			return entries, off, nil
		}
		if entrySum(hdr[4:16], payload) != sum {
			return entries, off, nil
		}
		var recs []json.RawMessage
		if err := json.Unmarshal(payload, &recs); err != nil {
			return entries, off, nil
		}
		n := int64(entryHeader) + int64(length)
		entries = append(entries, entryRef{seq: seq, off: off, size: n, records: len(recs)})
		off += n
		prev = seq
	}
}

func parseHeader(h []byte) (seq uint64, length, sum uint32, ok bool) {
	if string(h[:4]) != entryMagic {
		return 0, 0, 0, false
	}
	seq = binary.LittleEndian.Uint64(h[4:12])
	length = binary.LittleEndian.Uint32(h[12:16])
	sum = binary.LittleEndian.Uint32(h[16:20])
	return seq, length, sum, seq > 0 && length <= maxPayload
}

func entrySum(seqAndLength, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(seqAndLength, crcTable), crcTable, payload)
}

// encodeEntry makes an entry's bytes.
func encodeEntry(seq uint64, recs []usagebatch.Record) ([]byte, error) {
	payload, err := json.Marshal(recs)
	if err != nil {
		return nil, fmt.Errorf("spool: encode records: %w", err)
	}
	buf := make([]byte, entryHeader, entryHeader+len(payload))
	copy(buf, entryMagic)
	binary.LittleEndian.PutUint64(buf[4:12], seq)
	binary.LittleEndian.PutUint32(buf[12:16], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[16:20], entrySum(buf[4:16], payload))
	return append(buf, payload...), nil
}

// Append adds records to the spool as one entry (or several of at most
// entryRecords records each) and fsyncs them.
//
// When the file would grow past its bound, the pending entries are compacted
// first: the records are running totals of a window, so only the latest
// version of each natural key matters, and the older versions are dropped. If
// compacted records still fill more than three quarters of the bound, the
// records of the oldest windows are dropped until they do not — the one place
// the agent loses usage, said in a warning and counted in
// parsimony_agent_spool_dropped_records_total. (The quarter left free keeps
// compaction, which rewrites the file, from running on every append.)
func (s *Spool) Append(recs []usagebatch.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("spool: closed")
	}
	for len(recs) > 0 {
		n := min(len(recs), entryRecords)
		if err := s.appendLocked(recs[:n]); err != nil {
			return err
		}
		recs = recs[n:]
	}
	s.updateGauges()
	return nil
}

func (s *Spool) appendLocked(recs []usagebatch.Record) error {
	seq := s.lastSeq + 1
	buf, err := encodeEntry(seq, recs)
	if err != nil {
		return err
	}
	if s.size+int64(len(buf)) > s.maxBytes {
		return s.compactLocked(&pendingEntry{seq: seq, records: recs})
	}
	if _, err := s.f.Write(buf); err != nil {
		// A short write (a full disk) would leave a torn entry that hides every
		// later one when the spool is next opened: cut it off now.
		if terr := s.f.Truncate(s.size); terr != nil {
			return fmt.Errorf("spool: append: %w (and cutting off the partial entry: %v)", err, terr)
		}
		return fmt.Errorf("spool: append: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("spool: fsync: %w", err)
	}
	s.entries = append(s.entries, entryRef{seq: seq, off: s.size, size: int64(len(buf)), records: len(recs)})
	s.size += int64(len(buf))
	s.lastSeq = seq
	return nil
}

// Next takes the oldest pending entries, whole and in order, up to maxRecords
// records and about maxBytes of JSON. It returns false when nothing is pending.
func (s *Spool) Next(maxRecords int, maxBytes int64) (SpoolBatch, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return SpoolBatch{}, false, errors.New("spool: closed")
	}
	var b SpoolBatch
	var bytes int64
	for _, e := range s.entries {
		if b.Entries > 0 && (len(b.Records)+e.records > maxRecords || bytes+e.size > maxBytes) {
			break
		}
		recs, err := s.readEntry(e)
		if err != nil {
			return SpoolBatch{}, false, err
		}
		b.Records = append(b.Records, recs...)
		b.LastSeq = e.seq
		b.Entries++
		bytes += e.size
	}
	return b, b.Entries > 0, nil
}

func (s *Spool) readEntry(e entryRef) ([]usagebatch.Record, error) {
	buf := make([]byte, e.size)
	if _, err := s.f.ReadAt(buf, e.off); err != nil {
		return nil, fmt.Errorf("spool: read entry %d: %w", e.seq, err)
	}
	var recs []usagebatch.Record
	if err := json.Unmarshal(buf[entryHeader:], &recs); err != nil {
		return nil, fmt.Errorf("spool: decode entry %d: %w", e.seq, err)
	}
	return recs, nil
}

// Ack records that the server accepted every entry up to seq: the cursor is
// replaced atomically, and once nothing is pending the file is emptied so it
// does not grow forever (a file mostly of accepted entries is compacted).
func (s *Spool) Ack(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return errors.New("spool: closed")
	}
	if seq <= s.acked {
		return nil
	}
	if err := writeFileAtomic(s.cursorPath(), []byte(strconv.FormatUint(seq, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("spool: save the acknowledgement cursor: %w", err)
	}
	s.acked = seq
	i := 0
	for i < len(s.entries) && s.entries[i].seq <= seq {
		i++
	}
	s.entries = s.entries[i:]
	defer s.updateGauges()
	switch {
	case len(s.entries) == 0:
		return s.truncateLocked()
	case s.entries[0].off > s.maxBytes/4:
		return s.compactLocked(nil)
	}
	return nil
}

// truncateLocked empties a spool whose entries were all accepted. The cursor
// is already saved, so a crash before or after this leaves nothing pending.
func (s *Spool) truncateLocked() error {
	if err := s.f.Truncate(0); err != nil {
		return fmt.Errorf("spool: rotate: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("spool: rotate: %w", err)
	}
	s.size, s.entries = 0, nil
	return nil
}

// Pending says how many entries and records the server has not yet accepted.
func (s *Spool) Pending() (entries, records int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.entries {
		records += e.records
	}
	return len(s.entries), records
}

// Size is the spool file's size in bytes.
func (s *Spool) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// Close closes the spool file. Everything appended is already on disk.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("spool: close: %w", err)
	}
	return nil
}

func (s *Spool) updateGauges() {
	if s.metrics == nil {
		return
	}
	s.metrics.spoolBytes.Set(float64(s.size))
	s.metrics.spoolPending.Set(float64(len(s.entries)))
}

// pendingEntry is an entry being compacted: one read from the file, or the
// one Append is adding.
type pendingEntry struct {
	seq     uint64
	ref     *entryRef
	records []usagebatch.Record
}

// keyFields are the members of a record's natural key, all compaction
// decodes of it.
type keyFields struct {
	Source     string    `json:"source"`
	Cluster    string    `json:"cluster"`
	ExternalID string    `json:"external_id"`
	Resource   string    `json:"resource"`
	Start      time.Time `json:"start"`
}

func hashKey(k keyFields) uint64 {
	h := fnv.New64a()
	h.Write([]byte(usagebatch.Record{Source: k.Source, Cluster: k.Cluster, ExternalID: k.ExternalID,
		Resource: k.Resource, Start: k.Start}.Key()))
	return h.Sum64()
}

// keyEntry says that a key (by its hash) has a version in entries[entry].
type keyEntry struct {
	key   uint64
	entry uint32
}

// compactLocked rewrites the pending entries (and extra, the entry being
// appended, if any) keeping only each key's latest version, drops the oldest
// windows if they still fill more than three quarters of the bound, and
// replaces the spool file atomically.
//
// Entries keep their sequence numbers, and a record stays in the entry that
// held its latest version. So an acknowledgement of seq N, for a batch taken
// before the compaction, still means what it says: every kept record in an
// entry up to N is the version that batch sent.
//
// Memory is what a 64 MiB service limit allows at a full 256 MiB spool: 16
// bytes per record (a 64-bit hash of its key and its entry), and one entry's
// JSON at a time; records are copied as they were written, never re-encoded.
// A full spool of distinct keys (weeks of outage) takes about 15 s and 45 MB
// of RSS to compact on the 2-core development machine; the usual one, of
// revisions, shrinks to a few windows' records.
// Two keys with one hash (about one chance in 50 million for a full spool)
// would make the older of them look superseded.
func (s *Spool) compactLocked(extra *pendingEntry) error {
	entries := make([]pendingEntry, 0, len(s.entries)+1)
	records := 0
	for i := range s.entries {
		entries = append(entries, pendingEntry{seq: s.entries[i].seq, ref: &s.entries[i]})
		records += s.entries[i].records
	}
	if extra != nil {
		entries = append(entries, *extra)
		records += len(extra.records)
	}
	load := func(e pendingEntry) ([]json.RawMessage, error) {
		var raws []json.RawMessage
		if e.ref == nil {
			for _, r := range e.records {
				b, err := json.Marshal(r)
				if err != nil {
					return nil, fmt.Errorf("spool: compact: %w", err)
				}
				raws = append(raws, b)
			}
			return raws, nil
		}
		buf := make([]byte, e.ref.size)
		if _, err := s.f.ReadAt(buf, e.ref.off); err != nil {
			return nil, fmt.Errorf("spool: compact: read entry %d: %w", e.seq, err)
		}
		if err := json.Unmarshal(buf[entryHeader:], &raws); err != nil {
			return nil, fmt.Errorf("spool: compact: decode entry %d: %w", e.seq, err)
		}
		return raws, nil
	}
	keyOf := func(raw json.RawMessage) (keyFields, error) {
		var k keyFields
		if err := json.Unmarshal(raw, &k); err != nil {
			return k, fmt.Errorf("spool: compact: %w", err)
		}
		return k, nil
	}

	// loadKeys reads only an entry's keys (one parse, for the first two
	// passes) and the average size of its records.
	loadKeys := func(e pendingEntry) ([]keyFields, int64, error) {
		if e.ref == nil {
			keys := make([]keyFields, len(e.records))
			for i, r := range e.records {
				keys[i] = keyFields{r.Source, r.Cluster, r.ExternalID, r.Resource, r.Start}
			}
			return keys, 320, nil
		}
		buf := make([]byte, e.ref.size)
		if _, err := s.f.ReadAt(buf, e.ref.off); err != nil {
			return nil, 0, fmt.Errorf("spool: compact: read entry %d: %w", e.seq, err)
		}
		var keys []keyFields
		if err := json.Unmarshal(buf[entryHeader:], &keys); err != nil {
			return nil, 0, fmt.Errorf("spool: compact: decode entry %d: %w", e.seq, err)
		}
		return keys, (e.ref.size - entryHeader) / int64(max(1, len(keys))), nil
	}

	// Pass 1: the entry of each key's latest version.
	latest := make([]keyEntry, 0, records)
	for i, e := range entries {
		keys, _, err := loadKeys(e)
		if err != nil {
			return err
		}
		for _, k := range keys {
			latest = append(latest, keyEntry{hashKey(k), uint32(i)})
		}
	}
	slices.SortFunc(latest, func(a, b keyEntry) int {
		if c := cmpUint(a.key, b.key); c != 0 {
			return c
		}
		return -cmpUint(uint64(a.entry), uint64(b.entry)) // latest first
	})
	latest = slices.CompactFunc(latest, func(a, b keyEntry) bool { return a.key == b.key })
	isLatest := func(k keyFields, entry int) bool {
		h := hashKey(k)
		i, found := slices.BinarySearchFunc(latest, h, func(a keyEntry, h uint64) int { return cmpUint(a.key, h) })
		return found && int(latest[i].entry) == entry
	}

	// Pass 2: the bytes each window's kept records take (each counted as its
	// entry's average), to choose what to drop if they do not fit.
	perWindow := map[time.Time]int64{}
	var total int64
	for i, e := range entries {
		keys, size, err := loadKeys(e)
		if err != nil {
			return err
		}
		for _, k := range keys {
			if isLatest(k, i) {
				perWindow[k.Start.UTC()] += size
				total += size
			}
		}
	}
	total += int64(len(entries)) * (entryHeader + 2)
	var keepFrom, lastDropped time.Time // records of windows before keepFrom are dropped
	if target := s.maxBytes / 4 * 3; total > target {
		windows := make([]time.Time, 0, len(perWindow))
		for w := range perWindow {
			windows = append(windows, w)
		}
		slices.SortFunc(windows, func(a, b time.Time) int { return a.Compare(b) })
		for _, w := range windows {
			if total <= target {
				break
			}
			total -= perWindow[w]
			keepFrom, lastDropped = w.Add(time.Nanosecond), w
		}
	}

	// Pass 3: write the kept records to a new file and put it in place.
	tmpPath := s.path() + ".compact"
	tmp, err := os.OpenFile(tmpPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool: compact: %w", err)
	}
	defer os.Remove(tmpPath) // a no-op once renamed
	w := bufio.NewWriterSize(tmp, 256<<10)
	var (
		newEntries []entryRef
		off        int64
		superseded int
		dropped    int
		payload    []byte
	)
	fail := func(err error) error {
		tmp.Close()
		return err
	}
	for i, e := range entries {
		raws, err := load(e)
		if err != nil {
			return fail(err)
		}
		payload = append(payload[:0], '[')
		kept := 0
		for _, raw := range raws {
			k, err := keyOf(raw)
			if err != nil {
				return fail(err)
			}
			switch {
			case !isLatest(k, i):
				superseded++
			case k.Start.Before(keepFrom):
				dropped++
			default:
				if kept > 0 {
					payload = append(payload, ',')
				}
				payload = append(payload, raw...)
				kept++
			}
		}
		payload = append(payload, ']')
		if kept == 0 {
			continue
		}
		buf := make([]byte, entryHeader, entryHeader+len(payload))
		copy(buf, entryMagic)
		binary.LittleEndian.PutUint64(buf[4:12], e.seq)
		binary.LittleEndian.PutUint32(buf[12:16], uint32(len(payload)))
		binary.LittleEndian.PutUint32(buf[16:20], entrySum(buf[4:16], payload))
		buf = append(buf, payload...)
		if _, err := w.Write(buf); err != nil {
			return fail(fmt.Errorf("spool: compact: %w", err))
		}
		newEntries = append(newEntries, entryRef{seq: e.seq, off: off, size: int64(len(buf)), records: kept})
		off += int64(len(buf))
	}
	if err := w.Flush(); err != nil {
		return fail(fmt.Errorf("spool: compact: %w", err))
	}
	if err := tmp.Sync(); err != nil {
		return fail(fmt.Errorf("spool: compact: %w", err))
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("spool: compact: %w", err)
	}
	if err := os.Rename(tmpPath, s.path()); err != nil {
		return fmt.Errorf("spool: compact: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("spool: compact: %w", err)
	}
	// The old file is replaced: reopen for appending, with the index just written.
	f, err := os.OpenFile(s.path(), os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spool: reopen after compaction: %w", err)
	}
	s.f.Close()
	s.f, s.size, s.entries = f, off, newEntries
	if extra != nil {
		s.lastSeq = max(s.lastSeq, extra.seq)
	}
	s.log.Info("spool: compacted (kept the latest version of each record)",
		"superseded_records", superseded, "entries", len(newEntries), "bytes", off)
	if dropped > 0 {
		s.log.Warn("spool: full even after compaction; dropped the records of the oldest windows (this usage is lost)",
			"records", dropped, "windows_through", lastDropped.Format(time.RFC3339),
			"spool_max_bytes", s.maxBytes, "hint", "the server has been unreachable or refusing batches for long: see parsimony_agent_push_errors_total")
		if s.metrics != nil {
			s.metrics.dropped.Add(float64(dropped))
		}
	}
	return nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
