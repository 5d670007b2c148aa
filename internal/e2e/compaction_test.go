package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/spool-mq/spool/internal/config"
)

// TestCompaction: on a cleanup.policy=compact topic the broker's cleaner
// removes superseded records in the background. Keyed updates and
// tombstones are produced with franz-go (snappy batches, so the cleaner
// re-compresses what it rewrites); once min.compaction.lag.ms has passed
// the partition shrinks, and a consumer reading from the beginning gets,
// below the active segment, exactly one record per key, the latest, at
// its original offset, with offsets rising and no fetch errors.
func TestCompaction(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	b := startBroker(t, withDataDir(dir), withConfig(func(c *config.Broker) { c.CleanerBackoffMs = 50 }))
	adm := newAdmin(t, b.KafkaAddr())
	topic := topicName(t, "compact")
	// Records are stamped with the time production starts; the lag keeps
	// the cleaner off until all are written, so the size can be measured
	// before it runs.
	const lag = 3 * time.Second
	createTopic(t, ctx, adm, topic, 1, map[string]string{
		"cleanup.policy":            "compact",
		"segment.bytes":             "1024",
		"min.cleanable.dirty.ratio": "0.01",
		"min.compaction.lag.ms":     strconv.FormatInt(lag.Milliseconds(), 10),
	})
	cl := newClient(t, b.KafkaAddr(), kgo.ProducerBatchCompression(kgo.SnappyCompression()), kgo.DefaultProduceTopic(topic))

	stamp := time.Now()
	produced := map[int64]*kgo.Record{} // offset -> record
	latest := map[string]*kgo.Record{}  // key -> its last record
	const keys = 25
	for round := range 12 {
		for first := 0; first < keys; first += 5 {
			var recs []*kgo.Record
			for k := first; k < first+5; k++ {
				r := &kgo.Record{Key: []byte(fmt.Sprintf("key-%02d", k)), Timestamp: stamp,
					Value: []byte(fmt.Sprintf("round %d of key %d %s", round, k, strings.Repeat("v", 20)))}
				if round >= 9 && k%4 == round%4 {
					r.Value = nil // a tombstone
				}
				recs = append(recs, r)
			}
			res := cl.ProduceSync(ctx, recs...)
			if err := res.FirstErr(); err != nil {
				t.Fatalf("producing: %v", err)
			}
			for _, pr := range res {
				produced[pr.Record.Offset] = pr.Record
				latest[string(pr.Record.Key)] = pr.Record
			}
		}
	}
	if time.Since(stamp) >= lag {
		t.Fatalf("producing took %v, longer than min.compaction.lag.ms; the size before cleaning is unknown", time.Since(stamp))
	}
	before := partitionSize(t, ctx, adm, topic)

	// Poll until the cleaner has cleaned everything below the active
	// segment: a fresh consumer sees each key there at most once.
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs := consumeAll(t, ctx, b.KafkaAddr(), topic)
		active := activeSegmentBase(t, filepath.Join(dir, topic+"-0"))
		problem := checkCompacted(recs, produced, latest, active)
		size := partitionSize(t, ctx, adm, topic)
		if problem == "" && size < before {
			t.Logf("partition shrank from %d to %d bytes; %d of %d records left", before, size, len(recs), len(produced))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: size %d (was %d); %s", size, before, problem)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkCompacted describes how recs fall short of a compacted read, or
// returns "".
func checkCompacted(recs []*kgo.Record, produced map[int64]*kgo.Record, latest map[string]*kgo.Record, active int64) string {
	seen := map[string]int64{}
	last := int64(-1)
	table := map[string]string{}
	for _, r := range recs {
		p, ok := produced[r.Offset]
		switch {
		case r.Offset <= last:
			return fmt.Sprintf("offset %d after %d", r.Offset, last)
		case !ok || string(p.Key) != string(r.Key) || string(p.Value) != string(r.Value) || (p.Value == nil) != (r.Value == nil):
			return fmt.Sprintf("record at offset %d is not the one produced there", r.Offset)
		}
		last = r.Offset
		if r.Value == nil {
			delete(table, string(r.Key))
		} else {
			table[string(r.Key)] = string(r.Value)
		}
		if r.Offset >= active {
			continue
		}
		if prev, dup := seen[string(r.Key)]; dup {
			return fmt.Sprintf("key %s at offsets %d and %d below the active segment (%d): not cleaned yet", r.Key, prev, r.Offset, active)
		}
		seen[string(r.Key)] = r.Offset
	}
	want := map[string]string{}
	for k, r := range latest {
		if r.Value != nil {
			want[k] = string(r.Value)
		}
	}
	if len(table) != len(want) {
		return fmt.Sprintf("a consumer rebuilds %d keys, want %d", len(table), len(want))
	}
	for k, v := range want {
		if table[k] != v {
			return fmt.Sprintf("key %s reads as %q, its latest value is %q", k, table[k], v)
		}
	}
	return ""
}

// partitionSize is partition 0's size as DescribeLogDirs reports it.
func partitionSize(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) int64 {
	t.Helper()
	dirs, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("DescribeLogDirs: %v", err)
	}
	var size int64 = -1
	dirs.Each(func(d kadm.DescribedLogDir) {
		if p, ok := d.Topics[topic][0]; ok {
			size = p.Size
		}
	})
	if size < 0 {
		t.Fatalf("DescribeLogDirs does not list %s[0]", topic)
	}
	return size
}

// activeSegmentBase is the base offset of the newest segment file in a
// partition directory.
func activeSegmentBase(t *testing.T, dir string) int64 {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no segments in %s: %v", dir, err)
	}
	sort.Strings(names)
	base, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(names[len(names)-1]), ".log"), 10, 64)
	if err != nil {
		t.Fatalf("segment name %s: %v", names[len(names)-1], err)
	}
	return base
}
