package server

// Vectored responses written by a real server over real TCP connections,
// read back and compared byte for byte with the plain kmsg encoding.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchHandler answers Fetch requests with the response prepared for their
// correlation id and everything else like echoHandler.
type fetchHandler struct {
	mu      sync.Mutex
	fetches map[int32]kmsg.Response
}

func (h *fetchHandler) Supports(key, version int16) bool { return echoHandler{}.Supports(key, version) }

func (h *fetchHandler) Handle(ctx context.Context, c *ConnInfo, hdr *RequestHeader, req kmsg.Request) kmsg.Response {
	if hdr.APIKey != 1 {
		return echoHandler{}.Handle(ctx, c, hdr, req)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	resp, ok := h.fetches[hdr.CorrelationID]
	if !ok {
		panic(fmt.Sprintf("no fetch response prepared for correlation id %d", hdr.CorrelationID))
	}
	return resp
}

// prepare registers resp for corr and returns the frame a client must
// receive: the plain encoding, computed before the server touches resp.
func (h *fetchHandler) prepare(corr int32, resp kmsg.Response) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fetches == nil {
		h.fetches = make(map[int32]kmsg.Response)
	}
	h.fetches[corr] = resp
	return plainFrame(corr, resp)
}

// wrapListener wraps every accepted connection.
type wrapListener struct {
	net.Listener
	wrap func(net.Conn) net.Conn
}

func (l wrapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.wrap(c), nil
}

// hiddenConn hides the *net.TCPConn beneath, as the cluster listener's
// PeerConn does: the server cannot writev and writes piece by piece.
type hiddenConn struct{ net.Conn }

// buffersConn is a wrapper that passes vectored writes through (a
// BuffersWriter). It records the start of every piece it is given, so a
// test can tell referenced record sets from copies, and signals its Close.
type buffersConn struct {
	net.Conn
	mu        sync.Mutex
	pieces    map[*byte]bool
	closed    chan struct{}
	closeOnce sync.Once
}

func newBuffersConn(c net.Conn) *buffersConn {
	return &buffersConn{Conn: c, pieces: make(map[*byte]bool), closed: make(chan struct{})}
}

func (c *buffersConn) WriteBuffers(v *net.Buffers) (int64, error) {
	c.mu.Lock()
	for _, p := range *v {
		if len(p) > 0 {
			c.pieces[unsafe.SliceData(p)] = true
		}
	}
	c.mu.Unlock()
	return v.WriteTo(c.Conn)
}

func (c *buffersConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

func (c *buffersConn) wasReferenced(b []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pieces[unsafe.SliceData(b)]
}

// startWrapped starts a server with handler h whose accepted connections
// pass through wrap, and returns it with its address and metrics registry.
func startWrapped(t *testing.T, h Handler, wrap func(net.Conn) net.Conn) (*Server, string, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s := New(Config{PipelineDepth: 64}, h, slog.New(slog.DiscardHandler), NewMetrics(reg))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(wrapListener{Listener: ln, wrap: wrap})
	t.Cleanup(func() { s.Close() })
	return s, ln.Addr().String(), reg
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// readFrame reads one whole response frame, size prefix included.
func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int(uint32(size[0])<<24 | uint32(size[1])<<16 | uint32(size[2])<<8 | uint32(size[3]))
	frame := make([]byte, 4+n)
	copy(frame, size[:])
	_, err := io.ReadFull(r, frame[4:])
	return frame, err
}

// waitReleased waits until wg is done (every prepared response released).
func waitReleased(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("responses not released")
	}
}

