package partition

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/spool-mq/spool/internal/storage"
)

// Produce validates and appends the batches of one produce request on
// the leader and waits as acks asks:
//
//   - 0 and 1: until the leader's own copy is durable under the broker's
//     durability mode (in fsync mode even acks=0 waits for the flush, so
//     data is never visible before it is durable; the connection waiting
//     is the backpressure an acks=0 producer gets);
//   - -1 (all): also until the high watermark passes the last offset,
//     i.e. every ISR member has it durably. It fails with ErrNotLeader if
//     this replica loses leadership or the leader epoch changes meanwhile,
//     with ErrRequestTimedOut after timeout, and with
//     ErrNotEnoughReplicasAfterAppend if the ISR is then smaller than
//     min.insync.replicas. An ISR already too small refuses the write
//     before appending (ErrNotEnoughReplicas).
//
// Waiting uses the caller's goroutine only; high watermark advances and
// role changes wake it.
func (p *Partition) Produce(data []byte, acks int16, timeout time.Duration) (ProduceResult, error) {
	return p.produce(data, acks, timeout, false)
}

// produce is Produce; allowTxn also accepts transactional batches.
func (p *Partition) produce(data []byte, acks int16, timeout time.Duration, allowTxn bool) (ProduceResult, error) {
	res := ProduceResult{LogAppendTime: -1}
	cfg := p.cfg.Load()
	if len(data) == 0 {
		return res, fmt.Errorf("%w: no record batches", ErrCorruptBatch)
	}
	nowMs := p.opts.Now().UnixMilli()
	var appendTime int64 = -1
	if cfg.LogAppendTime {
		appendTime = nowMs
	}
	batches, err := validate(p.opts.Decoder, data, cfg.MaxMessageBytes, appendTime, produceRules(cfg, nowMs), allowTxn)
	if err != nil {
		return res, err
	}
	if err := p.checkProducerIDs(batches); err != nil {
		return res, err
	}

	p.appendMu.Lock()
	p.mu.Lock()
	leading, epoch, isrSize := p.rs.role == roleLeader, p.rs.meta.LeaderEpoch, len(p.rs.meta.ISR)
	p.mu.Unlock()
	switch {
	case !leading:
		p.appendMu.Unlock()
		return res, ErrNotLeader
	case p.sessionLost():
		p.appendMu.Unlock()
		return res, errSessionLost
	case acks == -1 && isrSize < int(cfg.MinInsyncReplicas):
		p.appendMu.Unlock()
		return res, fmt.Errorf("%w: %d in sync, %d required", ErrNotEnoughReplicas, isrSize, cfg.MinInsyncReplicas)
	}
	p.loadProducersLocked()
	now := p.opts.Now()
	dup, ok, err := p.producers.check(batches, now)
	if err != nil || ok {
		p.appendMu.Unlock()
		if err != nil {
			return res, err
		}
		// A retried batch already in the log (check only reports a
		// single-batch request): answer with its offset once it is as
		// safe as acks asks.
		res.BaseOffset, res.LogStartOffset = dup, p.log.LogStartOffset()
		return res, p.complete(dup+int64(batches[0].LastOffsetDelta), acks, epoch, timeout)
	}
	ar, err := p.log.Append(data, storage.AppendOptions{AssignOffsets: true, LeaderEpoch: epoch})
	if err != nil {
		p.appendMu.Unlock()
		return res, err
	}
	p.producers.record(batches, ar.BaseOffset, now)
	if allowTxn {
		p.beginTxnsLocked(batches, ar.BaseOffset)
	}
	p.appendMu.Unlock()
	p.notify(true) // replica fetches long-poll on the log end

	res.BaseOffset, res.LogAppendTime, res.LogStartOffset = ar.BaseOffset, appendTime, p.log.LogStartOffset()
	return res, p.complete(ar.LastOffset, acks, epoch, timeout)
}

