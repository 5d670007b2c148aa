package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/broker"
	"github.com/spool-mq/spool/internal/config"
)

// idempotentRawBatch is encodeBatch with the producer fields of an
// idempotent producer (id, epoch, base sequence) and its CRC redone.
func idempotentRawBatch(pid int64, epoch int16, seq int32, values ...string) []byte {
	recs := make([]testRecord, len(values))
	for i, v := range values {
		recs[i] = testRecord{timestamp: time.Now().UnixMilli(), value: []byte(v)}
	}
	b := encodeBatch(recs)
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[53:], uint32(seq))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

// rawProduce sends one Produce v9 for partition 0 and returns its answer.
func rawProduce(c *rawConn, topic string, batch []byte) kmsg.ProduceResponseTopicPartition {
	c.t.Helper()
	resp := c.roundTrip(produceRequest(topic, 0, -1, batch)).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		c.t.Fatalf("produce answered %d topics", len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// rawInitProducerID asks for a fresh idempotent producer id.
func rawInitProducerID(c *rawConn) (int64, int16) {
	c.t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.SetVersion(4)
	req.ProducerID, req.ProducerEpoch = -1, -1
	resp := c.roundTrip(req).(*kmsg.InitProducerIDResponse)
	if resp.ErrorCode != 0 {
		c.t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.ProducerID, resp.ProducerEpoch
}

// TestInventedProducerIDRefused: a batch under a producer id the cluster
// never handed out is refused with UNKNOWN_PRODUCER_ID and not written,
// while ids from InitProducerId (also across a restart), non-idempotent
// batches and franz-go's default idempotent producer are served.
func TestInventedProducerIDRefused(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	b := startBroker(t, withDataDir(dir))
	topic := topicName(t, "pids")
	createTopic(t, ctx, newAdmin(t, b.KafkaAddr()), topic, 1, nil)

	c := dialRaw(t, b.KafkaAddr())
	for _, pid := range []int64{1 << 40, 0} {
		// Nothing has been allocated yet, so even id 0 is invented.
		got := rawProduce(c, topic, idempotentRawBatch(pid, 0, 0, "forged"))
		if got.ErrorCode != kerr.UnknownProducerID.Code {
			t.Fatalf("producer id %d: %v, want UNKNOWN_PRODUCER_ID", pid, kerr.ErrorForCode(got.ErrorCode))
		}
		if got.ErrorMessage == nil || !strings.Contains(*got.ErrorMessage, "never allocated") {
			t.Errorf("producer id %d: message %v should say the id was never allocated", pid, got.ErrorMessage)
		}
	}
	if r := listOffsets(t, b.KafkaAddr(), topic)[0]; r.end != 0 {
		t.Fatalf("refused batches were written: log end %d", r.end)
	}

	pid, epoch := rawInitProducerID(c)
	if got := rawProduce(c, topic, idempotentRawBatch(pid, epoch, 0, "real")); got.ErrorCode != 0 || got.BaseOffset != 0 {
		t.Fatalf("allocated id %d: %v at %d", pid, kerr.ErrorForCode(got.ErrorCode), got.BaseOffset)
	}
	if got := rawProduce(c, topic, idempotentRawBatch(pid+unallocatedGap, 0, 0, "past the block")); got.ErrorCode != kerr.UnknownProducerID.Code {
		t.Fatalf("id past the allocated block: %v, want UNKNOWN_PRODUCER_ID", kerr.ErrorForCode(got.ErrorCode))
	}
	if got := rawProduce(c, topic, encodeBatch([]testRecord{{value: []byte("plain")}})); got.ErrorCode != 0 {
		t.Fatalf("non-idempotent batch: %v", kerr.ErrorForCode(got.ErrorCode))
	}

	// franz-go with default settings is an idempotent producer.
	cl := newClient(t, b.KafkaAddr(), kgo.DefaultProduceTopic(topic))
	for i := range 20 {
		produceSync(t, ctx, cl, &kgo.Record{Value: []byte{byte(i)}})
	}
	cl.Close()
	if r := listOffsets(t, b.KafkaAddr(), topic)[0]; r.end != 22 {
		t.Fatalf("log end %d, want 22", r.end)
	}

	// The allocation survives a restart: the id is still accepted.
	c.conn.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = startBroker(t, withDataDir(dir))
	c = dialRaw(t, b.KafkaAddr())
	if got := rawProduce(c, topic, idempotentRawBatch(pid, epoch, 1, "after restart")); got.ErrorCode != 0 || got.BaseOffset != 22 {
		t.Fatalf("id %d after a restart: %v at %d, want offset 22", pid, kerr.ErrorForCode(got.ErrorCode), got.BaseOffset)
	}
}

// unallocatedGap is far more than a broker reserves at once (a block of
// 1000 ids), so a fresh id plus this was never handed out.
const unallocatedGap = 1_000_000

// TestCompressionTypeRefused: Spool does not recompress, so every
// compression.type but producer is refused with INVALID_CONFIG, on create,
// on both alter APIs and in the broker's own config.
func TestCompressionTypeRefused(t *testing.T) {
	ctx := testContext(t)
	b := startBroker(t)
	adm := newAdmin(t, b.KafkaAddr())
	for _, codec := range []string{"zstd", "gzip", "uncompressed"} {
		res, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"compression.type": kadm.StringPtr(codec)}, topicName(t, codec))
		if !errors.Is(err, kerr.InvalidConfig) || !strings.Contains(res.ErrMessage, "does not recompress") {
			t.Errorf("create with compression.type=%s: %v (%q), want INVALID_CONFIG saying why", codec, err, res.ErrMessage)
		}
	}
	topic := topicName(t, "producer")
	createTopic(t, ctx, adm, topic, 1, map[string]string{"compression.type": "producer"})

	alter, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "compression.type", Value: kadm.StringPtr("lz4")}}, topic)
	if err == nil {
		_, err = alter.On(topic, func(r *kadm.AlterConfigsResponse) error { return r.Err })
	}
	if !errors.Is(err, kerr.InvalidConfig) {
		t.Errorf("incremental alter to lz4: %v, want INVALID_CONFIG", err)
	}
	state, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "compression.type", Value: kadm.StringPtr("snappy")}}, topic)
	if err == nil {
		_, err = state.On(topic, func(r *kadm.AlterConfigsResponse) error { return r.Err })
	}
	if !errors.Is(err, kerr.InvalidConfig) {
		t.Errorf("legacy alter to snappy: %v, want INVALID_CONFIG", err)
	}
	expectConfig(t, adm, topic, "compression.type", "producer", kmsg.ConfigSourceDynamicTopicConfig)

	// A producer's own codec is still stored as sent.
	cl := newClient(t, b.KafkaAddr(), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	produceSync(t, ctx, cl, &kgo.Record{Value: []byte(strings.Repeat("z", 1000))})
	if got := parseBatches(t, rawFetch(t, b.KafkaAddr(), topic, 0, 0).RecordBatches); len(got) != 1 || got[0].codec != 4 {
		t.Fatalf("stored batches %+v, want one zstd (codec 4) batch", got)
	}

	// The broker refuses the setting in its own config at startup.
	cfg := config.Default()
	cfg.DataDir, cfg.KafkaAddr, cfg.HTTPAddr, cfg.ControllerAddr = t.TempDir(), "127.0.0.1:0", "", "127.0.0.1:0"
	cfg.TopicDefaults = map[string]string{"compression.type": "gzip"}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if bad, err := broker.Start(sctx, cfg, broker.Options{}); err == nil {
		bad.Close()
		t.Fatal("a broker with compression.type=gzip started")
	} else if !strings.Contains(err.Error(), "compression.type: must be producer") {
		t.Fatalf("broker start with compression.type=gzip: %v", err)
	}
}
