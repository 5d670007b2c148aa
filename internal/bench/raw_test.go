package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/broker"
	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/record"
)

// The raw consumer is tested against a real in-process Spool broker, since
// it speaks Fetch itself and must read exactly the batches the log holds.

// startSpool starts a single-node broker in a temporary directory and
// returns its Kafka address; it is closed when t ends.
func startSpool(t *testing.T) string {
	t.Helper()
	cfg := config.Default()
	cfg.NodeID = 1
	cfg.DataDir = t.TempDir()
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.ControllerAddr = "127.0.0.1:0"
	cfg.HTTPAddr = ""
	cfg.AutoCreateTopics = false
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, cfg, broker.Options{})
	if err != nil {
		t.Fatalf("starting broker: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("closing broker: %v", err)
		}
	})
	return b.KafkaAddr()
}

// written is what a test produced: the totals the raw consumer must report.
type written struct{ records, bytes, batches int64 }

// produceBatches creates topic with partitions and writes batchesPer
// hand-built batches to each, of 1..4 records with values of varying size,
// so batch sizes differ. It returns the exact totals written.
func produceBatches(t *testing.T, addr, topic string, partitions int32, batchesPer int) written {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
	var w written
	for i := range batchesPer {
		req := kmsg.NewPtrProduceRequest()
		req.Acks = -1
		req.TimeoutMillis = 10000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		for p := range partitions {
			bld := record.NewBuilder(time.Now().UnixMilli())
			n := 1 + (i+int(p))%4
			for r := range n {
				bld.Add([]byte(fmt.Sprintf("k%d", r)), bytes.Repeat([]byte{'a' + byte(r)}, 100+37*i+r))
			}
			batch := bld.Build()
			w.records += int64(n)
			w.bytes += int64(len(batch))
			w.batches++
			rp := kmsg.NewProduceRequestTopicPartition()
			rp.Partition = p
			rp.Records = batch
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		presp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("produce: %v", err)
		}
		for _, pt := range presp.Topics {
			for _, pp := range pt.Partitions {
				if err := kerr.ErrorForCode(pp.ErrorCode); err != nil {
					t.Fatalf("produce to partition %d: %v", pp.Partition, err)
				}
			}
		}
	}
	return w
}

func rawOpts(addr, topic string) RawConsumeOptions {
	return RawConsumeOptions{ConsumeOptions: ConsumeOptions{
		Common:    Common{Brokers: []string{addr}, Topic: topic, Timeout: 20 * time.Second},
		Consumers: 1,
	}}
}

func TestRawConsumeReadsExactlyWhatWasProduced(t *testing.T) {
	addr := startSpool(t)
	want := produceBatches(t, addr, "raw-exact", 3, 12)

	for _, tc := range []struct {
		name      string
		consumers int
		partMax   int32
	}{
		{"one consumer, default sizes", 1, 0},
		// Smaller than most batches: each fetch returns one whole batch
		// (KIP-74) or a cut-off tail the consumer must leave for later.
		{"two consumers, tiny partition limit", 2, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := rawOpts(addr, "raw-exact")
			o.Consumers = tc.consumers
			o.PartitionMaxBytes = tc.partMax
			var progress strings.Builder
			o.Progress = &progress
			res, err := RunRawConsume(context.Background(), o)
			if err != nil {
				t.Fatalf("RunRawConsume: %v", err)
			}
			c := res.Consume
			if c.Records != want.records || c.Bytes != want.bytes || res.Batches != want.batches {
				t.Fatalf("read %d records, %d bytes, %d batches; produced %d, %d, %d",
					c.Records, c.Bytes, res.Batches, want.records, want.bytes, want.batches)
			}
			if res.Partitions != 3 || c.Clients != tc.consumers || res.Connections != tc.consumers {
				t.Errorf("partitions %d, clients %d, connections %d", res.Partitions, c.Clients, res.Connections)
			}
			if tc.partMax > 0 && res.Fetches < want.batches/3 {
				t.Errorf("%d fetches for %d batches under a %d-byte partition limit", res.Fetches, want.batches, tc.partMax)
			}
			if res.Interrupted || c.Errors != 0 {
				t.Errorf("interrupted %v, errors %d", res.Interrupted, c.Errors)
			}
		})
	}
}

func TestRawConsumeStopsAtRecordLimit(t *testing.T) {
	addr := startSpool(t)
	want := produceBatches(t, addr, "raw-limit", 2, 20)
	o := rawOpts(addr, "raw-limit")
	o.Records = 5
	o.PartitionMaxBytes = 200 // about one batch per partition per fetch
	res, err := RunRawConsume(context.Background(), o)
	if err != nil {
		t.Fatalf("RunRawConsume: %v", err)
	}
	if got := res.Consume.Records; got < 5 || got >= want.records {
		t.Fatalf("read %d records with a limit of 5 (of %d)", got, want.records)
	}
}