// complete waits until offset last is as safe as acks asks (see
// Produce); epoch is the leader epoch the data was written in.
func (p *Partition) complete(last int64, acks int16, epoch int32, timeout time.Duration) error {
	if p.opts.Durability == PeriodicFlush {
		p.updateHighWatermark()
	} else if err := p.awaitDurable(last); err != nil {
		return err
	}
	if acks != -1 {
		return nil
	}
	var (
		wake  chan struct{}
		timer *time.Timer
	)
	for {
		p.mu.Lock()
		still := p.rs.role == roleLeader && p.rs.meta.LeaderEpoch == epoch
		isrSize := len(p.rs.meta.ISR)
		p.mu.Unlock()
		if !still {
			return fmt.Errorf("%w: leadership changed while waiting for the in-sync replicas", ErrNotLeader)
		}
		if p.sessionLost() {
			return errSessionLost
		}
		if p.hwm.Load() > last {
			if minISR := int(p.cfg.Load().MinInsyncReplicas); isrSize < minISR {
				return fmt.Errorf("%w: %d in sync, %d required", ErrNotEnoughReplicasAfterAppend, isrSize, minISR)
			}
			return nil
		}
		if wake == nil {
			// Register, then look again: a wake-up between the check
			// above and the registration must not be lost.
			wake = make(chan struct{}, 1)
			defer p.AddWaiter(wake)()
			timer = time.NewTimer(timeout)
			defer timer.Stop()
			continue
		}
		select {
		case <-wake:
		case <-timer.C:
			return fmt.Errorf("%w: offset %d not replicated within %v", ErrRequestTimedOut, last, timeout)
		}
	}
}

var errSessionLost = fmt.Errorf("%w: this broker lost its controller session and may have been replaced", ErrNotLeader)

// sessionLost applies Options.SessionLost to replicated partitions only: a
// single replica has no one to fail over to, so it keeps serving.
func (p *Partition) sessionLost() bool {
	if p.opts.SessionLost == nil {
		return false
	}
	p.mu.Lock()
	replicated := len(p.rs.meta.Replicas) > 1
	p.mu.Unlock()
	return replicated && p.opts.SessionLost()
}

// awaitDurable flushes through offset (group commit) and advances the high
// watermark.
func (p *Partition) awaitDurable(offset int64) error {
	start := time.Now()
	if err := p.log.Flush(offset + 1); err != nil {
		return err
	}
	if p.opts.FlushObserver != nil {
		p.opts.FlushObserver(time.Since(start))
	}
	p.updateHighWatermark()
	return nil
}

// Flushed tells the partition that a background flush made data durable.
func (p *Partition) Flushed() { p.updateHighWatermark() }

func (p *Partition) updateHighWatermark() {
	p.mu.Lock()
	p.updateHighWatermarkLocked()
	p.mu.Unlock()
}

// durableEnd is the end of the leader's own durable data: the flushed
// offset in fsync mode, the log end in periodic-flush mode.
func (p *Partition) durableEnd() int64 {
	if p.opts.Durability == PeriodicFlush {
		return p.log.LogEndOffset()
	}
	return p.log.FlushedOffset()
}

// updateHighWatermarkLocked moves a leader's high watermark to the minimum
// of its own durable end and the fetch offsets of the other ISR members
// (and of a member a pending expansion adds). It never moves backwards,
// and does not move while an ISR member has not fetched in this epoch.
// Callers hold mu.
func (p *Partition) updateHighWatermarkLocked() {
	rs := &p.rs
	if rs.role != roleLeader {
		return
	}
	hwm := p.durableEnd()
	for _, id := range slices.Concat(rs.meta.ISR, rs.pendingAdd) {
		if id == p.opts.NodeID {
			continue
		}
		f := rs.followers[id]
		if f == nil || f.fetchOffset < 0 {
			return
		}
		hwm = min(hwm, f.fetchOffset)
	}
	p.advanceHighWatermark(hwm)
}

