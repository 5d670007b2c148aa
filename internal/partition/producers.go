package partition

import (
	"container/list"
	"fmt"
	"time"

	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/storage"
)

// producerBatchesKept is how many recent batches per producer are remembered
// for duplicate detection; Kafka clients keep at most five in flight.
const producerBatchesKept = 5

// Bounds of the producer table; Options.ProducerIDExpiration and
// Options.MaxProducers override them.
const (
	// DefaultProducerIDExpiration is Kafka's producer.id.expiration.ms
	// default: a producer that has not appended for a day is forgotten.
	DefaultProducerIDExpiration = 24 * time.Hour
	// DefaultMaxProducers is the default producer.state.max.entries, the
	// most producers one partition remembers. Kafka has no such cap and
	// relies on expiry alone, but InitProducerId costs a client nothing,
	// so a loop of it (one batch per new id) would otherwise grow the
	// table for a whole expiration period.
	DefaultMaxProducers = 10000
)

// producerTable is the idempotent-producer state of a partition: per
// producer id, its epoch and its last few batches. The caller holds the
// partition's append lock.
//
// On open it is rebuilt from the tail of the log (see rebuild), and
// followers keep it up to date from the batches they copy, so a new leader
// still recognises recent retries. An unknown producer's batch is accepted
// and starts a new entry, so a retry of a batch older than the rebuilt tail
// can be written twice. Persisting producer snapshots closes that gap later.
//
// The table is bounded two ways. A producer with no append for
// expiration is forgotten (Kafka's producer.id.expiration.ms), checked
// when it is looked up and by expire, which the broker's maintenance loop
// calls. And it holds at most max producers: adding one more evicts the
// least recently written. A forgotten producer that comes back is an
// unknown producer again (see above): its next batch is accepted from any
// sequence, so only a retry across the gap could be duplicated.
type producerTable struct {
	entries map[int64]*list.Element // values are *producerEntry
	// lru orders the entries by last write, most recent first.
	lru        *list.List
	expiration time.Duration
	max        int
}

type producerEntry struct {
	id        int64
	epoch     int16
	batches   []sentBatch // oldest first
	lastWrite time.Time
}

type sentBatch struct {
	firstSeq, lastSeq int32
	baseOffset        int64
}

// newProducerTable returns an empty table; non-positive bounds mean the
// defaults.
func newProducerTable(expiration time.Duration, maxEntries int) *producerTable {
	if expiration <= 0 {
		expiration = DefaultProducerIDExpiration
	}
	if maxEntries <= 0 {
		maxEntries = DefaultMaxProducers
	}
	return &producerTable{entries: make(map[int64]*list.Element), lru: list.New(), expiration: expiration, max: maxEntries}
}

// len is the number of producers remembered.
func (t *producerTable) len() int { return len(t.entries) }

// get returns the live entry of id, or nil. An expired entry is dropped
// here, so a producer idle for longer than the expiration is unknown even
// before the next maintenance pass.
func (t *producerTable) get(id int64, now time.Time) *producerEntry {
	el, ok := t.entries[id]
	if !ok {
		return nil
	}
	e := el.Value.(*producerEntry)
	if t.expired(e, now) {
		t.remove(el)
		return nil
	}
	return e
}

func (t *producerTable) expired(e *producerEntry, now time.Time) bool {
	return now.Sub(e.lastWrite) >= t.expiration
}

func (t *producerTable) remove(el *list.Element) {
	delete(t.entries, el.Value.(*producerEntry).id)
	t.lru.Remove(el)
}

// expire forgets every producer idle for the expiration and returns how
// many it dropped. It walks from the least recently written and stops at
// the first live one.
func (t *producerTable) expire(now time.Time) int {
	n := 0
	for el := t.lru.Back(); el != nil; el = t.lru.Back() {
		if !t.expired(el.Value.(*producerEntry), now) {
			break
		}
		t.remove(el)
		n++
	}
	return n
}

