package testcluster

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// echoServer accepts connections and echoes every line back, prefixed, so a
// test can tell that bytes went through the target and came back.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, "echo:"+line); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func newTestProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := NewProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// roundTrip sends one line through c and returns the reply.
func roundTrip(c net.Conn, r *bufio.Reader, line string) (string, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	return r.ReadString('\n')
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dialing the proxy: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func TestProxyForwardsBothWays(t *testing.T) {
	p := newTestProxy(t, echoServer(t))
	c, r := dial(t, p.Addr())
	for _, msg := range []string{"hello", "second line", "third"} {
		got, err := roundTrip(c, r, msg)
		if err != nil {
			t.Fatalf("round trip %q: %v", msg, err)
		}
		if got != "echo:"+msg+"\n" {
			t.Fatalf("got %q, want %q", got, "echo:"+msg+"\n")
		}
	}
	if n := p.Conns(); n != 1 {
		t.Fatalf("Conns = %d, want 1", n)
	}
}

// A cut closes live connections (the reader sees an error, not a hang) and
// refuses new ones; Heal lets new connections through again.
func TestProxyCutAndHeal(t *testing.T) {
	p := newTestProxy(t, echoServer(t))
	c, r := dial(t, p.Addr())
	if _, err := roundTrip(c, r, "before"); err != nil {
		t.Fatalf("before the cut: %v", err)
	}

	p.Cut()
	if !p.IsCut() {
		t.Fatal("IsCut = false after Cut")
	}
	if _, err := roundTrip(c, r, "during"); err == nil {
		t.Fatal("a live connection still worked after Cut")
	} else if isTimeout(err) {
		t.Fatalf("live connection hung instead of failing: %v", err)
	}
	// A new connection is accepted and reset at once; the reset may even
	// reach the dial (it races the handshake). Either way nothing flows.
	if c2, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second); err == nil {
		t.Cleanup(func() { c2.Close() })
		if _, err := roundTrip(c2, bufio.NewReader(c2), "new during cut"); err == nil {
			t.Fatal("a new connection worked while cut")
		}
	}
	if n := p.Conns(); n != 0 {
		t.Fatalf("Conns = %d while cut, want 0", n)
	}

	p.Heal()
	c3, r3 := dial(t, p.Addr())
	got, err := roundTrip(c3, r3, "after")
	if err != nil || got != "echo:after\n" {
		t.Fatalf("after Heal: got %q, %v", got, err)
	}
}

// A target that is down looks like a failed link: the connection closes.
func TestProxyTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := newTestProxy(t, addr)
	// The refusal may already reach the dial (a reset racing the handshake).
	c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	if err != nil {
		return
	}
	defer c.Close()
	if _, err := roundTrip(c, bufio.NewReader(c), "anyone?"); err == nil {
		t.Fatal("round trip to a stopped target succeeded")
	} else if isTimeout(err) {
		t.Fatalf("connection hung instead of failing: %v", err)
	}
}

func TestProxyCloseEndsConnections(t *testing.T) {
	p, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c, r := dial(t, p.Addr())
	if _, err := roundTrip(c, r, "x"); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := roundTrip(c, r, "y"); err == nil {
		t.Fatal("connection survived Close")
	}
	if err := p.Close(); !errors.Is(err, ErrProxyClosed) {
		t.Fatalf("second Close = %v, want ErrProxyClosed", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
