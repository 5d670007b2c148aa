package e2e

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKeyedProduceConsume: 10k keyed records into 16 partitions with
// acks=all come back exactly once, in offset order per partition, and every
// key stays on one partition.
func TestKeyedProduceConsume(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t)
	topic := topicName(t, "keyed")
	createTopic(t, ctx, newAdmin(t, b.KafkaAddr()), topic, 16, nil)

	const n, keys = 10000, 700
	type pos struct {
		partition int32
		offset    int64
	}
	producer := newClient(t, b.KafkaAddr(), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	var (
		mu       sync.Mutex
		acked    = make(map[pos]string) // where each value landed, per its ack
		firstErr error
		wg       sync.WaitGroup
	)
	for i := range n {
		wg.Add(1)
		r := &kgo.Record{Key: fmt.Appendf(nil, "key-%d", i%keys), Value: fmt.Appendf(nil, "value-%d", i)}
		producer.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				firstErr = keepFirst(firstErr, err)
				return
			}
			p := pos{r.Partition, r.Offset}
			if prev, dup := acked[p]; dup {
				firstErr = keepFirst(firstErr, fmt.Errorf("%q and %q both acknowledged at partition %d offset %d", prev, r.Value, r.Partition, r.Offset))
			}
			acked[p] = string(r.Value)
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}

	// Acknowledged offsets are dense per partition: 0..count-1.
	perPartition := make(map[int32]int64)
	for p := range acked {
		perPartition[p.partition]++
	}
	for p := range acked {
		if p.offset < 0 || p.offset >= perPartition[p.partition] {
			t.Fatalf("partition %d: acknowledged offset %d outside 0..%d (offsets must be dense)", p.partition, p.offset, perPartition[p.partition]-1)
		}
	}
	if len(perPartition) < 8 {
		t.Errorf("700 keys landed on only %d of 16 partitions", len(perPartition))
	}

	recs := consumeAll(t, ctx, b.KafkaAddr(), topic)
	if len(recs) != n {
		t.Errorf("consumed %d records, produced %d", len(recs), n)
	}
	seen := make(map[pos]bool)
	lastOffset := make(map[int32]int64)
	keyPartition := make(map[string]int32)
	for _, r := range recs {
		p := pos{r.Partition, r.Offset}
		if seen[p] {
			t.Fatalf("partition %d offset %d consumed twice", r.Partition, r.Offset)
		}
		seen[p] = true
		if want, ok := acked[p]; !ok || want != string(r.Value) {
			t.Fatalf("partition %d offset %d holds %q; the producer's ack put %q there", r.Partition, r.Offset, r.Value, want)
		}
		if last, ok := lastOffset[r.Partition]; ok && r.Offset != last+1 {
			t.Fatalf("partition %d: offset %d consumed after %d", r.Partition, r.Offset, last)
		}
		lastOffset[r.Partition] = r.Offset
		if kp, ok := keyPartition[string(r.Key)]; ok && kp != r.Partition {
			t.Fatalf("key %q on partitions %d and %d", r.Key, kp, r.Partition)
		}
		keyPartition[string(r.Key)] = r.Partition
	}
	if len(seen) != len(acked) {
		t.Fatalf("consumed %d distinct records, %d acknowledged", len(seen), len(acked))
	}
}

