package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBaselineSmall(t *testing.T) {
	dir := t.TempDir()
	var progress bytes.Buffer
	res, err := RunBaseline(context.Background(), BaselineOptions{
		Dir:          dir,
		WriteSizes:   []int{64 << 10, 16 << 10},
		DiskBytes:    256 << 10,
		DiskDuration: time.Minute, // the byte cap ends each test
		TCPDuration:  time.Minute,
		TCPBytes:     1 << 20,
		RoundTrips:   50,
		Progress:     &progress,
	})
	if err != nil {
		t.Fatalf("RunBaseline: %v", err)
	}
	if len(res.Disk) != 2 {
		t.Fatalf("%d disk results, want 2", len(res.Disk))
	}
	for i, want := range []int64{4, 16} {
		d := res.Disk[i]
		if d.Bytes != 256<<10 || d.Writes != want || d.Latency.Count != uint64(want) {
			t.Errorf("disk %d: %d bytes in %d writes (%d timed), want 256KiB in %d", d.WriteSize, d.Bytes, d.Writes, d.Latency.Count, want)
		}
		if d.MBPerSec <= 0 || d.WritesPerSec <= 0 {
			t.Errorf("disk %d: rates %f MB/s %f/s", d.WriteSize, d.MBPerSec, d.WritesPerSec)
		}
	}
	if res.TCP.Bytes != 1<<20 || res.TCP.MBPerSec <= 0 {
		t.Errorf("tcp: %d bytes at %f MB/s, want exactly the 1MiB cap", res.TCP.Bytes, res.TCP.MBPerSec)
	}
	if rt := res.TCP.RoundTrips; rt.Count != 50 || rt.P50 <= 0 {
		t.Errorf("round trips %+v, want 50 timed", rt)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
	if n := strings.Count(progress.String(), "\n"); n != 3 {
		t.Errorf("progress %q: want a line per disk test and one for tcp", progress.String())
	}
	var text bytes.Buffer
	if err := res.WriteText(&text); err != nil || !strings.Contains(text.String(), "64KiB") {
		t.Errorf("text output %q, %v", text.String(), err)
	}
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(js, &back); err != nil || back["kind"] != "baseline" || len(back["disk"].([]any)) != 2 {
		t.Errorf("json %s", js)
	}
}

// failFS wraps the OS filesystem and fails the nth Sync.
type failFS struct {
	OSFS
	mu      sync.Mutex
	syncs   int
	failAt  int
	created []string
	removed []string
	writes  int
}

var errInjected = errors.New("injected fsync failure")

type failFile struct {
	File
	fs *failFS
}

func (f *failFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	f.fs.writes++
	f.fs.mu.Unlock()
	return f.File.Write(p)
}

func (f *failFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	f.fs.syncs++
	if f.fs.syncs == f.fs.failAt {
		return errInjected
	}
	return f.File.Sync()
}

func (fs *failFS) Create(name string) (File, error) {
	f, err := fs.OSFS.Create(name)
	if err != nil {
		return nil, err
	}
	fs.created = append(fs.created, name)
	return &failFile{File: f, fs: fs}, nil
}

func (fs *failFS) Remove(name string) error {
	fs.removed = append(fs.removed, name)
	return fs.OSFS.Remove(name)
}

// TestBaselineSyncsEveryWrite: every write is followed by its own fsync.
func TestBaselineSyncsEveryWrite(t *testing.T) {
	fs := &failFS{}
	res, err := RunBaseline(context.Background(), BaselineOptions{
		Dir: t.TempDir(), FS: fs, WriteSizes: []int{4096}, DiskBytes: 10 * 4096,
		DiskDuration: time.Minute, TCPBytes: 4096, RoundTrips: 1,
	})
	if err != nil {
		t.Fatalf("RunBaseline: %v", err)
	}
	if fs.writes != 10 || fs.syncs != 10 || res.Disk[0].Writes != 10 {
		t.Fatalf("%d writes, %d syncs, result %d writes; want 10 of each", fs.writes, fs.syncs, res.Disk[0].Writes)
	}
}

func TestBaselineFsyncFailure(t *testing.T) {
	dir := t.TempDir()
	fs := &failFS{failAt: 3}
	_, err := RunBaseline(context.Background(), BaselineOptions{
		Dir: dir, FS: fs, WriteSizes: []int{4096}, DiskBytes: 1 << 20, DiskDuration: time.Minute,
	})
	if !errors.Is(err, errInjected) {
		t.Fatalf("err = %v, want the injected fsync error", err)
	}
	if len(fs.created) != 1 || len(fs.removed) != 1 || fs.created[0] != fs.removed[0] {
		t.Fatalf("created %v, removed %v: the file must be removed after a failure", fs.created, fs.removed)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
}

func TestBaselineValidate(t *testing.T) {
	for name, o := range map[string]BaselineOptions{
		"no dir":           {},
		"zero write size":  {Dir: ".", WriteSizes: []int{0}},
		"cap below write":  {Dir: ".", DiskBytes: 1000},
		"negative seconds": {Dir: ".", TCPDuration: -time.Second},
	} {
		if _, err := RunBaseline(context.Background(), o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: err = %v, want ErrInvalidOptions", name, err)
		}
	}
}
