package e2e

// Abuse: clients that are valid Kafka peers but hostile (or very buggy).
// Each scenario runs the real `spool serve` binary as a child process, so
// its memory and goroutines are read from its own /metrics, not mixed with
// the test's; each ends by proving that a well-behaved franz-go client can
// still produce and fetch.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAbuseHangupsDuringLongPoll: a client that sends a long-poll Fetch
// (12 days of MaxWaitMillis) on a partition with no new data and hangs up
// must cost nothing once it is gone. It used to keep its connection slot
// and two goroutines until the wait ended, so max.connections hang-ups
// locked every client out.
func TestAbuseHangupsDuringLongPoll(t *testing.T) {
	const maxConns, hangups = 100, 1500
	p := startProcess(t, t.TempDir(), "--set", fmt.Sprintf("max.connections=%d", maxConns))
	ctx := testContext(t)
	topic := topicName(t, "empty")
	createTopic(t, ctx, newAdmin(t, p.kafkaAddr), topic, 1, nil)
	base := scrapeMetric(t, p.httpAddr, "go_goroutines", nil)
	clientConns := map[string]string{"listener": "client"}
	baseConns := scrapeMetric(t, p.httpAddr, "spool_kafka_connections", clientConns)

	fetch := fetchRequest(topic, 0, 0)
	fetch.MaxWaitMillis = 1_000_000_000 // about 12 days
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("hangup")).AppendRequest(nil, fetch, 1)
	for i := range hangups {
		c, err := net.DialTimeout("tcp", p.kafkaAddr, 5*time.Second)
		if err != nil {
			t.Fatalf("hang-up %d: dial: %v", i, err)
		}
		c.SetWriteDeadline(time.Now().Add(rawIOTimeout))
		_, _ = c.Write(frame) // a refused connection may already be closed
		c.Close()
	}

	waitMetric(t, ctx, p.httpAddr, "spool_kafka_connections", clientConns,
		func(v float64) bool { return v <= baseConns }, "hung-up connections to be released")
	waitMetric(t, ctx, p.httpAddr, "go_goroutines", nil,
		func(v float64) bool { return v <= base+30 }, fmt.Sprintf("goroutines back near the %v before the hang-ups", base))
	checkWellBehaved(t, ctx, p.kafkaAddr)
}

// TestAbuseSilentConnections: connections that never send anything must
// not hold max.connections slots for long; a client that connects after
// them gets in once connections.first.request.timeout.ms has passed.
func TestAbuseSilentConnections(t *testing.T) {
	const maxConns = 40
	p := startProcess(t, t.TempDir(), "--set", fmt.Sprintf("max.connections=%d", maxConns),
		"--set", "connections.first.request.timeout.ms=1000")
	ctx := testContext(t)
	var silent []net.Conn
	for range maxConns {
		c, err := net.DialTimeout("tcp", p.kafkaAddr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { c.Close() })
		silent = append(silent, c)
	}
	start := time.Now()
	for i, c := range silent {
		c.SetReadDeadline(time.Now().Add(rawIOTimeout))
		if n, err := c.Read(make([]byte, 1)); err == nil || n > 0 {
			t.Fatalf("silent connection %d: read %d bytes, err %v; want the broker to close it", i, n, err)
		}
	}
	if waited := time.Since(start); waited > 8*time.Second {
		t.Fatalf("silent connections closed after %v; connections.first.request.timeout.ms is 1 s", waited)
	}
	waitMetric(t, ctx, p.httpAddr, "spool_kafka_connection_timeouts_total", map[string]string{"listener": "client", "kind": "first_request"},
		func(v float64) bool { return v >= maxConns }, "first-request timeouts to be counted")
	checkWellBehaved(t, ctx, p.kafkaAddr)
}

// stallFrame opens a connection that declares a frame of size bytes, sends
// the first sent bytes of it (a valid Produce header, then filler) and
// stops.
func stallFrame(t *testing.T, addr string, size, sent int) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	b := binary.BigEndian.AppendUint32(nil, uint32(size))
	b = append(b, make([]byte, sent)...)
	c.SetWriteDeadline(time.Now().Add(rawIOTimeout))
	if _, err := c.Write(b); err != nil {
		t.Fatalf("writing a stalled frame: %v", err)
	}
	return c
}