// check decides whether batches may be appended. It returns (offset, true)
// when the request is a retry of batches already in the log.
func (t *producerTable) check(batches []record.Header, now time.Time) (int64, bool, error) {
	for i, h := range batches {
		if h.ProducerID < 0 {
			continue
		}
		e := t.get(h.ProducerID, now)
		if e == nil {
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
		want := int32(0) // a marker that bumped the epoch left no batches
		if len(e.batches) > 0 {
			want = nextSequence(e.batches[len(e.batches)-1].lastSeq)
		}
		if h.BaseSequence != want {
			return 0, false, fmt.Errorf("%w: producer %d expected sequence %d, got %d", ErrOutOfOrderSequence, h.ProducerID, want, h.BaseSequence)
		}
	}
	return 0, false, nil
}

// record remembers appended batches; base is the first batch's offset.
func (t *producerTable) record(batches []record.Header, base int64, now time.Time) {
	off := base
	for i := range batches {
		t.recordBatch(&batches[i], off, now)
		off += int64(batches[i].LastOffsetDelta) + 1
	}
}

// recordBatch remembers one batch written at base at time now, evicting
// the least recently written producer if a new one exceeds the cap.
func (t *producerTable) recordBatch(h *record.Header, base int64, now time.Time) {
	if h.ProducerID < 0 {
		return
	}
	if h.Control() {
		t.recordMarker(h.ProducerID, h.ProducerEpoch, now)
		return
	}
	var e *producerEntry
	if el, ok := t.entries[h.ProducerID]; ok {
		e = el.Value.(*producerEntry)
		t.lru.MoveToFront(el)
	} else {
		e = &producerEntry{id: h.ProducerID, epoch: h.ProducerEpoch}
		t.entries[h.ProducerID] = t.lru.PushFront(e)
		for len(t.entries) > t.max {
			t.remove(t.lru.Back())
		}
	}
	if h.ProducerEpoch != e.epoch {
		e.epoch, e.batches = h.ProducerEpoch, e.batches[:0]
	}
	e.lastWrite = now
	e.batches = append(e.batches, sentBatch{h.BaseSequence, h.LastSequence(), base})
	if len(e.batches) > producerBatchesKept {
		e.batches = e.batches[1:]
	}
}

// recordMarker notes a transaction marker of producer id with epoch: it
// carries no sequence numbers, but a newer epoch (the coordinator fenced
// or bumped the producer) replaces the old one, as in Kafka, so the
// producer's next batch must start at sequence 0. An unknown producer is
// not added: it has no batches to deduplicate.
func (t *producerTable) recordMarker(id int64, epoch int16, now time.Time) {
	el, ok := t.entries[id]
	if !ok {
		return
	}
	e := el.Value.(*producerEntry)
	t.lru.MoveToFront(el)
	e.lastWrite = now
	if epoch != e.epoch {
		e.epoch, e.batches = epoch, e.batches[:0]
	}
}

// truncate forgets batches at or after end (a follower truncated its log).
func (t *producerTable) truncate(end int64) {
	for _, el := range t.entries {
		e := el.Value.(*producerEntry)
		n := len(e.batches)
		for n > 0 && e.batches[n-1].baseOffset >= end {
			n--
		}
		if n == 0 {
			t.remove(el)
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
//
// The ongoing transactions are rebuilt from the same tail, in the same
// pass.
func (p *Partition) loadProducersLocked() {
	if !p.producersLoaded {
		now := p.opts.Now()
		txns := txnTable{}
		scanTail(p.log, func(h *record.Header, batch []byte) {
			p.producers.recordBatch(h, h.BaseOffset, now)
			txns.applyBatch(h, batch)
		})
		p.setTxnsLocked(txns)
		p.producersLoaded = true
		p.producersReady.Store(true)
	}
}

// rebuildTxnsLocked recomputes the ongoing transactions after a
// truncation to end, which may have removed markers (reopening their
// transactions) and transactions' first batches. What was ongoing and
// began below end still is: removing data ends nothing. Reopened ones are
// found by scanning the log's tail, so one whose first batch lies before
// the tail stays closed (the documented rebuild bound).
func (p *Partition) rebuildTxnsLocked(end int64) {
	txns := txnTable{}
	scanTail(p.log, func(h *record.Header, batch []byte) { txns.applyBatch(h, batch) })
	for id, o := range p.txns {
		if o.first >= end {
			continue
		}
		if r, ok := txns[id]; !ok || o.first < r.first {
			txns[id] = o
		}
	}
	p.setTxnsLocked(txns)
}

// scanTail calls fn for each whole batch in the tail of log (the last
// producerRebuildOffsets offsets, at most producerRebuildBytes). Errors
// end the scan early: what it rebuilds is a best-effort cache.
//
// A rebuilt producer counts as written now. Kafka takes the batch's max
// timestamp instead, but that is the producer's CreateTime: a producer
// writing old timestamps would be expired at once and its retries after a
// restart not recognised. An idle producer in the tail therefore lives
// one more expiration period; the cap and the tail's size bound that.
func scanTail(log *storage.Log, fn func(h *record.Header, batch []byte)) {
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
		_, err = record.Batches(r.Data, func(h record.Header, batch []byte) error {
			if h.LastOffset() >= off {
				fn(&h, batch)
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

// checkProducerIDs refuses batches whose producer id this cluster never
// allocated (Options.ProducerIDAllocated). Without it a client could
// write under any id, skipping InitProducerId: a made-up id could collide
// with (and corrupt the sequence state of) a real producer, and ids
// invented in bulk would churn the producer table.
//
// The answer is UNKNOWN_PRODUCER_ID. Kafka itself never validates the id
// on produce (its ProducerStateManager accepts an unknown producer from
// any sequence, and since KIP-360 brokers no longer return this code on
// produce at all), so this is a Spool refusal; the code is the one whose
// meaning fits, and clients react to it by fetching a new id
// (InitProducerId with their current id, KIP-360; franz-go fails the
// producer id and re-initialises), which is exactly the recovery an
// invented or foreign id needs. INVALID_PRODUCER_EPOCH is kept for what
// Kafka uses it for: an epoch older than the one the partition knows.
//
// It runs before the append lock because the check may wait for this
// broker's metadata image to learn of a block another broker reserved.
func (p *Partition) checkProducerIDs(batches []record.Header) error {
	if p.opts.ProducerIDAllocated == nil {
		return nil
	}
	checked := int64(-1)
	for i := range batches {
		id := batches[i].ProducerID
		if id < 0 || id == checked {
			continue
		}
		if !p.opts.ProducerIDAllocated(id) {
			return fmt.Errorf("%w: producer id %d was never allocated by this cluster (InitProducerId)", ErrUnknownProducerID, id)
		}
		checked = id
	}
	return nil
}

// ExpireProducers forgets the idempotent producers that have not appended
// for producer.id.expiration.ms and returns how many it dropped. The
// broker's maintenance loop calls it; lookups also expire lazily. A table
// not yet rebuilt from the log is left alone: it is empty.
func (p *Partition) ExpireProducers() int {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if !p.producersLoaded {
		return 0
	}
	return p.producers.expire(p.opts.Now())
}

// ProducerCount is how many idempotent producers the partition remembers.
func (p *Partition) ProducerCount() int {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	return p.producers.len()
}
