package agent

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/usagebatch"
)

var t0 = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// rec is a cgroup cpu record of cgroup id in the window starting at start.
func rec(id string, start time.Time, quantity int64) usagebatch.Record {
	return usagebatch.Record{Source: "cgroup", Cluster: "ws-01", ExternalID: id, Resource: "cpu",
		Start: start, End: start.Add(30 * time.Second), Quantity: quantity, User: "ada", Account: "chem"}
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func openSpool(t *testing.T, dir string, max int64, log *slog.Logger, m *Metrics) *Spool {
	t.Helper()
	if log == nil {
		log = quietLog()
	}
	if m == nil {
		m = NewMetrics()
	}
	s, err := OpenSpool(dir, max, log, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustAppend(t *testing.T, s *Spool, recs ...usagebatch.Record) {
	t.Helper()
	if err := s.Append(recs); err != nil {
		t.Fatal(err)
	}
}

// pendingRecords takes every pending record, in order, without acknowledging.
func pendingRecords(t *testing.T, s *Spool) []usagebatch.Record {
	t.Helper()
	b, _, err := s.Next(1<<30, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	return b.Records
}

func describe(recs []usagebatch.Record) string {
	var parts []string
	for _, r := range recs {
		parts = append(parts, fmt.Sprintf("%s@%s=%d", r.ExternalID, r.Start.UTC().Format("15:04"), r.Quantity))
	}
	return strings.Join(parts, " ")
}

func TestSpoolReplaysInOrderFromTheCursor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSpool(t, dir, DefaultSpoolMaxBytes, nil, nil)
	mustAppend(t, s, rec("a", t0, 1), rec("b", t0, 1))
	mustAppend(t, s, rec("a", t0, 2))
	mustAppend(t, s, rec("a", t0, 3), rec("c", t0, 9))

	// One entry at a time when a batch may hold only two records.
	b, ok, err := s.Next(2, 1<<20)
	if err != nil || !ok || b.LastSeq != 1 || describe(b.Records) != "a@10:00=1 b@10:00=1" {
		t.Fatalf("first batch: %+v %v %v", b, ok, err)
	}
	if err := s.Ack(b.LastSeq); err != nil {
		t.Fatal(err)
	}
	b, _, _ = s.Next(2, 1<<20)
	if b.LastSeq != 2 || describe(b.Records) != "a@10:00=2" {
		t.Fatalf("second batch: %+v", b)
	}
	if err := s.Ack(b.LastSeq); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// The cursor survives reopening: only the third entry is pending.
	s = openSpool(t, dir, DefaultSpoolMaxBytes, nil, nil)
	if got := describe(pendingRecords(t, s)); got != "a@10:00=3 c@10:00=9" {
		t.Fatalf("after reopen: %s", got)
	}
	mustAppend(t, s, rec("d", t0, 1))
	b, _, _ = s.Next(100, 1<<20)
	if b.LastSeq != 4 || b.Entries != 2 {
		t.Fatalf("sequence after reopen: %+v", b)
	}
	// Fully acknowledged: the file is emptied, and sequences go on after the cursor.
	if err := s.Ack(4); err != nil {
		t.Fatal(err)
	}
	if s.Size() != 0 {
		t.Errorf("spool of accepted entries is %d bytes, want 0", s.Size())
	}
	s.Close()
	s = openSpool(t, dir, DefaultSpoolMaxBytes, nil, nil)
	mustAppend(t, s, rec("e", t0, 1))
	if b, _, _ := s.Next(100, 1<<20); b.LastSeq != 5 || describe(b.Records) != "e@10:00=1" {
		t.Fatalf("after rotation: %+v", b)
	}
}

// A kill -9 in the middle of writing an entry leaves part of it: opening the
// spool cuts it off, and what is appended later is read back whole.
func TestSpoolCutsOffATornEntry(t *testing.T) {
	t.Parallel()
	for name, damage := range map[string]func(entry []byte) []byte{
		"half an entry":   func(e []byte) []byte { return e[:len(e)/2] },
		"half a header":   func(e []byte) []byte { return e[:entryHeader/2] },
		"bad checksum":    func(e []byte) []byte { c := bytes.Clone(e); c[len(c)-2] ^= 0xff; return c },
		"garbage":         func(e []byte) []byte { return []byte("not an entry at all, but long enough") },
		"length too long": func(e []byte) []byte { c := bytes.Clone(e); c[12] = 0xff; c[13] = 0xff; return c },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var logs bytes.Buffer
			s := openSpool(t, dir, DefaultSpoolMaxBytes, slog.New(slog.NewTextHandler(&logs, nil)), nil)
			mustAppend(t, s, rec("a", t0, 1))
			mustAppend(t, s, rec("a", t0, 2))
			good := s.Size()
			s.Close()

			torn, err := encodeEntry(3, []usagebatch.Record{rec("a", t0, 3)})
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(filepath.Join(dir, spoolFile), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(damage(torn))
			f.Close()

			s = openSpool(t, dir, DefaultSpoolMaxBytes, slog.New(slog.NewTextHandler(&logs, nil)), nil)
			if s.Size() != good {
				t.Errorf("size after opening %d, want %d", s.Size(), good)
			}
			if !strings.Contains(logs.String(), "torn") {
				t.Errorf("no warning about the torn entry: %s", logs.String())
			}
			mustAppend(t, s, rec("a", t0, 4))
			s.Close()
			s = openSpool(t, dir, DefaultSpoolMaxBytes, nil, nil)
			if got := describe(pendingRecords(t, s)); got != "a@10:00=1 a@10:00=2 a@10:00=4" {
				t.Errorf("pending %s", got)
			}
		})
	}
}

func compact(t *testing.T, s *Spool) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.compactLocked(nil); err != nil {
		t.Fatal(err)
	}
}

func TestSpoolCompactionKeepsTheLatestVersionOfEachKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := NewMetrics()
	s := openSpool(t, dir, DefaultSpoolMaxBytes, nil, m)
	t1 := t0.Add(time.Hour)
	mustAppend(t, s, rec("a", t0, 1), rec("b", t0, 5))
	mustAppend(t, s, rec("a", t0, 2))
	mustAppend(t, s, rec("a", t0, 3), rec("a", t1, 1))
	mustAppend(t, s, rec("c", t1, 7))
	before := s.Size()
	compact(t, s)
	if got, want := describe(pendingRecords(t, s)), "b@10:00=5 a@10:00=3 a@11:00=1 c@11:00=7"; got != want {
		t.Errorf("after compaction %s, want %s", got, want)
	}
	if s.Size() >= before {
		t.Errorf("compaction did not shrink the spool: %d → %d", before, s.Size())
	}
	if n, _ := s.Pending(); n != 3 {
		t.Errorf("%d entries pending, want 3 (the second held only a superseded version)", n)
	}
	if v := value(t, m.dropped); v != 0 {
		t.Errorf("dropped %v records; compaction alone drops none", v)
	}
	// Compaction survives reopening and keeps sequence numbers.
	s.Close()
	s = openSpool(t, dir, DefaultSpoolMaxBytes, nil, nil)
	b, _, _ := s.Next(100, 1<<20)
	if b.LastSeq != 4 || describe(b.Records) != "b@10:00=5 a@10:00=3 a@11:00=1 c@11:00=7" {
		t.Errorf("after reopening: %+v", b)
	}
}

