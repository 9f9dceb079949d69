package server_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/seed"
)

// Point 10 of issue 10: for a billable group over a calendar month the dashboard's
// total is its statement's (draft while open, final once closed) to the cent, and
// every money breakdown the page offers adds up to the statement's usage figure;
// for any other group or window the total is the sum of each breakdown's rows.

// pageMinor reads an amount as the pages write it ("€1,234.56", "−€2.30") in
// minor units.
func pageMinor(t *testing.T, text string, digits int) int64 {
	t.Helper()
	s := strings.TrimSpace(text)
	neg := strings.HasPrefix(s, "−") || strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "−-")
	s = strings.TrimLeftFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", "")
	return plainMinor(t, map[bool]string{true: "-", false: ""}[neg]+s, digits)
}

// plainMinor reads a download's plain amount ("-1234.56") in minor units.
func plainMinor(t *testing.T, s string, digits int) int64 {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("%q is not an amount", s)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil)))
	if !r.IsInt() {
		t.Fatalf("%q has more than %d decimals", s, digits)
	}
	return r.Num().Int64()
}

// dashboardTotal is the page's total (data-testid spend-total) in minor units.
func dashboardTotal(t *testing.T, f fixture, token, slug, query string, digits int) int64 {
	t.Helper()
	resp, body := getAs(t, f.srv.URL+"/groups/"+slug+"?"+query, token)
	if resp.StatusCode != 200 {
		t.Fatalf("%s?%s: %d\n%.2000s", slug, query, resp.StatusCode, body)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	total := doc.Find(`[data-testid="spend-total"]`)
	if total.Length() != 1 {
		t.Fatalf("%s?%s: no total on the page", slug, query)
	}
	return pageMinor(t, total.Text(), digits)
}

// csvSums downloads each money breakdown of the page and sums its amount column.
func csvSums(t *testing.T, f fixture, token, slug, query string, digits int) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, id := range []string{"by-subgroup", "by-resource", "by-cluster", "by-partition", "by-user"} {
		resp, body := getAs(t, f.srv.URL+"/groups/"+slug+"?"+query+"&csv="+id, token)
		if resp.StatusCode != 200 {
			t.Fatalf("%s?%s csv %s: %d %.500s", slug, query, id, resp.StatusCode, body)
		}
		recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil || len(recs) == 0 {
			t.Fatalf("%s csv %s: %v %q", slug, id, err, body)
		}
		col := len(recs[0]) - 1
		if recs[0][col] != "amount" {
			t.Fatalf("%s csv %s: the last column is %q, not amount", slug, id, recs[0][col])
		}
		var sum int64
		for _, r := range recs[1:] {
			sum += plainMinor(t, r[col], digits)
		}
		out[id] = sum
	}
	return out
}

// statementsOf maps the month's statements (draft or final) by group slug.
func statementsOf(t *testing.T, f fixture, month time.Time) map[string]ledger.Statement {
	t.Helper()
	sts, _, err := f.l.Statements(context.Background(), month)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]ledger.Statement{}
	for _, st := range sts {
		out[st.GroupSlug] = st
	}
	return out
}

// checkReconciles asserts point 10 for every group of the fixture over the open
// month (to date) and over closed: billable groups show their statement, others a
// total their breakdowns add up to. It returns how many statements it compared.
func checkReconciles(t *testing.T, f fixture, token string, open time.Time, closed []time.Time) int {
	t.Helper()
	ctx := context.Background()
	_, digits := f.l.Currency()
	groups, err := f.l.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, month := range append([]time.Time{open}, closed...) {
		query := "period=" + month.Format("2006-01")
		if month.Equal(open) {
			query = "period=month"
		}
		sts := statementsOf(t, f, month)
		for _, g := range groups {
			got := dashboardTotal(t, f, token, g.Slug, query, digits)
			sums := csvSums(t, f, token, g.Slug, query, digits)
			if !g.Billable {
				for id, sum := range sums {
					if sum != got {
						t.Errorf("%s %s: the total is %d, the %s rows add up to %d", g.Slug, query, got, id, sum)
					}
				}
				continue
			}
			st := sts[g.Slug] // an archived group with nothing to bill has none: zero
			if got != st.TotalMinor {
				t.Errorf("%s %s: the dashboard says %d, the %s statement %d", g.Slug, query, got, st.Status, st.TotalMinor)
			}
			for id, sum := range sums {
				if sum != st.UsageMinor {
					t.Errorf("%s %s: the %s rows add up to %d, the statement's usage is %d", g.Slug, query, id, sum, st.UsageMinor)
				}
			}
			compared++
		}
	}
	return compared
}

