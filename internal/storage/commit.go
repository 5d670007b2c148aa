package storage

import (
	"sync"

	"github.com/spool-mq/spool/internal/vfs"
)

// committer is the Manager's broker-wide group commit. Log.Flush calls
// from any number of partitions join the next round; one goroutine runs
// rounds back to back, and a round makes durable everything appended to
// its logs before it started. Where the file system offers it
// (vfs.WholeSyncer, syncfs(2) on Linux) a round is one flush of the whole
// data directory's file system however many partitions it covers, instead
// of one fsync per segment file: with many partitions per produce request
// the fsync count, not the bytes, is what limits a disk.
type committer struct {
	whole vfs.WholeSyncer // nil: sync file by file

	mu      sync.Mutex
	next    *commitRound // collecting logs; nil when none waits
	running bool         // a goroutine is running rounds
}

type commitRound struct {
	logs map[*Log]struct{}
	done chan struct{}
	errs map[*Log]error // written before done is closed
}

func newCommitter(fsys vfs.FS, wholeSync bool) *committer {
	c := &committer{}
	if ws, ok := fsys.(vfs.WholeSyncer); ok && wholeSync {
		c.whole = ws
	}
	return c
}

// flush waits for a round that started after the call and returns its
// error for l. That round covered everything appended to l before the
// call.
func (c *committer) flush(l *Log) error {
	return c.join([]*Log{l})[l]
}

// join adds logs to the next round and waits for it.
func (c *committer) join(logs []*Log) map[*Log]error {
	c.mu.Lock()
	if c.next == nil {
		c.next = &commitRound{logs: make(map[*Log]struct{}), done: make(chan struct{})}
	}
	r := c.next
	for _, l := range logs {
		r.logs[l] = struct{}{}
	}
	if !c.running {
		c.running = true
		go c.run()
	}
	c.mu.Unlock()
	<-r.done
	return r.errs
}

// run executes rounds until no log waits. A goroutine per busy period
// keeps the committer free of start and stop plumbing.
func (c *committer) run() {
	for {
		c.mu.Lock()
		r := c.next
		c.next = nil
		if r == nil {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		r.errs = c.commit(r.logs)
		close(r.done)
	}
}

// commit makes every log in logs durable to its current end; the errors
// are per log. Logs are grouped by file system: a group of several is
// covered by one SyncFS, a lone log (or one whose file system is unknown)
// syncs its own files. Groups run concurrently.
func (c *committer) commit(logs map[*Log]struct{}) map[*Log]error {
	var (
		errs   = make(map[*Log]error)
		errsMu sync.Mutex
		wg     sync.WaitGroup
	)
	setErr := func(l *Log, err error) {
		errsMu.Lock()
		errs[l] = err
		errsMu.Unlock()
	}
	ws := c.whole
	groups := make(map[uint64][]*Log)
	for l := range logs {
		if ws != nil && l.fsKnown {
			groups[l.fsid] = append(groups[l.fsid], l)
			continue
		}
		wg.Go(func() { setErr(l, l.syncAll()) })
	}
	for _, g := range groups {
		if len(g) == 1 {
			wg.Go(func() { setErr(g[0], g[0].syncAll()) })
			continue
		}
		wg.Go(func() {
			for l, err := range syncTogether(ws, g) {
				setErr(l, err)
			}
		})
	}
	wg.Wait()
	return errs
}

// syncTogether makes logs on one file system durable with one SyncFS. It
// holds each log's flushMu from the plan to the finish, so a truncation
// cannot slip between them; only the committer ever holds more than one
// flushMu, so this cannot deadlock.
func syncTogether(ws vfs.WholeSyncer, logs []*Log) map[*Log]error {
	errs := make(map[*Log]error)
	plans := make(map[*Log]flushPlan, len(logs))
	var dir string
	for _, l := range logs {
		l.flushMu.Lock()
		pl, err := l.planFlush()
		if err != nil || pl.empty() {
			pl.release()
			l.flushMu.Unlock()
			errs[l] = err
			continue
		}
		plans[l], dir = pl, l.dir
	}
	if len(plans) == 0 {
		return errs
	}
	err := ws.SyncFS(dir)
	for l, pl := range plans {
		if err != nil {
			// SyncFS reports a write-back error of any file on the
			// file system (or cannot run): sync file by file to learn
			// which logs, if any, it hit.
			errs[l] = l.syncFiles(pl)
		}
		if errs[l] == nil {
			l.finishFlush(pl)
		}
		pl.release()
		l.flushMu.Unlock()
	}
	return errs
}

// syncAll flushes the log to its end by itself (flushLocked).
func (l *Log) syncAll() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	return l.flushLocked()
}