// A batch taken before a compaction is acknowledged after it: the
// acknowledgement must not cover a newer version the batch did not carry.
func TestSpoolAckAfterCompaction(t *testing.T) {
	t.Parallel()
	s := openSpool(t, t.TempDir(), DefaultSpoolMaxBytes, nil, nil)
	mustAppend(t, s, rec("a", t0, 1), rec("b", t0, 1))
	b, _, _ := s.Next(100, 1<<20) // in flight: a=1, b=1
	mustAppend(t, s, rec("a", t0, 2))
	compact(t, s)
	if err := s.Ack(b.LastSeq); err != nil {
		t.Fatal(err)
	}
	if got := describe(pendingRecords(t, s)); got != "a@10:00=2" {
		t.Errorf("pending after the acknowledgement %q, want a@10:00=2", got)
	}
}

// Over its bound even after compaction, the spool drops the oldest windows,
// says so and counts them; the newest windows stay whole.
func TestSpoolBoundDropsTheOldestWindows(t *testing.T) {
	t.Parallel()
	const max = 64 << 10
	var logs bytes.Buffer
	m := NewMetrics()
	s := openSpool(t, t.TempDir(), max, slog.New(slog.NewTextHandler(&logs, nil)), m)
	const windows, cgroups = 40, 10
	for w := range windows {
		start := t0.Add(time.Duration(w) * time.Hour)
		var recs []usagebatch.Record
		for c := range cgroups {
			recs = append(recs, rec(fmt.Sprintf("/user.slice/user-%d.slice", 1000+c), start, int64(w)))
		}
		mustAppend(t, s, recs...)
		if s.Size() > max {
			t.Fatalf("spool %d bytes over its bound %d", s.Size(), max)
		}
	}
	dropped := value(t, m.dropped)
	if dropped == 0 || int(dropped)%cgroups != 0 {
		t.Fatalf("dropped %v records; want some, whole windows", dropped)
	}
	if !strings.Contains(logs.String(), "dropped the records of the oldest windows") || !strings.Contains(logs.String(), "records=") {
		t.Errorf("no warning naming the dropped records: %s", logs.String())
	}
	recs := pendingRecords(t, s)
	if len(recs)+int(dropped) != windows*cgroups {
		t.Errorf("%d pending + %v dropped != %d sampled", len(recs), dropped, windows*cgroups)
	}
	// What is left is the newest windows, whole.
	oldest := recs[0].Start
	for _, r := range recs {
		if r.Start.Before(oldest) {
			t.Fatalf("pending holds %s before %s", r.Start, oldest)
		}
	}
	if want := t0.Add(time.Duration(windows*cgroups-len(recs)) / cgroups * time.Hour); !oldest.Equal(want) {
		t.Errorf("oldest window kept %s, want %s", oldest, want)
	}
	if last := recs[len(recs)-1]; !last.Start.Equal(t0.Add((windows - 1) * time.Hour)) {
		t.Errorf("newest window lost: last pending %s", describe([]usagebatch.Record{last}))
	}
}