func TestRawConsumeEmptyTopicFinishesAtOnce(t *testing.T) {
	addr := startSpool(t)
	produceBatches(t, addr, "raw-empty", 2, 0)
	res, err := RunRawConsume(context.Background(), rawOpts(addr, "raw-empty"))
	if err != nil {
		t.Fatalf("RunRawConsume: %v", err)
	}
	if res.Consume.Records != 0 || res.Connections != 0 {
		t.Fatalf("empty topic: %d records over %d connections", res.Consume.Records, res.Connections)
	}
}

func TestRawConsumeCancelled(t *testing.T) {
	addr := startSpool(t)
	produceBatches(t, addr, "raw-tail", 1, 1)
	o := rawOpts(addr, "raw-tail")
	o.Tail = true
	o.Duration = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := RunRawConsume(ctx, o)
	if err == nil && res == nil {
		t.Fatal("no result and no error")
	}
	if res != nil && (!res.Interrupted || res.Consume.Records != 0) {
		t.Fatalf("cancelled tail run: interrupted %v, %d records", res.Interrupted, res.Consume.Records)
	}
}

func TestRawConsumeValidate(t *testing.T) {
	o := rawOpts("127.0.0.1:1", "x")
	o.Group = "g"
	if _, err := RunRawConsume(context.Background(), o); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("group: got %v, want ErrInvalidOptions", err)
	}
	o = rawOpts("127.0.0.1:1", "x")
	o.PartitionMaxBytes = -1
	if err := o.Validate(); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("negative partition max: got %v", err)
	}
}

func buildBatch(t *testing.T, base int64, n int) []byte {
	t.Helper()
	bld := record.NewBuilder(1)
	for range n {
		bld.Add(nil, []byte("value"))
	}
	b := bld.Build()
	record.SetBaseOffset(b, base)
	return b
}

func TestRawPartitionConsume(t *testing.T) {
	b1, b2, b3 := buildBatch(t, 10, 2), buildBatch(t, 12, 3), buildBatch(t, 15, 1)
	all := append(append(append([]byte{}, b1...), b2...), b3...)

	t.Run("partial tail is left for the next fetch", func(t *testing.T) {
		p := &rawPartition{offset: 10, end: -1}
		var got rawTally
		if err := p.consume(all[:len(b1)+len(b2)+20], &got); err != nil {
			t.Fatal(err)
		}
		if p.offset != 15 || got.batches != 2 || got.records != 5 || got.bytes != int64(len(b1)+len(b2)) {
			t.Fatalf("offset %d, tally %+v", p.offset, got)
		}
	})
	t.Run("batches at or past the end are not counted", func(t *testing.T) {
		p := &rawPartition{offset: 10, end: 15}
		var got rawTally
		if err := p.consume(all, &got); err != nil {
			t.Fatal(err)
		}
		if p.offset != 15 || got.batches != 2 || got.records != 5 || !(!p.active()) {
			t.Fatalf("offset %d, tally %+v, active %v", p.offset, got, p.active())
		}
	})
	t.Run("a lone partial batch is an error", func(t *testing.T) {
		p := &rawPartition{offset: 10, end: -1}
		var got rawTally
		if err := p.consume(b1[:len(b1)-1], &got); !errors.Is(err, ErrNoProgress) {
			t.Fatalf("got %v, want ErrNoProgress", err)
		}
	})
	t.Run("a bad magic is an error", func(t *testing.T) {
		bad := append([]byte{}, b1...)
		bad[16] = 1
		p := &rawPartition{offset: 10, end: -1}
		var got rawTally
		if err := p.consume(bad, &got); !errors.Is(err, record.ErrUnsupportedMagic) {
			t.Fatalf("got %v, want ErrUnsupportedMagic", err)
		}
	})
}

func TestRawResultJSON(t *testing.T) {
	r := RawResult{
		Result:  Result{Kind: "consume-raw", Topic: "t", Consume: &Throughput{Records: 3, Bytes: 300}},
		Batches: 2, Fetches: 1, Connections: 1,
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	if got["kind"] != "consume-raw" || got["batches"] != 2.0 || got["fetches"] != 1.0 || got["connections"] != 1.0 {
		t.Fatalf("JSON %s", b)
	}
	var text strings.Builder
	if err := r.WriteText(&text); err != nil || !strings.Contains(text.String(), "2 batches (150 bytes on average)") {
		t.Fatalf("text %q, err %v", text.String(), err)
	}
}