// keepFirst returns first if set, else err: the first error wins.
func keepFirst(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// TestCompressionCodecs: records produced with each codec read back
// byte-identical, and the broker stores the batch as the producer sent it
// (the codec is still in the stored batch's attributes).
func TestCompressionCodecs(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t)
	adm := newAdmin(t, b.KafkaAddr())
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
		id    int8
	}{
		{"none", kgo.NoCompression(), 0},
		{"gzip", kgo.GzipCompression(), 1},
		{"snappy", kgo.SnappyCompression(), 2},
		{"lz4", kgo.Lz4Compression(), 3},
		{"zstd", kgo.ZstdCompression(), 4},
	}
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			topic := topicName(t, c.name)
			createTopic(t, ctx, adm, topic, 1, nil)
			cl := newClient(t, b.KafkaAddr(), kgo.DefaultProduceTopic(topic),
				kgo.ProducerBatchCompression(c.codec), kgo.ManualFlushing())
			want := codecRecords()
			var wg sync.WaitGroup
			var mu sync.Mutex
			var firstErr error
			for _, r := range want {
				wg.Add(1)
				cl.Produce(ctx, &kgo.Record{Key: r.key, Value: r.value, Headers: kgoHeaders(r.headers)}, func(_ *kgo.Record, err error) {
					mu.Lock()
					firstErr = keepFirst(firstErr, err)
					mu.Unlock()
					wg.Done()
				})
			}
			if err := cl.Flush(ctx); err != nil {
				t.Fatalf("flush: %v", err)
			}
			wg.Wait()
			if firstErr != nil {
				t.Fatalf("produce with %s: %v", c.name, firstErr)
			}

			got := consumeAll(t, ctx, b.KafkaAddr(), topic)
			if len(got) != len(want) {
				t.Fatalf("read %d records back, produced %d", len(got), len(want))
			}
			for i, r := range got {
				w := want[i]
				if !bytes.Equal(r.Key, w.key) || !bytes.Equal(r.Value, w.value) ||
					(r.Key == nil) != (w.key == nil) || (r.Value == nil) != (w.value == nil) {
					t.Fatalf("record %d: key/value %q/%.40q, want %q/%.40q", i, r.Key, r.Value, w.key, w.value)
				}
				if !sameHeaders(r.Headers, w.headers) {
					t.Fatalf("record %d: headers %v, want %v", i, r.Headers, w.headers)
				}
			}

			// The stored batch keeps the producer's codec.
			part := rawFetch(t, b.KafkaAddr(), topic, 0, 0)
			batches := parseBatches(t, part.RecordBatches)
			if len(batches) == 0 {
				t.Fatalf("raw fetch returned no batches")
			}
			for _, bi := range batches {
				if bi.codec != c.id {
					t.Errorf("stored batch at offset %d has codec %d, producer used %s (%d)", bi.baseOffset, bi.codec, c.name, c.id)
				}
			}
		})
	}
}

// codecRecords is a compressible set of records with awkward cases: a nil
// key, an empty value, a null value (tombstone), binary bytes, several
// headers, a header with no value.
func codecRecords() []testRecord {
	var out []testRecord
	for i := range 40 {
		r := testRecord{
			key:   fmt.Appendf(nil, "k%d", i),
			value: []byte(strings.Repeat(fmt.Sprintf("payload %d is compressible; ", i), 20)),
			headers: []kmsg.Header{
				{Key: "trace", Value: fmt.Appendf(nil, "t-%d", i)},
				{Key: "bin", Value: []byte{0, 1, 2, 255, byte(i)}},
			},
		}
		switch i {
		case 3:
			r.key = nil
		case 5:
			r.value = []byte{}
		case 7:
			r.headers = append(r.headers, kmsg.Header{Key: "empty"})
		case 9:
			r.value = make([]byte, 300)
			rand.Read(r.value)
		case 11:
			r.value = nil
		}
		out = append(out, r)
	}
	return out
}

func kgoHeaders(hs []kmsg.Header) []kgo.RecordHeader {
	var out []kgo.RecordHeader
	for _, h := range hs {
		out = append(out, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return out
}

func sameHeaders(got []kgo.RecordHeader, want []kmsg.Header) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i].Key != want[i].Key || !bytes.Equal(got[i].Value, want[i].Value) {
			return false
		}
	}
	return true
}

