package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/config"
)

// TestRetention: the broker's retention check deletes whole old segments by
// time (retention.ms, here the broker default, against each segment's
// newest timestamp) and by size (retention.bytes), never the active
// segment, and consumers then start at the new log start.
func TestRetention(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	// Time retention comes from the broker-level default
	// (log.retention.ms), which topics without an override inherit.
	b := startBroker(t, withDataDir(dir), withConfig(func(c *config.Broker) {
		c.RetentionCheckIntervalMs = 50
		if err := c.Set("log.retention.ms", "86400000"); err != nil {
			t.Fatalf("setting log.retention.ms: %v", err)
		}
	}))
	adm := newAdmin(t, b.KafkaAddr())
	// One ~800-byte batch per 1 KiB segment.
	value := []byte(strings.Repeat("r", 700))
	cl := newClient(t, b.KafkaAddr(), kgo.ProducerBatchCompression(kgo.NoCompression()))
	produceBatches := func(topic string, timestamps []time.Time) {
		for _, ts := range timestamps {
			produceSync(t, ctx, cl, &kgo.Record{Topic: topic, Value: value, Timestamp: ts})
		}
	}

	t.Run("by time", func(t *testing.T) {
		topic := topicName(t, "time")
		createTopic(t, ctx, adm, topic, 1, map[string]string{"segment.bytes": "1024"})
		expectConfig(t, adm, topic, "retention.ms", "86400000", kmsg.ConfigSourceStaticBrokerConfig)
		var ts []time.Time
		for i := range 10 {
			ts = append(ts, time.Now().Add(-48*time.Hour+time.Duration(i)*time.Minute))
		}
		for range 5 {
			ts = append(ts, time.Now())
		}
		produceBatches(topic, ts)
		waitLogStart(t, b.KafkaAddr(), topic, 10)
		checkFrom(t, consumeAll(t, ctx, b.KafkaAddr(), topic), 10, 15)
	})

	t.Run("by size", func(t *testing.T) {
		topic := topicName(t, "size")
		const limit = 3000
		createTopic(t, ctx, adm, topic, 1, map[string]string{"retention.bytes": "3000", "segment.bytes": "1024"})
		var ts []time.Time
		for range 10 {
			ts = append(ts, time.Now())
		}
		// Every batch is the same size and fills its own segment. Measure
		// one, then apply Kafka's rule: delete the oldest segments while
		// what remains is still at least retention.bytes.
		produceBatches(topic, ts[:1])
		segs := segmentSizes(t, filepath.Join(dir, topic+"-0"))
		if len(segs) != 1 {
			t.Fatalf("precondition: %d segments after one batch", len(segs))
		}
		batch := segs[0]
		produceBatches(topic, ts[1:])
		total, want := 10*batch, int64(0)
		for total-batch >= limit && want < 9 { // the active segment stays
			total -= batch
			want++
		}
		waitLogStart(t, b.KafkaAddr(), topic, want)
		checkFrom(t, consumeAll(t, ctx, b.KafkaAddr(), topic), want, 10)
		// The log start moves before the deleted segments' files are
		// removed, so give the removal a bounded moment.
		deadline := time.Now().Add(10 * time.Second)
		for {
			left := segmentSizes(t, filepath.Join(dir, topic+"-0"))
			if int64(len(left)) == 10-want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d segment files left on disk, want %d", len(left), 10-want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// waitLogStart polls (bounded) until the partition's log start reaches want
// and fails if it passes it. Retention runs on its own timer, so there is
// no event to wait for.
func waitLogStart(t *testing.T, addr, topic string, want int64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := listOffsets(t, addr, topic)[0].start
		if got == want {
			return
		}
		if got > want {
			t.Fatalf("retention moved the log start to %d, past %d", got, want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("log start is %d after 20s, want %d", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// segmentSizes lists the .log files of a partition directory by name
// (base offset) order.
func segmentSizes(t *testing.T, dir string) []int64 {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	var out []int64
	for _, n := range names {
		st, err := os.Stat(n)
		if err != nil {
			continue // deleted meanwhile
		}
		out = append(out, st.Size())
	}
	return out
}
