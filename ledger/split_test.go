package ledger

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load zone %s: %v", name, err)
	}
	return loc
}

func TestSplitDaysCases(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name       string
		start, end time.Time
		quantity   int64
		wantDays   []string
		wantQ      []int64
		wantHours  []float64
	}{
		{"within one day", at("2026-10-05 10:00"), at("2026-10-05 12:00"), 7200,
			[]string{"2026-10-05"}, []int64{7200}, []float64{2}},
		{"across midnight", at("2026-10-05 22:00"), at("2026-10-06 02:00"), 4000,
			[]string{"2026-10-05", "2026-10-06"}, []int64{2000, 2000}, []float64{2, 2}},
		// 25 October 2026: clocks go back at 03:00 CEST, the day lasts 25 hours.
		{"autumn DST day is 25 hours", at("2026-10-25 00:00"), at("2026-10-26 00:00"), 25,
			[]string{"2026-10-25"}, []int64{25}, []float64{25}},
		{"across the autumn change", at("2026-10-24 12:00"), at("2026-10-26 12:00"), 49 * 3600,
			[]string{"2026-10-24", "2026-10-25", "2026-10-26"}, []int64{12 * 3600, 25 * 3600, 12 * 3600}, []float64{12, 25, 12}},
		// 29 March 2026: clocks go forward at 02:00, the day lasts 23 hours.
		{"spring DST day is 23 hours", at("2026-03-29 00:00"), at("2026-03-30 00:00"), 23 * 3600,
			[]string{"2026-03-29"}, []int64{23 * 3600}, []float64{23}},
		{"month boundary", at("2026-10-31 23:00"), at("2026-11-01 01:00"), 3,
			[]string{"2026-10-31", "2026-11-01"}, []int64{1, 2}, []float64{1, 1}},
		{"zero length", at("2026-10-05 10:00"), at("2026-10-05 10:00"), 5,
			[]string{"2026-10-05"}, []int64{5}, []float64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Record{Start: tt.start, End: tt.end, Quantity: tt.quantity, Allocated: tt.quantity, Used: tt.quantity / 2}
			parts := splitDays(&r, berlin)
			if len(parts) != len(tt.wantDays) {
				t.Fatalf("got %d parts, want %d: %+v", len(parts), len(tt.wantDays), parts)
			}
			var sumQ, sumU int64
			for i, p := range parts {
				if got := p.day.Format(time.DateOnly); got != tt.wantDays[i] {
					t.Errorf("part %d day = %s, want %s", i, got, tt.wantDays[i])
				}
				if p.quantity != tt.wantQ[i] {
					t.Errorf("part %d quantity = %d, want %d", i, p.quantity, tt.wantQ[i])
				}
				if h := p.end.Sub(p.start).Hours(); h != tt.wantHours[i] {
					t.Errorf("part %d lasts %v h, want %v", i, h, tt.wantHours[i])
				}
				sumQ += p.quantity
				sumU += p.used
			}
			if sumQ != tt.quantity || sumU != tt.quantity/2 {
				t.Errorf("parts sum to %d/%d, want %d/%d", sumQ, sumU, tt.quantity, tt.quantity/2)
			}
		})
	}
}

// TestSplitDaysProperties checks, on random records in several zones, that parts tile
// the record with no gap or overlap, each lies inside one local day, and the shares
// add up to the whole quantity exactly — also for quantities near the int64 limit.
func TestSplitDaysProperties(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 42))
	zones := []*time.Location{time.UTC, mustZone(t, "Europe/Berlin"), mustZone(t, "America/New_York"),
		mustZone(t, "Australia/Lord_Howe"), mustZone(t, "Asia/Kolkata")}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 20000; i++ {
		loc := zones[rng.IntN(len(zones))]
		start := base.Add(time.Duration(rng.Int64N(int64(3 * 365 * 24 * time.Hour)))).Truncate(time.Microsecond)
		length := time.Duration(rng.Int64N(int64(40 * 24 * time.Hour))).Truncate(time.Microsecond)
		q := rng.Int64N(1 << 40)
		if i%10 == 0 {
			q = math.MaxInt64 - rng.Int64N(1000)
		}
		r := Record{Start: start, End: start.Add(length), Quantity: q, Allocated: q / 3, Used: rng.Int64N(q/2 + 1)}
		parts := splitDays(&r, loc)
		var sumQ, sumA, sumU int64
		cursor := r.Start
		for j, p := range parts {
			if !p.start.Equal(cursor) {
				t.Fatalf("seed %d record %d part %d starts at %v, want %v", seed, i, j, p.start, cursor)
			}
			ls, le := p.start.In(loc), p.end.In(loc)
			y, m, d := ls.Date()
			nextMidnight := time.Date(y, m, d+1, 0, 0, 0, 0, loc)
			if p.end.After(nextMidnight) {
				t.Fatalf("seed %d record %d part %d crosses local midnight: %v → %v", seed, i, j, ls, le)
			}
			if got := time.Date(y, m, d, 0, 0, 0, 0, time.UTC); !got.Equal(p.day) {
				t.Fatalf("seed %d: part day %v, want %v", seed, p.day, got)
			}
			if p.quantity < 0 || p.allocated < 0 || p.used < 0 {
				t.Fatalf("seed %d: negative share %+v", seed, p)
			}
			sumQ += p.quantity
			sumA += p.allocated
			sumU += p.used
			cursor = p.end
		}
		if !cursor.Equal(r.End) {
			t.Fatalf("seed %d record %d: parts end at %v, want %v", seed, i, cursor, r.End)
		}
		if sumQ != r.Quantity || sumA != r.Allocated || sumU != r.Used {
			t.Fatalf("seed %d record %d: shares sum to %d/%d/%d, want %d/%d/%d",
				seed, i, sumQ, sumA, sumU, r.Quantity, r.Allocated, r.Used)
		}
	}
}