// TestMaxMessageBytes: a topic with max.message.bytes=64KiB takes a ~60KiB
// record and refuses a ~70KiB batch with MESSAGE_TOO_LARGE, both through
// franz-go (which must not refuse it first) and as a raw Produce.
func TestMaxMessageBytes(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t)
	topic := topicName(t, "maxbytes")
	createTopic(t, ctx, newAdmin(t, b.KafkaAddr()), topic, 1, map[string]string{"max.message.bytes": "65536"})

	cl := newClient(t, b.KafkaAddr(), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchMaxBytes(4<<20), kgo.ProducerBatchCompression(kgo.NoCompression()))
	small := make([]byte, 60<<10)
	rand.Read(small)
	big := make([]byte, 70<<10)
	rand.Read(big)

	res := cl.ProduceSync(ctx, &kgo.Record{Value: small})
	if err := res.FirstErr(); err != nil {
		t.Fatalf("60 KiB record on a 64 KiB topic: %v", err)
	}
	smallOffset := res[0].Record.Offset
	err := cl.ProduceSync(ctx, &kgo.Record{Value: big}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("70 KiB record on a 64 KiB topic: got %v, want MESSAGE_TOO_LARGE", err)
	}

	raw := dialRaw(t, b.KafkaAddr())
	check := func(value []byte, want int16) {
		t.Helper()
		batch := encodeBatch([]testRecord{{value: value, timestamp: 1700000000000}})
		resp := raw.roundTrip(produceRequest(topic, 0, -1, batch)).(*kmsg.ProduceResponse)
		got := resp.Topics[0].Partitions[0].ErrorCode
		if got != want {
			t.Fatalf("raw produce of a %d-byte batch: error %v, want %v", len(batch), kerr.ErrorForCode(got), kerr.ErrorForCode(want))
		}
	}
	check(big, kerr.MessageTooLarge.Code)
	check(small, 0)

	// Only the two accepted records are in the log.
	recs := consumeAll(t, ctx, b.KafkaAddr(), topic, kgo.FetchMaxPartitionBytes(1<<20))
	if len(recs) != 2 || !bytes.Equal(recs[0].Value, small) || recs[0].Offset != smallOffset || !bytes.Equal(recs[1].Value, small) {
		t.Fatalf("log holds %d records; want exactly the two accepted 60 KiB ones", len(recs))
	}

	// A consumer whose fetch limits are smaller than one batch still
	// progresses: the first batch is returned whole (KIP-74).
	tiny := newClient(t, b.KafkaAddr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxBytes(1024), kgo.FetchMaxPartitionBytes(1024))
	if got := pollN(t, ctx, tiny, 2); len(got) != 2 || !bytes.Equal(got[1].Value, small) {
		t.Fatalf("a consumer with 1 KiB fetch limits read %d records, want both 60 KiB ones", len(got))
	}
	tiny.Close()

	// Raising the limit at runtime takes effect for the next produce.
	alter, err := newAdmin(t, b.KafkaAddr()).AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kadm.StringPtr("131072")}}, topic)
	if err == nil {
		_, err = alter.On(topic, func(r *kadm.AlterConfigsResponse) error { return r.Err })
	}
	if err != nil {
		t.Fatalf("raising max.message.bytes: %v", err)
	}
	check(big, 0)
}

// TestAcks: acks 0, 1 and all each deliver every record. It runs the
// broker as a subprocess: acks=0 takes the unusual no-response path
// through the server, and a broker crash there must fail this test with
// the broker's output, not take the whole test binary down with it.
func TestAcks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		acks kgo.Acks
	}{{"acks0", kgo.NoAck()}, {"acks1", kgo.LeaderAck()}, {"all", kgo.AllISRAcks()}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startProcess(t, t.TempDir())
			ctx := p.watch(testContext(t))
			addr := p.kafkaAddr
			adm := newAdmin(t, addr)
			topic := topicName(t, tc.name)
			createTopic(t, ctx, adm, topic, 1, nil)
			opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(tc.acks)}
			if tc.name != "all" {
				opts = append(opts, kgo.DisableIdempotentWrite()) // idempotence requires acks=all
			}
			cl := newClient(t, addr, opts...)
			const n = 50
			var recs []*kgo.Record
			for i := range n {
				recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", tc.name, i)})
			}
			produceSync(t, ctx, cl, recs...)

			consumer := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			got := pollN(t, ctx, consumer, n)
			if len(got) != n {
				t.Fatalf("consumed %d records, produced %d", len(got), n)
			}
			for i, r := range got {
				if want := fmt.Sprintf("%s-%d", tc.name, i); string(r.Value) != want || r.Offset != int64(i) {
					t.Fatalf("record %d: %q at offset %d, want %q at %d", i, r.Value, r.Offset, want, i)
				}
				if tc.name != "acks0" && recs[i].Offset != r.Offset {
					t.Fatalf("record %d acknowledged at offset %d but stored at %d", i, recs[i].Offset, r.Offset)
				}
			}
		})
	}
}
