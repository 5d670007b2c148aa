package replication

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/spool-mq/spool/internal/storage"
	"github.com/spool-mq/spool/internal/wire"
)

// partState is one followed partition inside a fetcher.
type partState struct {
	topicID [16]byte
	r       replica
	// epoch is the leader epoch followed; requests carry it as
	// CurrentLeaderEpoch so a stale leader or follower is fenced.
	epoch int32
	// gen identifies this add: a response to a request sent for an
	// earlier add (the partition was removed and re-added meanwhile) is
	// dropped.
	gen uint64
	// truncating: the partition must agree with the leader
	// (OffsetForLeaderEpoch) before it fetches.
	truncating bool
	// askEpoch, if >= 0, is the epoch the next OffsetForLeaderEpoch asks
	// about instead of the log's latest (after an intermediate truncation
	// step that did not change the log's latest epoch).
	askEpoch int32
	// delayUntil holds the partition back after an error.
	delayUntil time.Time
	// skipTo, when above the log end, is where to fetch from instead: the
	// leader's log start, for an emptied log that could not be restarted
	// there (see handleOutOfRange).
	skipTo int64
}

// fetchOffset is where the next fetch starts. Callers hold mu.
func (st *partState) fetchOffset() int64 {
	return max(st.r.LogEndOffset(), st.skipTo)
}

// fetcher follows the partitions led by one broker.
type fetcher struct {
	m      *Manager
	leader int32
	log    *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	wake   chan struct{}

	mu      sync.Mutex
	parts   map[storage.TopicPartition]*partState
	nextGen uint64

	// Used only by the run goroutine.
	conn    *wire.Conn
	backoff time.Duration
}

func newFetcher(m *Manager, leader int32) *fetcher {
	ctx, cancel := context.WithCancel(m.ctx)
	return &fetcher{m: m, leader: leader, log: m.log.With("leader", leader),
		ctx: ctx, cancel: cancel, done: make(chan struct{}), wake: make(chan struct{}, 1),
		parts: make(map[storage.TopicPartition]*partState)}
}

// add starts following tp (or keeps following it if it already is at the
// same epoch from the same replica). A new or changed entry truncates
// before it fetches.
func (f *fetcher) add(tp storage.TopicPartition, w follow) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st := f.parts[tp]; st != nil && st.epoch == w.epoch && st.r == w.r && st.topicID == w.topicID {
		return
	}
	f.nextGen++
	f.parts[tp] = &partState{topicID: w.topicID, r: w.r, epoch: w.epoch, gen: f.nextGen,
		truncating: true, askEpoch: -1}
	f.log.Info("following partition", "partition", tp, "leader_epoch", w.epoch,
		"log_end_offset", w.r.LogEndOffset())
	f.poke()
}

// removeUnless stops following every partition for which keep is false.
// It waits for a response being applied to finish.
func (f *fetcher) removeUnless(keep func(storage.TopicPartition, *partState) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tp, st := range f.parts {
		if !keep(tp, st) {
			delete(f.parts, tp)
			f.log.Info("stopped following partition", "partition", tp, "leader_epoch", st.epoch,
				"log_end_offset", st.r.LogEndOffset())
		}
	}
}

func (f *fetcher) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.parts)
}

