package storage

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// cleanerCheckpointFile, in each compacted log's directory, records how far
// the log is clean and when each part became clean. It uses Kafka's
// checkpoint text format, "0", a count, then "<offset> <unix ms>" lines
// with both fields rising: every offset below <offset> had been cleaned by
// <unix ms>. The last line's offset is where the dirty part starts
// (Kafka's per-directory cleaner-offset-checkpoint holds just that).
//
// The times give tombstones their delete.retention.ms: a tombstone may be
// dropped once the pass that first cleaned it is that old. (Kafka used
// the cleaned segment's file modification time for this; the file times
// of rewritten segments are not a sound record of it, and the recorded
// pass times are.) Only a few lines are kept: older lines that no longer
// matter are pruned, and if too many remain two are merged, which only
// ever makes a tombstone live longer.
const cleanerCheckpointFile = "cleaner-offset-checkpoint"

// maxCleanMarks bounds the lines of the cleaner checkpoint.
const maxCleanMarks = 16

// cleanMark says every offset below offset was clean by atMs.
type cleanMark struct{ offset, atMs int64 }

// cleanState is a log's cleaner bookkeeping, loaded on first use.
type cleanState struct {
	mu     sync.Mutex
	loaded bool
	marks  []cleanMark
}

// loadCleanMarks returns the log's clean marks, reading the checkpoint on
// first use. An unreadable checkpoint counts as none: the next pass then
// cleans from the log start and tombstones wait a full
// delete.retention.ms again, which is safe.
func (l *Log) loadCleanMarks() []cleanMark {
	l.cleaning.mu.Lock()
	defer l.cleaning.mu.Unlock()
	return l.cleanMarksLocked()
}

func (l *Log) cleanMarksLocked() []cleanMark {
	st := &l.cleaning
	if !st.loaded {
		st.loaded = true
		path := filepath.Join(l.dir, cleanerCheckpointFile)
		data, err := readWholeFile(l.fs, path)
		if err == nil {
			st.marks, err = parseCleanMarks(data)
		}
		if err != nil && !isNotExist(err) {
			l.logger.Warn("cleaner checkpoint unreadable; the log will be cleaned from its start", "path", path, "err", err)
		}
	}
	return append([]cleanMark(nil), st.marks...)
}

func parseCleanMarks(data []byte) ([]cleanMark, error) {
	rows, err := parseCheckpoint(data, 2)
	if err != nil {
		return nil, err
	}
	marks := make([]cleanMark, 0, len(rows))
	for _, r := range rows {
		off, err1 := strconv.ParseInt(r[0], 10, 64)
		at, err2 := strconv.ParseInt(r[1], 10, 64)
		if err1 != nil || err2 != nil || off < 0 ||
			len(marks) > 0 && (off <= marks[len(marks)-1].offset || at < marks[len(marks)-1].atMs) {
			return nil, fmt.Errorf("%w: line %q", errBadCheckpoint, r)
		}
		marks = append(marks, cleanMark{off, at})
	}
	return marks, nil
}

func (l *Log) writeCleanMarks(marks []cleanMark) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(marks))
	for _, m := range marks {
		fmt.Fprintf(&b, "%d %d\n", m.offset, m.atMs)
	}
	return writeFileAtomic(l.fs, filepath.Join(l.dir, cleanerCheckpointFile), b.Bytes(), true)
}

// cleanHorizon returns the offset below which everything was clean by
// nowMs - retentionMs: tombstones below it have served their time.
func cleanHorizon(marks []cleanMark, nowMs, retentionMs int64) int64 {
	h := int64(0)
	for _, m := range marks {
		if m.atMs <= nowMs-retentionMs {
			h = m.offset
		}
	}
	return h
}

