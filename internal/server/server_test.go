package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// echoHandler answers ApiVersions and Metadata; it supports every kmsg
// request key up to its max version so decoding of all of them is exercised.
type echoHandler struct{}

func (echoHandler) Supports(key, version int16) bool {
	r := kmsg.RequestForKey(key)
	return r != nil && version >= 0 && version <= r.MaxVersion()
}

func (echoHandler) Handle(_ context.Context, _ *ConnInfo, hdr *RequestHeader, req kmsg.Request) kmsg.Response {
	resp := req.ResponseKind()
	if hdr.APIKey == apiVersionsKey && req.GetVersion() == 0 && hdr.APIVersion != 0 {
		resp.(*kmsg.ApiVersionsResponse).ErrorCode = 35
	}
	return resp
}

func startServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	s := New(cfg, echoHandler{}, slog.New(slog.DiscardHandler), NewMetrics(prometheus.NewRegistry()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return s, ln.Addr().String()
}

// withBody encodes a size-prefixed request frame; a nil req sends a header
// only.
func withBody(key, version int16, corr int32, req kmsg.Request) []byte {
	body := []byte{}
	body = binary.BigEndian.AppendUint16(body, uint16(key))
	body = binary.BigEndian.AppendUint16(body, uint16(version))
	body = binary.BigEndian.AppendUint32(body, uint32(corr))
	body = binary.BigEndian.AppendUint16(body, 4)
	body = append(body, "test"...)
	if req != nil {
		req.SetVersion(version)
		if req.IsFlexible() {
			body = append(body, 0)
		}
		body = req.AppendTo(body)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func readResponse(t *testing.T, r *bufio.Reader) (int32, []byte) {
	t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		t.Fatalf("reading response: %v", err)
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatal(err)
	}
	return int32(binary.BigEndian.Uint32(buf)), buf[4:]
}

func TestPipelinedResponsesKeepRequestOrder(t *testing.T) {
	_, addr := startServer(t, Config{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out []byte
	for i := int32(0); i < 50; i++ {
		if i%2 == 0 {
			out = append(out, withBody(18, 3, i, kmsg.NewPtrApiVersionsRequest())...)
		} else {
			out = append(out, withBody(3, 12, i, kmsg.NewPtrMetadataRequest())...)
		}
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	for i := int32(0); i < 50; i++ {
		corr, body := readResponse(t, r)
		if corr != i {
			t.Fatalf("response %d has correlation id %d", i, corr)
		}
		if i%2 == 1 && (len(body) == 0 || body[0] != 0) {
			t.Fatalf("flexible metadata response %d lacks the header tag byte", i)
		}
	}
}

func TestUnsupportedApiVersionsGetsV0Error(t *testing.T) {
	_, addr := startServer(t, Config{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(withBody(18, 99, 7, nil))
	corr, body := readResponse(t, bufio.NewReader(c))
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(body); err != nil || corr != 7 || resp.ErrorCode != 35 {
		t.Fatalf("corr=%d err=%v code=%d", corr, err, resp.ErrorCode)
	}
}

func TestBadFramesCloseOnlyTheirConnection(t *testing.T) {
	_, addr := startServer(t, Config{MaxRequestBytes: 1 << 20})
	cases := map[string][]byte{
		"oversized":       binary.BigEndian.AppendUint32(nil, 200<<20),
		"negative size":   binary.BigEndian.AppendUint32(nil, 0xffffffff),
		"short header":    {0, 0, 0, 3, 0, 18, 0},
		"unknown api key": withBody(999, 0, 1, nil),
		"garbage body":    append(binary.BigEndian.AppendUint32(nil, 14), 0, 3, 0, 12, 0, 0, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write(data)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = c.Read(make([]byte, 1))
			if !errors.Is(err, io.EOF) && !isReset(err) {
				t.Fatalf("connection not closed: %v", err)
			}
			// The server still serves a well-behaved client.
			ok, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer ok.Close()
			ok.Write(withBody(18, 3, 1, kmsg.NewPtrApiVersionsRequest()))
			if corr, _ := readResponse(t, bufio.NewReader(ok)); corr != 1 {
				t.Fatalf("good client got correlation %d", corr)
			}
		})
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne)
}

func TestMaxConnections(t *testing.T) {
	_, addr := startServer(t, Config{MaxConnections: 1})
	a, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.Write(withBody(18, 3, 1, kmsg.NewPtrApiVersionsRequest()))
	readResponse(t, bufio.NewReader(a)) // a is registered before b dials
	b, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := b.Read(make([]byte, 1)); err == nil {
		t.Fatal("second connection was served past max.connections")
	}
}

// FuzzDecode feeds arbitrary frames to the request decoder: it must return
// a request or an error, never panic or hang.
func FuzzDecode(f *testing.F) {
	s := New(Config{}, echoHandler{}, slog.New(slog.DiscardHandler), NewMetrics(prometheus.NewRegistry()))
	for _, key := range []int16{0, 1, 2, 3, 18, 19} {
		req := kmsg.RequestForKey(key)
		f.Add(withBody(key, req.MaxVersion(), 1, req)[4:])
	}
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, frame []byte) {
		s.decode(frame)
	})
}

// panicHandler panics on Metadata requests.
type panicHandler struct{ echoHandler }

func (panicHandler) Handle(ctx context.Context, c *ConnInfo, hdr *RequestHeader, req kmsg.Request) kmsg.Response {
	if hdr.APIKey == 3 {
		panic("handler bug")
	}
	return echoHandler{}.Handle(ctx, c, hdr, req)
}

func TestHandlerPanicClosesOnlyThatConnection(t *testing.T) {
	s := New(Config{}, panicHandler{}, slog.New(slog.DiscardHandler), NewMetrics(prometheus.NewRegistry()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	defer s.Close()
	bad, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	bad.Write(withBody(3, 12, 1, kmsg.NewPtrMetadataRequest()))
	bad.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := bad.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection with a panicking request stayed open")
	}
	good, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	good.Write(withBody(18, 3, 2, kmsg.NewPtrApiVersionsRequest()))
	if corr, _ := readResponse(t, bufio.NewReader(good)); corr != 2 {
		t.Fatalf("correlation %d", corr)
	}
}