// ReadForReplica serves a follower's fetch on the leader. fetchOffset is
// the follower's durable log end, which the leader records (it moves the
// high watermark and decides ISR membership) before returning whole
// batches from fetchOffset up to its log end, above the high watermark
// too. currentLeaderEpoch (-1: unchecked) fences followers of another
// epoch. A fetchOffset outside [log start, log end] fails with
// storage.ErrOffsetOutOfRange (and the result still carries the high
// watermark and log start). The first batch is returned whole even if
// larger than maxBytes; a negative maxBytes records the fetch and reads
// nothing (a fetch response that is already full).
func (p *Partition) ReadForReplica(scratch []byte, replica int32, fetchOffset int64, currentLeaderEpoch int32, maxBytes int) (ReadResult, error) {
	res := ReadResult{LogStartOffset: p.log.LogStartOffset(), HighWatermark: p.hwm.Load()}
	p.mu.Lock()
	rs := &p.rs
	if rs.role != roleLeader {
		p.mu.Unlock()
		return res, ErrNotLeader
	}
	if err := checkEpoch(currentLeaderEpoch, rs.meta.LeaderEpoch); err != nil {
		p.mu.Unlock()
		return res, err
	}
	f := rs.followers[replica]
	if f == nil {
		p.mu.Unlock()
		return res, fmt.Errorf("%w: broker %d", ErrNotReplica, replica)
	}
	leo := p.log.LogEndOffset()
	if fetchOffset > leo || fetchOffset < res.LogStartOffset {
		p.mu.Unlock()
		return res, fmt.Errorf("%w: replica %d fetched %d, log is [%d, %d]", storage.ErrOffsetOutOfRange,
			replica, fetchOffset, res.LogStartOffset, leo)
	}
	now := p.opts.Now()
	switch {
	case fetchOffset >= leo:
		f.lastCaughtUp = now
	case f.lastFetchLEO >= 0 && fetchOffset >= f.lastFetchLEO && f.lastFetch.After(f.lastCaughtUp):
		// It has what the leader had at its previous fetch.
		f.lastCaughtUp = f.lastFetch
	}
	f.fetchOffset, f.lastFetch, f.lastFetchLEO = fetchOffset, now, leo
	p.updateHighWatermarkLocked()
	p.maybeExpandLocked(replica, f)
	p.mu.Unlock()

	res.HighWatermark = p.hwm.Load()
	if maxBytes < 0 {
		return res, nil
	}
	r, err := p.log.ReadInto(scratch, fetchOffset, math.MaxInt64, maxBytes, true)
	if err != nil {
		return res, err
	}
	res.Data = r.Data
	return res, nil
}

// checkEpoch fences a request's leader epoch (-1: not checked) against the
// replica's current one.
func checkEpoch(requested, current int32) error {
	switch {
	case requested < 0 || requested == current:
		return nil
	case requested < current:
		return fmt.Errorf("%w: %d < %d", ErrFencedLeaderEpoch, requested, current)
	default:
		return fmt.Errorf("%w: %d > %d", ErrUnknownLeaderEpoch, requested, current)
	}
}

// ReadLocal returns whole batches from offset up to the log end, above the
// high watermark too (a coordinator taking over loads its state this way).
func (p *Partition) ReadLocal(offset int64, maxBytes int) ([]byte, error) {
	r, err := p.log.Read(offset, math.MaxInt64, maxBytes, true)
	return r.Data, err
}

// DivergingEpoch checks a follower's fetch against this leader's epochs
// (KIP-595's DivergingEpoch, the in-fetch form of OffsetForLeaderEpoch):
// when the follower's last fetched epoch ends here before fetchOffset, or
// this log knows only an older epoch, the follower's log has records the
// leader's lacks. It must truncate to (epoch, endOffset) before fetching
// again. An epoch this log cannot place is not reported as diverging.
func (p *Partition) DivergingEpoch(lastFetchedEpoch int32, fetchOffset int64) (epoch int32, endOffset int64, diverged bool) {
	if lastFetchedEpoch < 0 {
		return -1, -1, false
	}
	epoch, endOffset = p.EndOffsetForEpoch(lastFetchedEpoch)
	if epoch < 0 || endOffset < 0 {
		return -1, -1, false
	}
	return epoch, endOffset, epoch < lastFetchedEpoch || endOffset < fetchOffset
}
