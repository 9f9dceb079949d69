package seed

import (
	"math"
	"math/rand/v2"
	"time"
)

// dayPlan is one site-local day of the history; the last one ends at Now.
type dayPlan struct {
	start, end       time.Time // end: the next local midnight, or Now
	startSec, endSec int64     // the same, in seconds from the start of the history
	firstSlot, slots int       // its hours, in calendar.slots
	weekday          time.Weekday
}

// slotPlan is one hour of the history in which jobs are submitted.
type slotPlan struct {
	at, length int64 // seconds from the start of the history; length ≤ 3600
}

// calendar is the history cut into days and hours, and how many jobs each cluster
// receives in each hour: office hours on weekdays, quiet nights and weekends, a dip
// over the winter holidays, a busy fortnight before a deadline on the GPU cluster,
// slow growth over the months, and day-to-day noise.
type calendar struct {
	days  []dayPlan
	slots []slotPlan
	jobs  [][]int32 // [cluster][slot]
}

func newCalendar(r *rand.Rand, p *plan, totalJobs int64) *calendar {
	cal := &calendar{}
	nowSec := p.historySeconds()
	hourOf := []int{}
	for d := p.start; d.Before(p.now); {
		y, m, dd := d.Date()
		next := time.Date(y, m, dd+1, 0, 0, 0, 0, p.loc)
		dp := dayPlan{start: d, end: next, startSec: int64(d.Sub(p.start) / time.Second), firstSlot: len(cal.slots), weekday: d.Weekday()}
		if next.After(p.now) {
			dp.end = p.now
		}
		dp.endSec = min(int64(next.Sub(p.start)/time.Second), nowSec)
		for _, h := range hoursOf(d, next) {
			at := int64(h.Sub(p.start) / time.Second)
			if at >= nowSec {
				break
			}
			cal.slots = append(cal.slots, slotPlan{at: at, length: min(3600, nowSec-at)})
			hourOf = append(hourOf, h.Hour())
			dp.slots++
		}
		if dp.endSec > dp.startSec {
			cal.days = append(cal.days, dp)
		}
		d = next
	}

	// Deadline fortnights on the GPU cluster.
	deadlines := []int{r.IntN(len(cal.days) + 1), r.IntN(len(cal.days) + 1)}
	months := p.now.Sub(p.start).Hours() / (24 * 30)
	cal.jobs = make([][]int32, len(p.clusters))
	weights := make([]float64, len(cal.slots))
	remaining := totalJobs
	for ci, c := range p.clusters {
		share := int64(math.Round(float64(totalJobs) * c.share))
		if ci == len(p.clusters)-1 {
			share = remaining
		}
		share = min(share, remaining)
		remaining -= share
		for di, dp := range cal.days {
			dayNoise := math.Exp(0.25 * r.NormFloat64())
			_, mon, dom := dp.start.Date()
			if mon == time.December && dom >= 24 || mon == time.January && dom == 1 {
				dayNoise *= 0.3
			}
			if c.name == "gpu1" {
				for _, dl := range deadlines {
					if di >= dl-14 && di < dl {
						dayNoise *= 2
					}
				}
			}
			trend := 1 + 0.03*months*float64(dp.startSec)/float64(max(nowSec, 1))
			for s := dp.firstSlot; s < dp.firstSlot+dp.slots; s++ {
				base := officeHours(dp.weekday, hourOf[s])
				base = c.flatter + (1-c.flatter)*base
				weights[s] = base * dayNoise * trend * math.Exp(0.3*r.NormFloat64()) * float64(cal.slots[s].length) / 3600
			}
		}
		cal.jobs[ci] = apportion(weights, share)
	}
	return cal
}

// officeHours is how busy an hour is, relative to a weekday morning.
func officeHours(wd time.Weekday, hour int) float64 {
	var v float64
	switch {
	case hour < 7:
		v = 0.2
	case hour < 9:
		v = 0.6
	case hour < 12:
		v = 1
	case hour < 13:
		v = 0.8
	case hour < 18:
		v = 1
	case hour < 21:
		v = 0.55
	default:
		v = 0.35
	}
	if wd == time.Saturday || wd == time.Sunday {
		v *= 0.35
	}
	return v
}

// apportion shares total among slots in proportion to their weights, exactly: slot i
// gets ⌊T·Cᵢ/W⌋ − ⌊T·Cᵢ₋₁/W⌋ for the running sums C of the weights, so the parts add
// up to total.
func apportion(weights []float64, total int64) []int32 {
	out := make([]int32, len(weights))
	var sum float64
	for _, w := range weights {
		sum += w
	}
	if sum <= 0 || len(weights) == 0 {
		if len(weights) > 0 {
			out[len(out)-1] = int32(total)
		}
		return out
	}
	var run float64
	var prev int64
	for i, w := range weights {
		run += w
		cur := int64(math.Floor(float64(total) * run / sum))
		if i == len(weights)-1 || cur > total {
			cur = total
		}
		if cur < prev {
			cur = prev
		}
		out[i] = int32(cur - prev)
		prev = cur
	}
	return out
}