// sentBytes reads the bytes-out counter.
func sentBytes(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "spool_kafka_sent_bytes_total" {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no bytes-out counter")
	return 0
}

// connShapes are the partition layouts every version is tested with: no
// partition, one large (over 1 MiB), one null, and many mixing null,
// empty, small and large record sets.
var connShapes = []struct {
	name  string
	shape [][]int
}{
	{"none", nil},
	{"one large", [][]int{{1<<20 + 4321}}},
	{"one nil", [][]int{{nilRecords}}},
	{"many", [][]int{{nilRecords, 1<<20 + 77, 0, 512}, {}, {spliceMinBytes, nilRecords, 100000, 3}, {40000}}},
}

var connVersions = []int16{4, 11, 12, 13}

// TestVectoredFetchOverTCP sends Fetch requests one at a time, then all
// pipelined in one write between ApiVersions and Metadata requests (plain
// responses), over a bare TCP connection (writev), a connection hiding its
// TCP socket (piece-by-piece writes) and a BuffersWriter wrapper, and
// checks that every frame is byte for byte the plain kmsg encoding, that
// large record sets went out by reference, that every response is released
// once and that bytes out counts what was written.
func TestVectoredFetchOverTCP(t *testing.T) {
	kinds := []struct {
		name string
		wrap func(net.Conn) net.Conn
	}{
		{"tcp", func(c net.Conn) net.Conn { return c }},
		{"hidden", func(c net.Conn) net.Conn { return hiddenConn{c} }},
		{"buffers", func(c net.Conn) net.Conn { return newBuffersConn(c) }},
	}
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			h := &fetchHandler{}
			var conns []*buffersConn
			var connsMu sync.Mutex
			_, addr, reg := startWrapped(t, h, func(c net.Conn) net.Conn {
				w := kind.wrap(c)
				if bc, ok := w.(*buffersConn); ok {
					connsMu.Lock()
					conns = append(conns, bc)
					connsMu.Unlock()
				}
				return w
			})
			c := dial(t, addr)
			r := bufio.NewReader(c)
			rng := rand.New(rand.NewPCG(3, 5))
			var released sync.WaitGroup
			var resps []*testFetch
			newFetch := func(version int16, shape [][]int) *testFetch {
				f := &testFetch{FetchResponse: fetchShape(rng, version, shape, nil), onRelease: released.Done}
				released.Add(1)
				resps = append(resps, f)
				return f
			}

			// One at a time.
			corr := int32(0)
			total := 0
			for _, v := range connVersions {
				for _, sh := range connShapes {
					corr++
					want := h.prepare(corr, newFetch(v, sh.shape))
					total += len(want)
					if _, err := c.Write(withBody(1, v, corr, kmsg.NewPtrFetchRequest())); err != nil {
						t.Fatal(err)
					}
					got, err := readFrame(r)
					if err != nil {
						t.Fatalf("v%d %s: %v", v, sh.name, err)
					}
					if !bytes.Equal(got, want) {
						t.Fatalf("v%d %s: %d-byte frame differs from the %d-byte plain encoding", v, sh.name, len(got), len(want))
					}
				}
			}
			waitReleased(t, &released)
			if got := sentBytes(t, reg); got != float64(total) {
				t.Errorf("bytes out = %v, want %d", got, total)
			}

			// Pipelined, mixed with plain responses.
			var reqs []byte
			var wants [][]byte
			for round := range 3 {
				for _, v := range connVersions {
					for _, sh := range connShapes {
						corr++
						wants = append(wants, h.prepare(corr, newFetch(v, sh.shape)))
						reqs = append(reqs, withBody(1, v, corr, kmsg.NewPtrFetchRequest())...)
						corr++
						var req kmsg.Request = kmsg.NewPtrApiVersionsRequest()
						if (round+int(corr))%2 == 0 {
							req = kmsg.NewPtrMetadataRequest()
						}
						req.SetVersion(req.MaxVersion())
						wants = append(wants, plainFrame(corr, req.ResponseKind()))
						reqs = append(reqs, withBody(req.Key(), req.MaxVersion(), corr, req)...)
					}
				}
			}
			go c.Write(reqs) // the reads below keep the server writing
			for i, want := range wants {
				got, err := readFrame(r)
				if err != nil {
					t.Fatalf("pipelined response %d: %v", i, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("pipelined response %d: %d-byte frame differs from the %d-byte plain encoding", i, len(got), len(want))
				}
			}
			waitReleased(t, &released)
			for i, f := range resps {
				if n := f.released.Load(); n != 1 {
					t.Errorf("response %d released %d times", i, n)
				}
			}

			connsMu.Lock()
			defer connsMu.Unlock()
			for _, bc := range conns {
				for i, f := range resps {
					for _, rs := range allRecordSets(f.FetchResponse, nil) {
						if len(*rs) >= spliceMinBytes && !bc.wasReferenced(*rs) {
							t.Fatalf("response %d: a %d-byte record set was not written by reference", i, len(*rs))
						}
						if len(*rs) > 0 && len(*rs) < spliceMinBytes && bc.wasReferenced(*rs) {
							t.Fatalf("response %d: a %d-byte record set was not coalesced", i, len(*rs))
						}
					}
				}
			}
		})
	}
}

