package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/broker"
	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/vfs"
)

// testTimeout bounds every scenario: a hung broker fails the test with a
// message instead of stalling the package until go test's global timeout.
const testTimeout = 90 * time.Second

// spoolBinary is the path of the `spool` binary TestMain builds for the
// subprocess scenarios; spoolBuildErr is why the build failed, if it did.
// Both are written once before any test runs and only read afterwards.
var (
	spoolBinary   string
	spoolBuildErr error
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "spool-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: creating a temp dir for the spool binary:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// The build failing does not stop the in-process scenarios; the
	// subprocess ones fail with the build output (see needBinary).
	spoolBinary = filepath.Join(dir, "spool")
	cmd := exec.Command("go", "build", "-o", spoolBinary, "github.com/spool-mq/spool/cmd/spool")
	if out, err := cmd.CombinedOutput(); err != nil {
		spoolBuildErr = fmt.Errorf("go build ./cmd/spool: %w\n%s", err, out)
	}
	code := m.Run()
	if code == 0 {
		if err := checkGoroutines(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			code = 1
		}
	}
	return code
}

// needBinary returns the spool binary or fails the test (never skips: a
// binary that does not build is a failure of the product).
func needBinary(t *testing.T) string {
	t.Helper()
	if spoolBuildErr != nil {
		t.Fatalf("the spool binary is needed and did not build: %v", spoolBuildErr)
	}
	return spoolBinary
}

// permanentGoroutines are library goroutines that live for the whole
// process by design and are not leaks of the code under test.
var permanentGoroutines = []string{
	"testing.(*M).",
	"testing.runTests",
	"os/signal.signal_recv",
	"os/signal.loop",
	"runtime.ensureSigM",
	"rcrowley/go-metrics.(*meterArbiter)", // sarama's metrics registry ticker
}

// checkGoroutines fails the package when goroutines outlive the tests
// (brokers, clients or processes not closed). Stopped goroutines may take a
// moment to unwind, so it polls, bounded.
func checkGoroutines() error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		leaked := leakedGoroutines()
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d goroutines outlived the tests:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func leakedGoroutines() []string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaked []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 || strings.TrimSpace(g) == "" {
			continue // the first one is this goroutine
		}
		known := false
		for _, p := range permanentGoroutines {
			if strings.Contains(g, p) {
				known = true
				break
			}
		}
		if !known {
			leaked = append(leaked, g)
		}
	}
	return leaked
}

