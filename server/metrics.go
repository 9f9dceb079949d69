package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// ledgerCollector exports what the collectors and the billing did, read from the
// ledger at each scrape (a few small queries): so an alert can fire when a cluster
// has not been collected for hours, or quarantine grows.
type ledgerCollector struct {
	l *ledger.Ledger

	lastSuccess, lastRecords, lastDuration, lastState, abandoned, quarantined, lastRated, up *prometheus.Desc
}

func newLedgerCollector(l *ledger.Ledger) *ledgerCollector {
	return &ledgerCollector{l: l,
		lastSuccess: prometheus.NewDesc("parsimony_collector_last_success_timestamp_seconds",
			"When each collector last finished a run without error.", []string{"source", "cluster"}, nil),
		lastRecords: prometheus.NewDesc("parsimony_collector_last_run_records",
			"Records of each collector's last run, by what became of them.", []string{"source", "cluster", "outcome"}, nil),
		lastDuration: prometheus.NewDesc("parsimony_collector_last_run_duration_seconds",
			"How long each collector's last finished run took.", []string{"source", "cluster"}, nil),
		lastState: prometheus.NewDesc("parsimony_collector_last_run_state",
			"1 for the state of each collector's latest run (running, done, failed, abandoned), 0 for the others.", []string{"source", "cluster", "state"}, nil),
		abandoned: prometheus.NewDesc("parsimony_collector_abandoned_runs",
			"Runs of each collector whose process ended without finishing them (killed, crashed).", []string{"source", "cluster"}, nil),
		quarantined: prometheus.NewDesc("parsimony_quarantine_unresolved",
			"Quarantined inputs not yet resolved, by source.", []string{"source"}, nil),
		lastRated: prometheus.NewDesc("parsimony_period_last_rated_timestamp_seconds",
			"When the open billing period was last rated (what dashboards show is as of then).", nil, nil),
		up: prometheus.NewDesc("parsimony_ledger_up", "Whether the ledger's database answered the scrape's queries.", nil, nil),
	}
}

func (c *ledgerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.lastSuccess, c.lastRecords, c.lastDuration, c.lastState, c.abandoned, c.quarantined, c.lastRated, c.up} {
		ch <- d
	}
}

func (c *ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ok := 1.0
	if err := c.collect(ctx, ch); err != nil {
		ok = 0
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, ok)
}

func (c *ledgerCollector) collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	pool := c.l.Pool()
	rows, err := pool.Query(ctx, `
		SELECT DISTINCT ON (source, cluster) source, cluster, finished_at, started_at, read, ingested, revised, unchanged, quarantined, unmapped
		FROM collector_runs WHERE finished_at IS NOT NULL AND error IS NULL
		ORDER BY source, cluster, started_at DESC`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var source, cluster string
		var finished, started time.Time
		var read, ingested, revised, unchanged, quarantined, unmapped int64
		if err := rows.Scan(&source, &cluster, &finished, &started, &read, &ingested, &revised, &unchanged, &quarantined, &unmapped); err != nil {
			rows.Close()
			return err
		}
		ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, float64(finished.Unix()), source, cluster)
		ch <- prometheus.MustNewConstMetric(c.lastDuration, prometheus.GaugeValue, finished.Sub(started).Seconds(), source, cluster)
		for outcome, v := range map[string]int64{"read": read, "ingested": ingested, "revised": revised, "unchanged": unchanged,
			"quarantined": quarantined, "unmapped": unmapped} {
			ch <- prometheus.MustNewConstMetric(c.lastRecords, prometheus.GaugeValue, float64(v), source, cluster, outcome)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if err := c.collectStates(ctx, ch); err != nil {
		return err
	}
	rows, err = pool.Query(ctx, `SELECT source, count(*) FROM quarantine WHERE resolved_at IS NULL GROUP BY source`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var source string
		var n int64
		if err := rows.Scan(&source, &n); err != nil {
			rows.Close()
			return err
		}
		ch <- prometheus.MustNewConstMetric(c.quarantined, prometheus.GaugeValue, float64(n), source)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var rated *time.Time
	if err := pool.QueryRow(ctx, `SELECT max(rated_at) FROM periods WHERE closed_at IS NULL`).Scan(&rated); err != nil {
		return err
	}
	if rated != nil {
		ch <- prometheus.MustNewConstMetric(c.lastRated, prometheus.GaugeValue, float64(rated.Unix()))
	}
	return nil
}

// collectStates exports each collector's latest run state and its count of
// abandoned runs, so an alert can fire on a collector that keeps dying.
func (c *ledgerCollector) collectStates(ctx context.Context, ch chan<- prometheus.Metric) error {
	rows, err := c.l.Pool().Query(ctx, `
		SELECT DISTINCT ON (source, cluster) source, cluster, state,
		       (SELECT count(*) FROM collector_runs a WHERE a.source = r.source AND a.cluster = r.cluster AND a.state = 'abandoned')
		FROM collector_runs r ORDER BY source, cluster, id DESC`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var source, cluster, state string
		var abandoned int64
		if err := rows.Scan(&source, &cluster, &state, &abandoned); err != nil {
			return err
		}
		for _, st := range []string{ledger.RunRunning, ledger.RunDone, ledger.RunFailed, ledger.RunAbandoned} {
			v := 0.0
			if st == state {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.lastState, prometheus.GaugeValue, v, source, cluster, st)
		}
		ch <- prometheus.MustNewConstMetric(c.abandoned, prometheus.GaugeValue, float64(abandoned), source, cluster)
	}
	return rows.Err()
}
