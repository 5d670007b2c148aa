package storage

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/spool-mq/spool/internal/vfs"
)

const epochCheckpointFile = "leader-epoch-checkpoint"

// epochEntry says that leader epoch epoch wrote its first batch at start.
type epochEntry struct {
	epoch int32
	start int64
}

// epochCache maps leader epochs to the offset where each began, the data
// behind OffsetForLeaderEpoch. Every change is written to the partition's
// leader-epoch-checkpoint before it matters: new epochs before the data
// that carries them, truncations after the data is gone. So after a crash
// the file may only have entries past the log end, which open trims.
type epochCache struct {
	mu      sync.RWMutex
	fs      vfs.FS
	path    string
	entries []epochEntry // epochs and starts strictly increasing
}

// loadEpochCache reads the checkpoint; a missing file is an empty cache.
func loadEpochCache(fsys vfs.FS, dir string) (*epochCache, error) {
	c := &epochCache{fs: fsys, path: filepath.Join(dir, epochCheckpointFile)}
	data, err := readWholeFile(fsys, c.path)
	if err != nil {
		if isNotExist(err) {
			return c, nil
		}
		return c, err
	}
	rows, err := parseCheckpoint(data, 2)
	if err != nil {
		return c, fmt.Errorf("%s: %w", c.path, err)
	}
	for _, r := range rows {
		epoch, err1 := strconv.ParseInt(r[0], 10, 32)
		start, err2 := strconv.ParseInt(r[1], 10, 64)
		e := epochEntry{epoch: int32(epoch), start: start}
		if err1 != nil || err2 != nil || epoch < 0 || start < 0 ||
			len(c.entries) > 0 && (e.epoch <= c.latestLocked().epoch || e.start < c.latestLocked().start) {
			c.entries = nil
			return c, fmt.Errorf("%s: bad entry %q", c.path, r)
		}
		c.entries = append(c.entries, e)
	}
	return c, nil
}

func (c *epochCache) latestLocked() epochEntry { return c.entries[len(c.entries)-1] }

func (c *epochCache) writeLocked() error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(c.entries))
	for _, e := range c.entries {
		fmt.Fprintf(&b, "%d %d\n", e.epoch, e.start)
	}
	return writeFileAtomic(c.fs, c.path, b.Bytes(), true)
}

// latest is the newest epoch, -1 if none.
func (c *epochCache) latest() int32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.entries) == 0 {
		return -1
	}
	return c.latestLocked().epoch
}

// assign records new epochs (in offset order) and persists them. An epoch
// not above the latest is ignored, so a stale leader epoch cannot rewrite
// history; entries starting at or after a new entry's start had no data and
// are replaced. undo restores the previous entries in memory (for an
// append whose write then failed); the file is fixed by the next write or
// trimmed at open.
func (c *epochCache) assign(add []epochEntry) (undo func(), err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	before := c.entries
	changed := false
	for _, e := range add {
		if e.epoch < 0 || len(c.entries) > 0 && e.epoch <= c.latestLocked().epoch {
			continue
		}
		i := len(c.entries)
		for i > 0 && c.entries[i-1].start >= e.start {
			i--
		}
		c.entries = append(c.entries[:i:i], e)
		changed = true
	}
	if !changed {
		return func() {}, nil
	}
	undo = func() {
		c.mu.Lock()
		c.entries = before
		c.mu.Unlock()
	}
	if err := c.writeLocked(); err != nil {
		c.entries = before
		return nil, err
	}
	return undo, nil
}

// truncateFromEnd drops entries starting at or after end (the new log end).
func (c *epochCache) truncateFromEnd(end int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := len(c.entries)
	for i > 0 && c.entries[i-1].start >= end {
		i--
	}
	if i == len(c.entries) {
		return nil
	}
	c.entries = c.entries[:i:i]
	return c.writeLocked()
}

// truncateFromStart forgets epochs that ended before start and moves the
// start of the epoch holding start up to it.
func (c *epochCache) truncateFromStart(start int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := 0
	for i < len(c.entries) && c.entries[i].start <= start {
		i++
	}
	if i == 0 || i == 1 && c.entries[0].start == start {
		return nil
	}
	kept := append([]epochEntry{{epoch: c.entries[i-1].epoch, start: start}}, c.entries[i:]...)
	c.entries = kept
	return c.writeLocked()
}

// endOffsetFor answers OffsetForLeaderEpoch for epoch: the largest known
// epoch <= epoch and the offset where the next epoch began (the log end if
// epoch is the latest). Unknown answers are (-1, -1).
func (c *epochCache) endOffsetFor(epoch int32, logEnd int64) (int32, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if epoch < 0 || len(c.entries) == 0 {
		return -1, -1
	}
	if c.latestLocked().epoch == epoch {
		return epoch, logEnd
	}
	// The first entry with a larger epoch.
	i := 0
	for i < len(c.entries) && c.entries[i].epoch <= epoch {
		i++
	}
	if i == len(c.entries) {
		return -1, -1
	}
	if i == 0 {
		// Older than anything known: its data is gone; the follower
		// should truncate to where the oldest known epoch starts.
		return epoch, c.entries[0].start
	}
	return c.entries[i-1].epoch, c.entries[i].start
}
