package partition

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"time"

	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/storage"
)

// Transactions, partition side (KIP-98). A transactional producer's first
// transactional batch on this partition starts an ongoing transaction at
// that batch's base offset; the marker the broker writes for the producer
// (WriteTxnMarker, driven by the transaction coordinator) ends it.
// While a transaction is ongoing, read_committed consumers may not read past
// its first offset: the last stable offset (LSO) is the smallest first
// offset of the ongoing transactions, or the high watermark if there are
// none. An abort marker also adds the transaction to the log's aborted
// index (storage.Log.AppendAbortedTxn), which read_committed fetches return
// so consumers can drop the aborted records.
//
// The ongoing transactions live in memory only. Followers maintain them from
// the batches they copy, so a new leader knows them; on open (lazily, with
// the producer table: see loadProducersLocked) and after a follower's
// truncation they are rebuilt from the log's tail, within the same bounds
// as the producer table (producerRebuildOffsets, producerRebuildBytes). A
// transaction whose first batch lies before that tail and whose marker
// follows it is forgotten by a restart: the LSO is then too high until its
// marker arrives (Kafka avoids this with producer-state snapshots).

// AbortedTxn is one aborted transaction of the partition (see
// storage.AbortedTxn).
type AbortedTxn = storage.AbortedTxn

// ErrInvalidTxnState means a transaction marker cannot be written: the
// replica no longer leads or the producer id is negative. Coordinators
// retry against the current leader.
var ErrInvalidTxnState = errors.New("transaction marker not writable here")

// ongoingTxn is a transaction of one producer that has data on the
// partition and no marker yet.
type ongoingTxn struct {
	first int64
	epoch int16
}

// txnTable is the ongoing transactions by producer id. Guarded by the
// partition's appendMu; Partition.firstUnstable mirrors its smallest
// first offset for lock-free readers.
type txnTable map[int64]ongoingTxn

// apply updates t for one batch at its base offset (h.BaseOffset) and
// returns the aborted transaction an abort marker ends, if any. marker is
// the batch's decoded marker when h is a control batch.
func (t txnTable) apply(h *record.Header, marker record.Marker) (storage.AbortedTxn, bool) {
	if !h.Transactional() || h.ProducerID < 0 {
		return storage.AbortedTxn{}, false
	}
	if !h.Control() {
		if _, ok := t[h.ProducerID]; !ok {
			t[h.ProducerID] = ongoingTxn{first: h.BaseOffset, epoch: h.ProducerEpoch}
		}
		return storage.AbortedTxn{}, false
	}
	o, ok := t[h.ProducerID]
	if !ok {
		return storage.AbortedTxn{}, false // a marker for no transaction ends nothing
	}
	delete(t, h.ProducerID)
	if marker.Commit {
		return storage.AbortedTxn{}, false
	}
	return storage.AbortedTxn{ProducerID: h.ProducerID, FirstOffset: o.first, LastOffset: h.BaseOffset}, true
}

// applyBatch is apply for a stored batch, decoding its marker. A control
// batch whose marker cannot be read ends nothing.
func (t txnTable) applyBatch(h *record.Header, batch []byte) (storage.AbortedTxn, bool) {
	var m record.Marker
	if h.Control() {
		var err error
		if m, err = record.ParseMarker(batch, h); err != nil {
			return storage.AbortedTxn{}, false
		}
	}
	return t.apply(h, m)
}

// firstOffset is the smallest first offset of an ongoing transaction, or
// math.MaxInt64 if none.
func (t txnTable) firstOffset() int64 {
	first := int64(math.MaxInt64)
	for _, o := range t {
		first = min(first, o.first)
	}
	return first
}

// setTxnsLocked installs t as the ongoing transactions. Callers hold
// appendMu.
func (p *Partition) setTxnsLocked(t txnTable) {
	p.txns = t
	p.firstUnstable.Store(t.firstOffset())
}

// applyTxnBatches stages the transaction effects of batches (offsets
// assigned) on a copy of the ongoing transactions: it returns the new
// table and the aborted transactions to record before the batches are
// appended. A control batch whose marker cannot be read ends nothing.
func (p *Partition) applyTxnBatches(headers []record.Header, batch func(i int) []byte) (txnTable, []storage.AbortedTxn) {
	t := maps.Clone(p.txns)
	if t == nil {
		t = txnTable{}
	}
	var aborted []storage.AbortedTxn
	for i := range headers {
		h := &headers[i]
		if !h.Transactional() {
			continue
		}
		if a, ok := t.applyBatch(h, batch(i)); ok {
			// Kafka's entry keeps the LSO once this transaction is
			// complete: the next ongoing transaction, or past the marker.
			a.LastStableOffset = min(t.firstOffset(), h.BaseOffset+1)
			aborted = append(aborted, a)
		}
	}
	return t, aborted
}

// LastStableOffset is where read_committed consumers stop: the first
// offset of the oldest ongoing transaction, or the high watermark if none
// (never above the high watermark).
func (p *Partition) LastStableOffset() int64 {
	if !p.producersReady.Load() {
		p.appendMu.Lock()
		p.loadProducersLocked()
		p.appendMu.Unlock()
	}
	return min(p.firstUnstable.Load(), p.hwm.Load())
}

// AbortedTransactions returns the aborted transactions overlapping
// [from, to], oldest first.
func (p *Partition) AbortedTransactions(from, to int64) []AbortedTxn {
	return p.log.AbortedTxns(from, to)
}