// Every billable group of the demo institution: the dashboard's total is its draft
// statement's this month and its final statement's for a closed month, to the cent.
func TestDashboardTotalsAreTheDemoStatements(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := seed.Run(ctx, f.l, seed.Options{Scale: seed.ScaleDemo, Months: 2, RandomSeed: 1, Now: e2eNow,
		Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatalf("seed: %v", err)
	}
	admin, _ := f.session(t, "admin")
	open := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	n := checkReconciles(t, f, admin, open, []time.Time{open.AddDate(0, -1, 0)})
	if n < 10 {
		t.Fatalf("compared only %d statements: the demo has more billable groups", n)
	}
	if checkBudgets(t, f, open) == 0 {
		t.Error("the demo has no monthly budget to check")
	}
}

// checkBudgets asserts that a billable group's monthly budget has spent what its
// draft statement of the open month bills (the walk's money), and returns how many
// budgets it checked.
func checkBudgets(t *testing.T, f fixture, open time.Time) int {
	t.Helper()
	ctx := context.Background()
	sts := statementsOf(t, f, open)
	groups, err := f.l.Groups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, digits := f.l.Currency()
	budgets := 0
	for _, g := range groups {
		bs, err := f.l.BudgetStatuses(ctx, g.ID, e2eNow)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bs {
			if b.Resource != "" || b.Span != ledger.SpanMonth || !g.Billable {
				continue
			}
			budgets++
			want := new(big.Rat).SetFrac(big.NewInt(sts[g.Slug].TotalMinor), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil))
			if b.Spent.Cmp(want) != 0 {
				t.Errorf("%s: the budget has spent %s, the draft bills %s", g.Slug, b.Spent.FloatString(2), want.FloatString(2))
			}
		}
	}
	return budgets
}

// Random institutions: random trees with random billable groups, list and
// group-specific rates, allowances and discounts, adjustments, and late usage into a
// closed month. Replay a failure with PARSIMONY_TEST_SEED.
func TestDashboardReconcilesRandomInstitutions(t *testing.T) {
	seedV := uint64(time.Now().UnixNano())
	if s := os.Getenv("PARSIMONY_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seedV = v
	}
	t.Logf("random seed %d (replay with PARSIMONY_TEST_SEED=%d)", seedV, seedV)
	for c := range 3 {
		caseSeed := seedV + uint64(c)
		t.Run(fmt.Sprint(caseSeed), func(t *testing.T) {
			f := newFixture(t)
			randomInstitution(t, f, rand.New(rand.NewPCG(caseSeed, 10)))
			admin, _ := f.session(t, "admin")
			oct := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
			checkReconciles(t, f, admin, oct.AddDate(0, 1, 0), []time.Time{oct})
			checkBudgets(t, f, oct.AddDate(0, 1, 0))
		})
	}
}

