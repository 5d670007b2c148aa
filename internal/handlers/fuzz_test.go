package handlers_test

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/broker"
	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/record"
)

// fuzzBroker starts one broker for a whole fuzz run (the seed corpus in
// plain go test; every input under -fuzz) with a 3-partition topic "f".
func fuzzBroker(f *testing.F) (*broker.Broker, *kgo.Client) {
	f.Helper()
	cfg := config.Default()
	cfg.DataDir = f.TempDir()
	cfg.KafkaAddr, cfg.ControllerAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", ""
	cfg.AutoCreateTopics = false
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, cfg, broker.Options{})
	if err != nil {
		f.Fatalf("starting broker: %v", err)
	}
	f.Cleanup(func() { b.Close() })
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.KafkaAddr()), kgo.RetryTimeout(10*time.Second), kgo.DefaultProduceTopic("f"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(cl.Close)
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "f", 3, 1
	req.Topics = append(req.Topics, rt)
	if _, err := req.RequestWith(ctx, cl); err != nil {
		f.Fatal(err)
	}
	return b, cl
}

// FuzzFetch asks a broker holding real data for arbitrary offsets, sizes and
// versions. Whatever it asks, the answer is a Fetch response whose record
// sets are whole, parseable batches starting at or before the offset asked
// (never after a gap), within the size asked unless it is the one batch
// KIP-74 guarantees.
func FuzzFetch(f *testing.F) {
	_, cl := fuzzBroker(f)
	ctx := context.Background()
	for p := range int32(3) {
		for i := range 20 {
			r := &kgo.Record{Partition: p, Value: make([]byte, 100*(i+1))}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				f.Fatal(err)
			}
		}
	}
	f.Add(int16(11), int32(0), int64(0), int32(1<<20), int32(1<<20), int32(1), int8(0))
	f.Add(int16(4), int32(2), int64(5), int32(1), int32(1), int32(0), int8(1))
	f.Add(int16(13), int32(1), int64(19), int32(0), int32(-1), int32(1<<30), int8(0))
	f.Add(int16(12), int32(7), int64(-3), int32(-5), int32(500), int32(-1), int8(3))
	f.Add(int16(11), int32(0), int64(1<<40), int32(1000), int32(1000), int32(1), int8(0))
	f.Fuzz(func(t *testing.T, version int16, partition int32, offset int64, maxBytes, partMax, minBytes int32, isolation int8) {
		req := kmsg.NewPtrFetchRequest()
		req.SetVersion(4 + (version&0x7fff)%10) // v4..v13
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 10, minBytes, maxBytes
		req.IsolationLevel, req.SessionEpoch = isolation, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "f"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = partition, offset, partMax, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		if req.Version >= 13 {
			topicID(t, ctx, cl, &req.Topics[0])
		}
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		resp, err := req.RequestWith(rctx, cl)
		if err != nil {
			t.Fatalf("fetch v%d of partition %d at %d: %v (the broker must answer, not close)", req.Version, partition, offset, err)
		}
		for _, topic := range resp.Topics {
			for _, p := range topic.Partitions {
				checkRecordSet(t, p, offset, partMax, maxBytes)
			}
		}
	})
}