// OngoingTransactions is how many producers have a transaction open on
// the partition.
func (p *Partition) OngoingTransactions() int {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.loadProducersLocked()
	return len(p.txns)
}

// ProduceTransactional is Produce for the transaction coordinator's path:
// it also accepts transactional batches (producer id required), which
// start or continue the producer's ongoing transaction. The produce
// handler calls it only for partitions the transaction coordinator
// (internal/txn) has in the producer's ongoing transaction; Produce, the
// unverified path, refuses them (ErrTransactionsUnsupported), since a
// transaction no coordinator knows would hold the last stable offset back
// forever.
func (p *Partition) ProduceTransactional(data []byte, acks int16, timeout time.Duration) (ProduceResult, error) {
	return p.produce(data, acks, timeout, true)
}

// WriteTxnMarker appends the marker that ends producerID's transaction:
// a control batch in Kafka's format (record.BuildMarker) written under the
// append lock and durable as any append (fsync mode waits for the flush;
// the high watermark is not awaited). An epoch older than the producer's
// current one is fenced (ErrInvalidProducerEpoch). A marker for a producer
// with no ongoing transaction is still written, as Kafka does, and ends
// nothing. An abort marker records the transaction in the aborted index
// before the marker is appended.
func (p *Partition) WriteTxnMarker(producerID int64, epoch int16, commit bool, coordinatorEpoch int32) (int64, error) {
	if producerID < 0 {
		return -1, fmt.Errorf("%w: producer id %d", ErrInvalidTxnState, producerID)
	}
	p.appendMu.Lock()
	p.mu.Lock()
	leading, leaderEpoch := p.rs.role == roleLeader, p.rs.meta.LeaderEpoch
	p.mu.Unlock()
	switch {
	case !leading:
		p.appendMu.Unlock()
		return -1, ErrNotLeader
	case p.sessionLost():
		p.appendMu.Unlock()
		return -1, errSessionLost
	}
	p.loadProducersLocked()
	now := p.opts.Now()
	current := int16(-1)
	if e := p.producers.get(producerID, now); e != nil {
		current = e.epoch
	}
	if o, ok := p.txns[producerID]; ok {
		current = max(current, o.epoch)
	}
	if epoch < current {
		p.appendMu.Unlock()
		return -1, fmt.Errorf("%w: marker for producer %d with epoch %d, current %d", ErrInvalidProducerEpoch, producerID, epoch, current)
	}
	batch := record.BuildMarker(producerID, epoch, commit, coordinatorEpoch, now.UnixMilli())
	h, err := record.Validate(batch)
	if err != nil {
		p.appendMu.Unlock()
		return -1, err
	}
	h.BaseOffset = p.log.LogEndOffset()
	txns, aborted := p.applyTxnBatches([]record.Header{h}, func(int) []byte { return batch })
	if err := p.recordAbortedLocked(aborted); err != nil {
		p.appendMu.Unlock()
		return -1, err
	}
	ar, err := p.log.Append(batch, storage.AppendOptions{AssignOffsets: true, LeaderEpoch: leaderEpoch})
	if err != nil {
		p.dropAbortedLocked(aborted, h.BaseOffset)
		p.appendMu.Unlock()
		return -1, err
	}
	p.setTxnsLocked(txns)
	p.producers.recordMarker(producerID, epoch, now)
	p.appendMu.Unlock()
	p.notify(true)
	return ar.BaseOffset, p.complete(ar.LastOffset, 1, leaderEpoch, 0)
}

// recordAbortedLocked writes aborted transactions to the log's index.
// Callers hold appendMu and append the markers afterwards.
func (p *Partition) recordAbortedLocked(aborted []storage.AbortedTxn) error {
	for _, a := range aborted {
		if err := p.log.AppendAbortedTxn(a); err != nil {
			p.dropAbortedLocked(aborted, aborted[0].LastOffset)
			return fmt.Errorf("recording aborted transaction of producer %d: %w", a.ProducerID, err)
		}
	}
	return nil
}

// beginTxnsLocked starts the ongoing transactions of appended data
// batches; base is the first batch's offset. Callers hold appendMu.
func (p *Partition) beginTxnsLocked(batches []record.Header, base int64) {
	changed := false
	for i := range batches {
		h := batches[i]
		h.BaseOffset = base
		base += int64(h.LastOffsetDelta) + 1
		if !h.Transactional() || h.Control() {
			continue
		}
		if _, ok := p.txns[h.ProducerID]; ok {
			continue
		}
		if p.txns == nil {
			p.txns = txnTable{}
		}
		p.txns.apply(&h, record.Marker{})
		changed = true
	}
	if changed {
		p.setTxnsLocked(p.txns)
	}
}

// dropAbortedLocked takes back the aborted-index entries recorded for
// markers from offset that could not be appended. If even that fails the
// entries stay until the next open trims them (if the log end has not
// passed them by then); the failure is logged.
func (p *Partition) dropAbortedLocked(aborted []storage.AbortedTxn, offset int64) {
	if len(aborted) == 0 {
		return
	}
	if err := p.log.DropAbortedTxnsFrom(offset); err != nil {
		p.opts.Logger.Error("taking back aborted-transaction entries of a failed append", "topic", p.tp.Topic,
			"partition", p.tp.Partition, "offset", offset, "err", err)
	}
}
