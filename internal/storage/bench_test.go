package storage

import (
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/spool-mq/spool/internal/storage/storagetest"
	"github.com/spool-mq/spool/internal/vfs"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

func benchLog(b testing.TB, fsys vfs.FS, dir string) (*Manager, *Log) {
	b.Helper()
	m, err := OpenManager(dir, Options{FS: fsys, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultLogConfig()
	cfg.SegmentBytes = 64 << 20
	l, err := m.GetOrCreate(testTP, testTopicID, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m, l
}

// BenchmarkAppend appends 1 KiB batches without flushing.
func BenchmarkAppend(b *testing.B) {
	run := func(b *testing.B, fsys vfs.FS, dir string) {
		_, l := benchLog(b, fsys, dir)
		data := storagetest.Sized(4, 1024, 1)
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Append(data, AppendOptions{AssignOffsets: true, LeaderEpoch: 1}); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("mem", func(b *testing.B) { run(b, vfstest.NewMem(), dataDir) })
	b.Run("os", func(b *testing.B) { run(b, vfs.NewOS(), b.TempDir()) })
}

// BenchmarkAppendFlushParallel is acks=all with fsync durability: each
// producer appends a 1 KiB batch and waits for it to be durable; group
// commit shares the fsyncs.
func BenchmarkAppendFlushParallel(b *testing.B) {
	_, l := benchLog(b, vfs.NewOS(), b.TempDir())
	b.SetBytes(1024)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		data := storagetest.Sized(4, 1024, 1)
		for pb.Next() {
			res, err := l.Append(data, AppendOptions{AssignOffsets: true, LeaderEpoch: 1})
			if err != nil {
				b.Error(err)
				return
			}
			if err := l.Flush(res.LastOffset + 1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRead fetches up to 64 KiB from random offsets of a 16 MiB log
// of 1 KiB batches.
func BenchmarkRead(b *testing.B) {
	for _, name := range []string{"mem", "os"} {
		b.Run(name, func(b *testing.B) {
			fsys, dir := vfs.FS(vfstest.NewMem()), dataDir
			if name == "os" {
				fsys, dir = vfs.NewOS(), b.TempDir()
			}
			_, l := benchLog(b, fsys, dir)
			data := storagetest.Sized(4, 1024, 1)
			for range 16 << 10 {
				if _, err := l.Append(data, AppendOptions{AssignOffsets: true}); err != nil {
					b.Fatal(err)
				}
			}
			end := l.LogEndOffset()
			rng := rand.New(rand.NewPCG(1, 1))
			var n int64
			var scratch []byte
			b.ReportAllocs()
			for b.Loop() {
				res, err := l.ReadInto(scratch, rng.Int64N(end), end, 64<<10, true)
				scratch = res.Data
				if err != nil {
					b.Fatal(err)
				}
				n += int64(len(res.Data))
			}
			b.SetBytes(n / int64(b.N))
		})
	}
}

// BenchmarkIndexLookup measures the offset-index binary search alone
// (256k entries, a full 1 GiB segment) and a 1-byte Read, which adds the
// scan from the index entry to the batch.
func BenchmarkIndexLookup(b *testing.B) {
	b.Run("index", func(b *testing.B) {
		var ix offsetIndex
		for i := range 256 << 10 {
			ix = binary.BigEndian.AppendUint32(ix, uint32(i*4))
			ix = binary.BigEndian.AppendUint32(ix, uint32(i*4096))
		}
		rng := rand.New(rand.NewPCG(2, 2))
		b.ReportAllocs()
		var sink int64
		for b.Loop() {
			sink += ix.lookup(uint32(rng.IntN(1 << 20)))
		}
		_ = sink
	})
	b.Run("read", func(b *testing.B) {
		_, l := benchLog(b, vfstest.NewMem(), dataDir)
		data := storagetest.Sized(4, 1024, 1)
		for range 16 << 10 {
			l.Append(data, AppendOptions{AssignOffsets: true})
		}
		end := l.LogEndOffset()
		rng := rand.New(rand.NewPCG(3, 3))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.Read(rng.Int64N(end), end, 1, true); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFlushManyLogs: 16 producers, each appending 64 KiB batches to
// its own log and waiting for durability, as a produce request spread
// over many partitions does. syncfs covers a round with one whole-file-
// system sync; perfile fsyncs each log (Options.PerFileSync). Compare the
// two in one run: this machine's disk is shared and noisy.
func BenchmarkFlushManyLogs(b *testing.B) {
	for _, perFile := range []bool{false, true} {
		name := "syncfs"
		if perFile {
			name = "perfile"
		}
		b.Run(name, func(b *testing.B) {
			m, err := OpenManager(b.TempDir(), Options{FS: vfs.NewOS(), Logger: slog.New(slog.DiscardHandler), PerFileSync: perFile})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { m.Close() })
			cfg := DefaultLogConfig()
			cfg.SegmentBytes = 256 << 20
			var logs []*Log
			for i := range 16 {
				l, err := m.GetOrCreate(TopicPartition{"bench", int32(i)}, testTopicID, cfg)
				if err != nil {
					b.Fatal(err)
				}
				logs = append(logs, l)
			}
			var next atomic.Int32
			b.SetBytes(64 << 10)
			b.ReportAllocs()
			b.SetParallelism(8) // 16 goroutines on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				l := logs[int(next.Add(1)-1)%len(logs)]
				data := storagetest.Sized(64, 64<<10, 1)
				for pb.Next() {
					res, err := l.Append(data, AppendOptions{AssignOffsets: true, LeaderEpoch: 1})
					if err == nil {
						err = l.Flush(res.LastOffset + 1)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
