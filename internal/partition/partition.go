// Package partition holds the state of one partition replica on this broker:
// its log, role (leader, follower), leader epoch, high watermark,
// idempotent-producer state and the fetchers waiting for new data.
//
// Produce validates batches, appends them under the partition lock and then
// waits for durability outside it, so concurrent producers share fsyncs
// (group commit). The high watermark is what consumers may read: on the
// leader, the minimum of its own durable log end and the fetch offsets of
// the other in-sync replicas (followers report their durable log end with
// each fetch). With a single replica that is the durable end of the log:
// data becomes visible once it can no longer be lost, never before.
//
// Files: replica.go (metadata, roles), leader.go (produce, acks, high
// watermark, replica reads), isr.go (ISR shrink and expansion proposals),
// follower.go (copying from the leader, truncation), producers.go
// (idempotent producers).
package partition

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/storage"
)

// Durability says when an acknowledged write is safe.
type Durability int

const (
	// Fsync acknowledges only after the data is fsynced (group commit).
	Fsync Durability = iota
	// PeriodicFlush acknowledges after the write reaches the OS; a
	// background loop fsyncs periodically. A power cut can lose the
	// last interval's acknowledged data.
	PeriodicFlush
)

var (
	// ErrMessageTooLarge means a batch exceeds max.message.bytes.
	ErrMessageTooLarge = errors.New("record batch larger than max.message.bytes")
	// ErrCorruptBatch means a batch failed its CRC or structure checks.
	ErrCorruptBatch = errors.New("corrupt record batch")
	// ErrInvalidRecord means a batch or a record in it is malformed or not
	// acceptable (no records, broken record framing, a null key on a
	// compacted topic). Clients do not retry it (INVALID_RECORD).
	ErrInvalidRecord = errors.New("invalid record batch")
	// ErrDecompressedTooLarge means a compressed batch's records expand
	// past the broker's message.max.decompressed.bytes; decoding stopped
	// there (MESSAGE_TOO_LARGE).
	ErrDecompressedTooLarge = errors.New("record batch decompresses past the broker's limit")
	// ErrInvalidTimestamp means a CreateTime record's timestamp is outside
	// [now - message.timestamp.before.max.ms, now +
	// message.timestamp.after.max.ms] (INVALID_TIMESTAMP).
	ErrInvalidTimestamp = errors.New("record timestamp out of the topic's range")
	// ErrUnsupportedMagic means the batch is an old message format.
	ErrUnsupportedMagic = errors.New("unsupported message format")
	// ErrOutOfOrderSequence means an idempotent producer skipped sequences.
	ErrOutOfOrderSequence = errors.New("out of order sequence number")
	// ErrInvalidProducerEpoch means an idempotent producer was fenced by a
	// newer epoch of the same producer id.
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")
	// ErrUnknownProducerID means a batch carries a producer id this
	// cluster never handed out (see Options.ProducerIDAllocated).
	ErrUnknownProducerID = errors.New("unknown producer id")
	// ErrTransactionsUnsupported means a transactional batch arrived
	// through Produce, the client path: until a transaction coordinator
	// exists only ProduceTransactional accepts them.
	ErrTransactionsUnsupported = errors.New("transactional batches are not supported yet")
)

// Options are shared by all partitions of a broker.
type Options struct {
	Durability Durability
	Now        func() time.Time
	// FlushObserver, if set, is told how long each durable wait took.
	FlushObserver func(time.Duration)
	// Decoder walks the records of every produced batch; its limit is
	// the broker's message.max.decompressed.bytes. Nil means New makes
	// one with the default limit.
	Decoder *record.Decoder

	// NodeID is this broker's id: ApplyMetadata compares it with the
	// partition's leader and replicas to choose the replica's role.
	NodeID int32
	// ISR receives the leader's proposed ISR changes (the broker adapts
	// the controller's AlterPartition). Nil means the ISR never changes
	// from here (a single node).
	ISR ISRUpdater
	// ReplicaLagTime is replica.lag.time.max.ms: a follower that has not
	// caught up with the log end for this long leaves the ISR. Zero
	// means DefaultReplicaLagTime.
	ReplicaLagTime time.Duration
	// Logger reports ISR changes; nil discards.
	Logger *slog.Logger
	// SessionLost reports that this broker has had no heartbeat
	// acknowledged by the controller for a session timeout, so it has
	// probably been fenced and replaced as leader. A replicated partition
	// then refuses writes (NOT_LEADER_OR_FOLLOWER) instead of letting
	// clients wait out their timeouts on a leader cut off from the
	// cluster. Nil means never.
	SessionLost func() bool

	// ProducerIDExpiration is producer.id.expiration.ms: an idempotent
	// producer with no append for this long is forgotten. Zero means
	// DefaultProducerIDExpiration.
	ProducerIDExpiration time.Duration
	// MaxProducers is producer.state.max.entries, the most producers a
	// partition remembers; more evict the least recently written. Zero
	// means DefaultMaxProducers.
	MaxProducers int
	// ProducerIDAllocated reports whether the cluster has handed out a
	// producer id (InitProducerId). The leader refuses batches with any
	// other non-negative id (ErrUnknownProducerID); it is called outside
	// the partition's locks and may wait briefly for the metadata to
	// catch up. Followers never ask: they copy what the leader accepted.
	// Nil accepts every id.
	ProducerIDAllocated func(id int64) bool
}

