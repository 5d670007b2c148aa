package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// mb is the unit of every MB/s figure: 2^20 bytes, as kafka-producer-perf-test
// and kafka-consumer-perf-test compute "MB/sec", so numbers compare directly.
// Bytes are record keys plus values, not wire or disk bytes.
const mb = 1 << 20

// Result is the outcome of RunProduce, RunConsume or RunE2E. Its JSON form
// (durations as seconds or milliseconds, named in the keys) is the
// machine-readable output of `spool bench --json`.
type Result struct {
	Kind        string        // "produce", "consume" or "e2e"
	Topic       string        //
	Partitions  int           // partitions the topic had
	Started     time.Time     //
	Elapsed     time.Duration // whole run: start to last ack (produce) or stop (consume, e2e)
	Interrupted bool          // ctx was cancelled before the run's own end
	Produce     *Throughput   // produce side, if any
	Consume     *Throughput   // consume side, if any
	AckLatency  *Latency      // intended send to acknowledgement
	E2ELatency  *Latency      // intended send to receipt by a consumer
	Config      any           // the options the run used
}

// Throughput is one side's totals.
type Throughput struct {
	Clients       int
	Records       int64 // acknowledged (produce) or received (consume)
	Bytes         int64 // keys plus values of those records
	Errors        int64 // failed records (produce) or fetch errors (consume)
	Elapsed       time.Duration
	RecordsPerSec float64
	MBPerSec      float64 // 2^20 bytes per second
}

func newThroughput(clients int, c counts, elapsed time.Duration) *Throughput {
	t := &Throughput{Clients: clients, Records: c.records, Bytes: c.bytes, Errors: c.errors, Elapsed: elapsed}
	if s := elapsed.Seconds(); s > 0 {
		t.RecordsPerSec = float64(c.records) / s
		t.MBPerSec = float64(c.bytes) / s / mb
	}
	return t
}

func summaryOrNil(h *Histogram) *Latency {
	if h == nil || h.Count() == 0 {
		return nil
	}
	l := h.Summary()
	return &l
}

// millis converts for JSON: latencies are reported in fractional ms.
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ms formats a latency for people.
func ms(d time.Duration) string {
	v := millis(d)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	case v >= 1:
		return fmt.Sprintf("%.2fms", v)
	default:
		return fmt.Sprintf("%.3fms", v)
	}
}

// MarshalJSON writes the latency in milliseconds.
func (l Latency) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Count  uint64  `json:"count"`
		MeanMS float64 `json:"mean_ms"`
		P50MS  float64 `json:"p50_ms"`
		P90MS  float64 `json:"p90_ms"`
		P99MS  float64 `json:"p99_ms"`
		P999MS float64 `json:"p99_9_ms"`
		MaxMS  float64 `json:"max_ms"`
	}{l.Count, millis(l.Mean), millis(l.P50), millis(l.P90), millis(l.P99), millis(l.P999), millis(l.Max)})
}

// MarshalJSON writes the totals with the elapsed time in seconds.
func (t Throughput) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Clients       int     `json:"clients"`
		Records       int64   `json:"records"`
		Bytes         int64   `json:"bytes"`
		Errors        int64   `json:"errors"`
		ElapsedS      float64 `json:"elapsed_s"`
		RecordsPerSec float64 `json:"records_per_sec"`
		MBPerSec      float64 `json:"mb_per_sec"`
	}{t.Clients, t.Records, t.Bytes, t.Errors, t.Elapsed.Seconds(), t.RecordsPerSec, t.MBPerSec})
}

// MarshalJSON writes the result with snake_case keys.
func (r Result) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Kind        string      `json:"kind"`
		Topic       string      `json:"topic"`
		Partitions  int         `json:"partitions"`
		Started     time.Time   `json:"started"`
		ElapsedS    float64     `json:"elapsed_s"`
		Interrupted bool        `json:"interrupted"`
		Produce     *Throughput `json:"produce,omitempty"`
		Consume     *Throughput `json:"consume,omitempty"`
		AckLatency  *Latency    `json:"ack_latency,omitempty"`
		E2ELatency  *Latency    `json:"e2e_latency,omitempty"`
		Config      any         `json:"config,omitempty"`
	}{r.Kind, r.Topic, r.Partitions, r.Started, r.Elapsed.Seconds(), r.Interrupted,
		r.Produce, r.Consume, r.AckLatency, r.E2ELatency, r.Config})
}

// WriteText writes the result for people, in the spirit of the Kafka perf
// tools' summary lines.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s benchmark on topic %q (%d partitions), %.2fs", r.Kind, r.Topic, r.Partitions, r.Elapsed.Seconds())
	if r.Interrupted {
		b.WriteString(", interrupted")
	}
	b.WriteString("\n")
	side := func(name string, t *Throughput) {
		if t == nil {
			return
		}
		fmt.Fprintf(&b, "  %-9s %d records, %d bytes by %d clients in %.2fs: %.1f records/s, %.2f MB/s",
			name, t.Records, t.Bytes, t.Clients, t.Elapsed.Seconds(), t.RecordsPerSec, t.MBPerSec)
		if t.Errors > 0 {
			fmt.Fprintf(&b, ", %d errors", t.Errors)
		}
		b.WriteString("\n")
	}
	side("produced", r.Produce)
	side("consumed", r.Consume)
	lat := func(name string, l *Latency) {
		if l == nil {
			return
		}
		fmt.Fprintf(&b, "  %-9s p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s  (%d samples)\n",
			name, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max), ms(l.Mean), l.Count)
	}
	lat("ack", r.AckLatency)
	lat("e2e", r.E2ELatency)
	_, err := io.WriteString(w, b.String())
	return err
}
