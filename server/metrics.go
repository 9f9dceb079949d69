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
	runs, err := c.l.LastSuccessfulRuns(ctx)
	if err != nil {
		return err
	}
	for _, run := range runs {
		finished := *run.FinishedAt
		ch <- prometheus.MustNewConstMetric(c.lastSuccess, prometheus.GaugeValue, float64(finished.Unix()), run.Source, run.Cluster)
		ch <- prometheus.MustNewConstMetric(c.lastDuration, prometheus.GaugeValue, finished.Sub(run.StartedAt).Seconds(), run.Source, run.Cluster)
		n := run.Counts
		for outcome, v := range map[string]int64{"read": n.Read, "ingested": n.Ingested, "revised": n.Revised, "unchanged": n.Unchanged,
			"quarantined": n.Quarantined, "unmapped": n.Unmapped} {
			ch <- prometheus.MustNewConstMetric(c.lastRecords, prometheus.GaugeValue, float64(v), run.Source, run.Cluster, outcome)
		}
	}
	if err := c.collectStates(ctx, ch); err != nil {
		return err
	}
	quarantined, err := c.l.UnresolvedBySource(ctx)
	if err != nil {
		return err
	}
	for source, n := range quarantined {
		ch <- prometheus.MustNewConstMetric(c.quarantined, prometheus.GaugeValue, float64(n), source)
	}
	rated, ok, err := c.l.LastRated(ctx)
	if err != nil {
		return err
	}
	if ok {
		ch <- prometheus.MustNewConstMetric(c.lastRated, prometheus.GaugeValue, float64(rated.Unix()))
	}
	return nil
}

// collectStates exports each collector's latest run state and its count of
// abandoned runs, so an alert can fire on a collector that keeps dying.
func (c *ledgerCollector) collectStates(ctx context.Context, ch chan<- prometheus.Metric) error {
	states, err := c.l.CollectorStates(ctx)
	if err != nil {
		return err
	}
	for _, cs := range states {
		for _, st := range []string{ledger.RunRunning, ledger.RunDone, ledger.RunFailed, ledger.RunAbandoned} {
			v := 0.0
			if st == cs.State {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.lastState, prometheus.GaugeValue, v, cs.Source, cs.Cluster, st)
		}
		ch <- prometheus.MustNewConstMetric(c.abandoned, prometheus.GaugeValue, float64(cs.Abandoned), cs.Source, cs.Cluster)
	}
	return nil
}
