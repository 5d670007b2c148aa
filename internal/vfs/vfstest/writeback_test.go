package vfstest

import (
	"bytes"
	"errors"
	"os"
	"syscall"
	"testing"
)

// TestFailWriteBack: a lost write-back is reported once by the next SyncFS
// and once by each open descriptor's next Sync; the lost bytes are not
// durable even after later syncs succeed, and rewriting them makes them so.
func TestFailWriteBack(t *testing.T) {
	m := NewMem()
	if err := m.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := m.OpenFile("/d/a", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("hello"))
	if err := m.SyncFS("/d"); err != nil {
		t.Fatal(err)
	}
	f.Write([]byte(" world"))
	if err := m.FailWriteBack("/d/a", nil); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncFS("/d"); !errors.Is(err, syscall.EIO) {
		t.Fatalf("first SyncFS after the failure: %v, want EIO", err)
	}
	if err := m.SyncFS("/d"); err != nil {
		t.Fatalf("second SyncFS: %v, want nil (the error was reported)", err)
	}
	durable := func() []byte {
		c := m.CrashClone(CrashOptions{})
		g, err := c.OpenFile("/d/a", os.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, _ := g.ReadAt(buf, 0)
		return buf[:n]
	}
	if got := durable(); !bytes.Equal(got, []byte("hello\x00\x00\x00\x00\x00\x00")) {
		t.Fatalf("after a successful SyncFS the lost bytes are durable: %q", got)
	}
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync of the file: %v, want EIO", err)
	}
	if err := f.Sync(); err != nil {
		t.Fatalf("second fsync: %v, want nil", err)
	}
	f.WriteAt([]byte(" world"), 5)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := durable(); string(got) != "hello world" {
		t.Fatalf("rewritten bytes not durable: %q", got)
	}
}
