package server_test

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/seed"
)

// Waste is one number on every page (issue 10, point 11): over the demo
// institution, each person's waste on the leaderboard is the sum of their jobs'
// waste — worked out here, job by job, from the usage rows and the prices that
// charged them — and the dashboard's most wasteful job wastes no more than its
// owner does on the leaderboard, and exactly what its parts add up to.
func TestWasteAgreesAcrossPages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := seed.Run(ctx, f.l, seed.Options{Scale: seed.ScaleDemo, Months: 2, RandomSeed: 1, Now: e2eNow,
		Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatalf("seed: %v", err)
	}
	admin, _ := f.session(t, "admin")
	for _, w := range []struct {
		period   string
		from, to time.Time
	}{
		{"prev", time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{"month", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 16, 0, 0, 0, 0, time.UTC)},
	} {
		t.Run(w.period, func(t *testing.T) {
			// Every job's waste, from its day parts: idle cores, memory above its
			// peak and idle GPUs (used = allocated where GPU use is not measured),
			// never below zero, each at the price of the charge of its own key
			// (one part at a time here; the ledger hashes them by key).
			rows, err := f.l.Pool().Query(ctx, `
				SELECT coalesce(us.login, ''), u.cluster, u.external_id, u.record_start, u.resource,
				       u.allocated, u.used, c.price::float8, r.per_unit::float8
				FROM usage u
				-- the usage charge of the part's key, or the late one for usage that
				-- came after its month closed
				JOIN LATERAL (SELECT c.price FROM charges c
				     WHERE c.usage_month = date_trunc('month', u.day)::date AND c.day = u.day
				       AND c.group_id = u.group_id AND coalesce(c.user_id, 0) = coalesce(u.user_id, 0) AND c.cluster = u.cluster
				       AND c.partition = u.partition AND c.qos = u.qos AND c.resource = u.resource AND c.price IS NOT NULL
				     ORDER BY c.kind = 'usage' DESC, c.period DESC LIMIT 1) c ON true
				JOIN resources r ON r.name = u.resource
				LEFT JOIN users us ON us.id = u.user_id
				WHERE u.start_time >= $1 AND u.start_time < $2`, w.from, w.to)
			if err != nil {
				t.Fatal(err)
			}
			type jobKey struct{ cluster, id, start string }
			byPerson, byJob := map[string]float64{}, map[jobKey]float64{}
			for rows.Next() {
				var login, cluster, id, resource string
				var start time.Time
				var allocated, used int64
				var price, perUnit float64
				if err := rows.Scan(&login, &cluster, &id, &start, &resource, &allocated, &used, &price, &perUnit); err != nil {
					t.Fatal(err)
				}
				if resource != "cpu" && resource != "memory" && resource != "gpu" {
					continue // storage and the billing TRES are never waste
				}
				waste := float64(max(allocated-used, 0)) * price / perUnit
				byPerson[login] += waste
				byJob[jobKey{cluster, id, start.UTC().Format(time.RFC3339)}] += waste
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}

			_, body := getAs(t, f.srv.URL+"/groups/uni/leaderboard?sort=waste&period="+w.period+"&csv=members", admin)
			board := readCSV(t, "leaderboard", body)
			col := csvColumns(board[0])
			shown := map[string]float64{}
			checked := 0
			for _, rec := range board[1:] {
				waste := mustFloat(t, rec[col["waste"]])
				shown[rec[col["login"]]] = waste
				if want := byPerson[rec[col["login"]]]; math.Abs(waste-want) > 0.006 {
					t.Errorf("%s: %q wastes %.2f on the leaderboard, their jobs %.4f", w.period, rec[col["login"]], waste, want)
				}
				if waste > 0 {
					checked++
				}
			}
			if checked < 10 {
				t.Fatalf("%s: only %d people waste anything:\n%s", w.period, checked, body)
			}

			_, body = getAs(t, f.srv.URL+"/groups/uni?period="+w.period+"&csv=top-waste", admin)
			top := readCSV(t, "top jobs by waste", body)
			tc := csvColumns(top[0])
			worst := top[1]
			login, waste := worst[tc["login"]], mustFloat(t, worst[tc["waste"]])
			start, err := time.Parse(time.RFC3339, worst[tc["start"]])
			if err != nil {
				t.Fatal(err)
			}
			if waste > shown[login]+0.005 {
				t.Errorf("%s: the worst job (%s) wastes %.2f, more than its owner %q on the leaderboard (%.2f)",
					w.period, worst[tc["job_id"]], waste, login, shown[login])
			}
			if want := byJob[jobKey{worst[tc["cluster"]], worst[tc["job_id"]], start.UTC().Format(time.RFC3339)}]; math.Abs(waste-want) > 0.006 {
				t.Errorf("%s: the worst job %s wastes %.2f on the dashboard, its parts %.4f", w.period, worst[tc["job_id"]], waste, want)
			}
		})
	}
}

// csvColumns maps a CSV header's names to their columns.
func csvColumns(head []string) map[string]int {
	out := map[string]int{}
	for i, h := range head {
		out[h] = i
	}
	return out
}

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q is not a plain number: %v", s, err)
	}
	return v
}
