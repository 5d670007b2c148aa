package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kcatTimeout bounds one kcat run. A healthy run takes well under a
// second; `kcat -C -e` that never sees the end of a partition hangs.
const kcatTimeout = 20 * time.Second

// kcat runs kcat (librdkafka) with args and stdin and returns its stdout.
// kcat missing is a failure, not a skip: librdkafka interoperability is a
// promise of the product (scripts/test.sh installs it).
func kcat(t *testing.T, ctx context.Context, stdin string, args ...string) string {
	t.Helper()
	out, _ := kcatOutputs(t, ctx, stdin, args...)
	return out
}

// kcatOutputs is kcat returning stdout and stderr (librdkafka's logs).
func kcatOutputs(t *testing.T, ctx context.Context, stdin string, args ...string) (string, string) {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is required for the librdkafka interoperability tests (apt-get install kcat): %v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, kcatTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("no exit within %v (killed): %w", kcatTimeout, err)
		}
		t.Fatalf("kcat %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	// kcat reports delivery failures on stderr but may still exit 0.
	if strings.Contains(stderr.String(), "ERROR") {
		t.Fatalf("kcat %s reported errors:\n%s", strings.Join(args, " "), stderr.String())
	}
	return stdout.String(), stderr.String()
}

// TestKcat: librdkafka lists topics, produces plain and keyed lines,
// compresses with lz4 and zstd, and consumes from the beginning and from a
// timestamp.
func TestKcat(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t)
	addr := b.KafkaAddr()
	adm := newAdmin(t, addr)

	t.Run("list", func(t *testing.T) {
		t.Parallel()
		topic := topicName(t, "listed")
		createTopic(t, ctx, adm, topic, 3, nil)
		out := kcat(t, ctx, "", "-b", addr, "-L", "-t", topic)
		if want := fmt.Sprintf("topic \"%s\" with 3 partitions", topic); !strings.Contains(out, want) {
			t.Fatalf("kcat -L does not show %q:\n%s", want, out)
		}
		all := kcat(t, ctx, "", "-b", addr, "-L")
		if !strings.Contains(all, fmt.Sprintf("topic \"%s\"", topic)) {
			t.Fatalf("kcat -L (all topics) does not list %q:\n%s", topic, all)
		}
	})

	t.Run("produce and consume lines", func(t *testing.T) {
		t.Parallel()
		topic := topicName(t, "lines")
		createTopic(t, ctx, adm, topic, 1, nil)
		lines := []string{"hello", "world", "with spaces and ünïcode", "{\"json\": true}"}
		kcat(t, ctx, strings.Join(lines, "\n")+"\n", "-b", addr, "-P", "-t", topic)
		out := kcat(t, ctx, "", "-b", addr, "-C", "-t", topic, "-e", "-o", "beginning", "-f", "%o|%s\n")
		want := ""
		for i, l := range lines {
			want += fmt.Sprintf("%d|%s\n", i, l)
		}
		if out != want {
			t.Fatalf("kcat read back:\n%s\nwant:\n%s", out, want)
		}
		// franz-go reads librdkafka's batches too.
		recs := consumeAll(t, ctx, addr, topic)
		if len(recs) != len(lines) || string(recs[2].Value) != lines[2] {
			t.Fatalf("franz-go read %d records of kcat's %d", len(recs), len(lines))
		}
	})

	t.Run("keyed", func(t *testing.T) {
		t.Parallel()
		topic := topicName(t, "keyed")
		createTopic(t, ctx, adm, topic, 1, nil)
		in := "k1:v1\nk2:value two\nk1:v3\n"
		kcat(t, ctx, in, "-b", addr, "-P", "-t", topic, "-K", ":")
		out := kcat(t, ctx, "", "-b", addr, "-C", "-t", topic, "-e", "-o", "beginning", "-f", "%k:%s\n")
		if out != in {
			t.Fatalf("kcat keyed read back:\n%q\nwant:\n%q", out, in)
		}
	})

	for _, codec := range []struct {
		name string
		id   int8
		kgo  kgo.CompressionCodec
	}{{"lz4", 3, kgo.Lz4Compression()}, {"zstd", 4, kgo.ZstdCompression()}} {
		t.Run("compression "+codec.name, func(t *testing.T) {
			t.Parallel()
			topic := topicName(t, codec.name)
			createTopic(t, ctx, adm, topic, 1, nil)
			var lines []string
			for i := range 50 {
				lines = append(lines, fmt.Sprintf("line %03d %s", i, strings.Repeat("compressible ", 10)))
			}
			in := strings.Join(lines, "\n") + "\n"
			// Linger so the lines share a batch and compression is worth
			// it; -d msg makes librdkafka say if it decided not to compress.
			_, logs := kcatOutputs(t, ctx, in, "-b", addr, "-P", "-t", topic, "-z", codec.name, "-X", "linger.ms=100", "-d", "msg")
			// Also a batch franz-go certainly compresses, for librdkafka
			// to decompress.
			kgoLines := []string{"from franz-go 1 " + strings.Repeat("abc", 50), "from franz-go 2 " + strings.Repeat("abc", 50)}
			cl := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(codec.kgo))
			produceSync(t, ctx, cl, &kgo.Record{Value: []byte(kgoLines[0])}, &kgo.Record{Value: []byte(kgoLines[1])})
			out := kcat(t, ctx, "", "-b", addr, "-C", "-t", topic, "-e", "-o", "beginning", "-f", "%s\n")
			if want := in + strings.Join(kgoLines, "\n") + "\n"; out != want {
				t.Fatalf("kcat %s round trip differs:\n%s\nwant:\n%s", codec.name, out, want)
			}
			// The broker must store exactly what the producer sent. Older
			// librdkafka (< 2.10) only uses lz4 if the broker accepts
			// Produce v0, which Spool (like Kafka 4) does not, and then
			// sends the batch uncompressed; it logs that decision.
			want := codec.id
			if strings.Contains(logs, "does not support compression type "+codec.name) {
				t.Logf("librdkafka sent %s batches uncompressed: %s", codec.name, grepLines(logs, "does not support compression"))
				want = 0
			}
			batches := parseBatches(t, rawFetch(t, addr, topic, 0, 0).RecordBatches)
			if len(batches) == 0 {
				t.Fatalf("no stored batches")
			}
			for _, bi := range batches {
				sentBy, sent := "kcat", want
				if bi.baseOffset >= int64(len(lines)) {
					sentBy, sent = "franz-go", codec.id
				}
				if bi.codec != sent {
					t.Fatalf("%s's batch at offset %d is stored with codec %d, it was sent with codec %d; all stored batches: %+v",
						sentBy, bi.baseOffset, bi.codec, sent, batches)
				}
			}
		})
	}

	t.Run("idempotent producer", func(t *testing.T) {
		t.Parallel()
		topic := topicName(t, "idempotent")
		createTopic(t, ctx, adm, topic, 1, nil)
		in := "one\ntwo\nthree\n"
		kcat(t, ctx, in, "-b", addr, "-P", "-t", topic, "-X", "enable.idempotence=true")
		recs := consumeAll(t, ctx, addr, topic)
		if len(recs) != 3 || string(recs[0].Value) != "one" || string(recs[2].Value) != "three" {
			t.Fatalf("idempotent kcat produced %d records", len(recs))
		}
		if recs[0].ProducerID < 0 {
			t.Fatalf("idempotent kcat batch has no producer id (%d)", recs[0].ProducerID)
		}
	})

	t.Run("consume from timestamp", func(t *testing.T) {
		t.Parallel()
		topic := topicName(t, "ts")
		createTopic(t, ctx, adm, topic, 1, nil)
		base := time.Now().Add(-time.Hour).UnixMilli()
		cl := newClient(t, addr, kgo.DefaultProduceTopic(topic))
		var recs []*kgo.Record
		for i := range 10 {
			recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "r%d", i), Timestamp: time.UnixMilli(base + int64(i)*100)})
		}
		produceSync(t, ctx, cl, recs...)
		// Timestamp +450 falls between records 4 (+400) and 5 (+500).
		out := kcat(t, ctx, "", "-b", addr, "-C", "-t", topic, "-p", "0", "-e",
			"-o", fmt.Sprintf("s@%d", base+450), "-f", "%o %T %s\n")
		want := ""
		for i := 5; i < 10; i++ {
			want += fmt.Sprintf("%d %d r%d\n", i, base+int64(i)*100, i)
		}
		if out != want {
			t.Fatalf("kcat -o s@%d read:\n%s\nwant:\n%s", base+450, out, want)
		}
	})
}
