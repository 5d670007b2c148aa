package storage

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"
)

// TestCleanCheckpointAfterTruncate: the cleaner checkpoint records the
// clean end; a truncation below it lowers it (durably), so records
// appended again at those offsets count as dirty.
func TestCleanCheckpointAfterTruncate(t *testing.T) {
	e := newEnv(t)
	cfg := compactConfig()
	l := e.log(cfg)
	rng := rand.New(rand.NewPCG(13, 14))
	var m kmodel
	ts := m.randomKeyed(t, l, rng, 120, 15, 0)
	rollLog(t, l)
	end1 := activeBase(l)
	mustClean(t, l, e.clock)
	ckpt := filepath.Join(dataDir, testTP.String(), cleanerCheckpointFile)
	data, err := readWholeFile(e.fs, ckpt)
	if err != nil {
		t.Fatal(err)
	}
	marks, err := parseCleanMarks(data)
	if err != nil || len(marks) != 1 || marks[0] != (cleanMark{end1, e.clock.Ms()}) {
		t.Fatalf("checkpoint %q: %v %v", data, marks, err)
	}

	cut := end1 / 2
	if err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	leo := l.LogEndOffset()
	data, _ = readWholeFile(e.fs, ckpt)
	if marks, err := parseCleanMarks(data); err != nil || len(marks) != 1 || marks[0].offset != leo {
		t.Fatalf("checkpoint after truncation to %d (log end %d): %v", cut, leo, marks)
	}
	// The crash-free reopen keeps it too.
	e.restart()
	l = e.log(cfg)
	m.recs = readRecords(t, l) // what the truncation left
	m.randomKeyed(t, l, rng, 40, 15, ts)
	rollLog(t, l)
	res := mustClean(t, l, e.clock)
	if !res.Ran || res.FirstDirty != leo {
		t.Fatalf("pass after truncation: %+v, want it to start at %d", res, leo)
	}
	sameRecords(t, readRecords(t, l), compacted(m.recs, res.EndOffset, 0))
}

func TestParseCleanMarks(t *testing.T) {
	good := "0\n2\n10 100\n20 100\n"
	if m, err := parseCleanMarks([]byte(good)); err != nil || len(m) != 2 || m[1] != (cleanMark{20, 100}) {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"", "1\n0\n", "0\n1\n", "0\n1\n10\n", "0\n2\n10 100\n10 200\n", "0\n2\n10 100\n20 50\n", "0\n1\n-1 5\n", "0\n1\nx 5\n"} {
		if _, err := parseCleanMarks([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestPruneCleanMarks: pruning keeps the list short and never lets a
// tombstone go earlier than the full history would.
func TestPruneCleanMarks(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	const retention = 1000
	var full, pruned []cleanMark
	now, off := int64(0), int64(0)
	for range 500 {
		now += rng.Int64N(300)
		off += 1 + rng.Int64N(50)
		full = append(full, cleanMark{off, now})
		pruned = pruneCleanMarks(append(pruned, cleanMark{off, now}), now, retention)
		if len(pruned) > maxCleanMarks {
			t.Fatalf("%d marks kept", len(pruned))
		}
		if pruned[len(pruned)-1] != full[len(full)-1] {
			t.Fatal("the newest mark was lost")
		}
		for _, later := range []int64{0, 100, 500, 999, 1000, 2000} {
			at := now + later
			if p, f := cleanHorizon(pruned, at, retention), cleanHorizon(full, at, retention); p > f {
				t.Fatalf("at %d: pruned horizon %d beyond the true one %d", at, p, f)
			}
		}
		if p, f := cleanHorizon(pruned, now+retention, retention), cleanHorizon(full, now+retention, retention); p != f {
			t.Fatalf("a retention later the horizons differ: %d vs %d", p, f)
		}
	}
}

func TestParseSwapName(t *testing.T) {
	name := filepath.Base(swapPath("/d", 5, 17))
	if name != "00000000000000000005.00000000000000000017.log.swap" {
		t.Fatalf("swap name %q", name)
	}
	if b, e, ok := parseSwapName(name); !ok || b != 5 || e != 17 {
		t.Fatalf("parse %q: %d %d %v", name, b, e, ok)
	}
	for _, bad := range []string{
		"00000000000000000005.log.swap",
		"00000000000000000017.00000000000000000005.log.swap",
		"00000000000000000005.00000000000000000017.log.cleaned",
		"00000000000000000005.0000000000000000001x.log.swap",
	} {
		if _, _, ok := parseSwapName(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestThrottle(t *testing.T) {
	now := time.Unix(1000, 0)
	var slept []time.Duration
	th := newThrottle(1000)
	th.now = func() time.Time { return now }
	th.sleep = func(_ context.Context, _ <-chan struct{}, d time.Duration) error {
		slept = append(slept, d)
		now = now.Add(d)
		return nil
	}
	ctx := context.Background()
	for range 4 {
		if err := th.wait(ctx, nil, 500); err != nil {
			t.Fatal(err)
		}
	}
	if len(slept) != 4 || slept[0] != 500*time.Millisecond || slept[3] != 500*time.Millisecond {
		t.Fatalf("slept %v, want 4 x 500ms for 2000 bytes at 1000/s", slept)
	}
	// After a long idle time no burst credit: the next 100 bytes wait
	// their 100ms.
	now = now.Add(time.Minute)
	th.wait(ctx, nil, 100)
	if last := slept[len(slept)-1]; len(slept) != 5 || last != 100*time.Millisecond {
		t.Fatalf("after idling slept %v", slept)
	}
	off := newThrottle(0)
	off.sleep = th.sleep
	off.wait(ctx, nil, 1<<30)
	if len(slept) != 5 {
		t.Fatal("an unlimited throttle slept")
	}
}

// TestCleanIsThrottled: every byte a pass reads and writes goes through
// the throttle.
func TestCleanIsThrottled(t *testing.T) {
	e := newEnv(t)
	l := e.log(compactConfig())
	var m kmodel
	m.randomKeyed(t, l, rand.New(rand.NewPCG(1, 1)), 100, 10, 0)
	rollLog(t, l)
	var total time.Duration
	now := time.Unix(0, 0) // time moves only by sleeping: every byte waits
	th := newThrottle(1 << 20)
	th.sleep = func(_ context.Context, _ <-chan struct{}, d time.Duration) error {
		total += d
		now = now.Add(d)
		return nil
	}
	th.now = func() time.Time { return now }
	l.cleaner.io = th
	res := mustClean(t, l, e.clock)
	want := time.Duration(float64(res.BytesRead+res.BytesWritten) / (1 << 20) * float64(time.Second))
	if res.BytesRead == 0 || res.BytesWritten == 0 || total < want-time.Millisecond || total > want+time.Millisecond {
		t.Fatalf("slept %v for %d bytes read and %d written, want %v", total, res.BytesRead, res.BytesWritten, want)
	}
}
