package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/auth"
)

// saslHandler drives the connection's SASL session as the real handlers
// do and records the principal later requests run as.
type saslHandler struct {
	echoHandler
	mu        sync.Mutex
	principal string
}

func (h *saslHandler) Handle(ctx context.Context, ci *ConnInfo, hdr *RequestHeader, req kmsg.Request) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.SASLHandshakeRequest:
		resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
		if err := ci.SASL.Handshake(r.Mechanism); err != nil {
			resp.ErrorCode = 33
			ci.FailAuthentication()
		}
		return resp
	case *kmsg.SASLAuthenticateRequest:
		resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		_, done, err := ci.SASL.Authenticate(r.SASLAuthBytes)
		if err != nil {
			resp.ErrorCode = 58
			ci.FailAuthentication()
		} else if done {
			ci.Principal = ci.SASL.Principal()
		}
		return resp
	}
	h.mu.Lock()
	h.principal = ci.Principal
	h.mu.Unlock()
	return h.echoHandler.Handle(ctx, ci, hdr, req)
}

func startSASLServer(t *testing.T, cfg Config) (*saslHandler, string) {
	t.Helper()
	cred, err := auth.NewCredential(auth.ScramSHA256, "pw", []byte("salt"), auth.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.NewAuthenticator([]auth.Mechanism{auth.Plain}, func(user string, m auth.Mechanism) (auth.Credential, bool) {
		return cred, user == "alice" && m == auth.ScramSHA256
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Authenticator, cfg.RequireSASL = a, true
	h := &saslHandler{}
	s := New(cfg, h, slog.New(slog.DiscardHandler), NewMetrics(prometheus.NewRegistry()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return h, ln.Addr().String()
}

func dialTest(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c, bufio.NewReader(c)
}

func expectEOF(t *testing.T, r *bufio.Reader, why string) {
	t.Helper()
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: connection still open", why)
		}
		if err == nil {
			t.Fatalf("%s: broker answered instead of closing", why)
		}
	}
}

func plainAuth(t *testing.T, c net.Conn, r *bufio.Reader, password string) []byte {
	t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Mechanism = "PLAIN"
	c.Write(withBody(17, 1, 1, hs))
	readResponse(t, r)
	ar := kmsg.NewPtrSASLAuthenticateRequest()
	ar.SASLAuthBytes = []byte("\x00alice\x00" + password)
	c.Write(withBody(36, 1, 2, ar))
	_, body := readResponse(t, r)
	return body
}

func TestRequireSASLClosesRequestsBeforeAuthentication(t *testing.T) {
	_, addr := startSASLServer(t, Config{})
	c, r := dialTest(t, addr)
	c.Write(withBody(18, 3, 1, kmsg.NewPtrApiVersionsRequest()))
	if corr, _ := readResponse(t, r); corr != 1 {
		t.Fatalf("ApiVersions before authentication: correlation %d", corr)
	}
	c.Write(withBody(3, 9, 2, kmsg.NewPtrMetadataRequest()))
	expectEOF(t, r, "Metadata before authentication")
}

func TestSASLAuthenticatedConnectionIsServedAsPrincipal(t *testing.T) {
	h, addr := startSASLServer(t, Config{})
	c, r := dialTest(t, addr)
	plainAuth(t, c, r, "pw")
	c.Write(withBody(3, 9, 3, kmsg.NewPtrMetadataRequest()))
	if corr, _ := readResponse(t, r); corr != 3 {
		t.Fatalf("Metadata after authentication: correlation %d", corr)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.principal != "User:alice" {
		t.Fatalf("principal %q, want User:alice", h.principal)
	}
}

func TestFailedAuthenticationIsDelayedThenClosed(t *testing.T) {
	const delay = 200 * time.Millisecond
	_, addr := startSASLServer(t, Config{FailedAuthenticationDelay: delay})
	c, r := dialTest(t, addr)
	start := time.Now()
	plainAuth(t, c, r, "wrong")
	if took := time.Since(start); took < delay {
		t.Fatalf("failed authentication answered after %v, want at least %v", took, delay)
	}
	expectEOF(t, r, "after a failed authentication")
}

func TestSASLTimeoutClosesSlowHandshake(t *testing.T) {
	_, addr := startSASLServer(t, Config{SASLTimeout: 150 * time.Millisecond})
	c, r := dialTest(t, addr)
	// ApiVersions is allowed, but does not extend the deadline.
	c.Write(withBody(18, 3, 1, kmsg.NewPtrApiVersionsRequest()))
	readResponse(t, r)
	start := time.Now()
	expectEOF(t, r, "no authentication within sasl.authentication.timeout.ms")
	if time.Since(start) > 2*time.Second {
		t.Fatal("closed too late")
	}
}
