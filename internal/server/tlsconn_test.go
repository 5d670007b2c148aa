package server

import (
	"bytes"
	"net"
	"sync"
	"testing"
)

// recordingConn is a net.Conn that keeps each Write separately.
type recordingConn struct {
	net.Conn
	writes [][]byte
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

func TestCoalescingConn(t *testing.T) {
	pool := &sync.Pool{New: func() any { b := make([]byte, 0, coalesceBytes); return &b }}
	rc := &recordingConn{}
	c := &coalescingConn{Conn: rc, pool: pool}
	// During the handshake every write goes out at once.
	c.Write([]byte("hello"))
	if len(rc.writes) != 1 {
		t.Fatalf("handshake write was held: %d writes", len(rc.writes))
	}
	c.start()
	record := bytes.Repeat([]byte{'r'}, 16<<10)
	for range 20 { // 320 KiB: one full buffer goes out, the rest waits
		c.Write(record)
	}
	if len(rc.writes) != 2 || len(rc.writes[1]) != 16*(16<<10) {
		t.Fatalf("after 20 records: %d writes, want the handshake write and one full buffer", len(rc.writes))
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(rc.writes) != 3 || len(rc.writes[2]) != 4*(16<<10) {
		t.Fatalf("flush wrote %d writes, want the 4 remaining records in one", len(rc.writes))
	}
	if c.buf != nil {
		t.Fatal("a flushed connection kept its buffer")
	}
	if err := c.Flush(); err != nil || len(rc.writes) != 3 {
		t.Fatalf("an empty flush wrote: %v, %d writes", err, len(rc.writes))
	}
	var all []byte
	for _, w := range rc.writes[1:] {
		all = append(all, w...)
	}
	if !bytes.Equal(all, bytes.Repeat(record, 20)) {
		t.Fatal("coalesced bytes differ from what was written")
	}
}
