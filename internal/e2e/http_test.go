package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestHTTPHealthAndMetrics: the probes answer 200 and /metrics reports
// request latencies and the log end offset of a produced partition.
func TestHTTPHealthAndMetrics(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t)
	if b.HTTPAddr() == "" {
		t.Fatalf("broker has no HTTP address")
	}
	topic := topicName(t, "metrics")
	createTopic(t, ctx, newAdmin(t, b.KafkaAddr()), topic, 2, nil)
	cl := newClient(t, b.KafkaAddr(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceSync(t, ctx, cl,
		&kgo.Record{Partition: 1, Value: []byte("a")},
		&kgo.Record{Partition: 1, Value: []byte("b")},
		&kgo.Record{Partition: 1, Value: []byte("c")})

	// The server records a request's latency just after writing its
	// response, so a scrape right after an ack may precede it. One more
	// request on the same connection orders the two: when its answer
	// arrives, the produce before it has been recorded.
	raw := dialRaw(t, b.KafkaAddr())
	if r := raw.roundTrip(produceRequest(topic, 0, -1, encodeBatch([]testRecord{{value: []byte("raw"), timestamp: 1700000000000}}))).(*kmsg.ProduceResponse); r.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("raw produce: error %d", r.Topics[0].Partitions[0].ErrorCode)
	}
	apiVersions(t, raw)

	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := client.Get("http://" + b.HTTPAddr() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: reading body: %v", path, err)
		}
		return resp.StatusCode, string(body)
	}
	for _, path := range []string{"/livez", "/readyz"} {
		if code, body := get(path); code != http.StatusOK {
			t.Errorf("GET %s: %d %q, want 200", path, code, body)
		}
	}
	code, body := get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	if !strings.Contains(body, "spool_kafka_request_duration_seconds_bucket{") ||
		!strings.Contains(body, `api="Produce"`) {
		t.Errorf("/metrics lacks spool_kafka_request_duration_seconds for Produce:\n%s", grepLines(body, "spool_kafka_request"))
	}
	for _, want := range []struct {
		partition string
		value     string
	}{{"0", "1"}, {"1", "3"}} {
		if !hasSample(body, "spool_partition_log_end_offset", map[string]string{"topic": topic, "partition": want.partition}, want.value) {
			t.Errorf("/metrics lacks spool_partition_log_end_offset{topic=%q,partition=%q} %s:\n%s",
				topic, want.partition, want.value, grepLines(body, "spool_partition_log_end_offset"))
		}
	}
}

// hasSample reports whether the Prometheus text exposition has a sample of
// metric with (at least) these labels and this value, whatever the label
// order.
func hasSample(body, metric string, labels map[string]string, value string) bool {
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, metric+"{") {
			continue
		}
		end := strings.LastIndex(line, "}")
		if end < 0 || strings.TrimSpace(line[end+1:]) != value {
			continue
		}
		ok := true
		for k, v := range labels {
			if !strings.Contains(line[:end], fmt.Sprintf("%s=%q", k, v)) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// grepLines returns body's lines containing s, for failure messages.
func grepLines(body, s string) string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
