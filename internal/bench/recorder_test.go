package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// lineWriter hands each written line to the test.
type lineWriter chan string

func (w lineWriter) Write(p []byte) (int, error) {
	w <- string(p)
	return len(p), nil
}

// TestProgressLines drives the progress reporter with hand-made ticks:
// each tick yields one line with the interval's rate and latency, and
// nothing is written after stop.
func TestProgressLines(t *testing.T) {
	rec := &recorder{}
	rs := recorders{rec}
	p := &producerRun{recs: rs}
	side := p.progressSide()
	ticks := make(chan time.Time)
	out := make(lineWriter, 4)
	start := t0
	prog := startProgress(out, ticks, start, func(elapsed, interval time.Duration) string {
		return formatProgress(elapsed, interval, side())
	})

	for range 500 {
		rec.ok(2048, 3*time.Millisecond)
	}
	rec.fail(errors.New("boom"))
	ticks <- start.Add(time.Second)
	line := <-out
	for _, want := range []string{"1.0s", "produced 500", "500 rec/s", "0.98 MB/s", "1 errors", "ack p50 3.00ms"} {
		if !strings.Contains(line, want) {
			t.Errorf("first line %q lacks %q", line, want)
		}
	}

	// Second interval: 100 more records over two seconds, slower.
	for range 100 {
		rec.ok(2048, 40*time.Millisecond)
	}
	ticks <- start.Add(3 * time.Second)
	line = <-out
	for _, want := range []string{"3.0s", "produced 600", "50 rec/s", "ack p50 40.0ms"} {
		if !strings.Contains(line, want) {
			t.Errorf("second line %q lacks %q", line, want)
		}
	}
	prog.stop()
	select {
	case l := <-out:
		t.Fatalf("line written after stop: %q", l)
	default:
	}

	// The run totals keep everything, unlike the windows.
	c, h, first := rs.totals()
	if c.records != 600 || c.errors != 1 || h.Count() != 600 || first == nil {
		t.Fatalf("totals %+v, %d latencies, first error %v", c, h.Count(), first)
	}
}

func TestProgressDisabled(t *testing.T) {
	prog := startProgress(nil, make(chan time.Time), t0, func(time.Duration, time.Duration) string {
		t.Fatal("line built with progress disabled")
		return ""
	})
	prog.stop()
}

func TestResultOutput(t *testing.T) {
	var h Histogram
	for i := range 1000 {
		h.RecordDuration(time.Duration(i+1) * time.Microsecond)
	}
	res := &Result{
		Kind: "produce", Topic: "t", Partitions: 3, Elapsed: 2 * time.Second,
		Produce:    newThroughput(1, counts{records: 2000, bytes: 4 << 20}, 2*time.Second),
		AckLatency: summaryOrNil(&h),
		Config:     DefaultProducerConfig(),
	}
	if res.Produce.RecordsPerSec != 1000 || res.Produce.MBPerSec != 2 {
		t.Fatalf("throughput %+v, want 1000 rec/s and 2 MB/s", *res.Produce)
	}
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`topic "t" (3 partitions)`, "2000 records", "1000.0 records/s", "2.00 MB/s", "p50 0.50", "max 1.00ms"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text %q lacks %q", text.String(), want)
		}
	}
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Kind    string `json:"kind"`
		Produce struct {
			Records       int64   `json:"records"`
			RecordsPerSec float64 `json:"records_per_sec"`
			ElapsedS      float64 `json:"elapsed_s"`
		} `json:"produce"`
		Ack struct {
			Count uint64  `json:"count"`
			P50   float64 `json:"p50_ms"`
			Max   float64 `json:"max_ms"`
		} `json:"ack_latency"`
		Consume *struct{}      `json:"consume"`
		Config  map[string]any `json:"config"`
	}
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	if back.Kind != "produce" || back.Produce.Records != 2000 || back.Produce.RecordsPerSec != 1000 || back.Produce.ElapsedS != 2 ||
		back.Ack.Count != 1000 || back.Ack.P50 < 0.5 || back.Ack.P50 > 0.5*(1+1.0/subCount) || back.Ack.Max != 1 || back.Consume != nil || back.Config["acks"] != "all" {
		t.Errorf("json round trip: %s", js)
	}
}
