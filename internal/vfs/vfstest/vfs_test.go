package vfstest

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/spool-mq/spool/internal/vfs"
)

// eachFS runs a test against the real filesystem and MemFS: both must
// behave the same for everything the storage layer relies on.
func eachFS(t *testing.T, fn func(t *testing.T, fsys vfs.FS, dir string)) {
	t.Run("os", func(t *testing.T) { fn(t, vfs.NewOS(), t.TempDir()) })
	t.Run("mem", func(t *testing.T) {
		m := NewMem()
		if err := m.MkdirAll("/data", 0o755); err != nil {
			t.Fatal(err)
		}
		fn(t, m, "/data")
	})
}

func mustWriteFile(t *testing.T, fsys vfs.FS, name string, data []byte) {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustReadFile(t *testing.T, fsys vfs.FS, name string) []byte {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFileReadWrite(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := filepath.Join(dir, "a")
		f, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("XY"), 8); err != nil {
			t.Fatal(err)
		}
		want := []byte("hello\x00\x00\x00XY")
		buf := make([]byte, 20)
		n, err := f.ReadAt(buf, 0)
		if n != len(want) || err != io.EOF || !bytes.Equal(buf[:n], want) {
			t.Fatalf("ReadAt = %d %v %q, want %d EOF %q", n, err, buf[:n], len(want), want)
		}
		if n, err := f.ReadAt(buf[:2], 3); n != 2 || err != nil || string(buf[:2]) != "lo" {
			t.Fatalf("ReadAt middle = %d %v %q", n, err, buf[:2])
		}
		if n, err := f.ReadAt(buf, 100); n != 0 || err != io.EOF {
			t.Fatalf("ReadAt past end = %d %v", n, err)
		}
		// The sequential position is after "hello", untouched by WriteAt.
		if _, err := f.Write([]byte("!")); err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(7); err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(9); err != nil {
			t.Fatal(err)
		}
		st, err := f.Stat()
		if err != nil || st.Size() != 9 || st.IsDir() {
			t.Fatalf("Stat = %v %v", st, err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if f.Name() != name {
			t.Fatalf("Name = %q, want %q", f.Name(), name)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := f.ReadAt(buf, 0); err == nil {
			t.Fatal("ReadAt after Close succeeded")
		}
		// Truncating down and growing again must not resurrect old bytes.
		if got := mustReadFile(t, fsys, name); !bytes.Equal(got, []byte("hello!\x00\x00\x00")) {
			t.Fatalf("contents = %q", got)
		}
	})
}

func TestOpenFlags(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := filepath.Join(dir, "f")
		if _, err := fsys.OpenFile(name, os.O_RDONLY, 0); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("open missing: %v", err)
		}
		mustWriteFile(t, fsys, name, []byte("abc"))
		if _, err := fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("O_EXCL on existing file: %v", err)
		}
		f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("de")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("z"), 0); err == nil {
			t.Fatal("WriteAt on an O_APPEND file succeeded")
		}
		if _, err := f.Read(make([]byte, 1)); err == nil {
			t.Fatal("Read on a write-only file succeeded")
		}
		f.Close()
		if got := mustReadFile(t, fsys, name); string(got) != "abcde" {
			t.Fatalf("after append = %q", got)
		}
		r, err := fsys.OpenFile(name, os.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Write([]byte("x")); err == nil {
			t.Fatal("Write on a read-only file succeeded")
		}
		r.Close()
		mustWriteFile(t, fsys, name, []byte("1"))
		if got := mustReadFile(t, fsys, name); string(got) != "1" {
			t.Fatalf("after O_TRUNC = %q", got)
		}
	})
}

func TestDirectoryOps(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		sub := filepath.Join(dir, "x", "y")
		if err := fsys.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := fsys.MkdirAll(sub, 0o755); err != nil {
			t.Fatalf("MkdirAll of an existing dir: %v", err)
		}
		for _, n := range []string{"c", "a", "b"} {
			mustWriteFile(t, fsys, filepath.Join(sub, n), []byte(n))
		}
		ents, err := fsys.ReadDir(sub)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if len(names) != 3 || names[0] != "a" || names[1] != "b" || names[2] != "c" {
			t.Fatalf("ReadDir = %v", names)
		}
		if err := fsys.Rename(filepath.Join(sub, "a"), filepath.Join(sub, "b")); err != nil {
			t.Fatal(err)
		}
		if got := mustReadFile(t, fsys, filepath.Join(sub, "b")); string(got) != "a" {
			t.Fatalf("rename did not replace: %q", got)
		}
		if _, err := fsys.Stat(filepath.Join(sub, "a")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("old name still there: %v", err)
		}
		if err := fsys.Remove(filepath.Join(dir, "x")); err == nil {
			t.Fatal("Remove of a non-empty directory succeeded")
		}
		if err := fsys.SyncDir(sub); err != nil {
			t.Fatal(err)
		}
		if err := fsys.Rename(filepath.Join(dir, "x"), filepath.Join(dir, "z")); err != nil {
			t.Fatal(err)
		}
		if got := mustReadFile(t, fsys, filepath.Join(dir, "z", "y", "c")); string(got) != "c" {
			t.Fatalf("file under renamed dir = %q", got)
		}
		st, err := fsys.Stat(filepath.Join(dir, "z"))
		if err != nil || !st.IsDir() {
			t.Fatalf("Stat dir = %v %v", st, err)
		}
		if err := fsys.RemoveAll(filepath.Join(dir, "z")); err != nil {
			t.Fatal(err)
		}
		if err := fsys.RemoveAll(filepath.Join(dir, "z")); err != nil {
			t.Fatalf("RemoveAll of a missing path: %v", err)
		}
		if _, err := fsys.Stat(filepath.Join(dir, "z")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("removed dir still there: %v", err)
		}
	})
}

func TestRemovedFileStaysReadable(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := filepath.Join(dir, "f")
		mustWriteFile(t, fsys, name, []byte("data"))
		f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := fsys.Remove(name); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 4)
		if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "data" {
			t.Fatalf("read of unlinked file = %q %v", buf, err)
		}
	})
}

func TestLock(t *testing.T) {
	eachFS(t, func(t *testing.T, fsys vfs.FS, dir string) {
		name := filepath.Join(dir, ".lock")
		l, err := fsys.Lock(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fsys.Lock(name); !errors.Is(err, vfs.ErrLocked) {
			t.Fatalf("second Lock = %v, want ErrLocked", err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l2, err := fsys.Lock(name)
		if err != nil {
			t.Fatalf("Lock after release: %v", err)
		}
		l2.Close()
	})
}

func TestMemStats(t *testing.T) {
	m := NewMem()
	if _, err := m.OpenFile("/d/a", os.O_RDWR|os.O_CREATE, 0o644); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("create in a missing dir = %v", err)
	}
	if err := m.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	mustWriteFile(t, m, "/d/a", []byte("0123456789"))
	mustWriteFile(t, m, "/e", []byte("xyz"))
	m.ResetStats()
	mustReadFile(t, m, "/d/a")
	mustReadFile(t, m, "/e")
	if got := m.ReadBytes("/d"); got != 10 {
		t.Fatalf("ReadBytes(/d) = %d, want 10", got)
	}
	if got := m.ReadBytes("/d/a"); got != 10 {
		t.Fatalf("ReadBytes(/d/a) = %d, want 10", got)
	}
	if got := m.ReadBytes("/"); got != 13 {
		t.Fatalf("ReadBytes(/) = %d, want 13", got)
	}
	if s := m.Stats(); s.BytesRead != 13 || s.Opens != 2 {
		t.Fatalf("Stats = %+v", s)
	}
}