func (f *fetcher) partitions() []storage.TopicPartition {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]storage.TopicPartition, 0, len(f.parts))
	for tp := range f.parts {
		out = append(out, tp)
	}
	slices.SortFunc(out, func(a, b storage.TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	return out
}

// poke wakes the run loop if it waits for work.
func (f *fetcher) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// stop ends the run loop and waits for it.
func (f *fetcher) stop() {
	f.cancel()
	<-f.done
}

// sent is one partition as put into a request: enough to recognize the
// state it was sent for when the answer comes back.
type sent struct {
	tp      storage.TopicPartition
	topicID [16]byte
	r       replica
	gen     uint64
	epoch   int32
	// offset is the fetch offset (fetch) or the epoch asked about
	// (OffsetForLeaderEpoch).
	offset int64
}

// plan splits the partitions into those to truncate and those to fetch,
// skipping delayed ones; wait is how long until the next delayed one is
// due (0 if none is).
func (f *fetcher) plan(now time.Time) (trunc, fetch []sent, wait time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for tp, st := range f.parts {
		if d := st.delayUntil.Sub(now); d > 0 {
			if wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		s := sent{tp: tp, topicID: st.topicID, r: st.r, gen: st.gen, epoch: st.epoch}
		if st.truncating {
			s.offset = int64(st.askEpoch)
			trunc = append(trunc, s)
		} else {
			s.offset = st.fetchOffset()
			fetch = append(fetch, s)
		}
	}
	return trunc, fetch, wait
}

// current returns the state s was sent for, or nil if the partition was
// removed or re-added since. Callers hold mu.
func (f *fetcher) current(s sent) *partState {
	st := f.parts[s.tp]
	if st == nil || st.gen != s.gen {
		return nil
	}
	return st
}

// delay holds a partition back after an error. Callers hold mu.
func (f *fetcher) delay(st *partState) {
	st.delayUntil = time.Now().Add(f.m.cfg.ErrorBackoff)
}

// run is the fetcher's loop: truncate what needs it, fetch the rest,
// apply, repeat. Connection failures back off (capped exponential); a
// round with nothing to do waits for new partitions or a delay to pass.
func (f *fetcher) run() {
	defer close(f.done)
	defer f.m.running.Add(-1)
	defer f.closeConn()
	f.log.Info("replica fetcher started")
	defer f.log.Info("replica fetcher stopped")
	for f.ctx.Err() == nil {
		trunc, fetch, wait := f.plan(time.Now())
		if len(trunc) == 0 && len(fetch) == 0 {
			f.idle(wait)
			continue
		}
		if err := f.round(trunc, fetch); err != nil {
			if f.ctx.Err() != nil {
				return
			}
			f.closeConn()
			f.backoff = min(max(2*f.backoff, f.m.cfg.MinBackoff), f.m.cfg.MaxBackoff)
			f.log.Warn("replica fetch failed; reconnecting", "err", err, "backoff", f.backoff)
			f.sleep(f.backoff)
			continue
		}
		f.backoff = 0
	}
}

// round runs one truncation and/or fetch exchange with the leader.
func (f *fetcher) round(trunc, fetch []sent) error {
	if f.conn == nil {
		if err := f.connect(); err != nil {
			return err
		}
	}
	if len(trunc) > 0 {
		if err := f.truncate(trunc); err != nil {
			return err
		}
	}
	if len(fetch) > 0 {
		if err := f.fetch(fetch); err != nil {
			return err
		}
	}
	return nil
}

func (f *fetcher) connect() error {
	ctx, cancel := context.WithTimeout(f.ctx, f.m.cfg.RequestTimeout)
	defer cancel()
	nc, err := f.m.cfg.Dialer.DialReplication(ctx, f.leader)
	if err != nil {
		return fmt.Errorf("dialing broker %d: %w", f.leader, err)
	}
	f.conn = wire.New(nc, wire.Options{ClientID: fmt.Sprintf("spool-replica-%d", f.m.cfg.NodeID)})
	return nil
}

func (f *fetcher) closeConn() {
	if f.conn != nil {
		_ = f.conn.Close()
		f.conn = nil
	}
}

// idle waits for a new partition, or for wait (if > 0) to pass.
func (f *fetcher) idle(wait time.Duration) {
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-f.ctx.Done():
	case <-f.wake:
	case <-timeout:
	}
}

// sleep waits for d or until the fetcher stops.
func (f *fetcher) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-f.ctx.Done():
	case <-t.C:
	}
}

// requestCtx bounds one request: the leader may hold it for FetchWait.
func (f *fetcher) requestCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(f.ctx, f.m.cfg.FetchWait+f.m.cfg.RequestTimeout)
}
