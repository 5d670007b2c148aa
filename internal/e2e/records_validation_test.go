package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/record"
)

// zstdBomb is a zstd batch of a few hundred KiB whose records decompress to
// about 1.5 GiB: 80 MiB of well-formed records (so a reader must really
// decompress past the 64 MiB default limit to find out), then a
// compressed 1 MiB frame of zeros repeated. The encoder never sees the
// expansion; concatenated frames are one zstd stream.
func zstdBomb(t *testing.T) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := zstd.NewWriter(&out, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	value := make([]byte, 60<<10)
	var n int32
	for written := 0; written < 80<<20; n++ {
		body := []byte{0, 0} // attributes, timestamp delta
		body = binary.AppendVarint(body, int64(n))
		body = binary.AppendVarint(body, 1)
		body = append(body, 'k')
		body = binary.AppendVarint(body, int64(len(value)))
		body = append(body, value...)
		body = append(body, 0) // no headers
		rec := append(binary.AppendVarint(nil, int64(len(body))), body...)
		if _, err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
		written += len(rec)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	zeros := w.EncodeAll(make([]byte, 1<<20), nil)
	for range 1450 {
		out.Write(zeros)
	}
	return forgeBatch(record.CodecZstd, time.Now().UnixMilli(), n, out.Bytes())
}

// forgeBatch wraps a records body in a v2 batch header claiming count
// records, with the CRC set: a batch only the records can fault.
func forgeBatch(codec record.Codec, ts int64, count int32, body []byte) []byte {
	b := record.NewBuilder(ts)
	b.Add([]byte("k"), []byte("v"))
	batch := b.Build()[:record.HeaderSize]
	batch = append(batch, body...)
	binary.BigEndian.PutUint32(batch[8:], uint32(len(batch)-12))
	binary.BigEndian.PutUint16(batch[21:], uint16(codec))
	binary.BigEndian.PutUint32(batch[23:], uint32(count-1))
	binary.BigEndian.PutUint32(batch[57:], uint32(count))
	fixBatchCRC(batch)
	return batch
}

func fixBatchCRC(b []byte) {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
}

func partitionResult(t *testing.T, resp kmsg.Response) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	r := resp.(*kmsg.ProduceResponse)
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response for %d topics", len(r.Topics))
	}
	return r.Topics[0].Partitions[0]
}

func errText(p kmsg.ProduceResponseTopicPartition) string {
	if p.ErrorMessage == nil {
		return ""
	}
	return *p.ErrorMessage
}