// smallSendBuffer shrinks an accepted connection's send buffer, so a large
// response's write cannot complete before the client has read nearly all
// of it.
func smallSendBuffer(c net.Conn) net.Conn {
	c.(*net.TCPConn).SetWriteBuffer(64 << 10)
	return c
}

// bigFetch is a v12 Fetch response with one record set of size bytes.
func bigFetch(size int) *testFetch {
	resp := fetchShape(rand.New(rand.NewPCG(8, 9)), 12, [][]int{{0}}, nil)
	resp.Topics[0].Partitions[0].RecordBatches = randomBytes(rand.New(rand.NewPCG(1, 2)), size)
	return &testFetch{FetchResponse: resp}
}

// TestVectoredReleaseAfterWrite checks that a response is released only
// once the write of its record bytes has completed: Release overwrites the
// record buffer (as reuse by another fetch would), yet the client receives
// the original bytes, and when Release runs the client has already read
// all of the response but what the two sockets' buffers can hold.
func TestVectoredReleaseAfterWrite(t *testing.T) {
	const size = 24 << 20
	const slack = 8 << 20 // far more than the shrunken socket buffers hold
	h := &fetchHandler{}
	_, addr, _ := startWrapped(t, h, smallSendBuffer)
	c := dial(t, addr)
	c.SetReadBuffer(64 << 10)

	var received atomic.Int64
	atRelease := make(chan int64, 2)
	f := bigFetch(size)
	f.poison = true
	f.onRelease = func() { atRelease <- received.Load() }
	want := h.prepare(1, f)
	if _, err := c.Write(withBody(1, 12, 1, kmsg.NewPtrFetchRequest())); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 0, len(want))
	buf := make([]byte, 32<<10)
	for len(got) < len(want) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		received.Add(int64(n))
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("received bytes differ from the response at byte %d: released before the write completed", firstDiff(got, want))
	}
	select {
	case n := <-atRelease:
		if n < int64(len(want))-slack {
			t.Fatalf("released when the client had read %d of %d bytes", n, len(want))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("response never released")
	}
	if n := f.released.Load(); n != 1 {
		t.Fatalf("released %d times", n)
	}
}

// TestVectoredReleaseOnWriteError resets the connection while a large
// response is being written: the write fails, the server closes the
// connection and the response is still released, once.
func TestVectoredReleaseOnWriteError(t *testing.T) {
	h := &fetchHandler{}
	var conn *buffersConn
	accepted := make(chan struct{})
	_, addr, _ := startWrapped(t, h, func(c net.Conn) net.Conn {
		conn = newBuffersConn(smallSendBuffer(c))
		close(accepted)
		return conn
	})
	c := dial(t, addr)
	c.SetReadBuffer(64 << 10)
	released := make(chan struct{})
	f := bigFetch(24 << 20)
	f.onRelease = func() {
		if f.released.Load() == 1 {
			close(released)
		}
	}
	h.prepare(1, f)
	if _, err := c.Write(withBody(1, 12, 1, kmsg.NewPtrFetchRequest())); err != nil {
		t.Fatal(err)
	}
	// Once the response has started arriving, reset the connection.
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatal(err)
	}
	c.SetLinger(0)
	c.Close()
	<-accepted
	for _, ev := range []struct {
		what string
		ch   chan struct{}
	}{{"released", released}, {"closed by the server", conn.closed}} {
		select {
		case <-ev.ch:
		case <-time.After(20 * time.Second):
			t.Fatalf("response not %s after the write failed", ev.what)
		}
	}
	if n := f.released.Load(); n != 1 {
		t.Fatalf("released %d times", n)
	}
}

// TestVectoredReleaseOnPanic makes encoding a vectored response panic:
// the connection is closed, the response released once, and the requests
// pipelined behind it get no answer.
func TestVectoredReleaseOnPanic(t *testing.T) {
	h := &fetchHandler{}
	_, addr, _ := startWrapped(t, h, func(c net.Conn) net.Conn { return c })
	c := dial(t, addr)
	f := bigFetch(1 << 20)
	f.panics = true
	h.prepare(1, f)
	req := append(withBody(1, 12, 1, kmsg.NewPtrFetchRequest()), withBody(18, 3, 2, kmsg.NewPtrApiVersionsRequest())...)
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if frame, err := readFrame(c); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read %d bytes, err %v; want the connection closed", len(frame), err)
	}
	if n := f.released.Load(); n != 1 {
		t.Fatalf("released %d times", n)
	}
}
