package storage

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"testing"

	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/storage/storagetest"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

// expectation is what must hold if power fails during the current step.
type expectation struct {
	step string
	// allowed: the surviving batches are a contiguous run of these,
	// starting at the batch holding the log start.
	allowed []batch
	// mustEnd: every offset below it (and at or above the log start) must
	// survive.
	mustEnd int64
	// The log start must be within [startLo, startHi].
	startLo, startHi int64
	// mayBeAbsent: the log may not exist yet.
	mayBeAbsent bool
}

// TestCrashAtEveryOperation runs a scripted workload and, before every
// filesystem operation it makes, simulates a power cut (strict and torn)
// and checks that the disk image recovers to an allowed state. This covers
// crashes in the middle of rolls, truncations, deletions, checkpoints and
// Close.
func TestCrashAtEveryOperation(t *testing.T) {
	mem := vfstest.NewMem()
	exp := expectation{step: "open", mayBeAbsent: true}
	ops, checked := 0, 0
	stride := 1
	if testing.Short() {
		stride = 5
	}
	inj := vfstest.InjectorFunc(func(op vfstest.Op, path string, _ int) (int, error) {
		ops++
		if ops%stride != 0 {
			return 0, nil
		}
		for _, torn := range []bool{false, true} {
			snap := mem.CrashClone(vfstest.CrashOptions{Torn: torn, Seed: uint64(ops)})
			checkCrashImage(t, snap, exp, fmt.Sprintf("crash before op %d (%s %s) torn=%v", ops, op, path, torn))
			checked++
		}
		return 0, nil
	})
	efs := vfstest.NewErrorFS(mem, inj)
	m, err := OpenManager(dataDir, Options{FS: efs, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := smallConfig()
	cfg.SegmentBytes = 1200
	cfg.RetentionBytes = 3000
	exp = expectation{step: "create", mayBeAbsent: true}
	l, err := m.GetOrCreate(testTP, testTopicID, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var model []batch
	durable := int64(0)
	rng := rand.New(rand.NewPCG(8, 8))
	epoch := int32(0)
	ts := int64(0)

	appendSome := func(n int) {
		for i := range n {
			if i%7 == 6 {
				epoch++
			}
			var data []byte
			for range 1 + rng.IntN(2) {
				ts++
				data = append(data, randomBatch(rng, ts)...)
			}
			predicted := predictAppend(t, data, l.LogEndOffset(), epoch)
			exp = expectation{step: "append", allowed: append(append([]batch(nil), model...), predicted...),
				mustEnd: durable, startLo: l.LogStartOffset(), startHi: l.LogStartOffset()}
			if _, err := l.Append(data, AppendOptions{AssignOffsets: true, LeaderEpoch: epoch}); err != nil {
				t.Fatal(err)
			}
			model = append(model, predicted...)
			if i%3 == 2 {
				exp = expectation{step: "flush", allowed: model, mustEnd: durable, startLo: l.LogStartOffset(), startHi: l.LogStartOffset()}
				if err := l.Flush(l.LogEndOffset()); err != nil {
					t.Fatal(err)
				}
				durable = l.FlushedOffset()
			}
			if i%10 == 9 {
				exp = expectation{step: "checkpoint", allowed: model, mustEnd: durable, startLo: l.LogStartOffset(), startHi: l.LogStartOffset()}
				if err := m.Checkpoint(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}

	appendSome(30)
	// Follower truncation into the middle of the log.
	cut := model[len(model)/2].h.BaseOffset
	exp = expectation{step: "truncate", allowed: model, mustEnd: min(durable, cut), startLo: l.LogStartOffset(), startHi: l.LogStartOffset()}
	if err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	model = model[:containing(model, cut)]
	durable = min(durable, l.LogEndOffset())

	appendSome(12)
	l.Flush(l.LogEndOffset())
	durable = l.FlushedOffset()
	del := model[len(model)/3].h.BaseOffset + 1
	exp = expectation{step: "delete records", allowed: model, mustEnd: durable, startLo: l.LogStartOffset(), startHi: del}
	if err := l.DeleteRecordsBefore(del); err != nil {
		t.Fatal(err)
	}
	model = model[containing(model, del):]

	appendSome(12)
	before := l.LogStartOffset()
	exp = expectation{step: "retention", allowed: model, mustEnd: durable, startLo: before, startHi: l.LogEndOffset()}
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() == before {
		t.Fatal("retention deleted nothing; the workload should exercise it")
	}
	model = model[containing(model, l.LogStartOffset()):]

	appendSome(5)
	exp = expectation{step: "close", allowed: model, mustEnd: durable, startLo: l.LogStartOffset(), startHi: l.LogStartOffset()}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	exp.mustEnd = model[len(model)-1].h.NextOffset()
	checkCrashImage(t, mem.CrashClone(vfstest.CrashOptions{}), exp, "after close")
	t.Logf("checked %d crash images over %d filesystem operations", checked, ops)
}

// predictAppend returns the batches of data as Append will store them.
func predictAppend(t *testing.T, data []byte, leo int64, epoch int32) []batch {
	t.Helper()
	c := bytes.Clone(data)
	var out []batch
	for off := 0; off < len(c); {
		h := mustHeader(t, c[off:])
		b := c[off : off+h.Size()]
		record.SetBaseOffset(b, leo)
		record.SetPartitionLeaderEpoch(b, epoch)
		h = mustHeader(t, b)
		out = append(out, batch{h: h, data: bytes.Clone(b)})
		leo = h.NextOffset()
		off += h.Size()
	}
	return out
}

func checkCrashImage(t *testing.T, snap *vfstest.MemFS, exp expectation, what string) {
	t.Helper()
	m, err := OpenManager(dataDir, Options{FS: snap, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("%s during %s: open failed: %v", what, exp.step, err)
	}
	defer m.Close()
	l := m.Get(testTP)
	if l == nil {
		if !exp.mayBeAbsent {
			t.Fatalf("%s during %s: log missing", what, exp.step)
		}
		return
	}
	start := l.LogStartOffset()
	if start < exp.startLo || start > exp.startHi {
		t.Fatalf("%s during %s: log start %d not in [%d, %d]", what, exp.step, start, exp.startLo, exp.startHi)
	}
	got := readAll(t, l)
	end := start
	if len(got) > 0 {
		end = got[len(got)-1].h.NextOffset()
		i0 := containing(exp.allowed, start)
		if i0 < 0 || i0+len(got) > len(exp.allowed) {
			t.Fatalf("%s during %s: %d batches from %d, more than were written", what, exp.step, len(got), start)
		}
		for i := range got {
			if !bytes.Equal(got[i].data, exp.allowed[i0+i].data) {
				t.Fatalf("%s during %s: batch at %d differs", what, exp.step, got[i].h.BaseOffset)
			}
		}
	}
	if l.LogEndOffset() < end {
		t.Fatalf("%s during %s: log end %d below its data end %d", what, exp.step, l.LogEndOffset(), end)
	}
	if exp.mustEnd > start && l.LogEndOffset() < exp.mustEnd {
		t.Fatalf("%s during %s: durable data lost: log end %d, durable up to %d", what, exp.step, l.LogEndOffset(), exp.mustEnd)
	}
	// The recovered log takes appends at its end.
	b := storagetest.Batch(1, []byte("after"))
	res, err := l.Append(b, AppendOptions{AssignOffsets: true, LeaderEpoch: 99})
	if err != nil || res.BaseOffset != l.LogEndOffset()-1 {
		t.Fatalf("%s during %s: append after recovery: %+v %v", what, exp.step, res, err)
	}
}
