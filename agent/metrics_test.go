package agent

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// value reads a counter's or gauge's value.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	t.Fatalf("%s is neither a counter nor a gauge", m.Desc())
	return 0
}

func TestMetricsRegistryIsTheAgentsOwn(t *testing.T) {
	t.Parallel()
	a, b := NewMetrics(), NewMetrics()
	a.samples.Inc()
	if value(t, b.samples) != 0 {
		t.Error("two agents' metrics share a counter")
	}
	a.pushErrors.WithLabelValues("503").Inc()
	families, err := a.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
	}
	for _, want := range []string{"parsimony_agent_samples_total", "parsimony_agent_spool_dropped_records_total",
		"parsimony_agent_push_errors_total", "parsimony_agent_spool_bytes", "parsimony_agent_spool_pending_entries",
		"parsimony_agent_last_push_success_timestamp_seconds", "parsimony_agent_records_total"} {
		if !names[want] {
			t.Errorf("metric %s not registered", want)
		}
	}
}
