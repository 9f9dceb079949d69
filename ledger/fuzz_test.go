package ledger

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// unescapeSafeText undoes SafeText, to show it loses nothing.
func unescapeSafeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		if s[i+1] == '\\' {
			b.WriteByte('\\')
			i++
			continue
		}
		if s[i+1] == 'x' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// FuzzSafeText: anything becomes storable text, and the escaping can be undone.
func FuzzSafeText(f *testing.F) {
	for _, s := range []string{"", "plain", "a\\b", "nul\x00byte", "bad\xff\xfeutf8", `\x41`, "日本語|job"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := SafeText(s)
		if !storableText(out) {
			t.Fatalf("SafeText(%q) = %q is not storable", s, out)
		}
		if back := unescapeSafeText(out); back != s {
			t.Fatalf("SafeText(%q) = %q unescapes to %q", s, out, back)
		}
	})
}

// FuzzRecord: any record is either refused with a reason or splits into day parts
// whose shares add up exactly; nothing panics.
func FuzzRecord(f *testing.F) {
	f.Add("slurm", "hpc", "123_4", "cpu", int64(1793786400), int64(3600), int64(3600), int64(7200), int64(100), "acct", "alice", "job|name", "Europe/Berlin")
	f.Add("k8s", "", "", "gpu", int64(0), int64(-5), int64(-1), int64(0), int64(0), "", "", "\xff", "America/New_York")
	f.Add("storage", "fs", "/p", "storage", int64(1791806400), int64(90000), int64(1<<62), int64(1<<62), int64(1<<62), "/p", "x", "", "Australia/Lord_Howe")
	f.Fuzz(func(t *testing.T, source, cluster, id, resource string, start, length, q, a, u int64, account, user, job, zone string) {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			loc = time.UTC
		}
		const maxSpan = 400 * 24 * 3600 // seconds; longer records are not what this checks
		if length > maxSpan {
			length %= maxSpan
		}
		r := Record{Source: source, Cluster: cluster, ExternalID: id, Resource: resource,
			Start: time.Unix(start%(1<<34), 0), Quantity: q, Allocated: a, Used: u,
			Account: account, User: user, JobName: job}
		r.End = r.Start.Add(time.Duration(length) * time.Second)
		r.normalise()
		if err := r.validate(); err != nil {
			if err.Error() == "" {
				t.Fatal("refused without a reason")
			}
			_ = r.rawText()
			return
		}
		_ = r.hash()
		var sum, sumA, sumU int64
		for _, p := range splitDays(&r, loc) {
			if p.quantity < 0 || p.end.Before(p.start) {
				t.Fatalf("bad part %+v", p)
			}
			sum += p.quantity
			sumA += p.allocated
			sumU += p.used
		}
		if sum != r.Quantity || sumA != r.Allocated || sumU != r.Used {
			t.Fatalf("parts sum to %d/%d/%d, record has %d/%d/%d", sum, sumA, sumU, r.Quantity, r.Allocated, r.Used)
		}
	})
}
