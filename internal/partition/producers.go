package partition

import (
	"fmt"

	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/storage"
)

// producerBatchesKept is how many recent batches per producer are remembered
// for duplicate detection; Kafka clients keep at most five in flight.
const producerBatchesKept = 5

// producerTable is the idempotent-producer state of a partition: per
// producer id, its epoch and its last few batches. The caller holds the
// partition's append lock.
//
// On open it is rebuilt from the tail of the log (see rebuild), and
// followers keep it up to date from the batches they copy, so a new leader
// still recognises recent retries. An unknown producer's batch is accepted
// and starts a new entry, so a retry of a batch older than the rebuilt tail
// can be written twice. Persisting producer snapshots closes that gap later.
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
	for i := range batches {
		t.recordBatch(&batches[i], off)
		off += int64(batches[i].LastOffsetDelta) + 1
	}
}

// recordBatch remembers one batch written at base.
func (t producerTable) recordBatch(h *record.Header, base int64) {
	if h.ProducerID < 0 {
		return
	}
	e, ok := t[h.ProducerID]
	if !ok || h.ProducerEpoch != e.epoch {
		e = &producerEntry{epoch: h.ProducerEpoch}
		t[h.ProducerID] = e
	}
	e.batches = append(e.batches, sentBatch{h.BaseSequence, h.LastSequence(), base})
	if len(e.batches) > producerBatchesKept {
		e.batches = e.batches[1:]
	}
}

// truncate forgets batches at or after end (a follower truncated its log).
func (t producerTable) truncate(end int64) {
	for id, e := range t {
		n := len(e.batches)
		for n > 0 && e.batches[n-1].baseOffset >= end {
			n--
		}
		if n == 0 {
			delete(t, id)
			continue
		}
		e.batches = e.batches[:n]
	}
}

// Bounds of the rebuild on open: the table is rebuilt from the batches of
// the last producerRebuildOffsets offsets of the log, reading at most
// producerRebuildBytes. A retry is recognised after a restart (or by a
// newly elected leader that was restarted) if its batch is within that
// tail; older producers are unknown, and their next batch starts a new
// entry, as before any state existed.
const (
	producerRebuildOffsets = 4096
	producerRebuildBytes   = 8 << 20
	producerRebuildChunk   = 1 << 20
)

// loadProducersLocked rebuilds the producer table from the log's tail the
// first time the partition appends, not when it opens: reading up to
// producerRebuildBytes of every log before serving anything made a restart
// with a thousand partitions take seconds. Callers hold appendMu, so no
// append races the rebuild.
func (p *Partition) loadProducersLocked() {
	if !p.producersLoaded {
		p.producers.rebuild(p.log)
		p.producersLoaded = true
	}
}

// rebuild fills the table from the tail of log (batch headers only).
// Errors end the rebuild early: the table is a best-effort cache.
func (t producerTable) rebuild(log *storage.Log) {
	end := log.LogEndOffset()
	off := max(log.LogStartOffset(), end-producerRebuildOffsets)
	var buf []byte
	for read := 0; off < end && read < producerRebuildBytes; {
		r, err := log.ReadInto(buf, off, end, producerRebuildChunk, true)
		if err != nil || len(r.Data) == 0 {
			return
		}
		buf = r.Data
		read += len(r.Data)
		next := off
		_, err = record.Batches(r.Data, func(h record.Header, _ []byte) error {
			if h.LastOffset() >= off {
				t.recordBatch(&h, h.BaseOffset)
			}
			next = h.NextOffset()
			return nil
		})
		if err != nil || next <= off {
			return
		}
		off = next
	}
}

func nextSequence(s int32) int32 {
	if s == 0x7fffffff {
		return 0
	}
	return s + 1
}
