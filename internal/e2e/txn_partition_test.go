package e2e

import (
	"encoding/binary"
	"hash/crc32"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/partition"
)

// txnBatch is encodeBatch's batch made transactional for producer pid,
// epoch, from sequence seq.
func txnBatch(pid int64, epoch int16, seq int32, values ...string) []byte {
	recs := make([]testRecord, len(values))
	for i, v := range values {
		recs[i] = testRecord{value: []byte(v), timestamp: time.Now().UnixMilli()}
	}
	b := encodeBatch(recs)
	binary.BigEndian.PutUint16(b[21:], 0x10) // transactional
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

// committedFetch is a Fetch v11 read_committed of one partition from offset.
func committedFetch(t *testing.T, c *rawConn, topic string, offset int64) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := fetchRequest(topic, 0, offset)
	req.IsolationLevel = 1
	resp := c.roundTrip(req).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("read_committed fetch: %v, %d topics", kerr.ErrorForCode(resp.ErrorCode), len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("read_committed fetch: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	return p
}

// latestOffset is ListOffsets(latest) at the isolation level.
func latestOffset(t *testing.T, c *rawConn, topic string, isolation int8) int64 {
	return offsetFor(t, c, topic, isolation, -1)
}

// offsetFor is ListOffsets of timestamp ts at the isolation level.
func offsetFor(t *testing.T, c *rawConn, topic string, isolation int8, ts int64) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(7)
	req.ReplicaID, req.IsolationLevel = -1, isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = 0, -1, ts
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	p := c.roundTrip(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("ListOffsets: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset
}

func batchEnd(t *testing.T, data []byte) int64 {
	t.Helper()
	bs := parseBatches(t, data)
	if len(bs) == 0 {
		return -1
	}
	last := bs[len(bs)-1]
	return last.baseOffset + int64(last.records)
}

// TestTxnPartitionReadCommitted: transactional batches written through the
// partition of a real broker, and markers written the way the coordinator
// will, are served to read_committed consumers over the wire: fetches stop
// at the last stable offset and report it, the aborted transaction is
// listed, ListOffsets(latest) answers the LSO, and a franz-go read_committed
// consumer never returns an aborted record.
func TestTxnPartitionReadCommitted(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testContext(t)
	topic := topicName(t, "t")
	createTopic(t, ctx, newAdmin(t, b.KafkaAddr()), topic, 1, nil)
	c := dialRaw(t, b.KafkaAddr())

	var p *partition.Partition
	for deadline := time.Now().Add(10 * time.Second); ; {
		if p = b.Partition(topic, 0); p != nil && p.IsLeader() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("partition not led by the broker")
		}
		time.Sleep(10 * time.Millisecond)
	}
	pidA, epochA := rawInitProducerID(c)
	pidB, epochB := rawInitProducerID(c)
	plainAt := func(v string, ts int64) {
		part := c.roundTrip(produceRequest(topic, 0, -1, encodeBatch([]testRecord{{value: []byte(v), timestamp: ts}}))).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
		if part.ErrorCode != 0 {
			t.Fatalf("produce %s: %v", v, kerr.ErrorForCode(part.ErrorCode))
		}
	}
	plain := func(v string) { plainAt(v, time.Now().UnixMilli()) }
	// p4's timestamp is later than any other record's, so a timestamp
	// lookup finds exactly it.
	p4TS := time.Now().Add(time.Minute).UnixMilli()
	txn := func(data []byte) int64 {
		res, err := p.ProduceTransactional(data, -1, 5*time.Second)
		if err != nil {
			t.Fatalf("transactional produce: %v", err)
		}
		return res.BaseOffset
	}
	plain("p0")                                          // 0
	firstA := txn(txnBatch(pidA, epochA, 0, "a1", "a2")) // 1-2
	txn(txnBatch(pidB, epochB, 0, "b1"))                 // 3
	plainAt("p4", p4TS)                                  // 4
	if firstA != 1 {
		t.Fatalf("first transactional offset %d", firstA)
	}

	r := committedFetch(t, c, topic, 0)
	if r.LastStableOffset != 1 || r.HighWatermark != 5 {
		t.Fatalf("open transactions: LSO %d hwm %d, want 1 and 5", r.LastStableOffset, r.HighWatermark)
	}
	if end := batchEnd(t, r.RecordBatches); end != 1 {
		t.Fatalf("read_committed fetch returned up to %d, want the LSO 1", end)
	}
	if len(r.AbortedTransactions) != 0 {
		t.Fatalf("aborted %+v before any abort", r.AbortedTransactions)
	}
	if u := rawFetch(t, b.KafkaAddr(), topic, 0, 0); u.LastStableOffset != 1 || batchEnd(t, u.RecordBatches) != 5 {
		t.Fatalf("read_uncommitted: LSO %d, read to %d; want 1 and 5", u.LastStableOffset, batchEnd(t, u.RecordBatches))
	}
	if got := latestOffset(t, c, topic, 1); got != 1 {
		t.Fatalf("ListOffsets(latest, read_committed) %d, want 1", got)
	}
	if got := latestOffset(t, c, topic, 0); got != 5 {
		t.Fatalf("ListOffsets(latest, read_uncommitted) %d, want 5", got)
	}
	if got := offsetFor(t, c, topic, 0, p4TS); got != 4 {
		t.Fatalf("ListOffsets(p4's timestamp, read_uncommitted) %d, want 4", got)
	}
	if got := offsetFor(t, c, topic, 1, p4TS); got != -1 {
		t.Fatalf("ListOffsets(p4's timestamp, read_committed) %d, want -1: offset 4 is past the LSO", got)
	}

	abortAt, err := p.WriteTxnMarker(pidA, epochA, false, 0) // 5
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.WriteTxnMarker(pidB, epochB, true, 0); err != nil { // 6
		t.Fatal(err)
	}
	plain("p7") // 7

	r = committedFetch(t, c, topic, 0)
	if r.LastStableOffset != 8 || r.HighWatermark != 8 || batchEnd(t, r.RecordBatches) != 8 {
		t.Fatalf("after the markers: LSO %d hwm %d read to %d, want 8", r.LastStableOffset, r.HighWatermark, batchEnd(t, r.RecordBatches))
	}
	want := []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: pidA, FirstOffset: firstA}}
	if !slices.EqualFunc(r.AbortedTransactions, want, func(a, b kmsg.FetchResponseTopicPartitionAbortedTransaction) bool {
		return a.ProducerID == b.ProducerID && a.FirstOffset == b.FirstOffset
	}) {
		t.Fatalf("aborted %+v, want %+v (marker at %d)", r.AbortedTransactions, want, abortAt)
	}
	if r = committedFetch(t, c, topic, 7); len(r.AbortedTransactions) != 0 {
		t.Fatalf("fetch from 7 lists aborted %+v", r.AbortedTransactions)
	}
	if got := latestOffset(t, c, topic, 1); got != 8 {
		t.Fatalf("ListOffsets(latest, read_committed) %d, want 8", got)
	}
	if got := offsetFor(t, c, topic, 1, p4TS); got != 4 {
		t.Fatalf("ListOffsets(p4's timestamp, read_committed) %d after the markers, want 4", got)
	}

	cl := newClient(t, b.KafkaAddr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	var got []string
	for !slices.Contains(got, "p7") {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %v before the deadline", got)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("consume: %v", err) })
		fs.EachRecord(func(rec *kgo.Record) { got = append(got, string(rec.Value)) })
	}
	if !slices.Equal(got, []string{"p0", "b1", "p4", "p7"}) {
		t.Fatalf("read_committed consumer got %v, want p0 b1 p4 p7 (no aborted a1, a2)", got)
	}
}