// TestAbuseStalledLargeFrames: clients that declare 100 MiB frames and
// stall after a few KiB make the broker hold what they sent, not what they
// declared; other clients are served meanwhile, and the stalled ones are
// closed after socket.request.read.timeout.ms.
func TestAbuseStalledLargeFrames(t *testing.T) {
	const stalled = 40
	p := startProcess(t, t.TempDir(), "--set", "socket.request.read.timeout.ms=3000")
	ctx := testContext(t)
	heapBase := scrapeMetric(t, p.httpAddr, "go_memstats_heap_inuse_bytes", nil)
	var conns []net.Conn
	for range stalled {
		conns = append(conns, stallFrame(t, p.kafkaAddr, 100<<20, 16<<10))
	}
	// Each stalled frame holds its first chunk (1 MiB) of request budget.
	waitMetric(t, ctx, p.httpAddr, "spool_kafka_request_budget_bytes", map[string]string{"listener": "client"},
		func(v float64) bool { return v >= stalled<<20 }, "every stalled frame to be reading")
	heap := scrapeMetric(t, p.httpAddr, "go_memstats_heap_inuse_bytes", nil)
	if grown := heap - heapBase; grown > 150<<20 {
		t.Fatalf("heap grew by %.0f MiB for %d stalled frames that sent 16 KiB each (bound 150 MiB)", grown/(1<<20), stalled)
	}
	checkWellBehaved(t, ctx, p.kafkaAddr)
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(rawIOTimeout))
		if n, err := c.Read(make([]byte, 1)); err == nil || n > 0 {
			t.Fatalf("stalled connection %d: read %d bytes, err %v; want the broker to close it", i, n, err)
		}
	}
	waitMetric(t, ctx, p.httpAddr, "spool_kafka_request_budget_bytes", map[string]string{"listener": "client"},
		func(v float64) bool { return v == 0 }, "the stalled frames' budget to be returned")
}

// TestAbuseRequestBudgetBackPressure: when queued.max.request.bytes is
// spent by frames in progress, the broker stops reading (others wait)
// instead of allocating more; once the stalled senders time out, everyone
// is served again.
func TestAbuseRequestBudgetBackPressure(t *testing.T) {
	const stalled = 60 // each grows to 8 MiB after sending 1 MiB: 480 MiB wanted
	p := startProcess(t, t.TempDir(), "--set", "queued.max.request.bytes=104857600",
		"--set", "socket.request.read.timeout.ms=4000")
	ctx := testContext(t)
	heapBase := scrapeMetric(t, p.httpAddr, "go_memstats_heap_inuse_bytes", nil)
	for range stalled {
		stallFrame(t, p.kafkaAddr, 100<<20, 1<<20+1)
	}
	waitMetric(t, ctx, p.httpAddr, "spool_kafka_request_budget_waits_total", map[string]string{"listener": "client"},
		func(v float64) bool { return v >= 1 }, "a reader to wait for request budget")
	if held := scrapeMetric(t, p.httpAddr, "spool_kafka_request_budget_bytes", map[string]string{"listener": "client"}); held > 100<<20 {
		t.Fatalf("request budget in use %.0f MiB, over queued.max.request.bytes (100 MiB)", held/(1<<20))
	}
	if grown := scrapeMetric(t, p.httpAddr, "go_memstats_heap_inuse_bytes", nil) - heapBase; grown > 250<<20 {
		t.Fatalf("heap grew by %.0f MiB with a 100 MiB request budget (bound 250 MiB)", grown/(1<<20))
	}
	checkWellBehaved(t, ctx, p.kafkaAddr) // served once the stalled frames time out
}

// TestAbuseFetchLimits: a Fetch asking for 2 GiB gets at most
// fetch.max.bytes, and one asking to wait 12 days is answered within
// fetch.wait.max.ms.
func TestAbuseFetchLimits(t *testing.T) {
	p := startProcess(t, t.TempDir(), "--set", "fetch.max.bytes=1048576", "--set", "fetch.wait.max.ms=500")
	ctx := testContext(t)
	topic := produceIncompressible(t, ctx, p.kafkaAddr, 1024, 8<<10, kgo.ProducerBatchMaxBytes(64<<10)) // 8 MiB, 64 KiB batches

	c := dialRaw(t, p.kafkaAddr)
	req := fetchRequest(topic, 0, 0)
	req.MaxBytes, req.Topics[0].Partitions[0].PartitionMaxBytes = math.MaxInt32, math.MaxInt32
	part := c.roundTrip(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if part.ErrorCode != 0 {
		t.Fatalf("fetch: error code %d", part.ErrorCode)
	}
	if n := len(part.RecordBatches); n == 0 || n > 1<<20 {
		t.Fatalf("a fetch asking for 2 GiB got %d bytes of records; fetch.max.bytes is 1 MiB", n)
	}

	req = fetchRequest(topic, 0, part.HighWatermark)
	req.MaxWaitMillis = 1_000_000_000
	start := time.Now()
	c.roundTrip(req)
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("a fetch at the log end waited %v; fetch.wait.max.ms is 500", waited)
	}
	checkWellBehaved(t, ctx, p.kafkaAddr)
}

