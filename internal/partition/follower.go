package partition

import (
	"errors"
	"fmt"

	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/storage"
)

// AppendAsFollower appends batches fetched from the leader, keeping their
// offsets and leader epochs (the epoch cache learns the leader's epochs
// from them). A trailing partial batch is dropped: the next fetch starts
// at the new log end and gets it whole. The idempotent-producer table is
// updated from the batches, so if this replica becomes leader it still
// recognises retries of batches the old leader appended; so are the ongoing
// transactions and the aborted index (txn.go). It returns the
// last offset appended (LogEndOffset-1 when data held no whole batch).
//
// The data is not flushed here; call FlushLocal before reporting progress
// to the leader.
func (p *Partition) AppendAsFollower(data []byte) (lastOffset int64, err error) {
	var (
		headers []record.Header
		pos     []int
		txnal   bool
	)
	n := 0
	for n < len(data) {
		h, err := record.Validate(data[n:])
		if errors.Is(err, record.ErrTruncated) {
			break
		}
		if err != nil {
			return -1, fmt.Errorf("%w: batch from leader at byte %d: %w", ErrCorruptBatch, n, err)
		}
		headers, pos = append(headers, h), append(pos, n)
		txnal = txnal || h.Transactional()
		n += h.Size()
	}
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.Lock()
	r := p.rs.role
	p.mu.Unlock()
	if r != roleFollower {
		return -1, ErrNotFollower
	}
	if n == 0 {
		return p.log.LogEndOffset() - 1, nil
	}
	p.loadProducersLocked()
	var (
		txns    txnTable
		aborted []storage.AbortedTxn
	)
	if txnal {
		// The same transaction state as the leader's: aborted
		// transactions reach the index before their markers the log.
		txns, aborted = p.applyTxnBatches(headers, func(i int) []byte { return data[pos[i] : pos[i]+headers[i].Size()] })
		if err := p.recordAbortedLocked(aborted); err != nil {
			return -1, err
		}
	}
	ar, err := p.log.Append(data[:n], storage.AppendOptions{AssignOffsets: false, LeaderEpoch: -1})
	if err != nil {
		if txnal {
			p.dropAbortedLocked(aborted, headers[0].BaseOffset)
		}
		return -1, err
	}
	if txnal {
		p.setTxnsLocked(txns)
	}
	now := p.opts.Now()
	for i := range headers {
		p.producers.recordBatch(&headers[i], headers[i].BaseOffset, now)
	}
	return ar.LastOffset, nil
}

// UpdateFollowerHighWatermark takes the high watermark the leader sent:
// the follower's is that, capped at its own log end. It may go down (the
// leader changed and its watermark lags); readers are woken when it rises.
// A replica that leads ignores it: its watermark is its own to compute.
func (p *Partition) UpdateFollowerHighWatermark(leaderHWM int64) {
	if p.IsLeader() {
		return
	}
	h := min(leaderHWM, p.log.LogEndOffset())
	old := p.hwm.Swap(h)
	if h != old {
		p.publishHighWatermark()
	}
	if h > old {
		p.notify(false)
	}
}

// TruncateTo removes everything at and after offset (see
// storage.Log.TruncateTo), for a follower whose log diverged from its
// leader's. The high watermark and the producer table follow the log. A
// leader never truncates its log.
func (p *Partition) TruncateTo(offset int64) error {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if p.IsLeader() {
		return fmt.Errorf("%w: a leader does not truncate", ErrNotFollower)
	}
	if err := p.log.TruncateTo(offset); err != nil {
		return err
	}
	end := p.log.LogEndOffset()
	for {
		cur := p.hwm.Load()
		if cur <= end || p.hwm.CompareAndSwap(cur, end) {
			break
		}
	}
	p.publishHighWatermark()
	if p.producersLoaded {
		p.producers.truncate(end) // else the rebuild reads the truncated log
		// Truncation may have removed markers, reopening transactions:
		// only the log can say which.
		p.rebuildTxnsLocked(end)
	}
	return nil
}

// FlushLocal makes the whole log durable. A follower calls it before its
// next fetch, which tells the leader that everything below the fetch
// offset is durable here. In periodic-flush mode it does nothing: there,
// data counts once it reaches the OS.
func (p *Partition) FlushLocal() error {
	if p.opts.Durability == PeriodicFlush {
		return nil
	}
	return p.log.Flush(p.log.LogEndOffset())
}

// LatestEpoch is the newest leader epoch in the log, -1 if none.
func (p *Partition) LatestEpoch() int32 { return p.log.LatestEpoch() }

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the largest epoch <= epoch
// that this replica knows and the offset where it ended (the log end for the
// latest). Epochs above the latest answer (-1, -1).
//
// The log's epoch cache learns an epoch from the first batch appended in
// it, while a Kafka leader starts its epoch at the log end as soon as it
// takes over. Until the leader's current epoch has a batch, that entry is
// supplied here, so the current epoch answers with the log end offset
// instead of UNDEFINED and the previous one ends where the current began.
func (p *Partition) EndOffsetForEpoch(epoch int32) (int32, int64) {
	if epoch < 0 {
		return -1, -1
	}
	p.mu.Lock()
	leading, current := p.rs.role == roleLeader, p.rs.meta.LeaderEpoch
	p.mu.Unlock()
	// The log end is read before the latest epoch: if a batch of the
	// current epoch lands in between, the log answers by itself below.
	leo := p.log.LogEndOffset()
	latest := p.log.LatestEpoch()
	if !leading || epoch <= latest || current <= latest {
		return p.log.EndOffsetForEpoch(epoch)
	}
	switch {
	case epoch > current:
		return -1, -1
	case epoch == current:
		return current, leo
	case latest >= 0:
		// Between the last epoch with data and the current one: the
		// last epoch with data ends where the current one begins.
		return latest, leo
	default:
		// Below the only (current) epoch: Kafka answers with the
		// requested epoch and where the known one begins.
		return epoch, leo
	}
}
