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
			Name: "spool_kafka_handler_panics_total", Help: "Requests whose handler panicked (a bug); each closed its connection."}),
	}
	reg.MustRegister(m.requests, m.bytesIn, m.bytesOut, m.connections, m.malformed, m.panics)
	return m
}

func (m *Metrics) observe(api string, d time.Duration) {
	m.requests.WithLabelValues(api).Observe(d.Seconds())
}