// TestAbuseUnreadResponses: a client that pipelines fetches and never reads
// the responses is disconnected after socket.response.write.timeout.ms, so
// it cannot pin response buffers and a goroutine forever.
func TestAbuseUnreadResponses(t *testing.T) {
	p := startProcess(t, t.TempDir(), "--set", "socket.response.write.timeout.ms=2000")
	ctx := testContext(t)
	topic := produceIncompressible(t, ctx, p.kafkaAddr, 128, 64<<10) // 8 MiB

	clientConns := map[string]string{"listener": "client"}
	baseConns := scrapeMetric(t, p.httpAddr, "spool_kafka_connections", clientConns)
	c := dialRaw(t, p.kafkaAddr)
	req := fetchRequest(topic, 0, 0)
	req.Topics[0].Partitions[0].PartitionMaxBytes = 8 << 20
	for range 64 { // 512 MiB of responses, far beyond the socket buffers
		c.send(req)
	}
	waitMetric(t, ctx, p.httpAddr, "spool_kafka_connection_timeouts_total", map[string]string{"listener": "client", "kind": "write"},
		func(v float64) bool { return v >= 1 }, "the broker to give up writing to a client that does not read")
	waitMetric(t, ctx, p.httpAddr, "spool_kafka_connections", clientConns,
		func(v float64) bool { return v <= baseConns }, "the unread connection to be closed")
	checkWellBehaved(t, ctx, p.kafkaAddr)
}

// checkWellBehaved produces to a fresh topic with franz-go's defaults and
// reads the records back: what every abuse scenario must leave possible.
func checkWellBehaved(t *testing.T, ctx context.Context, addr string) {
	t.Helper()
	topic := topicName(t, "well-behaved")
	createTopic(t, ctx, newAdmin(t, addr), topic, 1, nil)
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic))
	var recs []*kgo.Record
	for i := range 100 {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte("v")})
	}
	produceSync(t, ctx, cl, recs...)
	got := consumeAll(t, ctx, addr, topic)
	if len(got) != len(recs) {
		t.Fatalf("well-behaved client read %d of %d records", len(got), len(recs))
	}
}

// TestAbuseFetchMemory: many consumers fetching large responses and not
// reading them make the broker hold at most fetch.memory.max.bytes of
// records, not connections x fetch.max.bytes; once they go, everyone is
// served again.
func TestAbuseFetchMemory(t *testing.T) {
	const hogs = 60
	p := startProcess(t, t.TempDir(), "--set", "fetch.memory.max.bytes=8388608", "--set", "fetch.max.bytes=8388608")
	ctx := testContext(t)
	topic := produceIncompressible(t, ctx, p.kafkaAddr, 128, 64<<10) // 8 MiB
	heapBase := scrapeMetric(t, p.httpAddr, "go_memstats_heap_inuse_bytes", nil)

	req := fetchRequest(topic, 0, 0)
	req.Topics[0].Partitions[0].PartitionMaxBytes = 8 << 20
	var conns []*rawConn
	for range hogs {
		c := dialSmallWindow(t, p.kafkaAddr)
		for range 4 {
			c.send(req)
		}
		conns = append(conns, c)
	}
	time.Sleep(time.Second) // let every connection's first fetch be served
	if grown := scrapeMetric(t, p.httpAddr, "go_memstats_heap_inuse_bytes", nil) - heapBase; grown > 150<<20 {
		t.Fatalf("heap grew by %.0f MiB for %d connections not reading 8 MiB fetches (fetch.memory.max.bytes is 8 MiB; bound 150 MiB)", grown/(1<<20), hogs)
	}
	for _, c := range conns {
		c.conn.Close()
	}
	checkWellBehaved(t, ctx, p.kafkaAddr)
}

// dialSmallWindow connects with a 4 KiB receive buffer, set before the
// handshake so the window stays small: the kernel cannot absorb large
// responses, and the broker's writes to it block with their buffers held.
func dialSmallWindow(t *testing.T, addr string) *rawConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10) })
		return errors.Join(err, serr)
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return newRawConn(t, c)
}

// produceIncompressible creates a one-partition topic and produces n
// records of size random bytes to it (so no codec shrinks them); it
// returns the topic.
func produceIncompressible(t *testing.T, ctx context.Context, addr string, n, size int, opts ...kgo.Opt) string {
	t.Helper()
	topic := topicName(t, "big")
	createTopic(t, ctx, newAdmin(t, addr), topic, 1, nil)
	cl := newClient(t, addr, append([]kgo.Opt{kgo.DefaultProduceTopic(topic)}, opts...)...)
	var recs []*kgo.Record
	for range n {
		recs = append(recs, &kgo.Record{Value: randomBytes(size)})
	}
	produceSync(t, ctx, cl, recs...)
	return topic
}

// randomBytes is n bytes that compress to no less than n.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
