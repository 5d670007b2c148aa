package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchWritten is a kgo hook that signals each Fetch request written to a
// broker, so a test knows a fetch is outstanding without sleeping.
type fetchWritten chan struct{}

func (c fetchWritten) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 1 && err == nil {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// TestLongPoll: a fetch parked on an empty partition (max wait 20 s) is
// woken by a record produced 500 ms later, instead of running out its wait.
func TestLongPoll(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t)
	topic := topicName(t, "longpoll")
	createTopic(t, ctx, newAdmin(t, b.KafkaAddr()), topic, 1, nil)

	const maxWait = 20 * time.Second
	sent := make(fetchWritten, 1)
	consumer := newClient(t, b.KafkaAddr(), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(maxWait), kgo.WithHooks(sent))
	type arrival struct {
		recs []*kgo.Record
		at   time.Time
		err  error
	}
	arrived := make(chan arrival, 1)
	go func() {
		for {
			fs := consumer.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				arrived <- arrival{err: err}
				return
			}
			if recs := fs.Records(); len(recs) > 0 {
				arrived <- arrival{recs: recs, at: time.Now()}
				return
			}
		}
	}()

	select {
	case <-sent:
	case a := <-arrived:
		t.Fatalf("consumer returned before any record was produced: %d records, err %v", len(a.recs), a.err)
	case <-ctx.Done():
		t.Fatalf("the consumer never sent a fetch")
	}
	// The brief's one deliberate sleep: produce while the fetch is parked.
	time.Sleep(500 * time.Millisecond)
	producer := newClient(t, b.KafkaAddr(), kgo.DefaultProduceTopic(topic))
	produceSync(t, ctx, producer, &kgo.Record{Value: []byte("wake up")})
	producedAt := time.Now()

	select {
	case a := <-arrived:
		if a.err != nil {
			t.Fatalf("consumer: %v", a.err)
		}
		if string(a.recs[0].Value) != "wake up" {
			t.Fatalf("consumer got %q", a.recs[0].Value)
		}
		// Generous: the point is that the wait was woken, not timed out.
		if waited := a.at.Sub(producedAt); waited > 10*time.Second {
			t.Fatalf("record arrived %v after it was produced: the fetch ran out its %v wait instead of being woken", waited, maxWait)
		}
	case <-time.After(maxWait + 10*time.Second):
		t.Fatalf("record produced during a long poll never arrived")
	}
}

// TestListOffsetsAndTimestamps: earliest, latest, max timestamp and
// timestamp lookups (first record at or after, including mid-batch), then
// consuming from an offset and from a timestamp.
func TestListOffsetsAndTimestamps(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t)
	topic := topicName(t, "timestamps")
	createTopic(t, ctx, newAdmin(t, b.KafkaAddr()), topic, 1, nil)

	base := time.Now().Add(-time.Hour).UnixMilli()
	// Three batches; the timestamps within batch C are out of order, so
	// the max timestamp is in the middle of a batch:
	//   A offsets 0-2: +0 +10 +20
	//   B offsets 3-6: +100 +110 +120 +130
	//   C offsets 7-9: +150 +300 +160
	batches := [][]int64{{0, 10, 20}, {100, 110, 120, 130}, {150, 300, 160}}
	cl := newClient(t, b.KafkaAddr(), kgo.DefaultProduceTopic(topic), kgo.ManualFlushing())
	n := 0
	for _, deltas := range batches {
		for _, d := range deltas {
			r := &kgo.Record{Value: fmt.Appendf(nil, "ts+%d", d), Timestamp: time.UnixMilli(base + d)}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce %q: %v", r.Value, err)
				}
			})
			n++
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatalf("flush: %v", err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// Precondition: the producer really sent three batches.
	stored := parseBatches(t, rawFetch(t, b.KafkaAddr(), topic, 0, 0).RecordBatches)
	if len(stored) != 3 || stored[0].baseOffset != 0 || stored[1].baseOffset != 3 || stored[2].baseOffset != 7 {
		t.Fatalf("stored batches %+v, want base offsets 0, 3, 7", stored)
	}

	raw := dialRaw(t, b.KafkaAddr())
	for _, tc := range []struct {
		name       string
		ts         int64
		wantOffset int64
		wantTS     int64 // -1: not checked / none
	}{
		{"earliest", -2, 0, -1},
		{"latest", -1, int64(n), -1},
		{"max timestamp", -3, 8, base + 300},
		{"first record", base, 0, base},
		{"before the log", base - 1000, 0, base},
		{"mid batch A", base + 5, 1, base + 10},
		{"exact last of A", base + 20, 2, base + 20},
		{"between batches", base + 21, 3, base + 100},
		{"mid batch B exact", base + 110, 4, base + 110},
		{"mid batch B", base + 115, 5, base + 120},
		{"first of C", base + 131, 7, base + 150},
		{"out of order in C", base + 155, 8, base + 300},
		{"max exact", base + 300, 8, base + 300},
		{"after everything", base + 301, -1, -1},
	} {
		off, ts, code := listOffset(t, raw, topic, tc.ts)
		if code != 0 {
			t.Errorf("%s (timestamp %d): error %v", tc.name, tc.ts, kerr.ErrorForCode(code))
			continue
		}
		if off != tc.wantOffset || (tc.wantTS != -1 && ts != tc.wantTS) || (tc.name == "after everything" && ts != -1) {
			t.Errorf("%s (timestamp %d): offset %d timestamp %d, want offset %d timestamp %d",
				tc.name, tc.ts, off, ts, tc.wantOffset, tc.wantTS)
		}
	}

	// The same through kadm, as an application would ask.
	adm := newAdmin(t, b.KafkaAddr())
	listed, err := adm.ListOffsetsAfterMilli(ctx, base+115, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		t.Fatalf("kadm ListOffsetsAfterMilli: %v", err)
	}
	if o, _ := listed.Lookup(topic, 0); o.Offset != 5 || o.Timestamp != base+120 {
		t.Errorf("kadm ListOffsetsAfterMilli(+115): offset %d timestamp %d, want 5 at %d", o.Offset, o.Timestamp, base+120)
	}

	t.Run("consume from offset", func(t *testing.T) {
		c := newClient(t, b.KafkaAddr(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(5)}}))
		recs := pollN(t, ctx, c, n-5)
		checkFrom(t, recs, 5, n)
	})
	for _, tc := range []struct {
		delta int64
		first int64
	}{{5, 1}, {115, 5}, {155, 8}} {
		t.Run(fmt.Sprintf("consume from timestamp +%d", tc.delta), func(t *testing.T) {
			c := newClient(t, b.KafkaAddr(), kgo.ConsumeTopics(topic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AfterMilli(base+tc.delta)))
			recs := pollN(t, ctx, c, n-int(tc.first))
			checkFrom(t, recs, tc.first, n)
		})
	}
}

