package vfstest

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/spool-mq/spool/internal/vfs"
)

func writeAndSync(t *testing.T, m *MemFS, name string, data []byte, sync bool) vfs.File {
	t.Helper()
	f, err := m.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	if _, err := f.WriteAt(data, st.Size()); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func exists(m *MemFS, name string) bool {
	_, err := m.Stat(name)
	return err == nil
}

func TestCrashKeepsOnlySyncedState(t *testing.T) {
	m := NewMem()
	m.MkdirAll("/d", 0o755)
	m.SyncDir("/")

	// Synced data in a synced entry survives; later unsynced appends do not.
	f := writeAndSync(t, m, "/d/durable", []byte("AAAA"), true)
	m.SyncDir("/d")
	f.WriteAt([]byte("lost"), 4)

	// A synced entry whose data was never synced is an empty file.
	writeAndSync(t, m, "/d/nodata", []byte("CCCC"), false)
	// (entry synced below, data not)

	// A rename that was not followed by SyncDir did not happen.
	writeAndSync(t, m, "/d/old", []byte("DDDD"), true)
	m.SyncDir("/d")
	if err := m.Rename("/d/old", "/d/new"); err != nil {
		t.Fatal(err)
	}
	m.SyncDir("/d") // makes nodata's entry and the rename durable...
	if err := m.Rename("/d/new", "/d/newer"); err != nil {
		t.Fatal(err)
	} // ...but not this second rename.
	// Synced data whose directory entry was never synced is gone.
	writeAndSync(t, m, "/d/noentry", []byte("BBBB"), true)
	// Removing without SyncDir is undone too.
	if err := m.Remove("/d/durable"); err != nil {
		t.Fatal(err)
	}

	c := m.CrashClone(CrashOptions{})
	if got := mustReadFile(t, c, "/d/durable"); string(got) != "AAAA" {
		t.Fatalf("durable = %q", got)
	}
	if exists(c, "/d/noentry") {
		t.Fatal("file with unsynced directory entry survived")
	}
	if got := mustReadFile(t, c, "/d/nodata"); len(got) != 0 {
		t.Fatalf("unsynced data survived: %q", got)
	}
	if exists(c, "/d/old") || exists(c, "/d/newer") {
		t.Fatal("rename state wrong")
	}
	if got := mustReadFile(t, c, "/d/new"); string(got) != "DDDD" {
		t.Fatalf("renamed file = %q", got)
	}
	// The original keeps working and still has its unsynced state.
	if !exists(m, "/d/newer") || exists(m, "/d/durable") {
		t.Fatal("CrashClone changed the receiver")
	}
	// The clone is self-consistent: crashing it again loses nothing.
	c2 := c.CrashClone(CrashOptions{})
	if got := mustReadFile(t, c2, "/d/new"); string(got) != "DDDD" {
		t.Fatalf("second crash = %q", got)
	}
}

func TestCrashNewDirectoryNeedsParentSync(t *testing.T) {
	m := NewMem()
	m.MkdirAll("/a/b", 0o755)
	writeAndSync(t, m, "/a/b/f", []byte("x"), true)
	m.SyncDir("/a/b")
	c := m.CrashClone(CrashOptions{})
	if exists(c, "/a") {
		t.Fatal("directory survived without its parent being synced")
	}
	m.SyncDir("/")
	m.SyncDir("/a")
	c = m.CrashClone(CrashOptions{})
	if got := mustReadFile(t, c, "/a/b/f"); string(got) != "x" {
		t.Fatalf("file = %q", got)
	}
}

func TestCrashTornWrites(t *testing.T) {
	synced := []byte("0123456789")
	appended := bytes.Repeat([]byte("abcdefgh"), 8)
	lengths := map[int]bool{}
	zeroed := false
	for seed := range uint64(300) {
		m := NewMem()
		m.MkdirAll("/d", 0o755)
		m.SyncDir("/")
		f := writeAndSync(t, m, "/d/f", synced, true)
		m.SyncDir("/d")
		f.WriteAt(appended, int64(len(synced)))
		c := m.CrashClone(CrashOptions{Torn: true, Seed: seed})
		got := mustReadFile(t, c, "/d/f")
		if len(got) < len(synced) || len(got) > len(synced)+len(appended) {
			t.Fatalf("seed %d: length %d out of range", seed, len(got))
		}
		if !bytes.Equal(got[:len(synced)], synced) {
			t.Fatalf("seed %d: synced prefix damaged: %q", seed, got)
		}
		// The tail is a prefix of what was appended, except that a suffix
		// of it may read as zeros.
		tail := got[len(synced):]
		i := 0
		for i < len(tail) && tail[i] == appended[i] {
			i++
		}
		for _, b := range tail[i:] {
			if b != 0 {
				t.Fatalf("seed %d: tail is not a prefix plus zeros: %q", seed, tail)
			}
		}
		zeroed = zeroed || i < len(tail)
		lengths[len(tail)] = true

		again := m.CrashClone(CrashOptions{Torn: true, Seed: seed})
		if !bytes.Equal(mustReadFile(t, again, "/d/f"), got) {
			t.Fatalf("seed %d: same seed gave a different result", seed)
		}
	}
	if !lengths[0] || !lengths[len(appended)] || len(lengths) < 20 {
		t.Fatalf("torn lengths not spread over the range: %d distinct", len(lengths))
	}
	if !zeroed {
		t.Fatal("never produced a zero-filled tail")
	}
}

func TestCrashTornDirectoryEntries(t *testing.T) {
	var sawSynced, sawCurrent bool
	for seed := range uint64(50) {
		m := NewMem()
		m.MkdirAll("/d", 0o755)
		m.SyncDir("/")
		writeAndSync(t, m, "/d/f", []byte("x"), true)
		c := m.CrashClone(CrashOptions{Torn: true, Seed: seed})
		if exists(c, "/d/f") {
			sawCurrent = true
			if got := mustReadFile(t, c, "/d/f"); string(got) != "x" {
				t.Fatalf("seed %d: %q", seed, got)
			}
		} else {
			sawSynced = true
		}
	}
	if !sawSynced || !sawCurrent {
		t.Fatalf("directory choice not random: synced=%v current=%v", sawSynced, sawCurrent)
	}
}

func TestCrashOpenHandleOfOriginal(t *testing.T) {
	m := NewMem()
	f := writeAndSync(t, m, "/f", []byte("abc"), true)
	m.SyncDir("/")
	c := m.CrashClone(CrashOptions{})
	f.WriteAt([]byte("more"), 3)
	f.Sync()
	if got := mustReadFile(t, c, "/f"); string(got) != "abc" {
		t.Fatalf("clone shares data with the original: %q", got)
	}
	// Locks are process state and do not survive.
	if _, err := m.Lock("/lock"); err != nil {
		t.Fatal(err)
	}
	c = m.CrashClone(CrashOptions{})
	if _, err := c.Lock("/lock"); err != nil {
		t.Fatalf("lock survived the crash: %v", err)
	}
	if _, err := c.OpenFile("/missing", os.O_RDONLY, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
}
