package e2e

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ackedRecord is a record the broker acknowledged, and where.
type ackedRecord struct {
	partition int32
	offset    int64
	seq       int // production order
	value     string
}

// TestCrashRecovery: a producer writes acks=all while the broker is
// SIGKILLed; after a restart every acknowledged record is at the offset its
// ack reported, in production order. Then a SIGTERM restart (clean shutdown)
// keeps everything, including topics and their configs.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	p := startProcess(t, dir)
	topic := "crash-orders"
	// Small segments, so the crash lands after several rolls.
	configs := map[string]string{"retention.ms": "123456789", "max.message.bytes": "300000", "segment.bytes": "2048"}
	createTopic(t, ctx, newAdmin(t, p.kafkaAddr), topic, 2, configs)

	// A plain (non-idempotent) acks=all producer with one request in
	// flight: records stay in order, and once the broker is gone the
	// cancelled context fails whatever is unacknowledged at once. Small
	// batches make many requests, so the kill lands mid-stream.
	producer := newClient(t, p.kafkaAddr, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DisableIdempotentWrite(), kgo.MaxProduceRequestsInflightPerBroker(1), kgo.MaxBufferedRecords(200),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1200))
	produceCtx, stopProducing := context.WithCancel(ctx)
	defer stopProducing()
	var (
		mu     sync.Mutex
		acked  []ackedRecord
		wg     sync.WaitGroup
		enough = make(chan struct{})
	)
	const killAfter = 400
	padding := strings.Repeat("p", 60)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; produceCtx.Err() == nil; i++ {
			wg.Add(1)
			r := &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%16), Value: fmt.Appendf(nil, "v-%07d-%s", i, padding)}
			seq := i
			producer.Produce(produceCtx, r, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					return // not acknowledged: may or may not be in the log
				}
				mu.Lock()
				defer mu.Unlock()
				acked = append(acked, ackedRecord{r.Partition, r.Offset, seq, string(r.Value)})
				if len(acked) == killAfter {
					close(enough)
				}
			})
		}
	}()
	select {
	case <-enough:
	case <-ctx.Done():
		t.Fatalf("only %d records acknowledged before the deadline", len(acked))
	}
	p.kill()
	stopProducing()
	waitGroup(t, ctx, &wg, "the producer to settle after the broker was killed")
	producer.Close()
	mu.Lock()
	ackedAtKill := append([]ackedRecord(nil), acked...)
	mu.Unlock()
	segments, _ := filepath.Glob(filepath.Join(dir, topic+"-*", "*.log"))
	t.Logf("%d records acknowledged before SIGKILL; %d segment files", len(ackedAtKill), len(segments))
	if len(segments) < 4 {
		t.Fatalf("precondition: only %d segment files at the crash; the test wants several rolls", len(segments))
	}

	p.restart()
	log := readLog(t, ctx, p.kafkaAddr, topic)
	checkAcked(t, log, ackedAtKill)

	// The broker takes writes again at the next offsets.
	ends := listOffsets(t, p.kafkaAddr, topic)
	after := newClient(t, p.kafkaAddr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	res := after.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("after-crash")})
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce after restart: %v", err)
	}
	if got := res[0].Record.Offset; got != ends[0].end {
		t.Fatalf("first record after restart got offset %d, want the log end %d", got, ends[0].end)
	}
	after.Close()
	before := readLog(t, ctx, p.kafkaAddr, topic)

	// Clean restart: SIGTERM exits 0 and nothing changes.
	p.stop()
	p.restart()
	again := readLog(t, ctx, p.kafkaAddr, topic)
	if len(again) != len(before) {
		t.Fatalf("after a clean restart the topic holds %d records, before it %d", len(again), len(before))
	}
	for k, v := range before {
		if again[k] != v {
			t.Fatalf("after a clean restart partition %d offset %d holds %q, before %q", k.partition, k.offset, again[k], v)
		}
	}
	adm := newAdmin(t, p.kafkaAddr)
	if td, ok := listTopics(t, p.kafkaAddr)[topic]; !ok || td.partitions != 2 {
		t.Fatalf("after restarts topic %q: listed %v with %d partitions, want 2", topic, ok, td.partitions)
	}
	for k, v := range configs {
		expectConfig(t, adm, topic, k, v, kmsg.ConfigSourceDynamicTopicConfig)
	}
}

// logPos is a record's position.
type logPos struct {
	partition int32
	offset    int64
}