// testContext is the test's context bounded by testTimeout.
func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// lockedBuffer is a goroutine-safe log sink. Broker logs go here rather than
// to t.Log, because background goroutines may log after a test function
// returned; the buffer is printed when the test failed.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testLogger returns a debug logger whose output is shown only if the test
// fails. Register it before anything that logs, so its cleanup runs last.
func testLogger(t *testing.T, name string) *slog.Logger {
	buf := &lockedBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- %s log ----\n%s", name, buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// brokerSetup is what startBroker passes to broker.Start.
type brokerSetup struct {
	cfg config.Broker
	fs  vfs.FS
}

type brokerOption func(*brokerSetup)

func withFS(fs vfs.FS) brokerOption { return func(s *brokerSetup) { s.fs = fs } }

// withDataDir reuses a data directory, to restart a broker on it.
func withDataDir(dir string) brokerOption { return func(s *brokerSetup) { s.cfg.DataDir = dir } }

func withConfig(fn func(*config.Broker)) brokerOption {
	return func(s *brokerSetup) { fn(&s.cfg) }
}

// startBroker starts an in-process broker on ephemeral ports with a fresh
// data directory and closes it when the test ends.
func startBroker(t *testing.T, opts ...brokerOption) *broker.Broker {
	t.Helper()
	logger := testLogger(t, "broker")
	s := brokerSetup{cfg: config.Default()}
	s.cfg.DataDir = t.TempDir()
	s.cfg.KafkaAddr = "127.0.0.1:0"
	s.cfg.HTTPAddr = "127.0.0.1:0"
	s.cfg.ControllerAddr = "127.0.0.1:0"
	for _, o := range opts {
		o(&s)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b, err := broker.Start(ctx, s.cfg, broker.Options{Logger: logger, FS: s.fs})
	if err != nil {
		t.Fatalf("broker.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("broker.Close: %v", err)
		}
	})
	return b
}

// newClient returns a franz-go client for addr, closed when the test ends.
// Its metadata may be refreshed every 10 ms (default 5 s): kadm answers
// listings from that cache, and a test that just created or deleted a
// topic must see the broker's current view, not the client's memory.
func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.MetadataMinAge(10 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// newAdmin returns a kadm client for addr, closed when the test ends.
func newAdmin(t *testing.T, addr string) *kadm.Client {
	t.Helper()
	return kadm.NewClient(newClient(t, addr))
}

var topicSeq atomic.Int64

var unsafeTopicChars = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// topicName is a valid, unique topic name derived from the test name, so a
// failure message says which test made the topic.
func topicName(t *testing.T, suffix string) string {
	name := unsafeTopicChars.ReplaceAllString(t.Name()+"-"+suffix, "_")
	if len(name) > 200 {
		name = name[len(name)-200:]
	}
	return fmt.Sprintf("%s-%d", name, topicSeq.Add(1))
}

// createTopic creates a topic through kadm and fails the test on error.
func createTopic(t *testing.T, ctx context.Context, adm *kadm.Client, name string, partitions int32, configs map[string]string) {
	t.Helper()
	var cfg map[string]*string
	if len(configs) > 0 {
		cfg = make(map[string]*string, len(configs))
		for k, v := range configs {
			cfg[k] = kadm.StringPtr(v)
		}
	}
	if _, err := adm.CreateTopic(ctx, partitions, 1, cfg, name); err != nil {
		t.Fatalf("creating topic %q (%d partitions, configs %v): %v", name, partitions, configs, err)
	}
}

// produceSync produces records with cl and fails the test if any failed.
func produceSync(t *testing.T, ctx context.Context, cl *kgo.Client, recs ...*kgo.Record) {
	t.Helper()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing %d records: %v", len(recs), err)
	}
}

// offsetRange is a partition's [start, end) at one moment.
type offsetRange struct{ start, end int64 }

// listOffsets returns the log start and end (high watermark) offsets of
// every partition of topic, asked with raw ListOffsets requests so that no
// client-side metadata cache can answer for the broker.
func listOffsets(t *testing.T, addr, topic string) map[int32]offsetRange {
	t.Helper()
	info, ok := listTopics(t, addr)[topic]
	if !ok {
		t.Fatalf("listing offsets: topic %q does not exist", topic)
	}
	c := dialRaw(t, addr)
	defer c.conn.Close()
	ask := func(ts int64) map[int32]int64 {
		req := kmsg.NewPtrListOffsetsRequest()
		req.SetVersion(7)
		req.ReplicaID = -1
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for p := range int32(info.partitions) {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.CurrentLeaderEpoch, rp.Timestamp = p, -1, ts
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp := c.roundTrip(req).(*kmsg.ListOffsetsResponse)
		out := make(map[int32]int64)
		for _, t2 := range resp.Topics {
			for _, p := range t2.Partitions {
				if p.ErrorCode != 0 {
					t.Fatalf("ListOffsets(%d) for %s[%d]: %v", ts, topic, p.Partition, kerr.ErrorForCode(p.ErrorCode))
				}
				out[p.Partition] = p.Offset
			}
		}
		if len(out) != info.partitions {
			t.Fatalf("ListOffsets(%d) for %s answered %d of %d partitions", ts, topic, len(out), info.partitions)
		}
		return out
	}
	starts, ends := ask(-2), ask(-1)
	out := make(map[int32]offsetRange)
	for p, end := range ends {
		out[p] = offsetRange{start: starts[p], end: end}
	}
	return out
}

// consumeAll reads, from the log start, every record of topic below the
// partitions' end offsets as they are when it is called, with a fresh
// consumer. Records arrive in offset order per partition.
func consumeAll(t *testing.T, ctx context.Context, addr, topic string, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	want := make(map[int32]int64) // partition -> end offset still to reach
	for p, r := range listOffsets(t, addr, topic) {
		if r.end > r.start {
			want[p] = r.end
		}
	}
	if len(want) == 0 {
		return nil
	}
	opts = append([]kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)
	cl := newClient(t, addr, opts...)
	defer cl.Close()
	return pollUntil(t, ctx, cl, func(fresh []*kgo.Record) bool {
		for _, r := range fresh {
			if end, ok := want[r.Partition]; ok && r.Offset >= end-1 {
				delete(want, r.Partition)
			}
		}
		return len(want) == 0
	}, func() string { return fmt.Sprintf("partitions not yet read to their end offsets: %v", want) })
}

// pollUntil polls cl, accumulating records, until done, which is given
// each poll's new records, reports true. Any fetch error fails the test; so
// does the context ending first, with what() describing what was missing.
func pollUntil(t *testing.T, ctx context.Context, cl *kgo.Client, done func(fresh []*kgo.Record) bool, what func() string) []*kgo.Record {
	t.Helper()
	var out []*kgo.Record
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("timed out after %d records: %s", len(out), what())
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch error on %s[%d]: %v", e.Topic, e.Partition, e.Err)
		}
		fresh := fs.Records()
		out = append(out, fresh...)
		if len(fresh) > 0 && done(fresh) {
			return out
		}
	}
}

// pollN polls until at least n records arrived.
func pollN(t *testing.T, ctx context.Context, cl *kgo.Client, n int) []*kgo.Record {
	t.Helper()
	got := 0
	return pollUntil(t, ctx, cl, func(fresh []*kgo.Record) bool {
		got += len(fresh)
		return got >= n
	}, func() string { return fmt.Sprintf("wanted %d records, have %d", n, got) })
}
