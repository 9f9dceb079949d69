package agent

import (
	"bufio"
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// value reads a counter's or gauge's value.
func value(t *testing.T, m interface{ Value() float64 }) float64 {
	t.Helper()
	return m.Value()
}

// samples are the sample lines of the metrics' exposition, by name and labels.
func samples(t *testing.T, m *Metrics) map[string]string {
	t.Helper()
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		if line := sc.Text(); !strings.HasPrefix(line, "#") {
			name, v, _ := strings.Cut(line, " ")
			out[name] = v
		}
	}
	return out
}

func TestMetricsAreTheAgentsOwn(t *testing.T) {
	t.Parallel()
	a, b := NewMetrics(), NewMetrics()
	a.samples.Inc()
	if value(t, b.samples) != 0 {
		t.Error("two agents' metrics share a counter")
	}
	a.pushErrors.WithLabelValues("503").Inc()
	a.pushErrors.WithLabelValues("503").Inc()
	a.pushErrors.WithLabelValues(`odd"code`).Inc()
	a.records.Add(1001)
	a.spoolBytes.Set(4096)
	got := samples(t, a)
	for name, want := range map[string]string{
		"parsimony_agent_samples_total": "1", "parsimony_agent_spool_dropped_records_total": "0",
		`parsimony_agent_push_errors_total{code="503"}`: "2", `parsimony_agent_push_errors_total{code="odd\"code"}`: "1",
		"parsimony_agent_spool_bytes": "4096", "parsimony_agent_spool_pending_entries": "0",
		"parsimony_agent_last_push_success_timestamp_seconds": "0", "parsimony_agent_records_total": "1001",
	} {
		if got[name] != want {
			t.Errorf("%s = %q, want %q (all: %v)", name, got[name], want, got)
		}
	}
}

// The exposition parses as Prometheus's text format and passes its linter, as
// served over HTTP.
func TestMetricsExposition(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	m.pushErrors.WithLabelValues("network").Inc()
	m.lastPush.SetToCurrentTime()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	problems, err := promlint.New(bytes.NewReader(rec.Body.Bytes())).Lint()
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, rec.Body.String())
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	if n := strings.Count(rec.Body.String(), "# TYPE "); n != 13 {
		t.Errorf("%d metric families, want 13:\n%s", n, rec.Body.String())
	}
}