// readLog consumes a whole topic into position -> value, failing on gaps
// (offsets within a partition must be dense from the log start).
func readLog(t *testing.T, ctx context.Context, addr, topic string) map[logPos]string {
	t.Helper()
	out := make(map[logPos]string)
	next := make(map[int32]int64)
	for _, r := range consumeAll(t, ctx, addr, topic) {
		if n, ok := next[r.Partition]; ok && r.Offset != n {
			t.Fatalf("partition %d: offset %d follows %d", r.Partition, r.Offset, n-1)
		}
		next[r.Partition] = r.Offset + 1
		out[logPos{r.Partition, r.Offset}] = string(r.Value)
	}
	return out
}

// checkAcked asserts every acknowledged record is in the log where its ack
// said, and acknowledged records of a partition are in production order.
func checkAcked(t *testing.T, log map[logPos]string, acked []ackedRecord) {
	t.Helper()
	for _, a := range acked {
		got, ok := log[logPos{a.partition, a.offset}]
		if !ok {
			t.Fatalf("acknowledged record %q (partition %d offset %d) is missing after the restart", a.value, a.partition, a.offset)
		}
		if got != a.value {
			t.Fatalf("partition %d offset %d holds %q after the restart; the ack was for %q", a.partition, a.offset, got, a.value)
		}
	}
	sorted := append([]ackedRecord(nil), acked...)
	sort.Slice(sorted, func(i, j int) bool {
		if sorted[i].partition != sorted[j].partition {
			return sorted[i].partition < sorted[j].partition
		}
		return sorted[i].offset < sorted[j].offset
	})
	for i := 1; i < len(sorted); i++ {
		a, b := sorted[i-1], sorted[i]
		if a.partition == b.partition && a.seq > b.seq {
			t.Fatalf("partition %d: record #%d at offset %d precedes record #%d at offset %d", a.partition, a.seq, a.offset, b.seq, b.offset)
		}
	}
}

// waitGroup waits for wg, failing the test if ctx ends first.
func waitGroup(t *testing.T, ctx context.Context, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestTornTail: the last segment file is damaged while the broker is down
// (garbage appended, or the last batch cut short); the broker starts, keeps
// every batch before the damage, and gives new records the next offsets,
// which survive another crash.
func TestTornTail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
		// tornLast: the damage cuts into the last batch, which must go.
		tornLast bool
	}{
		{"garbage appended", func(t *testing.T, path string) {
			junk := make([]byte, 77)
			rand.Read(junk)
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write(junk); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"last batch truncated", func(t *testing.T, path string) {
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, st.Size()-5); err != nil {
				t.Fatal(err)
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			dir := t.TempDir()
			p := startProcess(t, dir)
			topic := "torn"
			createTopic(t, ctx, newAdmin(t, p.kafkaAddr), topic, 1, nil)
			cl := newClient(t, p.kafkaAddr, kgo.DefaultProduceTopic(topic))
			var all []ackedRecord
			for batch := range 4 {
				var recs []*kgo.Record
				for i := range 10 {
					recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "b%d-r%d", batch, i)})
				}
				produceSync(t, ctx, cl, recs...)
				for _, r := range recs {
					all = append(all, ackedRecord{r.Partition, r.Offset, len(all), string(r.Value)})
				}
			}
			last := &kgo.Record{Value: []byte("the last one")}
			produceSync(t, ctx, cl, last)
			all = append(all, ackedRecord{last.Partition, last.Offset, len(all), string(last.Value)})
			cl.Close()
			p.kill()

			seg := filepath.Join(dir, topic+"-0", fmt.Sprintf("%020d.log", 0))
			before := validBatchEnd(t, seg)
			tc.damage(t, seg)
			// What survives is decided by the file, not by the test's
			// hopes: every batch wholly before the damage.
			survivors := validBatchEnd(t, seg)
			if tc.tornLast && survivors.nextOffset >= before.nextOffset {
				t.Fatalf("precondition: truncating %s did not tear its last batch (valid end %d before and after)", seg, before.nextOffset)
			}
			if !tc.tornLast && survivors.nextOffset != before.nextOffset {
				t.Fatalf("precondition: appending garbage changed the valid batches (%d -> %d)", before.nextOffset, survivors.nextOffset)
			}
			if before.nextOffset != int64(len(all)) {
				t.Fatalf("precondition: the segment holds offsets up to %d before the damage, %d records were acknowledged", before.nextOffset, len(all))
			}

			p.restart()
			log := readLog(t, ctx, p.kafkaAddr, topic)
			if int64(len(log)) != survivors.nextOffset {
				t.Fatalf("after recovery the partition holds %d records, want the %d wholly before the damage", len(log), survivors.nextOffset)
			}
			checkAcked(t, log, all[:survivors.nextOffset])

			// New records get the next offsets and are durable: another
			// SIGKILL and restart keeps them.
			cl2 := newClient(t, p.kafkaAddr, kgo.DefaultProduceTopic(topic))
			fresh := &kgo.Record{Value: []byte("after recovery")}
			produceSync(t, ctx, cl2, fresh)
			if fresh.Offset != survivors.nextOffset {
				t.Fatalf("first record after recovery got offset %d, want %d", fresh.Offset, survivors.nextOffset)
			}
			cl2.Close()
			p.kill()
			p.restart()
			log = readLog(t, ctx, p.kafkaAddr, topic)
			if got := log[logPos{0, fresh.Offset}]; got != "after recovery" || int64(len(log)) != survivors.nextOffset+1 {
				t.Fatalf("after a second crash: %d records, offset %d holds %q; want %d records ending with \"after recovery\"",
					len(log), fresh.Offset, got, survivors.nextOffset+1)
			}
		})
	}
}