// A cursor that cannot be read means everything is sent again (harmless),
// never that anything is skipped.
func TestSpoolDamagedCursorReplaysAll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := openSpool(t, dir, DefaultSpoolMaxBytes, nil, nil)
	mustAppend(t, s, rec("a", t0, 1))
	mustAppend(t, s, rec("a", t0, 2))
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, cursorFile), []byte("x7"), 0o600); err != nil {
		t.Fatal(err)
	}
	s = openSpool(t, dir, DefaultSpoolMaxBytes, nil, nil)
	if got := describe(pendingRecords(t, s)); got != "a@10:00=1 a@10:00=2" {
		t.Errorf("pending %s", got)
	}
}

// Many samples, many compactions: every key's latest version is pending, its
// versions in the order they were sampled, and the spool stays small.
func TestSpoolRepeatedCompaction(t *testing.T) {
	t.Parallel()
	s := openSpool(t, t.TempDir(), 1<<20, nil, nil)
	latest := map[string]int64{}
	for i := range 2000 {
		start := t0.Add(time.Duration(i/120) * time.Hour)
		var recs []usagebatch.Record
		for c := range 5 {
			r := rec(fmt.Sprintf("/user.slice/user-%d.slice", c), start, int64(i))
			recs = append(recs, r)
			latest[r.Key()] = r.Quantity
		}
		mustAppend(t, s, recs...)
	}
	got := map[string]int64{}
	pending := pendingRecords(t, s)
	for _, r := range pending {
		if prev, seen := got[r.Key()]; seen && prev >= r.Quantity {
			t.Fatalf("key %q: version %d pending after %d", r.Key(), r.Quantity, prev)
		}
		got[r.Key()] = r.Quantity
	}
	if len(pending) >= 2000*5/2 {
		t.Errorf("%d records pending of 10,000 sampled: compaction did not run", len(pending))
	}
	if len(got) != len(latest) {
		t.Fatalf("%d keys pending, want %d", len(got), len(latest))
	}
	for k, v := range latest {
		if got[k] != v {
			t.Errorf("%q: pending %d, latest %d", k, got[k], v)
		}
	}
}
