package agent

import (
	"bufio"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Metrics are the agent's Prometheus metrics, each agent's own (no globals:
// two agents in one test process do not share counters). They are served on
// --metrics-listen when it is set, in Prometheus's text exposition format.
//
// They are written by hand rather than with client_golang: its registry,
// protobuf and process collectors cost the agent about 2.5 MB of resident
// memory, an eighth of its target (docs/agent.md, Footprint), for thirteen
// numbers.
type Metrics struct {
	samples      *counter
	sampleErrors *counter
	readErrors   *counter
	records      *counter
	stateErrors  *counter
	spoolErrors  *counter

	spoolBytes   *gauge
	spoolPending *gauge
	dropped      *counter

	pushed      *counter
	quarantined *counter
	pushErrors  *counterVec
	lastPush    *gauge

	all []metric // in exposition order
}

// metric is one family as it is exposed.
type metric struct {
	name, help, kind string
	write            func(w *bufio.Writer, name string)
}

// NewMetrics makes the metrics, all at zero.
func NewMetrics() *Metrics {
	m := &Metrics{}
	counterOf := func(name, help string) *counter {
		c := &counter{}
		m.all = append(m.all, metric{name, help, "counter", func(w *bufio.Writer, name string) { writeSample(w, name, "", c.Value()) }})
		return c
	}
	gaugeOf := func(name, help string) *gauge {
		g := &gauge{}
		m.all = append(m.all, metric{name, help, "gauge", func(w *bufio.Writer, name string) { writeSample(w, name, "", g.Value()) }})
		return g
	}
	m.samples = counterOf("parsimony_agent_samples_total", "Samples taken (one per interval).")
	m.sampleErrors = counterOf("parsimony_agent_sample_errors_total", "Samples that failed as a whole (nothing was recorded for that interval).")
	m.readErrors = counterOf("parsimony_agent_read_errors_total", "Cgroups that could not be read in a sample (read again next interval).")
	m.records = counterOf("parsimony_agent_records_total", "Usage records (revisions included) sampled and spooled.")
	m.stateErrors = counterOf("parsimony_agent_state_errors_total", "Failures to save the sampler's state to the state directory.")
	m.spoolErrors = counterOf("parsimony_agent_spool_errors_total", "Failures to append a sample to the spool (its records were not kept).")
	m.spoolBytes = gaugeOf("parsimony_agent_spool_bytes", "Size of the spool file.")
	m.spoolPending = gaugeOf("parsimony_agent_spool_pending_entries", "Spooled entries (one per interval or part of one) the server has not yet accepted.")
	m.dropped = counterOf("parsimony_agent_spool_dropped_records_total",
		"Records dropped from the spool to keep it within spool_max_bytes (the oldest windows first): usage lost.")
	m.pushed = counterOf("parsimony_agent_pushed_records_total", "Records the server accepted (stored, revised, unchanged or quarantined).")
	m.quarantined = counterOf("parsimony_agent_quarantined_records_total", "Records the server accepted into quarantine rather than usage.")
	m.pushErrors = &counterVec{label: "code", values: map[string]*counter{}}
	m.all = append(m.all, metric{"parsimony_agent_push_errors_total", "Failed pushes by code: the HTTP status, or network or timeout.",
		"counter", m.pushErrors.write})
	m.lastPush = gaugeOf("parsimony_agent_last_push_success_timestamp_seconds", "When the server last accepted a batch (Unix time).")
	return m
}

// WriteTo writes the metrics in Prometheus's text exposition format (0.0.4).
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	bw := bufio.NewWriter(cw)
	for _, f := range m.all {
		bw.WriteString("# HELP ")
		bw.WriteString(f.name)
		bw.WriteByte(' ')
		bw.WriteString(escapeHelp(f.help))
		bw.WriteString("\n# TYPE ")
		bw.WriteString(f.name)
		bw.WriteByte(' ')
		bw.WriteString(f.kind)
		bw.WriteByte('\n')
		f.write(bw, f.name)
	}
	err := bw.Flush()
	return cw.n, err
}

// Handler serves the metrics (GET /metrics).
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		m.WriteTo(w)
	})
}

// writeSample writes one sample line; labels is `{name="value"}` or "".
func writeSample(w *bufio.Writer, name, labels string, v float64) {
	w.WriteString(name)
	w.WriteString(labels)
	w.WriteByte(' ')
	w.WriteString(formatValue(v))
	w.WriteByte('\n')
}

// formatValue writes a sample value as Prometheus does.
func formatValue(v float64) string {
	switch {
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string { return helpEscaper.Replace(s) }

// counter is a monotonically increasing float, safe for concurrent use.
type counter struct{ bits atomic.Uint64 }

func (c *counter) Inc() { c.Add(1) }

// Add adds v, which must not be negative.
func (c *counter) Add(v float64) {
	for {
		old := c.bits.Load()
		if c.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func (c *counter) Value() float64 { return math.Float64frombits(c.bits.Load()) }

// gauge is a float that is set, safe for concurrent use.
type gauge struct{ bits atomic.Uint64 }

func (g *gauge) Set(v float64) { g.bits.Store(math.Float64bits(v)) }

// SetToCurrentTime sets the gauge to the Unix time in seconds.
func (g *gauge) SetToCurrentTime() { g.Set(float64(time.Now().UnixNano()) / 1e9) }

func (g *gauge) Value() float64 { return math.Float64frombits(g.bits.Load()) }

// counterVec is a counter per value of one label, made on first use.
type counterVec struct {
	label  string
	mu     sync.Mutex
	values map[string]*counter
}

// WithLabelValues is the counter of one label value.
func (v *counterVec) WithLabelValues(value string) *counter {
	v.mu.Lock()
	defer v.mu.Unlock()
	c, ok := v.values[value]
	if !ok {
		c = &counter{}
		v.values[value] = c
	}
	return c
}

func (v *counterVec) write(w *bufio.Writer, name string) {
	v.mu.Lock()
	values := make([]string, 0, len(v.values))
	for k := range v.values {
		values = append(values, k)
	}
	v.mu.Unlock()
	slices.Sort(values)
	for _, value := range values {
		writeSample(w, name, "{"+v.label+`="`+labelEscaper.Replace(value)+`"}`, v.WithLabelValues(value).Value())
	}
}

// countingWriter counts what it writes, for WriteTo.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
