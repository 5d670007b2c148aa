package storage

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/spool-mq/spool/internal/storage/storagetest"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

// TestGroupCommit holds the first fsync until every producer has appended
// and is waiting for durability; the second fsync must then cover them all.
func TestGroupCommit(t *testing.T) {
	const producers = 16
	e := &env{t: t, fs: vfstest.NewMem(), clock: newClock(), logs: &logRecorder{}}
	gate := make(chan struct{})
	var logSyncs atomic.Int64
	var first sync.Once
	var armed atomic.Bool
	inj := vfstest.InjectorFunc(func(op vfstest.Op, path string, _ int) (int, error) {
		if op == vfstest.OpSync && strings.HasSuffix(path, logSuffix) && armed.Load() {
			logSyncs.Add(1)
			first.Do(func() { <-gate })
		}
		return 0, nil
	})
	e.openOn(vfstest.NewErrorFS(e.fs, inj))
	l := e.log(smallConfig())
	armed.Store(true)

	var appended, done sync.WaitGroup
	appended.Add(producers)
	done.Add(producers)
	errs := make(chan error, producers)
	for i := range producers {
		go func() {
			defer done.Done()
			res, err := l.Append(storagetest.Batch(int64(i), []byte("v")), AppendOptions{AssignOffsets: true})
			appended.Done()
			if err != nil {
				errs <- err
				return
			}
			if err := l.Flush(res.LastOffset + 1); err != nil {
				errs <- err
				return
			}
			if l.FlushedOffset() <= res.LastOffset {
				errs <- errors.New("Flush returned before the offset was durable")
			}
		}()
	}
	appended.Wait()
	close(gate)
	done.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := logSyncs.Load(); n > 2 {
		t.Fatalf("%d fsyncs for %d appends; group commit should need 2", n, producers)
	}
	if l.FlushedOffset() != producers {
		t.Fatalf("recovery point %d", l.FlushedOffset())
	}
	l = e.crash(vfsNoTorn).Get(testTP)
	if got := readAll(t, l); len(got) != producers {
		t.Fatalf("%d batches survived, %d were flushed", len(got), producers)
	}
}

// TestConcurrentProducersAndReaders runs appenders with flushes, readers,
// and retention together (under -race); every read must be whole valid
// batches containing the offset asked for, and every flushed append must
// survive a crash.
func TestConcurrentProducersAndReaders(t *testing.T) {
	e := newEnv(t)
	cfg := smallConfig()
	cfg.SegmentBytes = 3000
	cfg.RetentionBytes = 20000
	l := e.log(cfg)
	const producers, perProducer = 6, 60
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 64)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perProducer {
				res, err := l.Append(storagetest.Sized(1+i%3, 200+p*30, int64(i)), AppendOptions{AssignOffsets: true, LeaderEpoch: 1})
				if err != nil {
					report(err)
					return
				}
				if err := l.Flush(res.LastOffset + 1); err != nil {
					report(err)
					return
				}
			}
		}()
	}
	var readers sync.WaitGroup
	for r := range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start, end := l.LogStartOffset(), l.LogEndOffset()
				if end == start {
					continue
				}
				off := start + int64(i*7+r)%(end-start)
				res, err := l.Read(off, end, 2000, true)
				if errors.Is(err, ErrOffsetOutOfRange) {
					continue // retention moved the start meanwhile
				}
				if err != nil {
					report(err)
					return
				}
				var first int64 = -1
				var last int64
				n, err := recordBatches(res.Data, func(base, lastOff int64) {
					if first < 0 {
						first = base
					}
					last = lastOff
				})
				if err != nil || n != len(res.Data) || first > off || last < off {
					report(errors.New("read returned bad data"))
					return
				}
			}
		}()
	}
	readers.Add(1)
	go func() {
		defer readers.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := l.EnforceRetention(); err != nil {
				report(err)
				return
			}
			l.MaxTimestamp()
		}
	}()
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if l.LogEndOffset() == 0 || l.FlushedOffset() != l.LogEndOffset() {
		t.Fatalf("end %d flushed %d", l.LogEndOffset(), l.FlushedOffset())
	}
	want := readAll(t, l)
	l = e.crash(vfsNoTorn).Get(testTP)
	sameBatches(t, readAll(t, l), want)
}

// recordBatches walks batch headers, reporting each batch's offset range.
func recordBatches(data []byte, fn func(base, last int64)) (int, error) {
	n := 0
	for n < len(data) {
		h, err := parseValid(data[n:])
		if err != nil {
			return n, err
		}
		fn(h.BaseOffset, h.LastOffset())
		n += h.Size()
	}
	return n, nil
}