// topicID fills the topic's id for Fetch v13, which names topics by id.
func topicID(t *testing.T, ctx context.Context, cl *kgo.Client, rt *kmsg.FetchRequestTopic) {
	req := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(rt.Topic)
	req.Topics = append(req.Topics, mt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 {
		t.Fatalf("metadata for the topic id: %v", err)
	}
	rt.TopicID = resp.Topics[0].TopicID
}

func checkRecordSet(t *testing.T, p kmsg.FetchResponseTopicPartition, offset int64, partMax, maxBytes int32) {
	t.Helper()
	data := p.RecordBatches
	if p.ErrorCode != 0 && len(data) > 0 {
		t.Fatalf("partition %d: error %d with %d bytes of records", p.Partition, p.ErrorCode, len(data))
	}
	first := true
	next := int64(-1)
	n, err := record.Batches(data, func(h record.Header, batch []byte) error {
		if _, err := record.Validate(batch); err != nil {
			t.Fatalf("partition %d: batch at %d does not validate: %v", p.Partition, h.BaseOffset, err)
		}
		if first && h.LastOffset() < offset {
			t.Fatalf("partition %d: first batch ends at %d, before the %d asked", p.Partition, h.LastOffset(), offset)
		}
		if next >= 0 && h.BaseOffset != next {
			t.Fatalf("partition %d: batch at %d follows one ending before %d", p.Partition, h.BaseOffset, next)
		}
		first, next = false, h.NextOffset()
		return nil
	})
	if err != nil || n != len(data) {
		t.Fatalf("partition %d: %d of %d record bytes are whole batches: %v", p.Partition, n, len(data), err)
	}
	limit := int(min(max(partMax, 0), max(maxBytes, 0)))
	if maxBytes <= 0 {
		limit = int(max(partMax, 0))
	}
	if len(data) > limit && !oneBatch(data) {
		t.Fatalf("partition %d: %d bytes of records for a limit of %d, more than one batch", p.Partition, len(data), limit)
	}
}

// oneBatch reports whether data is exactly one record batch.
func oneBatch(data []byte) bool {
	h, err := record.ParseHeader(data)
	return err == nil && h.Size() == len(data)
}

// FuzzProduce sends arbitrary record-set bytes (a valid batch with fuzzed
// edits) to a real broker. The broker must answer, and whatever it accepts
// a franz-go consumer must be able to read back: nothing stored may break
// the partition for its consumers.
func FuzzProduce(f *testing.F) {
	b, cl := fuzzBroker(f)
	ctx := context.Background()
	valid := validBatch()
	f.Add(valid, uint16(0), byte(0), false)
	f.Add(valid, uint16(61), byte(0x7f), true) // first record's length, CRC fixed
	f.Add(valid, uint16(57), byte(9), true)    // record count
	f.Add(valid, uint16(23), byte(0x30), true) // attributes: a codec the bytes are not
	f.Add(valid, uint16(65), byte(0x81), true) // inside the first record
	f.Add(valid, uint16(1000), byte(1), false) // past the end: untouched
	f.Add([]byte{0, 1, 2}, uint16(0), byte(0), false)
	f.Fuzz(func(t *testing.T, batch []byte, at uint16, xor byte, fixCRC bool) {
		batch = append([]byte(nil), batch...)
		if int(at) < len(batch) {
			batch[at] ^= xor
		}
		if fixCRC && len(batch) > 21 {
			binary.BigEndian.PutUint32(batch[17:], crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)))
		}
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "f"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		resp, err := req.RequestWith(rctx, cl)
		if err != nil {
			t.Fatalf("produce: %v (the broker must answer, not close)", err)
		}
		if resp.Topics[0].Partitions[0].ErrorCode != 0 {
			return // refused: nothing stored
		}
		base := resp.Topics[0].Partitions[0].BaseOffset
		cons, err := kgo.NewClient(kgo.SeedBrokers(b.KafkaAddr()),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"f": {0: kgo.NewOffset().At(base)}}))
		if err != nil {
			t.Fatal(err)
		}
		defer cons.Close()
		fs := cons.PollFetches(rctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("accepted batch at %d cannot be consumed: %v", base, err)
		}
		if fs.NumRecords() == 0 {
			t.Fatalf("accepted batch at %d: a consumer read no records", base)
		}
	})
}

// validBatch is an uncompressed batch of three records, as a non-idempotent
// producer sends it.
func validBatch() []byte {
	bld := record.NewBuilder(time.Now().UnixMilli())
	for _, v := range []string{"a", "bb", "ccc"} {
		bld.Add([]byte("k"+v), []byte(v))
	}
	return bld.Build()
}
