package storage

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/spool-mq/spool/internal/testkit"

	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/storage/storagetest"
	"github.com/spool-mq/spool/internal/vfs"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

const dataDir = "/data"

var testTP = TopicPartition{Topic: "orders", Partition: 3}

var testTopicID = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

// fakeClock is the shared fake clock, for retention and rolls.
type fakeClock = testkit.Clock

func newClock() *fakeClock { return testkit.NewClock() }

// logRecorder keeps log records so tests can assert on warnings.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.records = append(r.records, rec.Clone())
	r.mu.Unlock()
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// find returns the first record with msg, and its attributes.
func (r *logRecorder) find(msg string) (map[string]slog.Value, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.records {
		if rec.Message == msg {
			attrs := map[string]slog.Value{}
			rec.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value; return true })
			return attrs, true
		}
	}
	return nil, false
}

// env is a data directory on a MemFS with a fake clock.
type env struct {
	t     testing.TB
	fs    *vfstest.MemFS
	clock *fakeClock
	logs  *logRecorder
	m     *Manager
}

func newEnv(t testing.TB) *env {
	e := &env{t: t, fs: vfstest.NewMem(), clock: newClock(), logs: &logRecorder{}}
	e.open()
	return e
}

func (e *env) options(fsys vfs.FS) Options {
	return Options{FS: fsys, Logger: slog.New(e.logs), Now: e.clock.Now}
}

// open opens the manager on e.fs.
func (e *env) open() *Manager {
	e.t.Helper()
	m, err := OpenManager(dataDir, e.options(e.fs))
	if err != nil {
		e.t.Fatalf("OpenManager: %v", err)
	}
	e.m = m
	return m
}

// restart closes cleanly and reopens.
func (e *env) restart() *Manager {
	e.t.Helper()
	if err := e.m.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	return e.open()
}

// crash abandons the manager (a power cut) and reopens what the disk kept.
func (e *env) crash(opts vfstest.CrashOptions) *Manager {
	e.t.Helper()
	e.fs = e.fs.CrashClone(opts)
	e.logs = &logRecorder{}
	return e.open()
}

func (e *env) log(cfg LogConfig) *Log {
	e.t.Helper()
	l, err := e.m.GetOrCreate(testTP, testTopicID, cfg)
	if err != nil {
		e.t.Fatalf("GetOrCreate: %v", err)
	}
	return l
}

// smallConfig makes segments roll every few KiB, with dense indexes and no
// retention.
func smallConfig() LogConfig {
	return LogConfig{SegmentBytes: 4096, SegmentMs: DefaultSegmentMs, RetentionMs: -1, RetentionBytes: -1, IndexIntervalBytes: 256}
}

// batch is a batch as stored (offsets assigned).
type batch struct {
	h    record.Header
	data []byte
}

// appendBatch appends one leader batch and returns it as stored.
func appendBatch(t testing.TB, l *Log, data []byte, epoch int32) batch {
	t.Helper()
	res, err := l.Append(data, AppendOptions{AssignOffsets: true, LeaderEpoch: epoch})
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	h, err := record.Validate(data)
	if err != nil {
		t.Fatalf("appended batch invalid: %v", err)
	}
	if h.BaseOffset != res.BaseOffset || h.LastOffset() != res.LastOffset || h.MaxTimestamp != res.MaxTimestamp {
		t.Fatalf("AppendResult %+v does not match batch %d..%d ts %d", res, h.BaseOffset, h.LastOffset(), h.MaxTimestamp)
	}
	return batch{h: h, data: bytes.Clone(data)}
}

// randomBatch is a batch of 1-5 records of random size at timestamp ts.
func randomBatch(rng *rand.Rand, ts int64) []byte {
	n := 1 + rng.IntN(5)
	return storagetest.Sized(n, 80+rng.IntN(600), ts)
}

// readAll reads the whole log from its start with small reads and returns
// the batches.
func readAll(t testing.TB, l *Log) []batch {
	t.Helper()
	var out []batch
	off := l.LogStartOffset()
	for off < l.LogEndOffset() {
		res, err := l.Read(off, l.LogEndOffset(), 1500, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		bs := splitBatches(t, res.Data)
		if len(bs) == 0 {
			t.Fatalf("Read(%d) returned nothing before the log end %d", off, l.LogEndOffset())
		}
		out = append(out, bs...)
		off = bs[len(bs)-1].h.NextOffset()
	}
	return out
}

// splitBatches parses and CRC-checks concatenated batches.
func splitBatches(t testing.TB, data []byte) []batch {
	t.Helper()
	var out []batch
	n, err := record.Batches(data, func(h record.Header, b []byte) error {
		out = append(out, batch{h: h, data: bytes.Clone(b)})
		return nil
	})
	if err != nil || n != len(data) {
		t.Fatalf("read data is not whole valid batches: %d of %d bytes: %v", n, len(data), err)
	}
	return out
}

func sameBatches(t testing.TB, got, want []batch) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d batches, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i].data, want[i].data) {
			t.Fatalf("batch %d (offset %d) differs from batch at offset %d", i, got[i].h.BaseOffset, want[i].h.BaseOffset)
		}
	}
}

// containing returns the index of the batch holding offset (or the first
// after it), -1 if none.
func containing(bs []batch, offset int64) int {
	for i, b := range bs {
		if b.h.LastOffset() >= offset {
			return i
		}
	}
	return -1
}

var vfsNoTorn = vfstest.CrashOptions{}

func mustHeader(t testing.TB, b []byte) record.Header {
	t.Helper()
	h, err := record.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func parseValid(b []byte) (record.Header, error) { return record.Validate(b) }
