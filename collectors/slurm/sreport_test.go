package slurm

import (
	"bufio"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parsimony-hpc/parsimony/collectors/slurmassoc"
	"github.com/parsimony-hpc/parsimony/ledger"
)

// sreportRow is one line of `sreport -P -t Seconds cluster AccountUtilizationByUser`.
type sreportRow struct {
	account, user string
	seconds       int64
}

func readSreport(t *testing.T, path string) []sreportRow {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []sreportRow
	var idx map[string]int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Cluster|") {
			idx = headerIndex(line)
			continue
		}
		if idx == nil || !strings.Contains(line, "|") {
			continue
		}
		fl := strings.Split(line, "|")
		secs, err := strconv.ParseInt(fl[idx["used"]], 10, 64)
		if err != nil {
			t.Fatalf("sreport line %q: %v", line, err)
		}
		rows = append(rows, sreportRow{account: fl[idx["account"]], user: fl[idx["login"]], seconds: secs})
	}
	return rows
}

// The recorded testbed hour (testdata/live, made by scripts/slurm-testbed): after
// syncing the account tree and ingesting the jobs dump with its reservations, the
// ledger's CPU core-seconds for the hour equal sreport's, per account (subtree, with
// reservation idle time) and per user in each account, exactly.
func TestMatchesSreport(t *testing.T) {
	// The same jobs dumped with epoch times and with ISO local times (TZ=UTC).
	for _, dump := range []string{"sacct-epoch.psv", "sacct-iso.psv"} {
		t.Run(dump, func(t *testing.T) { matchSreport(t, dump) })
	}
}

func matchSreport(t *testing.T, dump string) {
	l, _, _ := newLedger(t, "UTC")
	ctx := context.Background()
	open := func(name string) *os.File {
		f, err := os.Open("testdata/live/" + name)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	tree, rejects, err := slurmassoc.Parse(open("sacctmgr-assoc-ids.psv"))
	if err != nil || len(rejects) > 0 {
		t.Fatalf("assoc tree: %v %v", err, rejects)
	}
	changes, err := slurmassoc.Plan(ctx, l, "testbed", tree)
	if err != nil {
		t.Fatal(err)
	}
	if err := slurmassoc.Apply(ctx, l, "test", changes); err != nil {
		t.Fatal(err)
	}
	asOf := time.Date(2026, 11, 24, 20, 23, 8, 0, time.UTC)
	res, err := CollectFile(ctx, l, open(dump), asOf, Run{Cluster: "testbed", Location: time.UTC,
		Reservations: open("sacctmgr-reservations.psv"), Assocs: open("sacctmgr-assoc-ids.psv")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Counts.Quarantined != 0 {
		q, _ := l.Quarantined(ctx, 10)
		t.Fatalf("quarantined: %+v", q)
	}
	t.Log(res.Summary("testbed"))

	from := time.Date(2026, 11, 24, 20, 0, 0, 0, time.UTC)
	to := from.Add(time.Hour)
	byGroupUser := compareWithSreport(t, l, "testdata/live/sreport-account-user.psv", from, to)
	for _, s := range readSreport(t, "testdata/live/sreport-user-account.psv") {
		if got := byGroupUser[[2]string{s.account, s.user}]; got != s.seconds {
			t.Errorf("user %s in %s: ledger %d, sreport UserUtilizationByAccount %d", s.user, s.account, got, s.seconds)
		}
	}
}

// compareWithSreport checks every line of an AccountUtilizationByUser report against
// the ledger's CPU core-seconds over [from, to): an account line against its group's
// subtree (root: everything), a user line against the user's usage in the account's
// own group. It returns the ledger's figures by (group, user).
func compareWithSreport(t *testing.T, l *ledger.Ledger, path string, from, to time.Time) map[[2]string]int64 {
	t.Helper()
	ctx := context.Background()
	rows, err := l.Report(ctx, ledger.ReportQuery{From: from, To: to, By: []string{ledger.ByGroup, ledger.ByUser}, Resource: ledger.ResourceCPU})
	if err != nil {
		t.Fatal(err)
	}
	byGroupUser := map[[2]string]int64{}
	var all int64
	for _, r := range rows {
		byGroupUser[[2]string{r.Keys[0], r.Keys[1]}] += r.Quantity.Int64()
		all += r.Quantity.Int64()
	}
	lines := readSreport(t, path)
	if len(lines) < 5 {
		t.Fatalf("%s has only %d lines", path, len(lines))
	}
	for _, s := range lines {
		var got int64
		switch {
		case s.user != "":
			got = byGroupUser[[2]string{s.account, s.user}]
		case s.account == "root":
			got = all
		default:
			g, err := l.GroupBySlug(ctx, s.account)
			if err != nil {
				t.Fatalf("account %s has no group: %v", s.account, err)
			}
			sub, err := l.Report(ctx, ledger.ReportQuery{From: from, To: to, GroupID: g.ID, Resource: ledger.ResourceCPU})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range sub {
				got += r.Quantity.Int64()
			}
		}
		if got != s.seconds {
			t.Errorf("account %s user %q: ledger %d core-seconds, sreport %d", s.account, s.user, got, s.seconds)
		}
	}
	return byGroupUser
}