// TestDecompressionBombRefused: a small zstd batch expanding to 1.5 GiB is
// refused with MESSAGE_TOO_LARGE on compacted and normal topics, and the
// broker (in this process) allocates far less than the expansion for it.
// Not parallel, so the allocation count is this test's.
func TestDecompressionBombRefused(t *testing.T) {
	ctx := testContext(t)
	b := startBroker(t)
	addr := b.KafkaAddr()
	adm := newAdmin(t, addr)
	compacted, normal := topicName(t, "compacted"), topicName(t, "normal")
	createTopic(t, ctx, adm, compacted, 1, map[string]string{"cleanup.policy": "compact"})
	createTopic(t, ctx, adm, normal, 1, nil)
	bomb := zstdBomb(t)
	t.Logf("bomb batch: %d bytes", len(bomb))
	c := dialRaw(t, addr)
	for _, topic := range []string{compacted, normal} {
		var p kmsg.ProduceResponseTopicPartition
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		p = partitionResult(t, c.roundTrip(produceRequest(topic, 0, -1, bomb)))
		runtime.ReadMemStats(&after)
		if p.ErrorCode != kerr.MessageTooLarge.Code || !strings.Contains(errText(p), "message.max.decompressed.bytes") {
			t.Fatalf("%s: bomb produce: %v %q, want MESSAGE_TOO_LARGE naming message.max.decompressed.bytes",
				topic, kerr.ErrorForCode(p.ErrorCode), errText(p))
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s: %v; %d bytes allocated while answering, heap in use %d -> %d", topic, errText(p), alloc, before.HeapInuse, after.HeapInuse)
		if alloc > 48<<20 {
			t.Fatalf("%s: the broker allocated %d bytes for a %d byte batch", topic, alloc, len(bomb))
		}
	}
	// Nothing was stored and the broker still serves.
	for _, topic := range []string{compacted, normal} {
		if r := listOffsets(t, addr, topic)[0]; r.end != 0 {
			t.Fatalf("%s: log end %d after refused produces", topic, r.end)
		}
	}
}

// brokenBatches are CRC-correct batches whose records are broken, forged
// from record.Builder output and patched.
func brokenBatches(t *testing.T) map[string][]byte {
	now := time.Now().UnixMilli()
	two := func() []byte {
		b := record.NewBuilder(now)
		b.Add([]byte("key-0"), []byte("a value long enough for the header checks"))
		b.Add([]byte("key-1"), []byte("another value"))
		return b.Build()
	}
	// Builder layout of record 0: length, attributes, timestamp delta,
	// offset delta, key length, key... (one-byte varints here).
	const rec0 = record.HeaderSize
	patch := func(fn func(b []byte) []byte) []byte {
		b := fn(two())
		binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
		fixBatchCRC(b)
		return b
	}
	return map[string][]byte{
		"record count above the records": patch(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[23:], 2)
			binary.BigEndian.PutUint32(b[57:], 3)
			return b
		}),
		"offset delta out of order": patch(func(b []byte) []byte {
			b[rec0+3] = 4 // zig-zag 2
			return b
		}),
		"key length overruns the record": patch(func(b []byte) []byte {
			b[rec0+4] = 0x7e // zig-zag 63
			return b
		}),
		"record length overruns the batch": patch(func(b []byte) []byte {
			return b[:len(b)-1] // the last record loses its last byte
		}),
		"bad varint": patch(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[23:], 2)
			binary.BigEndian.PutUint32(b[57:], 3)
			return append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		}),
		"last offset delta disagrees": patch(func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[23:], 5)
			return b
		}),
	}
}

// TestBrokenRecordsRefused: batches with a good CRC but broken records get
// INVALID_RECORD (not retried by clients) and are not stored, so a
// consumer of the partition still reads every good record.
func TestBrokenRecordsRefused(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t)
	addr := b.KafkaAddr()
	topic := topicName(t, "broken")
	createTopic(t, ctx, newAdmin(t, addr), topic, 1, nil)
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic))
	produceSync(t, ctx, cl, &kgo.Record{Key: []byte("good-0"), Value: []byte("before")})

	c := dialRaw(t, addr)
	for name, batch := range brokenBatches(t) {
		p := partitionResult(t, c.roundTrip(produceRequest(topic, 0, -1, batch)))
		if p.ErrorCode != kerr.InvalidRecord.Code {
			t.Errorf("%s: %v %q, want INVALID_RECORD", name, kerr.ErrorForCode(p.ErrorCode), errText(p))
			continue
		}
		t.Logf("%s: %s", name, errText(p))
	}
	// A compressed batch of broken records too.
	var zbody bytes.Buffer
	w, _ := zstd.NewWriter(&zbody)
	two := brokenBatches(t)["offset delta out of order"]
	w.Write(two[record.HeaderSize:])
	w.Close()
	p := partitionResult(t, c.roundTrip(produceRequest(topic, 0, -1, forgeBatch(record.CodecZstd, time.Now().UnixMilli(), 2, zbody.Bytes()))))
	if p.ErrorCode != kerr.InvalidRecord.Code || !strings.Contains(errText(p), "record 0 has offset delta 2") {
		t.Errorf("compressed broken batch: %v %q, want INVALID_RECORD naming record 0", kerr.ErrorForCode(p.ErrorCode), errText(p))
	}
	// A CRC mismatch is still CORRUPT_MESSAGE.
	bad := brokenBatches(t)["offset delta out of order"]
	bad[len(bad)-1] ^= 1
	if p := partitionResult(t, c.roundTrip(produceRequest(topic, 0, -1, bad))); p.ErrorCode != kerr.CorruptMessage.Code {
		t.Errorf("bad CRC: %v, want CORRUPT_MESSAGE", kerr.ErrorForCode(p.ErrorCode))
	}

	produceSync(t, ctx, cl, &kgo.Record{Key: []byte("good-1"), Value: []byte("after")},
		&kgo.Record{Key: []byte("good-2"), Value: []byte("after")})
	got := consumeAll(t, ctx, addr, topic)
	var keys []string
	for _, r := range got {
		keys = append(keys, string(r.Key))
	}
	if strings.Join(keys, ",") != "good-0,good-1,good-2" {
		t.Fatalf("consumer read %q, want the three good records", keys)
	}
}

