package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/testkit"
)

// funcHandler serves every request with fn.
type funcHandler func(ctx context.Context, info *ConnInfo, req kmsg.Request) kmsg.Response

func (funcHandler) Supports(key, version int16) bool {
	r := kmsg.RequestForKey(key)
	return r != nil && version >= 0 && version <= r.MaxVersion()
}

func (f funcHandler) Handle(ctx context.Context, info *ConnInfo, _ *RequestHeader, req kmsg.Request) kmsg.Response {
	return f(ctx, info, req)
}

func startFuncServer(t *testing.T, cfg Config, h funcHandler) (*Server, *Metrics, string) {
	t.Helper()
	m := NewMetrics(prometheus.NewRegistry())
	s := New(cfg, h, slog.New(slog.DiscardHandler), m)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return s, m, ln.Addr().String()
}

// dialBounded is dial with a deadline, so a broken server fails the test.
func dialBounded(t *testing.T, addr string) net.Conn {
	t.Helper()
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// A goroutine a handler starts that panics is recovered into an error the
// handler answers with, counted, and the connection keeps serving.
func TestRecoverInHandlerGoroutine(t *testing.T) {
	_, m, addr := startFuncServer(t, Config{}, func(_ context.Context, info *ConnInfo, req kmsg.Request) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		done := make(chan error)
		go func() {
			var err error
			defer func() { done <- err }()
			defer info.Recover("Metadata", &err)
			var nilMap map[string]int
			nilMap["boom"]++ // a bug: assignment to a nil map
		}()
		if err := <-done; errors.Is(err, ErrHandlerPanic) {
			resp.ClusterID = kmsg.StringPtr(err.Error())
		}
		return resp
	})
	c := dialBounded(t, addr)
	br := bufio.NewReader(c)
	for i := range 2 {
		c.Write(withBody(3, 9, int32(i), kmsg.NewPtrMetadataRequest()))
		_, body := readResponse(t, br)
		resp := kmsg.NewPtrMetadataResponse()
		resp.SetVersion(9)
		if err := resp.ReadFrom(body[1:]); err != nil {
			t.Fatal(err)
		}
		if resp.ClusterID == nil {
			t.Fatalf("request %d: the handler did not see the goroutine's panic as an error", i)
		}
	}
	if n := testutil.ToFloat64(m.panics); n != 2 {
		t.Fatalf("spool_kafka_handler_panics_total = %v, want 2", n)
	}
}

// A client that hangs up while its request is parked ends the request's
// context at once, and its connection slot is free again.
func TestHangupCancelsParkedRequest(t *testing.T) {
	cancelled := make(chan struct{}, 1)
	_, m, addr := startFuncServer(t, Config{MaxConnections: 1}, func(ctx context.Context, _ *ConnInfo, req kmsg.Request) kmsg.Response {
		if _, ok := req.(*kmsg.FetchRequest); ok {
			<-ctx.Done() // park until the connection ends
			cancelled <- struct{}{}
		}
		return req.ResponseKind()
	})
	c := dialBounded(t, addr)
	c.Write(withBody(1, 11, 1, kmsg.NewPtrFetchRequest()))
	time.Sleep(50 * time.Millisecond) // let the request reach the handler
	c.Close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the parked request's context was not cancelled when the client hung up")
	}
	testkit.Eventually(t, 5*time.Second, "the hung-up connection to be uncounted", func() bool {
		return testutil.ToFloat64(m.connections) == 0
	})
	c2 := dialBounded(t, addr) // max.connections is 1: the slot must be free
	c2.Write(withBody(18, 3, 2, kmsg.NewPtrApiVersionsRequest()))
	readResponse(t, bufio.NewReader(c2))
}

// A frame larger than the first chunk is read whole and intact as it
// grows, and the budget it held is returned once it has been handled.
func TestLargeFrameGrowsIntact(t *testing.T) {
	got := make(chan []byte, 1)
	s, m, addr := startFuncServer(t, Config{}, func(_ context.Context, _ *ConnInfo, req kmsg.Request) kmsg.Response {
		if p, ok := req.(*kmsg.ProduceRequest); ok {
			got <- append([]byte(nil), p.Topics[0].Partitions[0].Records...)
		}
		return req.ResponseKind()
	})
	records := make([]byte, 9<<20) // grows 1 -> 8 -> 9 MiB
	for i := range records {
		records[i] = byte(i * 7)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks = 1
	tp := kmsg.NewProduceRequestTopic()
	tp.Topic = "t"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = records
	tp.Partitions = append(tp.Partitions, pp)
	req.Topics = append(req.Topics, tp)
	c := dialBounded(t, addr)
	c.Write(withBody(0, 9, 1, req))
	readResponse(t, bufio.NewReader(c))
	b := <-got
	if len(b) != len(records) {
		t.Fatalf("handler saw %d record bytes, want %d", len(b), len(records))
	}
	for i := range b {
		if b[i] != records[i] {
			t.Fatalf("record byte %d is %d, want %d", i, b[i], records[i])
		}
	}
	if v := testutil.ToFloat64(m.budgetInUse); v != 0 {
		t.Fatalf("request budget in use after the request was handled: %v", v)
	}
	if !s.budget.sem.TryAcquire(s.budget.total) {
		t.Fatal("request budget not fully returned")
	}
	s.budget.sem.Release(s.budget.total)
}

// A declared-but-stalled frame holds only its first chunk of budget, and
// the read timeout closes its connection and returns that budget.
func TestStalledFrameHoldsFirstChunk(t *testing.T) {
	_, m, addr := startFuncServer(t, Config{ReadTimeout: 300 * time.Millisecond}, func(_ context.Context, _ *ConnInfo, req kmsg.Request) kmsg.Response {
		return req.ResponseKind()
	})
	c := dialBounded(t, addr)
	c.Write(binary.BigEndian.AppendUint32(nil, 90<<20))
	c.Write(make([]byte, 1000))
	testkit.Eventually(t, 5*time.Second, "the stalled frame to hold its first chunk of budget", func() bool {
		return testutil.ToFloat64(m.budgetInUse) == firstChunk
	})
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("stalled connection not closed")
	}
	testkit.Eventually(t, 5*time.Second, "the budget to be returned after the timeout", func() bool {
		return testutil.ToFloat64(m.budgetInUse) == 0
	})
	if v := testutil.ToFloat64(m.timeouts.WithLabelValues("read")); v != 1 {
		t.Fatalf("read timeouts counted: %v, want 1", v)
	}
}
