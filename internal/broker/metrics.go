package broker

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spool-mq/spool/internal/partition"
)

// brokerMetrics are the storage-side Prometheus metrics.
type brokerMetrics struct {
	flush prometheus.Histogram
}

func newBrokerMetrics(reg prometheus.Registerer, parts *partition.Manager) *brokerMetrics {
	m := &brokerMetrics{
		flush: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "spool_log_flush_duration_seconds",
			Help:    "Time a produce waited for its data to be fsynced (shared group-commit fsyncs).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 18),
		}),
	}
	reg.MustRegister(m.flush, &partitionCollector{parts: parts})
	return m
}

func (m *brokerMetrics) observeFlush(d time.Duration) { m.flush.Observe(d.Seconds()) }

var (
	logEndDesc = prometheus.NewDesc("spool_partition_log_end_offset",
		"Offset the next record appended to the partition will get.", []string{"topic", "partition"}, nil)
	logStartDesc = prometheus.NewDesc("spool_partition_log_start_offset",
		"First offset still in the partition.", []string{"topic", "partition"}, nil)
	hwmDesc = prometheus.NewDesc("spool_partition_high_watermark",
		"End of what consumers may read.", []string{"topic", "partition"}, nil)
	sizeDesc = prometheus.NewDesc("spool_partition_size_bytes",
		"Bytes of log segments on disk.", []string{"topic", "partition"}, nil)
)

// partitionCollector reports per-partition gauges at scrape time, so the
// produce path does not update metrics per request.
type partitionCollector struct{ parts *partition.Manager }

func (c *partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- logEndDesc
	ch <- logStartDesc
	ch <- hwmDesc
	ch <- sizeDesc
}

func (c *partitionCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range c.parts.All() {
		tp := p.TopicPartition()
		labels := []string{tp.Topic, strconv.Itoa(int(tp.Partition))}
		ch <- prometheus.MustNewConstMetric(logEndDesc, prometheus.GaugeValue, float64(p.LogEndOffset()), labels...)
		ch <- prometheus.MustNewConstMetric(logStartDesc, prometheus.GaugeValue, float64(p.LogStartOffset()), labels...)
		ch <- prometheus.MustNewConstMetric(hwmDesc, prometheus.GaugeValue, float64(p.HighWatermark()), labels...)
		ch <- prometheus.MustNewConstMetric(sizeDesc, prometheus.GaugeValue, float64(p.Log().Size()), labels...)
	}
}
