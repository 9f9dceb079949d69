package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/parsimony-hpc/parsimony/usagebatch"
)

// Whatever the spool file holds (a torn write, a disk's garbage, another
// program's file), opening it neither fails nor panics: it keeps the whole
// entries at its start and cuts off the rest, and what it keeps can be read
// and appended to.
func FuzzOpenSpool(f *testing.F) {
	one, _ := encodeEntry(1, []usagebatch.Record{rec("a", t0, 1)})
	two, _ := encodeEntry(2, []usagebatch.Record{rec("b", t0, 2), rec("c", t0, 3)})
	f.Add(append(append([]byte{}, one...), two...))
	f.Add(append(append([]byte{}, one...), two[:len(two)-3]...))
	f.Add(append(append([]byte{}, two...), one...)) // sequences going back
	f.Add([]byte("PSP1"))
	f.Add([]byte{})
	bad, _ := encodeEntry(1, nil)
	f.Add(bad)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, spoolFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := OpenSpool(dir, DefaultSpoolMaxBytes, quietLog(), NewMetrics())
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer s.Close()
		if s.Size() > int64(len(data)) {
			t.Fatalf("spool grew on opening: %d > %d", s.Size(), len(data))
		}
		if _, _, err := s.Next(usagebatch.MaxRecords, usagebatch.MaxBodyBytes); err != nil {
			t.Fatalf("next: %v", err)
		}
		if err := s.Append([]usagebatch.Record{rec("z", t0, 9)}); err != nil {
			t.Fatalf("append: %v", err)
		}
		b, ok, err := s.Next(usagebatch.MaxRecords, usagebatch.MaxBodyBytes)
		if err != nil || !ok || b.Records[len(b.Records)-1].ExternalID != "z" {
			t.Fatalf("after append: %+v %v %v", b, ok, err)
		}
	})
}

// The entry scanner alone, in memory (FuzzOpenSpool fsyncs, which makes it
// slow to fuzz): it never reads past the data, its entries are contiguous
// from the start, and the prefix it keeps scans to the same entries.
func FuzzScanEntries(f *testing.F) {
	one, _ := encodeEntry(1, []usagebatch.Record{rec("a", t0, 1)})
	two, _ := encodeEntry(2, []usagebatch.Record{rec("b", t0, 2), rec("c", t0, 3)})
	f.Add(append(append([]byte{}, one...), two...))
	f.Add(append(append([]byte{}, one...), two[:len(two)-3]...))
	f.Add(append(append([]byte{}, two...), one...))
	f.Add([]byte("PSP1\x01\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\x03\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, good, err := scanEntries(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		if good > int64(len(data)) {
			t.Fatalf("kept %d bytes of %d", good, len(data))
		}
		var off int64
		for _, e := range entries {
			if e.off != off || e.size < entryHeader {
				t.Fatalf("entry %+v not contiguous at %d", e, off)
			}
			off += e.size
		}
		if off != good {
			t.Fatalf("entries end at %d, kept %d", off, good)
		}
		again, good2, _ := scanEntries(bytes.NewReader(data[:good]), good)
		if good2 != good || len(again) != len(entries) {
			t.Fatalf("the kept prefix scans to %d entries, %d bytes; first %d, %d", len(again), good2, len(entries), good)
		}
	})
}