// checkFrom asserts recs are exactly offsets first..n-1 in order.
func checkFrom(t *testing.T, recs []*kgo.Record, first int64, n int) {
	t.Helper()
	if len(recs) != n-int(first) {
		t.Fatalf("consumed %d records, want %d (offsets %d..%d)", len(recs), n-int(first), first, n-1)
	}
	for i, r := range recs {
		if r.Offset != first+int64(i) {
			t.Fatalf("record %d has offset %d, want %d", i, r.Offset, first+int64(i))
		}
	}
}

// listOffset asks for one timestamp (or -1/-2/-3) with ListOffsets v7.
func listOffset(t *testing.T, c *rawConn, topic string, ts int64) (offset, timestamp int64, code int16) {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(7)
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = 0
	rp.CurrentLeaderEpoch = -1
	rp.Timestamp = ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := c.roundTrip(req).(*kmsg.ListOffsetsResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("ListOffsets response has %d topics, want 1 with 1 partition", len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	return p.Offset, p.Timestamp, p.ErrorCode
}

// TestLogAppendTime: on a topic with message.timestamp.type=LogAppendTime
// the broker stamps records with its own clock: consumers see that time
// (not the producer's) and timestamp lookups use it.
func TestLogAppendTime(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t)
	topic := topicName(t, "appendtime")
	createTopic(t, ctx, newAdmin(t, b.KafkaAddr()), topic, 1, map[string]string{"message.timestamp.type": "LogAppendTime"})
	cl := newClient(t, b.KafkaAddr(), kgo.DefaultProduceTopic(topic))
	old := time.UnixMilli(1000000000000) // 2001
	before := time.Now().Add(-time.Second).UnixMilli()
	produceSync(t, ctx, cl, &kgo.Record{Value: []byte("a"), Timestamp: old}, &kgo.Record{Value: []byte("b"), Timestamp: old})
	after := time.Now().Add(time.Second).UnixMilli()

	recs := consumeAll(t, ctx, b.KafkaAddr(), topic)
	if len(recs) != 2 {
		t.Fatalf("read %d records, want 2", len(recs))
	}
	for _, r := range recs {
		ts := r.Timestamp.UnixMilli()
		if ts < before || ts > after || r.Attrs.TimestampType() != 1 {
			t.Fatalf("record %q: timestamp %d (type %d), want the broker's append time in [%d, %d] (type 1)",
				r.Value, ts, r.Attrs.TimestampType(), before, after)
		}
	}
	raw := dialRaw(t, b.KafkaAddr())
	if off, _, code := listOffset(t, raw, topic, old.UnixMilli()); code != 0 || off != 0 {
		t.Errorf("offset for the producer's (ignored) timestamp: %d (error %d), want 0: every record is later", off, code)
	}
	if off, _, code := listOffset(t, raw, topic, after+60000); code != 0 || off != -1 {
		t.Errorf("offset for a timestamp after the append time: %d (error %d), want -1", off, code)
	}
}
