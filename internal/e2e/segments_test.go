package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spool-mq/spool/internal/config"
)

// TestSegmentsAndRestart: a topic with tiny segments rolls many of them;
// reads, timestamp lookups and DeleteRecords work across segment
// boundaries, and all of it (including the moved log start) is the same
// after a clean restart on the same data directory.
func TestSegmentsAndRestart(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	b := startBroker(t, withDataDir(dir))
	topic := topicName(t, "segments")
	createTopic(t, ctx, newAdmin(t, b.KafkaAddr()), topic, 1, map[string]string{"segment.bytes": "4096"})

	const n = 300
	base := time.Now().Add(-time.Hour).UnixMilli()
	value := func(i int) string { return fmt.Sprintf("record %03d %s", i, strings.Repeat("x", 80)) }
	// Uncompressed, so the bytes on disk are what the test counts on.
	cl := newClient(t, b.KafkaAddr(), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for start := 0; start < n; start += 10 {
		var recs []*kgo.Record
		for i := start; i < start+10; i++ {
			recs = append(recs, &kgo.Record{Value: []byte(value(i)), Timestamp: time.UnixMilli(base + int64(i)*10)})
		}
		produceSync(t, ctx, cl, recs...)
	}
	cl.Close()
	segments, err := filepath.Glob(filepath.Join(dir, topic+"-0", "*.log"))
	if err != nil || len(segments) < 4 {
		t.Fatalf("%d bytes of records with segment.bytes=4096 left %d segment files (%v), want several", n*100, len(segments), err)
	}

	check := func(t *testing.T, addr string, first int) {
		t.Helper()
		recs := consumeAll(t, ctx, addr, topic)
		if len(recs) != n-first {
			t.Fatalf("read %d records, want offsets %d..%d", len(recs), first, n-1)
		}
		for i, r := range recs {
			if want := first + i; r.Offset != int64(want) || string(r.Value) != value(want) || r.Timestamp.UnixMilli() != base+int64(want)*10 {
				t.Fatalf("record at offset %d (ts %d) is %.12q, want offset %d %.12q at ts %d",
					r.Offset, r.Timestamp.UnixMilli(), r.Value, want, value(want), base+int64(want)*10)
			}
		}
		raw := dialRaw(t, addr)
		for _, i := range []int{first, first + 1, 157, 201, 255, n - 1} {
			off, ts, code := listOffset(t, raw, topic, base+int64(i)*10-5)
			if code != 0 || off != int64(i) || ts != base+int64(i)*10 {
				t.Errorf("offset for timestamp +%d: offset %d ts %d (error %d), want %d at +%d", i*10-5, off, ts, code, i, i*10)
			}
		}
		if got := listOffsets(t, addr, topic)[0]; got.start != int64(first) || got.end != n {
			t.Errorf("partition offsets [%d, %d), want [%d, %d)", got.start, got.end, first, n)
		}
	}
	check(t, b.KafkaAddr(), 0)

	dr, err := newAdmin(t, b.KafkaAddr()).DeleteRecords(ctx, kadm.Offsets{topic: {0: {Topic: topic, Partition: 0, At: 150}}})
	if err == nil {
		err = dr.Error()
	}
	if err != nil {
		t.Fatalf("delete records before 150: %v", err)
	}
	check(t, b.KafkaAddr(), 150)

	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	b2 := startBroker(t, withDataDir(dir))
	check(t, b2.KafkaAddr(), 150)
	cl2 := newClient(t, b2.KafkaAddr(), kgo.DefaultProduceTopic(topic))
	next := &kgo.Record{Value: []byte("after restart")}
	produceSync(t, ctx, cl2, next)
	if next.Offset != n {
		t.Fatalf("first record after the restart got offset %d, want %d", next.Offset, n)
	}
}

// TestPeriodicFlushMode: with log.durability=periodic-flush, acknowledged
// records are readable at once, and a clean restart keeps all of them.
func TestPeriodicFlushMode(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	mode := func(c *config.Broker) {
		c.Durability = config.DurabilityPeriodicFlush
		c.FlushIntervalMs = 50
	}
	b := startBroker(t, withDataDir(dir), withConfig(mode))
	topic := topicName(t, "periodic")
	createTopic(t, ctx, newAdmin(t, b.KafkaAddr()), topic, 2, nil)
	cl := newClient(t, b.KafkaAddr(), kgo.DefaultProduceTopic(topic))
	var recs []*kgo.Record
	for i := range 200 {
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%10), Value: fmt.Appendf(nil, "v%d", i)})
	}
	produceSync(t, ctx, cl, recs...)
	cl.Close()
	want := make(map[logPos]string)
	for _, r := range recs {
		want[logPos{r.Partition, r.Offset}] = string(r.Value)
	}
	check := func(addr string) {
		t.Helper()
		got := readLog(t, ctx, addr, topic)
		if len(got) != len(want) {
			t.Fatalf("read %d records, %d were acknowledged", len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("partition %d offset %d holds %q, acknowledged %q", k.partition, k.offset, got[k], v)
			}
		}
	}
	check(b.KafkaAddr())
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	check(startBroker(t, withDataDir(dir), withConfig(mode)).KafkaAddr())
}
