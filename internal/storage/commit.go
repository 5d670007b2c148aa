package storage

import (
	"sync"
	"sync/atomic"

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
//
// A failed SyncFS makes its file system suspect. syncfs reports a
// write-back error of any file on the file system, once: the pages that
// failed may belong to a log that is not in the round (it appended and is
// waiting for the next one), and the next syncfs returns 0 although those
// bytes never reached the disk. Only an fsync of the file itself still
// reports the error (each open file has its own error cursor). So from a
// failed SyncFS on, every round fsyncs every log of that file system file
// by file, including logs nobody is waiting for (they may hold bytes that
// were unsynced when the SyncFS failed and flush only later), until a
// round in which every one of those fsyncs succeeded. A log whose fsync
// fails is failed for good (see Log.Flush), so its data is never
// acknowledged.
type committer struct {
	whole vfs.WholeSyncer // nil: sync file by file
	// logs lists every log that may hold unsynced data (the Manager's).
	logs func() []*Log

	mu      sync.Mutex
	next    *commitRound        // collecting logs; nil when none waits
	running bool                // a goroutine is running rounds
	suspect map[uint64]struct{} // file systems whose SyncFS failed and not every log has been fsynced since
}

type commitRound struct {
	logs map[*Log]struct{}
	done chan struct{}
	errs map[*Log]error // written before done is closed
}

func newCommitter(fsys vfs.FS, wholeSync bool, logs func() []*Log) *committer {
	c := &committer{logs: logs, suspect: make(map[uint64]struct{})}
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
		c.recheckSuspects()
		close(r.done)
	}
}

// recheckSuspects adds every log of a suspect file system to the next
// round, so each is fsynced by itself whether or not anyone waits for it.
func (c *committer) recheckSuspects() {
	c.mu.Lock()
	n := len(c.suspect)
	c.mu.Unlock()
	if n == 0 || c.logs == nil {
		return
	}
	all := c.logs()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range all {
		if _, ok := c.suspect[l.fsid]; !ok || !l.fsKnown {
			continue
		}
		if c.next == nil {
			c.next = &commitRound{logs: make(map[*Log]struct{}), done: make(chan struct{})}
		}
		c.next.logs[l] = struct{}{}
	}
}

// commit makes every log in logs durable to its current end; the errors
// are per log. Logs are grouped by file system: a group of several is
// covered by one SyncFS, a lone log (or one whose file system is unknown)
// syncs its own files, and so does every log of a suspect file system.
// Groups run concurrently.
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
	c.mu.Lock()
	suspect := make(map[uint64]bool, len(groups))
	for id := range groups {
		_, suspect[id] = c.suspect[id]
	}
	c.mu.Unlock()
	for id, g := range groups {
		switch {
		case suspect[id]:
			wg.Go(func() {
				if c.syncEach(g, setErr) {
					c.setSuspect(id, false)
				}
			})
		case len(g) == 1:
			wg.Go(func() { setErr(g[0], g[0].syncAll()) })
		default:
			wg.Go(func() {
				res, fsFailed := syncTogether(ws, g)
				if fsFailed {
					c.setSuspect(id, true)
				}
				for l, err := range res {
					setErr(l, err)
				}
			})
		}
	}
	wg.Wait()
	return errs
}

func (c *committer) setSuspect(fsid uint64, on bool) {
	c.mu.Lock()
	if on {
		c.suspect[fsid] = struct{}{}
	} else {
		delete(c.suspect, fsid)
	}
	c.mu.Unlock()
}

// syncEach fsyncs the logs of a suspect file system one by one and says
// whether every fsync that ran succeeded. A log that had already failed
// or is closed runs none and does not count.
func (c *committer) syncEach(logs []*Log, setErr func(*Log, error)) bool {
	var (
		ok atomic.Bool
		wg sync.WaitGroup
	)
	ok.Store(true)
	for _, l := range logs {
		wg.Go(func() {
			synced, err := l.syncAllChecked()
			if err != nil && synced {
				ok.Store(false)
			}
			setErr(l, err)
		})
	}
	wg.Wait()
	return ok.Load()
}

// syncTogether makes logs on one file system durable with one SyncFS and
// says whether that SyncFS failed (the file system is then suspect). It
// holds each log's flushMu from the plan to the finish, so a truncation
// cannot slip between them; only the committer ever holds more than one
// flushMu, so this cannot deadlock.
func syncTogether(ws vfs.WholeSyncer, logs []*Log) (map[*Log]error, bool) {
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
		return errs, false
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
	return errs, err != nil
}

// syncAll flushes the log to its end by itself (flushLocked).
func (l *Log) syncAll() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	return l.flushLocked()
}

// syncAllChecked is syncAll that also says whether an fsync ran (false
// when there was nothing to sync or the log was already failed or closed).
func (l *Log) syncAllChecked() (synced bool, err error) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	pl, err := l.planFlush()
	defer pl.release()
	if err != nil || pl.empty() {
		return false, err
	}
	if err := l.syncFiles(pl); err != nil {
		return true, err
	}
	l.finishFlush(pl)
	return true, nil
}
