package txn

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// lock returns id's shard, locked exclusively and usable; callers unlock.
func (c *Coordinator) lock(id string) (*shard, error) {
	if id == "" || len(id) > MaxTransactionalIDLen {
		return nil, fmt.Errorf("%w: length %d, want 1 to %d bytes", ErrInvalidTransactionalID, len(id), MaxTransactionalIDLen)
	}
	s, err := c.shardFor(id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	return s, nil
}

// check returns id's state if producerID and epoch are its current ones.
// The caller holds s.mu.
func (s *shard) check(id string, producerID int64, epoch int16) (*meta, error) {
	m := s.ids[id]
	switch {
	case m == nil || m.producerID != producerID:
		return nil, fmt.Errorf("%w: %q, producer id %d", ErrInvalidProducerIDMapping, id, producerID)
	case epoch != m.epoch:
		return nil, fmt.Errorf("%w: %q has epoch %d, request %d", ErrProducerFenced, id, m.epoch, epoch)
	}
	return m, nil
}

// InitProducerID registers a transactional producer (InitProducerId with
// a transactional id). A new id gets a fresh producer id at epoch 0; an
// existing one gets its epoch bumped, fencing the previous producer, and
// its ongoing transaction, if any, is aborted first (markers written)
// before this returns. producerID and epoch are the caller's current ones
// (KIP-360) or -1: a producer recovering with stale ones is fenced.
// allocate hands out a fresh producer id (the broker's allocator, shared
// with idempotent producers).
func (c *Coordinator) InitProducerID(ctx context.Context, allocate func(context.Context) (int64, error), id string, timeout time.Duration, producerID int64, epoch int16) (int64, int16, error) {
	if timeout <= 0 || timeout > c.cfg.MaxTimeout {
		return -1, -1, fmt.Errorf("%w: %v, want at most transaction.max.timeout.ms (%v)", ErrInvalidTimeout, timeout, c.cfg.MaxTimeout)
	}
	s, err := c.lock(id)
	if err != nil {
		return -1, -1, err
	}
	defer s.mu.Unlock()
	m := s.ids[id]
	if m == nil {
		if n := c.ids.Load(); n >= int64(c.cfg.MaxIDs) {
			if !c.capWarned.Swap(true) {
				c.log.Warn("refusing new transactional ids: the coordinator holds transaction.coordinator.max.ids",
					"ids", n, "limit", c.cfg.MaxIDs)
			}
			return -1, -1, ErrTooManyIDs
		}
		c.capWarned.Store(false)
		pid, err := allocate(ctx)
		if err != nil {
			return -1, -1, fmt.Errorf("%w: %w", ErrCoordinatorNotAvailable, err)
		}
		next := &meta{id: id, producerID: pid, epoch: 0, timeout: timeout,
			state: kmsg.TransactionStateEmpty, partitions: map[TopicPartition]struct{}{}}
		if err := s.write(next); err != nil {
			return -1, -1, err
		}
		return pid, 0, nil
	}
	if producerID >= 0 && (producerID != m.producerID || epoch != m.epoch) {
		// KIP-360: only the current producer may recover its epoch.
		return -1, -1, fmt.Errorf("%w: %q is at producer id %d epoch %d", ErrProducerFenced, id, m.producerID, m.epoch)
	}
	// bumped: the abort of an ongoing transaction already moved to the
	// next epoch (its markers fence the old producer on every partition),
	// which the new producer then uses.
	bumped := false
	switch m.state {
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		if err := s.complete(m); err != nil {
			return -1, -1, err
		}
		m = s.ids[id]
	case kmsg.TransactionStateOngoing:
		old := m.epoch
		if err := s.abortFenced(m); err != nil {
			return -1, -1, err
		}
		m = s.ids[id]
		bumped = m.epoch != old
	}
	next := m.clone()
	next.timeout, next.state, next.started = timeout, kmsg.TransactionStateEmpty, time.Time{}
	next.partitions = map[TopicPartition]struct{}{}
	if m.epoch >= maxProducerEpoch {
		pid, err := allocate(ctx)
		if err != nil {
			return -1, -1, fmt.Errorf("%w: %w", ErrCoordinatorNotAvailable, err)
		}
		next.producerID, next.epoch = pid, 0
	} else if !bumped {
		next.epoch = m.epoch + 1
	}
	if err := s.write(next); err != nil {
		return -1, -1, err
	}
	return next.producerID, next.epoch, nil
}

// AddPartitions adds partitions to id's transaction, starting one if none
// is ongoing (AddPartitionsToTxn). All or nothing.
func (c *Coordinator) AddPartitions(id string, producerID int64, epoch int16, tps []TopicPartition) error {
	s, err := c.lock(id)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	m, err := s.check(id, producerID, epoch)
	if err != nil {
		return err
	}
	switch m.state {
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		return ErrConcurrentTransactions
	case kmsg.TransactionStateOngoing:
		missing := false
		for _, tp := range tps {
			if _, ok := m.partitions[tp]; !ok {
				missing = true
			}
		}
		if !missing {
			return nil
		}
	}
	next := m.clone()
	if m.state != kmsg.TransactionStateOngoing {
		next.state, next.started = kmsg.TransactionStateOngoing, c.cfg.Now()
		next.partitions = map[TopicPartition]struct{}{}
	}
	for _, tp := range tps {
		next.partitions[tp] = struct{}{}
	}
	return s.write(next)
}

// EndTxn commits or aborts id's ongoing transaction (EndTxn). It returns
// once the markers are on every partition and CompleteCommit or
// CompleteAbort is durable (Kafka answers after Prepare; answering after
// completion costs the client latency but makes the outcome visible to
// read_committed consumers by the time it returns). Repeating a completed
// end is answered with success, as Kafka does for retries.
func (c *Coordinator) EndTxn(id string, producerID int64, epoch int16, commit bool) error {
	s, err := c.lock(id)
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	m, err := s.check(id, producerID, epoch)
	if err != nil {
		return err
	}
	switch m.state {
	case kmsg.TransactionStateOngoing:
		return s.end(m, epoch, commit)
	case kmsg.TransactionStateCompleteCommit:
		if commit {
			return nil
		}
	case kmsg.TransactionStateCompleteAbort:
		if !commit {
			return nil
		}
	case kmsg.TransactionStatePrepareCommit, kmsg.TransactionStatePrepareAbort:
		if (m.state == kmsg.TransactionStatePrepareCommit) != commit {
			break
		}
		return s.complete(m)
	}
	return fmt.Errorf("%w: %s of %q in state %v", ErrInvalidTxnState, endName(commit), id, m.state)
}

func endName(commit bool) string {
	if commit {
		return "commit"
	}
	return "abort"
}

// BeginProduce checks a transactional produce of producerID/epoch for id
// to tps: errs[i] is nil if tps[i] belongs to the ongoing transaction.
// The returned release must be called once the data is appended: until
// then no state change of the shard (no marker) can happen, so the data
// cannot land after its transaction's marker. err is for the whole
// request (not the coordinator, loading, unknown producer).
func (c *Coordinator) BeginProduce(id string, producerID int64, epoch int16, tps []TopicPartition) (errs []error, release func(), err error) {
	if id == "" || len(id) > MaxTransactionalIDLen {
		return nil, nil, ErrInvalidTransactionalID
	}
	s, err := c.shardFor(id)
	if err != nil {
		return nil, nil, err
	}
	s.mu.RLock()
	if err := s.usable(); err != nil {
		s.mu.RUnlock()
		return nil, nil, err
	}
	m, err := s.check(id, producerID, epoch)
	if err != nil {
		s.mu.RUnlock()
		return nil, nil, err
	}
	errs = make([]error, len(tps))
	for i, tp := range tps {
		if _, ok := m.partitions[tp]; !ok || m.state != kmsg.TransactionStateOngoing {
			errs[i] = fmt.Errorf("%w: %s/%d is not in the ongoing transaction of %q", ErrInvalidTxnState, tp.Topic, tp.Partition, id)
		}
	}
	return errs, s.mu.RUnlock, nil
}