// randomInstitution builds one: October closed, November open with
// late usage for October, adjustments, and a monthly budget on every billable group.
func randomInstitution(t *testing.T, f fixture, rng *rand.Rand) {
	t.Helper()
	ctx := context.Background()
	l := f.l
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	admin, err := l.UpsertUser(ctx, "t", ledger.User{Login: "admin", DisplayName: "Admin"})
	must(err)
	must(l.GrantGlobalRole(ctx, "t", admin.ID, ledger.RoleAdmin))
	var groups []ledger.Group
	for i := range 4 + rng.IntN(8) {
		ng := ledger.NewGroup{Kind: "lab", Slug: fmt.Sprintf("g%d", i), Name: fmt.Sprintf("Group %d", i), Billable: rng.IntN(2) == 0}
		if i > 0 && rng.IntN(4) > 0 {
			ng.ParentID = groups[rng.IntN(len(groups))].ID
		}
		g, err := l.CreateGroup(ctx, "t", ng)
		must(err)
		groups = append(groups, g)
		_, err = l.SetGroupMapping(ctx, "t", ledger.Mapping{Kind: ledger.KindSlurm, Scope: "hpc", Identity: g.Slug, GroupID: g.ID})
		must(err)
	}
	sep := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	oct, nov := sep.AddDate(0, 1, 0), sep.AddDate(0, 2, 0)
	for _, r := range []ledger.Rate{
		{Resource: "cpu", Price: big.NewRat(123457, 10000000), ValidFrom: sep},
		{Resource: "cpu", GroupID: groups[rng.IntN(len(groups))].ID, Price: big.NewRat(7, 1000), ValidFrom: sep},
		{Resource: "cpu", Partition: "gpu", Price: big.NewRat(2, 100), ValidFrom: sep},
		{Resource: "gpu", Price: big.NewRat(3, 4), ValidFrom: sep},
		{Resource: "gpu", Price: big.NewRat(9, 10), ValidFrom: time.Date(2026, 10, 11, 0, 0, 0, 0, time.UTC)},
		{Resource: "memory", Price: big.NewRat(333, 1000000), ValidFrom: sep},
	} {
		_, _, err := l.SetRate(ctx, "t", r)
		must(err)
	}
	_, err = l.SetSubsidy(ctx, "t", ledger.Subsidy{GroupID: groups[0].ID, Resource: "cpu",
		FreeQuantity: big.NewInt(int64(rng.IntN(200)) * 3600), DiscountPercent: big.NewRat(int64(rng.IntN(50)), 2), ValidFrom: sep})
	must(err)
	_, err = l.SetSubsidy(ctx, "t", ledger.Subsidy{GroupID: groups[rng.IntN(len(groups))].ID, Resource: ledger.Any,
		DiscountPercent: big.NewRat(333, 10), ValidFrom: sep})
	must(err)
	next := 0
	records := func(from time.Time, days, n int) []ledger.Record {
		var recs []ledger.Record
		for range n {
			start := from.Add(time.Duration(rng.Int64N(int64(days) * int64(24*time.Hour)))).Truncate(time.Second)
			length := time.Duration(1+rng.IntN(30)) * time.Hour
			q := int64(1+rng.IntN(64)) * int64(length/time.Second)
			resource := []string{"cpu", "cpu", "gpu", "memory", "billing"}[rng.IntN(5)]
			if resource == "memory" {
				q *= 1 << 30
			}
			acct := "nobody-claims-this"
			if rng.IntN(10) > 0 {
				acct = groups[rng.IntN(len(groups))].Slug
			}
			next++
			recs = append(recs, ledger.Record{Source: "slurm", Cluster: []string{"hpc", "hpc2"}[rng.IntN(2)], ExternalID: fmt.Sprint(next),
				Resource: resource, Start: start, End: start.Add(length), Quantity: q, Allocated: q, Used: q / int64(1+rng.IntN(4)),
				Account: acct, User: fmt.Sprintf("u%d", rng.IntN(6)), Partition: []string{"cpu", "gpu"}[rng.IntN(2)], QoS: "normal"})
		}
		return recs
	}
	_, err = l.Ingest(ctx, ledger.Batch{Records: records(oct, 45, 150)}) // October to mid-November
	must(err)
	for _, g := range groups {
		if g.Billable && rng.IntN(3) == 0 {
			_, err := l.AddAdjustment(ctx, "t", ledger.Adjustment{Period: oct, GroupID: g.ID, AmountMinor: int64(rng.IntN(20000) - 10000), Reason: "random"})
			must(err)
		}
	}
	_, _, err = l.Close(ctx, "t", oct)
	must(err)
	// Late usage for October, rated into November.
	_, err = l.Ingest(ctx, ledger.Batch{Records: records(oct, 31, 20)})
	must(err)
	for _, g := range groups {
		if !g.Billable {
			continue
		}
		if rng.IntN(2) == 0 {
			_, err := l.AddAdjustment(ctx, "t", ledger.Adjustment{Period: nov, GroupID: g.ID, AmountMinor: int64(rng.IntN(30000) - 10000), Reason: "random"})
			must(err)
		}
		_, err := l.SetBudget(ctx, "t", ledger.Budget{GroupID: g.ID, Span: ledger.SpanMonth, Amount: big.NewRat(100, 1), ValidFrom: sep})
		must(err)
	}
	_, err = l.RatePeriod(ctx, "t", nov)
	must(err)
}
