package server_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestAPILeaderboardAgreesWithPage: one number. The API's leaderboard has the
// leaderboard page download's figures, line for line in the same order, for one
// who sees names and one who does not, ranked by spend and by other sorts.
func TestAPILeaderboardAgreesWithPage(t *testing.T) {
	f := newFixture(t)
	apiInstitution(t, f)
	// The page's download column for each of the API's keys.
	columns := map[string]string{"rank": "rank", "spend": "spend", "prev_spend": "previous_spend", "change": "change",
		"core_hours": "core_hours", "gpu_hours": "gpu_hours", "storage_tb_months": "storage_tb_months",
		"cpu_efficiency": "cpu_efficiency", "waste": "waste"}
	for _, c := range []struct{ login, sort string }{{"pi-a", "spend"}, {"mem-a", "spend"}, {"pi-a", "waste"}, {"mem-a", "core"}} {
		login, query := c.login, "?period=2026-11&sort="+c.sort
		who := signedIn(t, f, login)
		resp, body := who.get("/api/v1/groups/lab-a/leaderboard" + query)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: api leaderboard: %d %s", login, resp.StatusCode, body)
		}
		var lists struct{ Members, Subgroups []map[string]any }
		if err := json.Unmarshal([]byte(body), &lists); err != nil {
			t.Fatal(err)
		}
		out := map[string][]map[string]any{"members": lists.Members, "subgroups": lists.Subgroups}
		for board, id := range map[string]string{"members": "login", "subgroups": "group"} {
			resp, body := who.get("/groups/lab-a/leaderboard" + query + "&csv=" + board)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: page %s: %d %s", login, board, resp.StatusCode, body)
			}
			recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
			if err != nil || len(recs) == 0 {
				t.Fatalf("%s: page %s: %v\n%s", login, board, err, body)
			}
			col := map[string]int{}
			for i, h := range recs[0] {
				col[h] = i
			}
			lines := out[board]
			if len(lines) != len(recs)-1 {
				t.Errorf("%s %s: %d lines in the API, %d on the page", login, board, len(lines), len(recs)-1)
				continue
			}
			for i, rec := range recs[1:] {
				line := lines[i]
				apiID := line["slug"]
				if board == "members" {
					apiID = line["login"]
				}
				if apiID == nil {
					apiID = ""
				}
				if apiID != rec[col[id]] {
					t.Errorf("%s %s line %d: %v in the API, %q on the page", login, board, i+1, apiID, rec[col[id]])
				}
				for key, c := range columns {
					if got, want := apiFigure(line[key]), pageFigure(rec[col[c]]); got != want {
						t.Errorf("%s %s line %d %s: %s in the API, %s on the page", login, board, i+1, key, got, want)
					}
				}
			}
		}
	}
}

// apiFigure and pageFigure write a figure of either for comparison: a number with
// four decimals, or "" for none.
func apiFigure(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', 4, 64)
	case string:
		return pageFigure(x)
	}
	return fmt.Sprint(v)
}

func pageFigure(s string) string {
	if s == "" {
		return ""
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "not a number: " + s
	}
	return strconv.FormatFloat(x, 'f', 4, 64)
}
