package wire

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawPeer accepts one connection and answers each request frame with
// reply(correlationID), or never if reply is nil.
func rawPeer(t *testing.T, reply func(corr int32) []byte) *Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		for {
			var size [4]byte
			if _, err := io.ReadFull(c, size[:]); err != nil {
				return
			}
			frame := make([]byte, binary.BigEndian.Uint32(size[:]))
			if _, err := io.ReadFull(c, frame); err != nil {
				return
			}
			if reply == nil {
				continue
			}
			if _, err := c.Write(reply(int32(binary.BigEndian.Uint32(frame[4:])))); err != nil {
				return
			}
		}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := New(nc, Options{ClientID: "spool-replica-1"})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func listOffsetsReq() kmsg.Request {
	r := kmsg.NewPtrListOffsetsRequest()
	r.SetVersion(4)
	return r
}

func TestConnRequestHonoursContext(t *testing.T) {
	c := rawPeer(t, nil) // never answers
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Request(ctx, listOffsetsReq()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want a deadline error", err)
	}

	c = rawPeer(t, nil)
	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Request(ctx, listOffsetsReq())
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestConnRejectsBadResponses(t *testing.T) {
	frame := func(body ...byte) []byte {
		out := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
		return append(out, body...)
	}
	c := rawPeer(t, func(corr int32) []byte {
		return frame(binary.BigEndian.AppendUint32(nil, uint32(corr+1))...)
	})
	if _, err := c.Request(context.Background(), listOffsetsReq()); !errors.Is(err, ErrCorrelationMismatch) {
		t.Fatalf("got %v, want ErrCorrelationMismatch", err)
	}
	c = rawPeer(t, func(int32) []byte { return binary.BigEndian.AppendUint32(nil, 1<<31-1) })
	if _, err := c.Request(context.Background(), listOffsetsReq()); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("got %v, want ErrBadFrame for a huge frame", err)
	}
	c = rawPeer(t, func(corr int32) []byte {
		return frame(append(binary.BigEndian.AppendUint32(nil, uint32(corr)), 0, 0)...) // truncated body
	})
	if _, err := c.Request(context.Background(), listOffsetsReq()); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("got %v, want ErrBadFrame for a truncated body", err)
	}
}