// DefaultReplicaLagTime is Kafka's replica.lag.time.max.ms default.
const DefaultReplicaLagTime = 30 * time.Second

// Partition is one partition replica. It is safe for concurrent use.
type Partition struct {
	tp      storage.TopicPartition
	topicID [16]byte
	log     *storage.Log
	opts    Options

	cfg         atomic.Pointer[config.TopicConfig]
	leaderEpoch atomic.Int32
	hwm         atomic.Int64

	// appendMu serializes validation-then-append so producer state and
	// offsets agree.
	appendMu  sync.Mutex
	producers *producerTable
	// producersLoaded says producers and txns hold the log's tail; see
	// loadProducersLocked. Guarded by appendMu; producersReady mirrors it
	// for lock-free readers.
	producersLoaded bool
	producersReady  atomic.Bool
	// txns are the ongoing transactions (txn.go), guarded by appendMu;
	// firstUnstable is their smallest first offset (math.MaxInt64: none).
	txns          txnTable
	firstUnstable atomic.Int64

	// mu guards rs, the replica's role and replication state. Lock
	// order: appendMu, then mu, then waitMu.
	mu sync.Mutex
	rs replicaState
	// leading mirrors rs.role == roleLeader for lock-free checks.
	leading atomic.Bool

	waitMu sync.Mutex
	// waiters are signalled when the high watermark advances or the role
	// changes; a true value also asks for a signal on every append (the
	// long polls of replica fetches).
	waiters map[chan<- struct{}]bool
}

