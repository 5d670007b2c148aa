package vfstest

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/spool-mq/spool/internal/vfs"
)

func TestErrorFSSwitch(t *testing.T) {
	mem := NewMem()
	full := NewDiskFull()
	efs := NewErrorFS(mem, full)
	f, err := efs.OpenFile("/f", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("ok")); err != nil {
		t.Fatal(err)
	}
	full.Set(true)
	if n, err := f.Write([]byte("nope")); n != 0 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Write while full = %d %v", n, err)
	}
	if _, err := f.WriteAt([]byte("nope"), 2); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("WriteAt while full = %v", err)
	}
	if _, err := efs.OpenFile("/g", os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("create while full = %v", err)
	}
	// Existing files still open, read, sync and shrink.
	g, err := efs.OpenFile("/f", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("open existing while full: %v", err)
	}
	g.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1); err != nil {
		t.Fatal(err)
	}
	if full.Hits() != 3 {
		t.Fatalf("Hits = %d, want 3", full.Hits())
	}
	full.Set(false)
	if _, err := f.WriteAt([]byte("k!"), 1); err != nil {
		t.Fatal(err)
	}
	if got := mustReadFile(t, mem, "/f"); string(got) != "ok!" {
		t.Fatalf("contents = %q", got)
	}
}

func TestErrorFSWriteBudget(t *testing.T) {
	mem := NewMem()
	budget := NewWriteBudget(10)
	efs := NewErrorFS(mem, budget)
	f, err := efs.OpenFile("/f", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("123456")); err != nil {
		t.Fatal(err)
	}
	n, err := f.WriteAt([]byte("abcdefgh"), 6)
	var pe *os.PathError
	if n != 4 || !errors.Is(err, syscall.ENOSPC) || !errors.As(err, &pe) || pe.Path != "/f" {
		t.Fatalf("crossing write = %d %v", n, err)
	}
	if got := mustReadFile(t, mem, "/f"); string(got) != "123456abcd" {
		t.Fatalf("short write left %q", got)
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write with no budget = %v", err)
	}
	budget.Add(5)
	if _, err := f.WriteAt([]byte("xyz"), 10); err != nil {
		t.Fatal(err)
	}
	if budget.Left() != 2 {
		t.Fatalf("Left = %d", budget.Left())
	}
}

func TestErrorFSInjectorFunc(t *testing.T) {
	mem := NewMem()
	syncs := 0
	efs := NewErrorFS(mem, InjectorFunc(func(op Op, path string, _ int) (int, error) {
		if op == OpSync {
			syncs++
			if syncs == 2 {
				return 0, syscall.EIO
			}
		}
		if op == OpRename && path == "/forbidden" {
			return 0, syscall.EACCES
		}
		return 0, nil
	}))
	f, err := efs.OpenFile("/f", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("second sync = %v", err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	mustWriteFile(t, mem, "/forbidden", nil)
	if err := efs.Rename("/forbidden", "/x"); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("rename = %v", err)
	}
	if OpSync.String() != "sync" || OpLock.String() != "lock" || (OpSync|OpLock).String() != "ops" {
		t.Fatal("Op names")
	}
}

func TestErrorFSOnOS(t *testing.T) {
	full := NewDiskFull()
	efs := NewErrorFS(vfs.NewOS(), full)
	dir := t.TempDir()
	f, err := efs.OpenFile(dir+"/f", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	full.Set(true)
	if _, err := f.Write([]byte("x")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Write = %v", err)
	}
	if err := efs.MkdirAll(dir+"/sub", 0o755); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("MkdirAll = %v", err)
	}
}
