package ledger

import (
	"math/bits"
	"time"
)

// part is the piece of a record that falls in one site-local day.
type part struct {
	start, end time.Time
	day        time.Time // the local day, as midnight UTC of that date (how pgx writes a date)
	quantity   int64
	allocated  int64
	used       int64
}

// splitDays cuts [r.Start, r.End) at every local midnight of loc and shares the
// record's quantities among the pieces in proportion to their length, exactly: the
// piece from offset a to offset b (microseconds from the start) gets
// ⌊Q·b/D⌋ − ⌊Q·a/D⌋, so the shares telescope to Q with no unit lost or made up. Local
// midnights come from time.Date in loc, so a 23- or 25-hour day (a DST change) is
// one day of that length. A record of zero length is one part holding everything.
func splitDays(r *Record, loc *time.Location) []part {
	start, end := r.Start, r.End
	dayOf := func(t time.Time) time.Time {
		y, m, d := t.In(loc).Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	if !end.After(start) {
		return []part{{start: start, end: end, day: dayOf(start), quantity: r.Quantity, allocated: r.Allocated, used: r.Used}}
	}
	total := uint64(end.Sub(start) / time.Microsecond)
	share := func(q int64, offset uint64) int64 {
		hi, lo := bits.Mul64(uint64(q), offset)
		quo, _ := bits.Div64(hi, lo, total) // offset ≤ total, so the quotient fits
		return int64(quo)
	}
	var parts []part
	var prevOffset uint64
	for cur := start; cur.Before(end); {
		local := cur.In(loc)
		y, m, d := local.Date()
		next := time.Date(y, m, d+1, 0, 0, 0, 0, loc)
		if !next.After(cur) { // cannot happen for real zones; guards an endless loop
			next = cur.Add(24 * time.Hour)
		}
		if next.After(end) {
			next = end
		}
		offset := uint64(next.Sub(start) / time.Microsecond)
		parts = append(parts, part{
			start:     cur,
			end:       next,
			day:       time.Date(y, m, d, 0, 0, 0, 0, time.UTC),
			quantity:  share(r.Quantity, offset) - share(r.Quantity, prevOffset),
			allocated: share(r.Allocated, offset) - share(r.Allocated, prevOffset),
			used:      share(r.Used, offset) - share(r.Used, prevOffset),
		})
		prevOffset = offset
		cur = next
	}
	return parts
}

// monthStart is the local start of the month containing t, the lower bound of its
// usage partition.
func monthStart(t time.Time, loc *time.Location) time.Time {
	y, m, _ := t.In(loc).Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, loc)
}