// TestTimestampBounds: message.timestamp.before.max.ms and .after.max.ms
// refuse CreateTime records outside [now-before, now+after] with
// INVALID_TIMESTAMP; a LogAppendTime topic takes any producer timestamp.
func TestTimestampBounds(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t)
	addr := b.KafkaAddr()
	adm := newAdmin(t, addr)
	bounded, appendTime := topicName(t, "bounded"), topicName(t, "append")
	createTopic(t, ctx, adm, bounded, 1, map[string]string{
		"message.timestamp.before.max.ms": "3600000", "message.timestamp.after.max.ms": "60000"})
	createTopic(t, ctx, adm, appendTime, 1, map[string]string{
		"message.timestamp.type": "LogAppendTime", "message.timestamp.before.max.ms": "3600000"})
	cl := newClient(t, addr, kgo.RecordRetries(0), kgo.DisableIdempotentWrite())
	now := time.Now()
	for _, tc := range []struct {
		name  string
		topic string
		ts    time.Time
		want  error
	}{
		{"now", bounded, now, nil},
		{"30 minutes ago", bounded, now.Add(-30 * time.Minute), nil},
		{"2 hours ago", bounded, now.Add(-2 * time.Hour), kerr.InvalidTimestamp},
		{"10 minutes ahead", bounded, now.Add(10 * time.Minute), kerr.InvalidTimestamp},
		{"LogAppendTime, 2 hours ago", appendTime, now.Add(-2 * time.Hour), nil},
	} {
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: tc.topic, Value: []byte(tc.name), Timestamp: tc.ts}).FirstErr()
		if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
	}
	// Over the raw protocol: the second record of a batch is too old.
	bl := record.NewBuilder(now.UnixMilli())
	bl.Add(nil, []byte("fine"))
	bl.Add(nil, []byte("too old"))
	batch := bl.Build()
	// Record 1's timestamp delta (its third byte) becomes -2 hours: a
	// longer varint, so the record and batch lengths change.
	rec1 := record.HeaderSize + 1 + int(batch[record.HeaderSize])/2
	body := []byte{batch[rec1+1]}
	body = binary.AppendVarint(body, -2*time.Hour.Milliseconds())
	body = append(body, batch[rec1+3:]...)
	batch = append(append(batch[:rec1:rec1], binary.AppendVarint(nil, int64(len(body)))...), body...)
	binary.BigEndian.PutUint32(batch[8:], uint32(len(batch)-12))
	fixBatchCRC(batch)
	p := partitionResult(t, dialRaw(t, addr).roundTrip(produceRequest(bounded, 0, -1, batch)))
	if p.ErrorCode != kerr.InvalidTimestamp.Code || !strings.Contains(errText(p), "record 1") {
		t.Fatalf("raw batch with an old second record: %v %q, want INVALID_TIMESTAMP naming record 1", kerr.ErrorForCode(p.ErrorCode), errText(p))
	}
}
