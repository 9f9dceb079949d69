package agent

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the agent's Prometheus metrics, on a registry of its own (no
// globals: two agents in one test process do not share counters). They are
// served on --metrics-listen when it is set.
type Metrics struct {
	Registry *prometheus.Registry

	samples      prometheus.Counter
	sampleErrors prometheus.Counter
	readErrors   prometheus.Counter
	records      prometheus.Counter
	stateErrors  prometheus.Counter
	spoolErrors  prometheus.Counter

	spoolBytes   prometheus.Gauge
	spoolPending prometheus.Gauge
	dropped      prometheus.Counter

	pushed      prometheus.Counter
	quarantined prometheus.Counter
	pushErrors  *prometheus.CounterVec
	lastPush    prometheus.Gauge
}

// NewMetrics makes the metrics and registers them on a new registry.
func NewMetrics() *Metrics {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	m := &Metrics{
		Registry:     prometheus.NewRegistry(),
		samples:      counter("parsimony_agent_samples_total", "Samples taken (one per interval)."),
		sampleErrors: counter("parsimony_agent_sample_errors_total", "Samples that failed as a whole (nothing was recorded for that interval)."),
		readErrors:   counter("parsimony_agent_read_errors_total", "Cgroups that could not be read in a sample (read again next interval)."),
		records:      counter("parsimony_agent_records_total", "Usage records (revisions included) sampled and spooled."),
		stateErrors:  counter("parsimony_agent_state_errors_total", "Failures to save the sampler's state to the state directory."),
		spoolErrors:  counter("parsimony_agent_spool_errors_total", "Failures to append a sample to the spool (its records were not kept)."),
		spoolBytes:   gauge("parsimony_agent_spool_bytes", "Size of the spool file."),
		spoolPending: gauge("parsimony_agent_spool_pending_entries", "Spooled entries (one per interval or part of one) the server has not yet accepted."),
		dropped: counter("parsimony_agent_spool_dropped_records_total",
			"Records dropped from the spool to keep it within spool_max_bytes (the oldest windows first): usage lost."),
		pushed:      counter("parsimony_agent_pushed_records_total", "Records the server accepted (stored, revised, unchanged or quarantined)."),
		quarantined: counter("parsimony_agent_quarantined_records_total", "Records the server accepted into quarantine rather than usage."),
		pushErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "parsimony_agent_push_errors_total",
			Help: "Failed pushes by code: the HTTP status, or network or timeout."}, []string{"code"}),
		lastPush: gauge("parsimony_agent_last_push_success_timestamp_seconds", "When the server last accepted a batch (Unix time)."),
	}
	m.Registry.MustRegister(m.samples, m.sampleErrors, m.readErrors, m.records, m.stateErrors, m.spoolErrors,
		m.spoolBytes, m.spoolPending, m.dropped, m.pushed, m.quarantined, m.pushErrors, m.lastPush)
	return m
}