// markCleaned records that the log is clean below end as of nowMs.
func (l *Log) markCleaned(end, nowMs, retentionMs int64) error {
	l.cleaning.mu.Lock()
	defer l.cleaning.mu.Unlock()
	marks := l.cleanMarksLocked()
	// Marks at or past end are stale (the log start moved past them or
	// the log was truncated); their offsets now count as cleaned now.
	for len(marks) > 0 && marks[len(marks)-1].offset >= end {
		marks = marks[:len(marks)-1]
	}
	if n := len(marks); n > 0 && nowMs < marks[n-1].atMs {
		nowMs = marks[n-1].atMs // a clock step back must not reorder
	}
	marks = append(marks, cleanMark{end, nowMs})
	marks = pruneCleanMarks(marks, nowMs, retentionMs)
	l.cleaning.marks = marks
	if err := l.writeCleanMarks(marks); err != nil {
		return fmt.Errorf("writing cleaner checkpoint: %w", err)
	}
	return nil
}

// pruneCleanMarks drops marks that can no longer change a horizon (those
// before the newest one already past the retention) and then merges the
// closest-in-time neighbours until at most maxCleanMarks remain. Merging
// gives the earlier mark's offsets the later time, which only delays
// tombstone removal.
func pruneCleanMarks(marks []cleanMark, nowMs, retentionMs int64) []cleanMark {
	first := 0
	for i, m := range marks {
		if m.atMs <= nowMs-retentionMs {
			first = i
		}
	}
	marks = append(marks[:0], marks[first:]...)
	for len(marks) > maxCleanMarks {
		best := 0
		for i := 1; i < len(marks)-1; i++ {
			if marks[i+1].atMs-marks[i].atMs < marks[best+1].atMs-marks[best].atMs {
				best = i
			}
		}
		marks = append(marks[:best], marks[best+1:]...)
	}
	return marks
}

// clampCleanMarks is called after a truncation to end: offsets at or past
// end are no longer clean, so marks beyond it are lowered to it (keeping
// the earliest time for the range they now cover).
func (l *Log) clampCleanMarks(end int64) error {
	l.cleaning.mu.Lock()
	defer l.cleaning.mu.Unlock()
	marks := l.cleanMarksLocked()
	if len(marks) == 0 || marks[len(marks)-1].offset <= end {
		return nil
	}
	out := marks[:0]
	for _, m := range marks {
		m.offset = min(m.offset, end)
		if n := len(out); n > 0 && out[n-1].offset == m.offset {
			continue
		}
		out = append(out, m)
	}
	l.cleaning.marks = out
	if err := l.writeCleanMarks(out); err != nil {
		return fmt.Errorf("writing cleaner checkpoint: %w", err)
	}
	return nil
}

// throttle limits the cleaner's I/O to rate bytes per second (0:
// unlimited) by sleeping once it gets ahead.
type throttle struct {
	rate  int64
	now   func() time.Time
	sleep func(ctx context.Context, stop <-chan struct{}, d time.Duration) error

	mu    sync.Mutex
	start time.Time // of the current measuring window
	bytes int64     // done in the window
}

func newThrottle(rate int64) *throttle {
	return &throttle{rate: rate, now: time.Now, sleep: sleepCtx}
}

// wait accounts for n bytes of I/O and sleeps as long as needed to keep
// the average at the rate.
func (t *throttle) wait(ctx context.Context, stop <-chan struct{}, n int64) error {
	if t.rate <= 0 {
		return nil
	}
	t.mu.Lock()
	now := t.now()
	due := t.start.Add(time.Duration(float64(t.bytes) / float64(t.rate) * float64(time.Second)))
	if t.start.IsZero() || now.Sub(due) > time.Second {
		// Idle for a while: start a new window rather than let the
		// saved-up time allow a burst.
		t.start, t.bytes = now, 0
	}
	t.bytes += n
	ahead := t.start.Add(time.Duration(float64(t.bytes) / float64(t.rate) * float64(time.Second))).Sub(now)
	t.mu.Unlock()
	if ahead <= 0 {
		return nil
	}
	return t.sleep(ctx, stop, ahead)
}

func sleepCtx(ctx context.Context, stop <-chan struct{}, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}