// New wraps an open log. The high watermark starts at the log end: whatever
// survived recovery is durable.
func New(log *storage.Log, topicID [16]byte, cfg config.TopicConfig, leaderEpoch int32, opts Options) *Partition {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Decoder == nil {
		opts.Decoder = record.NewDecoder()
	}
	if opts.ReplicaLagTime <= 0 {
		opts.ReplicaLagTime = DefaultReplicaLagTime
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Partition{tp: log.TopicPartition(), topicID: topicID, log: log, opts: opts,
		producers: newProducerTable(opts.ProducerIDExpiration, opts.MaxProducers), waiters: make(map[chan<- struct{}]bool)}
	p.cfg.Store(&cfg)
	p.firstUnstable.Store(math.MaxInt64)
	p.leaderEpoch.Store(leaderEpoch)
	p.hwm.Store(log.LogEndOffset())
	// Until the first ApplyMetadata the replica is the sole leader, which
	// is exactly the single-node behaviour.
	p.rs = replicaState{role: roleLeader, epochStart: log.LogEndOffset(), meta: Metadata{
		Leader: opts.NodeID, LeaderEpoch: leaderEpoch, PartitionEpoch: -1,
		Replicas: []int32{opts.NodeID}, ISR: []int32{opts.NodeID}}}
	p.leading.Store(true)
	return p
}

// TopicPartition names the partition.
func (p *Partition) TopicPartition() storage.TopicPartition { return p.tp }

// TopicID is the id of the topic this replica belongs to.
func (p *Partition) TopicID() [16]byte { return p.topicID }

// Log is the underlying log, for administrative reads.
func (p *Partition) Log() *storage.Log { return p.log }

// Config is the partition's effective topic configuration.
func (p *Partition) Config() config.TopicConfig { return *p.cfg.Load() }

// SetConfig applies a topic config change.
func (p *Partition) SetConfig(cfg config.TopicConfig) {
	p.cfg.Store(&cfg)
	p.log.SetConfig(LogConfig(cfg))
}

// LeaderEpoch is the current leader epoch.
func (p *Partition) LeaderEpoch() int32 { return p.leaderEpoch.Load() }

// SetLeaderEpoch records a new leader epoch, keeping the rest of the last
// applied metadata. It predates ApplyMetadata, which supersedes it.
func (p *Partition) SetLeaderEpoch(e int32) {
	p.mu.Lock()
	m := p.rs.meta.clone()
	p.mu.Unlock()
	m.LeaderEpoch = e
	p.ApplyMetadata(m)
}

// HighWatermark is the end of what consumers may read.
func (p *Partition) HighWatermark() int64 { return p.hwm.Load() }

// LogStartOffset is the first offset still in the log.
func (p *Partition) LogStartOffset() int64 { return p.log.LogStartOffset() }

// LogEndOffset is the offset the next record will get.
func (p *Partition) LogEndOffset() int64 { return p.log.LogEndOffset() }

// LogConfig maps a topic config onto the storage settings it controls.
func LogConfig(c config.TopicConfig) storage.LogConfig {
	return storage.LogConfig{
		SegmentBytes:       c.SegmentBytes,
		SegmentMs:          c.SegmentMs,
		RetentionMs:        c.RetentionMs,
		RetentionBytes:     c.RetentionBytes,
		IndexIntervalBytes: c.IndexIntervalBytes,
		SegmentIndexBytes:  c.SegmentIndexBytes,
		FileDeleteDelayMs:  c.FileDeleteDelayMs,

		CleanupDelete:          c.CleanupDelete,
		CleanupCompact:         c.CleanupCompact,
		DeleteRetentionMs:      c.DeleteRetentionMs,
		MinCompactionLagMs:     c.MinCompactionLagMs,
		MaxCompactionLagMs:     c.MaxCompactionLagMs,
		MinCleanableDirtyRatio: c.MinCleanableDirtyRatio,
	}
}

// ProduceResult is where a produce landed.
type ProduceResult struct {
	BaseOffset     int64
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
}

func (p *Partition) advanceHighWatermark(to int64) {
	for {
		cur := p.hwm.Load()
		if to <= cur {
			return
		}
		if p.hwm.CompareAndSwap(cur, to) {
			break
		}
	}
	p.publishHighWatermark()
	p.notify(false)
}

// publishHighWatermark hands the current high watermark to the log for
// the storage's high watermark checkpoint. It reads the value instead of
// taking it, so racing callers leave the latest one behind.
func (p *Partition) publishHighWatermark() { p.log.SetHighWatermark(p.hwm.Load()) }

// ReadResult is what a fetch gets from one partition.
type ReadResult struct {
	Data           []byte
	HighWatermark  int64
	LogStartOffset int64
	// LastStableOffset is the partition's LSO when the read started (set
	// by consumer reads, Read and ReadInto and their read_committed forms).
	LastStableOffset int64
}

// Read returns whole batches from offset up to the high watermark.
func (p *Partition) Read(offset int64, maxBytes int, minOne bool) (ReadResult, error) {
	return p.ReadInto(nil, offset, maxBytes, minOne)
}

// ReadInto is Read reusing scratch for the data when it is large enough.
func (p *Partition) ReadInto(scratch []byte, offset int64, maxBytes int, minOne bool) (ReadResult, error) {
	return p.readUpTo(scratch, offset, maxBytes, minOne, false)
}

// ReadCommittedInto is ReadInto for a read_committed consumer: it stops at
// the last stable offset instead of the high watermark. The records of
// aborted transactions below it are returned too; the consumer drops them
// using AbortedTransactions.
func (p *Partition) ReadCommittedInto(scratch []byte, offset int64, maxBytes int, minOne bool) (ReadResult, error) {
	return p.readUpTo(scratch, offset, maxBytes, minOne, true)
}

func (p *Partition) readUpTo(scratch []byte, offset int64, maxBytes int, minOne, committed bool) (ReadResult, error) {
	lso := p.LastStableOffset()
	hwm := p.hwm.Load()
	lso = min(lso, hwm)
	res := ReadResult{HighWatermark: hwm, LogStartOffset: p.log.LogStartOffset(), LastStableOffset: lso}
	limit := hwm
	if committed {
		limit = lso
	}
	if offset >= limit {
		if offset > p.log.LogEndOffset() || offset < res.LogStartOffset {
			return res, storage.ErrOffsetOutOfRange
		}
		return res, nil
	}
	r, err := p.log.ReadInto(scratch, offset, limit, maxBytes, minOne)
	if err != nil {
		return res, err
	}
	res.Data = r.Data
	return res, nil
}

// DeleteRecordsBefore moves the log start offset (DeleteRecords API). The
// offset may not pass the high watermark; -1 means the high watermark.
func (p *Partition) DeleteRecordsBefore(offset int64) (int64, error) {
	hwm := p.hwm.Load()
	if offset == -1 {
		offset = hwm
	}
	if offset < 0 || offset > hwm {
		return 0, storage.ErrOffsetOutOfRange
	}
	if err := p.log.DeleteRecordsBefore(offset); err != nil {
		return 0, err
	}
	return p.log.LogStartOffset(), nil
}

// AddWaiter registers ch to receive a non-blocking signal whenever the
// high watermark advances or the replica's role or leader epoch changes;
// call the returned function to unregister.
func (p *Partition) AddWaiter(ch chan<- struct{}) (remove func()) {
	return p.addWaiter(ch, false)
}

// AddAppendWaiter is AddWaiter that also signals on every append to the
// leader's log: replica fetches wait for new data above the high watermark.
func (p *Partition) AddAppendWaiter(ch chan<- struct{}) (remove func()) {
	return p.addWaiter(ch, true)
}

func (p *Partition) addWaiter(ch chan<- struct{}, appends bool) (remove func()) {
	p.waitMu.Lock()
	p.waiters[ch] = appends
	p.waitMu.Unlock()
	return func() {
		p.waitMu.Lock()
		delete(p.waiters, ch)
		p.waitMu.Unlock()
	}
}

// notify signals the waiters: all of them, or with appendOnly just those
// that asked for appends.
// Wake wakes every waiter so it re-checks its condition (the broker calls
// it when the controller session is lost).
func (p *Partition) Wake() { p.notify(false) }

func (p *Partition) notify(appendOnly bool) {
	p.waitMu.Lock()
	for ch, appends := range p.waiters {
		if appendOnly && !appends {
			continue
		}
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	p.waitMu.Unlock()
}

// validate checks every batch of a produce, records included, and returns
// their headers. It stamps LogAppendTime when appendTime >= 0, after the
// checks (which see the producer's timestamps). Transactional batches are
// refused unless allowTxn (see ProduceTransactional); control batches
// always are.
func validate(dec *record.Decoder, data []byte, maxMessageBytes int32, appendTime int64, rules record.Rules, allowTxn bool) ([]record.Header, error) {
	var headers []record.Header
	for off := 0; off < len(data); {
		h, err := record.ValidateProduced(data[off:])
		switch {
		case errors.Is(err, record.ErrUnsupportedMagic):
			return nil, fmt.Errorf("%w: %w", ErrUnsupportedMagic, err)
		case errors.Is(err, record.ErrCorrupt), errors.Is(err, record.ErrTruncated):
			return nil, fmt.Errorf("%w: %w", ErrCorruptBatch, err)
		case err != nil:
			return nil, fmt.Errorf("%w: %w", ErrInvalidRecord, err)
		}
		if h.Size() > int(maxMessageBytes) {
			return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, h.Size(), maxMessageBytes)
		}
		switch {
		case h.Control():
			// Only markers the broker writes itself are control batches.
			return nil, fmt.Errorf("%w: control batches are written by the broker only", ErrInvalidRecord)
		case h.Transactional() && !allowTxn:
			return nil, ErrTransactionsUnsupported
		case h.Transactional() && h.ProducerID < 0:
			return nil, fmt.Errorf("%w: transactional batch without a producer id", ErrInvalidRecord)
		}
		batch := data[off : off+h.Size()]
		if err := dec.CheckRecords(batch, h, rules); err != nil {
			return nil, recordsError(len(headers), dec.Limit(), err)
		}
		if appendTime >= 0 {
			record.SetLogAppendTime(batch, appendTime)
		}
		headers = append(headers, h)
		off += h.Size()
	}
	return headers, nil
}

// recordsError maps a failed record walk of batch i onto the produce
// errors Kafka clients know.
func recordsError(i int, limit int64, err error) error {
	switch {
	case errors.Is(err, record.ErrTooLarge):
		return fmt.Errorf("%w (message.max.decompressed.bytes=%d): batch %d: %w", ErrDecompressedTooLarge, limit, i, err)
	case errors.Is(err, record.ErrInvalidTimestamp):
		return fmt.Errorf("%w: batch %d: %w", ErrInvalidTimestamp, i, err)
	}
	return fmt.Errorf("%w: batch %d: %w", ErrInvalidRecord, i, err)
}

// produceRules are the record rules of a produce to a topic with cfg at
// time now (ms).
func produceRules(cfg *config.TopicConfig, now int64) record.Rules {
	r := record.Rules{RequireKeys: cfg.CleanupCompact, CheckTimestamps: !cfg.LogAppendTime}
	if r.CheckTimestamps {
		r.MinTimestamp, r.MaxTimestamp = record.TimestampWindow(now, cfg.TimestampBeforeMaxMs, cfg.TimestampAfterMaxMs)
	}
	return r
}
