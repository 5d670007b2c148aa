package server

import (
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var errTooManyOpenFiles = syscall.EMFILE

// Metrics are the listener's Prometheus collectors.
type Metrics struct {
	requests    *prometheus.HistogramVec
	bytesIn     prometheus.Counter
	bytesOut    prometheus.Counter
	connections prometheus.Gauge
	malformed   prometheus.Counter
	panics      prometheus.Counter
	budgetInUse prometheus.Gauge
	budgetWaits prometheus.Counter
	timeouts    *prometheus.CounterVec
}

// NewMetrics registers the listener's collectors with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "spool_kafka_request_duration_seconds",
			Help:    "Time from a Kafka request's arrival to its response being written, by API.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"api"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spool_kafka_received_bytes_total", Help: "Bytes of Kafka request frames received."}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spool_kafka_sent_bytes_total", Help: "Bytes of Kafka response frames sent."}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spool_kafka_connections", Help: "Open Kafka client connections."}),
		malformed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spool_kafka_malformed_requests_total", Help: "Frames that could not be decoded; each closed its connection."}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spool_kafka_handler_panics_total", Help: "Requests whose handler (or a goroutine it started) panicked: a bug, logged with its stack."}),
		budgetInUse: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spool_kafka_request_budget_bytes", Help: "Bytes of request frames held now, out of queued.max.request.bytes."}),
		budgetWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "spool_kafka_request_budget_waits_total", Help: "Times a connection stopped reading because queued.max.request.bytes was spent."}),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spool_kafka_connection_timeouts_total", Help: "Connections closed by a timeout, by kind: first_request, idle, read (a frame's body), write (a response), sasl (no authentication in time)."},
			[]string{"kind"}),
	}
	reg.MustRegister(m.requests, m.bytesIn, m.bytesOut, m.connections, m.malformed, m.panics, m.budgetInUse, m.budgetWaits, m.timeouts)
	return m
}

func (m *Metrics) observe(api string, d time.Duration) {
	m.requests.WithLabelValues(api).Observe(d.Seconds())
}
