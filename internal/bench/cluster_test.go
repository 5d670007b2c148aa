package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// testCluster returns the bootstrap addresses of a cluster for t: the one
// named by SPOOL_TEST_BROKERS (for example a real Spool broker), or a fresh
// in-process kfake cluster shut down when t ends.
func testCluster(t *testing.T) []string {
	t.Helper()
	if v := os.Getenv("SPOOL_TEST_BROKERS"); v != "" {
		return strings.Split(v, ",")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// testCommon returns options for a topic unique to the test.
func testCommon(t *testing.T, brokers []string) Common {
	return Common{
		Brokers: brokers,
		Topic:   fmt.Sprintf("bench-%s-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano()%1e9),
		Timeout: 20 * time.Second,
	}
}

func testProducer(records int64) ProducerConfig {
	p := DefaultProducerConfig()
	p.Records = records
	p.RecordSize = 100
	p.Linger = time.Millisecond
	p.Partitions = 3
	return p
}

// readTopic reads every record in topic with a plain kgo consumer.
func readTopic(t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	total := topicSize(t, brokers, topic)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for int64(len(out)) < total {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records: %v", len(out), total, err)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// topicSize is the number of offsets in topic: the sum of end minus start.
func topicSize(t *testing.T, brokers []string, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx := context.Background()
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		n += o.Offset - s.Offset
	})
	return n
}

func TestProduceRecordsLandInTopic(t *testing.T) {
	brokers := testCluster(t)
	p := testProducer(3000)
	p.Producers = 3
	p.Keys = KeysSeq
	p.KeySpace = 10
	o := ProduceOptions{Common: testCommon(t, brokers), ProducerConfig: p}
	res, err := RunProduce(context.Background(), o)
	if err != nil {
		t.Fatalf("RunProduce: %v", err)
	}
	if res.Kind != "produce" || res.Partitions != 3 || res.Interrupted {
		t.Errorf("kind %q partitions %d interrupted %v", res.Kind, res.Partitions, res.Interrupted)
	}
	pr := res.Produce
	// Keys "0".."9" are one byte each.
	if pr.Records != 3000 || pr.Errors != 0 || pr.Bytes != 3000*101 || pr.Clients != 3 {
		t.Fatalf("produce side %+v, want 3000 records of 101 bytes from 3 clients", *pr)
	}
	if pr.RecordsPerSec <= 0 || pr.MBPerSec <= 0 {
		t.Errorf("throughput %+v", *pr)
	}
	if res.AckLatency == nil || res.AckLatency.Count != 3000 || res.AckLatency.P50 <= 0 || res.AckLatency.Max < res.AckLatency.P99 {
		t.Errorf("ack latency %+v", res.AckLatency)
	}
	if n := topicSize(t, brokers, o.Topic); n != 3000 {
		t.Fatalf("topic holds %d records, want 3000", n)
	}
	perKey := make(map[string]int)
	for _, r := range readTopic(t, brokers, o.Topic) {
		perKey[string(r.Key)]++
		if len(r.Value) != 100 || strings.Trim(string(r.Value), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			t.Fatalf("value %q: want 100 upper-case letters", r.Value)
		}
	}
	for k := range 10 {
		if perKey[fmt.Sprint(k)] != 300 {
			t.Fatalf("records per key %v, want 300 for each of 0..9", perKey)
		}
	}
}

// TestProduceStickyBytes: keyless records stay on one partition for
// StickyBytes before the producer moves on. 2000 records of 100 bytes are
// far below 1 MiB (one partition) and many times 1 KiB (several).
func TestProduceStickyBytes(t *testing.T) {
	brokers := testCluster(t)
	for _, tc := range []struct {
		sticky  int32
		oneOnly bool
	}{{1 << 20, true}, {1024, false}} {
		p := testProducer(2000)
		p.StickyBytes = tc.sticky
		o := ProduceOptions{Common: testCommon(t, brokers), ProducerConfig: p}
		if _, err := RunProduce(context.Background(), o); err != nil {
			t.Fatalf("RunProduce: %v", err)
		}
		used := make(map[int32]int)
		for _, r := range readTopic(t, brokers, o.Topic) {
			used[r.Partition]++
		}
		if (len(used) == 1) != tc.oneOnly {
			t.Fatalf("sticky bytes %d: records per partition %v", tc.sticky, used)
		}
	}
}

// TestProduceAtRate: a paced run sends every record, and cannot finish
// before the schedule's last slot (299 records after the first at 5000/s).
func TestProduceAtRate(t *testing.T) {
	brokers := testCluster(t)
	p := testProducer(300)
	p.Rate = 5000
	p.Producers = 2
	p.Keys = KeysRandom
	p.KeySpace = 5
	res, err := RunProduce(context.Background(), ProduceOptions{Common: testCommon(t, brokers), ProducerConfig: p})
	if err != nil {
		t.Fatalf("RunProduce: %v", err)
	}
	if res.Produce.Records != 300 {
		t.Fatalf("acked %d, want 300", res.Produce.Records)
	}
	if floor := 299 * time.Second / 5000; res.Elapsed < floor {
		t.Fatalf("finished after %v, before the last scheduled send at %v", res.Elapsed, floor)
	}
	if topicSize(t, brokers, res.Topic) != 300 {
		t.Fatal("topic does not hold 300 records")
	}
}

// TestProduceForDuration: a timed run stops by itself, and everything it
// reports as acknowledged is in the topic.
func TestProduceForDuration(t *testing.T) {
	brokers := testCluster(t)
	p := testProducer(0)
	p.Duration = 200 * time.Millisecond
	p.Acks = "1"
	p.Idempotent = false
	res, err := RunProduce(context.Background(), ProduceOptions{Common: testCommon(t, brokers), ProducerConfig: p})
	if err != nil {
		t.Fatalf("RunProduce: %v", err)
	}
	if res.Produce.Records == 0 {
		t.Fatal("no records acknowledged in 200ms")
	}
	if n := topicSize(t, brokers, res.Topic); n != res.Produce.Records {
		t.Fatalf("topic holds %d records, result says %d", n, res.Produce.Records)
	}
}

// syncWriter signals on its first write, so a test can act once the run
// has provably started.
type syncWriter struct {
	once    sync.Once
	written chan struct{}
	mu      sync.Mutex
	buf     strings.Builder
}

func newSyncWriter() *syncWriter { return &syncWriter{written: make(chan struct{})} }

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf.Write(p)
	w.mu.Unlock()
	w.once.Do(func() { close(w.written) })
	return len(p), nil
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestProduceInterrupted: cancelling stops sending, still waits for the
// records in flight, and reports them.
func TestProduceInterrupted(t *testing.T) {
	brokers := testCluster(t)
	p := testProducer(0)
	p.Duration = time.Hour
	p.Rate = 2000
	progress := newSyncWriter()
	c := testCommon(t, brokers)
	c.Progress = progress
	c.ProgressInterval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-progress.written
		cancel()
	}()
	res, err := RunProduce(ctx, ProduceOptions{Common: c, ProducerConfig: p})
	if err != nil {
		t.Fatalf("RunProduce: %v", err)
	}
	if !res.Interrupted {
		t.Error("result not marked interrupted")
	}
	if n := topicSize(t, brokers, res.Topic); n != res.Produce.Records || res.Produce.Errors != 0 {
		t.Fatalf("topic holds %d, result %d acked and %d failed", n, res.Produce.Records, res.Produce.Errors)
	}
	if !strings.Contains(progress.String(), "produced") {
		t.Errorf("progress output %q", progress.String())
	}
}

func TestConsumeReadsWhatWasProduced(t *testing.T) {
	brokers := testCluster(t)
	c := testCommon(t, brokers)
	if _, err := RunProduce(context.Background(), ProduceOptions{Common: c, ProducerConfig: testProducer(2000)}); err != nil {
		t.Fatal(err)
	}
	t.Run("direct to end", func(t *testing.T) {
		res, err := RunConsume(context.Background(), ConsumeOptions{Common: c, Consumers: 2})
		if err != nil {
			t.Fatalf("RunConsume: %v", err)
		}
		if res.Consume.Records != 2000 || res.Consume.Bytes != 2000*100 || res.Consume.Clients != 2 {
			t.Fatalf("consumed %+v, want all 2000 records of 100 bytes by 2 clients", *res.Consume)
		}
		if res.Partitions != 3 || res.Interrupted {
			t.Errorf("partitions %d interrupted %v", res.Partitions, res.Interrupted)
		}
	})
	t.Run("more consumers than partitions", func(t *testing.T) {
		res, err := RunConsume(context.Background(), ConsumeOptions{Common: c, Consumers: 5})
		if err != nil {
			t.Fatalf("RunConsume: %v", err)
		}
		if res.Consume.Records != 2000 || res.Consume.Clients != 3 {
			t.Fatalf("consumed %+v, want 2000 records by 3 clients (one per partition)", *res.Consume)
		}
	})
	t.Run("record limit", func(t *testing.T) {
		res, err := RunConsume(context.Background(), ConsumeOptions{Common: c, Consumers: 1, Records: 500})
		if err != nil {
			t.Fatalf("RunConsume: %v", err)
		}
		if res.Consume.Records < 500 || res.Consume.Records > 2000 {
			t.Fatalf("consumed %d, want at least 500 (and no more than the topic holds)", res.Consume.Records)
		}
	})
	t.Run("group", func(t *testing.T) {
		res, err := RunConsume(context.Background(), ConsumeOptions{Common: c, Group: "bench-" + c.Topic, Consumers: 1})
		if err != nil {
			t.Fatalf("RunConsume: %v", err)
		}
		if res.Consume.Records != 2000 {
			t.Fatalf("group consumed %d, want 2000", res.Consume.Records)
		}
	})
	t.Run("group of two", func(t *testing.T) {
		res, err := RunConsume(context.Background(), ConsumeOptions{Common: c, Group: "bench2-" + c.Topic, Consumers: 2})
		if err != nil {
			t.Fatalf("RunConsume: %v", err)
		}
		// A rebalance may hand a partition over before its offsets are
		// committed, so the group can re-read some records: at least once.
		if res.Consume.Records < 2000 || res.Consume.Clients != 2 {
			t.Fatalf("group of two consumed %d with %d clients, want at least 2000 with 2", res.Consume.Records, res.Consume.Clients)
		}
	})
	t.Run("tail skips existing records", func(t *testing.T) {
		res, err := RunConsume(context.Background(), ConsumeOptions{Common: c, Consumers: 1, Tail: true, Duration: 200 * time.Millisecond})
		if err != nil {
			t.Fatalf("RunConsume: %v", err)
		}
		if res.Consume.Records != 0 {
			t.Fatalf("tail consumed %d old records", res.Consume.Records)
		}
	})
}

func TestConsumeMissingTopic(t *testing.T) {
	brokers := testCluster(t)
	_, err := RunConsume(context.Background(), ConsumeOptions{Common: testCommon(t, brokers), Consumers: 1})
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("err = %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
}

// TestE2E: records already in the topic are not counted; every record the
// run produced is received and timed.
func TestE2E(t *testing.T) {
	brokers := testCluster(t)
	c := testCommon(t, brokers)
	if _, err := RunProduce(context.Background(), ProduceOptions{Common: c, ProducerConfig: testProducer(150)}); err != nil {
		t.Fatal(err)
	}
	p := testProducer(600)
	p.Rate = 10_000
	res, err := RunE2E(context.Background(), E2EOptions{Common: c, ProducerConfig: p, Consumers: 2})
	if err != nil {
		t.Fatalf("RunE2E: %v", err)
	}
	if res.Produce.Records != 600 || res.Consume.Records != 600 {
		t.Fatalf("produced %d, consumed %d; want 600 each (the 150 older records excluded)", res.Produce.Records, res.Consume.Records)
	}
	e := res.E2ELatency
	if e == nil || e.Count != 600 || e.P50 <= 0 || e.P99 < e.P50 || e.Max < e.P999 {
		t.Fatalf("e2e latency %+v", e)
	}
	if res.AckLatency == nil || res.AckLatency.Count != 600 {
		t.Fatalf("ack latency %+v", res.AckLatency)
	}
	if topicSize(t, brokers, c.Topic) != 750 {
		t.Fatal("topic does not hold 150 + 600 records")
	}
}

func TestStamp(t *testing.T) {
	st := &stamp{id: 42}
	at := time.Unix(1_700_000_000, 123_456_789)
	v := st.put(make([]byte, 20), at)
	if got, ok := st.read(v); !ok || got != at.UnixNano() {
		t.Fatalf("read back %d, %v; want %d", got, ok, at.UnixNano())
	}
	if _, ok := (&stamp{id: 43}).read(v); ok {
		t.Fatal("another run's record accepted")
	}
	if _, ok := st.read(v[:15]); ok {
		t.Fatal("short value accepted")
	}
}

func TestValidate(t *testing.T) {
	good := ProduceOptions{Common: Common{Brokers: []string{"127.0.0.1:9092"}}, ProducerConfig: DefaultProducerConfig()}
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
	for name, change := range map[string]func(*ProduceOptions){
		"no brokers":            func(o *ProduceOptions) { o.Brokers = nil },
		"zero producers":        func(o *ProduceOptions) { o.Producers = 0 },
		"negative rate":         func(o *ProduceOptions) { o.Rate = -1 },
		"bad keys":              func(o *ProduceOptions) { o.Keys = "sorted" },
		"empty key space":       func(o *ProduceOptions) { o.Keys, o.KeySpace = KeysSeq, 0 },
		"bad acks":              func(o *ProduceOptions) { o.Acks = "2" },
		"idempotent acks 1":     func(o *ProduceOptions) { o.Acks = "1" },
		"bad compression":       func(o *ProduceOptions) { o.Compression = "brotli" },
		"tiny batch":            func(o *ProduceOptions) { o.BatchMaxBytes = 100 },
		"negative sticky bytes": func(o *ProduceOptions) { o.StickyBytes = -1 },
		"negative record size":  func(o *ProduceOptions) { o.RecordSize = -1 },
	} {
		o := good
		change(&o)
		if err := o.Validate(); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: err = %v, want ErrInvalidOptions", name, err)
		}
	}
	e2e := E2EOptions{Common: good.Common, ProducerConfig: DefaultProducerConfig(), Consumers: 1}
	e2e.RecordSize = stampSize - 1
	if err := e2e.Validate(); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("e2e with records smaller than the stamp: err = %v", err)
	}
	if err := (ConsumeOptions{Common: good.Common}).Validate(); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("consume with zero consumers: err = %v", err)
	}
	if _, err := RunProduce(context.Background(), ProduceOptions{}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("RunProduce with empty options: err = %v", err)
	}
}

func TestSplitPartitions(t *testing.T) {
	got := splitPartitions([]int32{4, 0, 3, 1, 2}, 2)
	if fmt.Sprint(got) != "[[0 2 4] [1 3]]" {
		t.Errorf("split 5 partitions over 2: %v", got)
	}
	if got := splitPartitions([]int32{0, 1}, 4); len(got) != 2 {
		t.Errorf("split 2 partitions over 4 consumers: %v, want 2 non-empty shares", got)
	}
}