// segmentEnd is where the valid batches of a segment file end.
type segmentEnd struct {
	bytes      int64
	nextOffset int64
}

// validBatchEnd scans a segment file independently of the broker: batches
// must be complete, magic 2, CRC-32C valid, offsets increasing.
func validBatchEnd(t *testing.T, path string) segmentEnd {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading segment: %v", err)
	}
	var end segmentEnd
	for pos := 0; len(data)-pos >= 61; {
		b := data[pos:]
		size := 12 + int(int32(binary.BigEndian.Uint32(b[8:])))
		if size < 61 || size > len(b) || b[16] != 2 {
			break
		}
		if crc32.Checksum(b[21:size], castagnoli) != binary.BigEndian.Uint32(b[17:]) {
			break
		}
		base := int64(binary.BigEndian.Uint64(b))
		lastDelta := int64(int32(binary.BigEndian.Uint32(b[23:])))
		if base < end.nextOffset {
			break
		}
		pos += size
		end = segmentEnd{bytes: int64(pos), nextOffset: base + lastDelta + 1}
	}
	return end
}

// TestMetadataSurvivesCrash: admin changes made just before a SIGKILL —
// a config change, added partitions, a deleted topic — are all in effect
// after the restart, and a deleted topic's data does not come back.
func TestMetadataSurvivesCrash(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	p := startProcess(t, t.TempDir())
	addr := p.kafkaAddr
	adm := newAdmin(t, addr)
	kept, gone := "kept", "gone"
	createTopic(t, ctx, adm, kept, 1, nil)
	createTopic(t, ctx, adm, gone, 1, nil)
	cl := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceSync(t, ctx, cl, &kgo.Record{Topic: gone, Value: []byte("doomed")}, &kgo.Record{Topic: kept, Value: []byte("p0")})

	alter, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("999999")}}, kept)
	if err == nil {
		_, err = alter.On(kept, func(r *kadm.AlterConfigsResponse) error { return r.Err })
	}
	if err != nil {
		t.Fatalf("alter config: %v", err)
	}
	if cp, err := adm.CreatePartitions(ctx, 2, kept); err != nil || cp.Error() != nil {
		t.Fatalf("create partitions: %v %v", err, cp.Error())
	}
	// A new client: the first one's metadata still says one partition.
	cl2 := newClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceSync(t, ctx, cl2, &kgo.Record{Topic: kept, Partition: 2, Value: []byte("p2")})
	cl2.Close()
	if del, err := adm.DeleteTopics(ctx, gone); err != nil || del.Error() != nil {
		t.Fatalf("delete topic: %v %v", err, del.Error())
	}
	cl.Close()
	p.kill()
	p.restart()

	topics := listTopics(t, addr)
	if _, ok := topics[gone]; ok {
		t.Errorf("topic %q deleted before the crash is back", gone)
	}
	if got := topics[kept].partitions; got != 3 {
		t.Errorf("topic %q has %d partitions after the crash, want 3", kept, got)
	}
	expectConfig(t, newAdmin(t, addr), kept, "retention.ms", "999999", kmsg.ConfigSourceDynamicTopicConfig)
	recs := consumeAll(t, ctx, addr, kept)
	if len(recs) != 2 || string(recs[0].Value)+string(recs[1].Value) != "p0p2" && string(recs[0].Value)+string(recs[1].Value) != "p2p0" {
		t.Errorf("topic %q holds %d records after the crash, want p0 and p2", kept, len(recs))
	}
	createTopic(t, ctx, newAdmin(t, addr), gone, 1, nil)
	if got := listOffsets(t, addr, gone)[0]; got.end != 0 {
		t.Errorf("recreated %q after the crash has offsets [%d, %d): the deleted topic's data came back", gone, got.start, got.end)
	}
}
