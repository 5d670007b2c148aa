package e2e

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/config"
)

// serveMustFail runs `spool serve` with args and expects it to exit with
// an error at once: a clean, one-line-ish message, never a panic.
func serveMustFail(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, needBinary(t), append([]string{"serve"}, args...)...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ctx.Err() != nil {
		t.Fatalf("spool serve %s: %v (it must exit with an error at once)\n%s", strings.Join(args, " "), err, out)
	}
	if strings.Contains(string(out), "panic:") || strings.Contains(string(out), "goroutine ") {
		t.Fatalf("spool serve %s crashed instead of reporting the error:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}

// TestSecondBrokerOnSameDataDir: starting a second `spool serve` on a data
// directory in use fails at once with a message about the directory, and
// leaves the running broker alone.
func TestSecondBrokerOnSameDataDir(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	first := startProcess(t, dir)
	out := serveMustFail(t, ctx, "--data-dir", dir,
		"--kafka-addr", freeAddr(t), "--http-addr", freeAddr(t), "--controller-addr", freeAddr(t))
	if !strings.Contains(out, dir) {
		t.Errorf("the second broker's error does not name the data directory %s:\n%s", dir, out)
	}
	checkServes(t, first.kafkaAddr)
}

// TestNodeIDMismatch: a data directory written by node 1 refuses to start
// as node 2, so two nodes' data cannot be mixed up by a wrong flag.
func TestNodeIDMismatch(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	dir := t.TempDir()
	p := startProcess(t, dir)
	p.stop()
	out := serveMustFail(t, ctx, "--data-dir", dir, "--node-id", "2",
		"--kafka-addr", freeAddr(t), "--http-addr", freeAddr(t), "--controller-addr", freeAddr(t))
	if !strings.Contains(out, "node") {
		t.Errorf("the error does not say the node id is wrong:\n%s", out)
	}
}

// TestPortInUse: a Kafka port that is taken fails startup with a message
// naming the address.
func TestPortInUse(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out := serveMustFail(t, ctx, "--data-dir", t.TempDir(), "--kafka-addr", ln.Addr().String(),
		"--http-addr", freeAddr(t), "--controller-addr", freeAddr(t))
	if !strings.Contains(out, ln.Addr().String()) {
		t.Errorf("the error does not name the busy address %s:\n%s", ln.Addr(), out)
	}
}

// TestMaxConnections: connections beyond max.connections are closed at
// once, and a slot is usable again after a client leaves.
func TestMaxConnections(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withConfig(func(c *config.Broker) { c.MaxConnections = 3 }))
	var conns []*rawConn
	for range 3 {
		c := dialRaw(t, b.KafkaAddr())
		apiVersions(t, c)
		conns = append(conns, c)
	}
	extra := dialRaw(t, b.KafkaAddr())
	extra.expectClosed("a fourth connection with max.connections=3")
	conns[0].conn.Close()
	// The server notices the close asynchronously; a new client may be
	// refused until it has, so retry for a bounded time.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dialRaw(t, b.KafkaAddr())
		c.conn.SetReadDeadline(time.Now().Add(rawIOTimeout))
		corr := c.send(apiVersionsRequest())
		if _, err := c.readFrame(corr); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("no connection accepted after one of three closed: %v", err)
		}
		c.conn.Close()
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range conns[1:] {
		apiVersions(t, c)
	}
}

func apiVersionsRequest() *kmsg.ApiVersionsRequest {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "spool-e2e", "1"
	return req
}

func apiVersions(t *testing.T, c *rawConn) {
	t.Helper()
	if r := c.roundTrip(apiVersionsRequest()).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
		t.Fatalf("ApiVersions: error %d", r.ErrorCode)
	}
}

// TestPipelining: a client may send many requests without waiting; the
// responses come back in request order, each matching its request.
func TestPipelining(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	b := startBroker(t)
	topic := topicName(t, "pipe")
	createTopic(t, ctx, newAdmin(t, b.KafkaAddr()), topic, 1, nil)
	c := dialRaw(t, b.KafkaAddr())

	const n = 60
	var reqs []kmsg.Request
	var frames []byte
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("pipe"))
	for i := range n {
		var req kmsg.Request
		switch i % 3 {
		case 0:
			req = apiVersionsRequest()
		case 1:
			req = produceRequest(topic, 0, -1, encodeBatch([]testRecord{{value: []byte{byte(i)}, timestamp: 1700000000000}}))
		default:
			m := kmsg.NewPtrMetadataRequest()
			m.SetVersion(9)
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = kmsg.StringPtr(topic)
			m.Topics = append(m.Topics, rt)
			req = m
		}
		reqs = append(reqs, req)
		// AppendRequest sizes the frame as everything in dst, so each
		// frame is built on its own and then appended.
		frames = append(frames, f.AppendRequest(nil, req, int32(1000+i))...)
	}
	if err := c.writeBytes(frames); err != nil {
		t.Fatalf("writing %d pipelined requests: %v", n, err)
	}
	produced := int64(0)
	for i, req := range reqs {
		body, err := c.readFrame(int32(1000 + i))
		if err != nil {
			t.Fatalf("response %d of %d: %v", i, n, err)
		}
		if req.Key() == 0 {
			resp := kmsg.NewPtrProduceResponse()
			resp.SetVersion(req.GetVersion())
			if err := resp.ReadFrom(body[1:]); err != nil { // flexible header tags
				t.Fatalf("response %d: %v", i, err)
			}
			p := resp.Topics[0].Partitions[0]
			if p.ErrorCode != 0 || p.BaseOffset != produced {
				t.Fatalf("pipelined produce %d: error %d, offset %d, want offset %d", i, p.ErrorCode, p.BaseOffset, produced)
			}
			produced++
		}
	}
}

// TestShutdownWithParkedFetch: SIGTERM stops the broker promptly even
// while a consumer's long-poll fetch (max wait 20 s) is parked in it; the
// exit is clean (status 0).
func TestShutdownWithParkedFetch(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	p := startProcess(t, t.TempDir())
	topic := topicName(t, "parked")
	createTopic(t, ctx, newAdmin(t, p.kafkaAddr), topic, 1, nil)
	sent := make(fetchWritten, 1)
	consumer := newClient(t, p.kafkaAddr, kgo.ConsumeTopics(topic), kgo.FetchMaxWait(20*time.Second), kgo.WithHooks(sent))
	pollCtx, stopPolling := context.WithCancel(ctx)
	defer stopPolling()
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		consumer.PollFetches(pollCtx)
	}()
	select {
	case <-sent:
	case <-ctx.Done():
		t.Fatalf("the consumer never sent a fetch")
	}
	start := time.Now()
	p.stop() // fails unless the exit is clean
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("SIGTERM took %v with a parked fetch: shutdown waited for the client", took)
	}
	stopPolling()
	<-polled
}
