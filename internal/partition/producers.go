package partition

import (
	"fmt"

	"github.com/spool-mq/spool/internal/record"
)

// producerBatchesKept is how many recent batches per producer are remembered
// for duplicate detection; Kafka clients keep at most five in flight.
const producerBatchesKept = 5

// producerTable is the idempotent-producer state of a partition: per
// producer id, its epoch and its last few batches. The caller holds the
// partition's append lock.
//
// It is rebuilt empty on restart: an unknown producer's batch is accepted and
// starts a new entry, so a retry that straddles a broker restart can be
// written twice. Persisting producer snapshots closes that gap later.
type producerTable map[int64]*producerEntry

type producerEntry struct {
	epoch   int16
	batches []sentBatch // oldest first
}

type sentBatch struct {
	firstSeq, lastSeq int32
	baseOffset        int64
}

// check decides whether batches may be appended. It returns (offset, true)
// when the request is a retry of batches already in the log.
func (t producerTable) check(batches []record.Header) (int64, bool, error) {
	for i, h := range batches {
		if h.ProducerID < 0 {
			continue
		}
		e, ok := t[h.ProducerID]
		if !ok {
			continue
		}
		switch {
		case h.ProducerEpoch < e.epoch:
			return 0, false, fmt.Errorf("%w: producer %d epoch %d is older than %d", ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
		case h.ProducerEpoch > e.epoch:
			if h.BaseSequence != 0 {
				return 0, false, fmt.Errorf("%w: new epoch %d of producer %d must start at sequence 0, got %d", ErrOutOfOrderSequence, h.ProducerEpoch, h.ProducerID, h.BaseSequence)
			}
			continue
		}
		for _, b := range e.batches {
			if b.firstSeq == h.BaseSequence && b.lastSeq == h.LastSequence() {
				if i == 0 && len(batches) == 1 {
					return b.baseOffset, true, nil
				}
				return 0, false, fmt.Errorf("%w: duplicate batch inside a multi-batch produce", ErrOutOfOrderSequence)
			}
		}
		last := e.batches[len(e.batches)-1].lastSeq
		if want := nextSequence(last); h.BaseSequence != want {
			return 0, false, fmt.Errorf("%w: producer %d expected sequence %d, got %d", ErrOutOfOrderSequence, h.ProducerID, want, h.BaseSequence)
		}
	}
	return 0, false, nil
}

// record remembers appended batches; base is the first batch's offset.
func (t producerTable) record(batches []record.Header, base int64) {
	off := base
	for _, h := range batches {
		if h.ProducerID >= 0 {
			e, ok := t[h.ProducerID]
			if !ok || h.ProducerEpoch != e.epoch {
				e = &producerEntry{epoch: h.ProducerEpoch}
				t[h.ProducerID] = e
			}
			e.batches = append(e.batches, sentBatch{h.BaseSequence, h.LastSequence(), off})
			if len(e.batches) > producerBatchesKept {
				e.batches = e.batches[1:]
			}
		}
		off += int64(h.LastOffsetDelta) + 1
	}
}

func nextSequence(s int32) int32 {
	if s == 0x7fffffff {
		return 0
	}
	return s + 1
}
