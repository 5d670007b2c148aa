package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/record"
)

// ErrNoProgress is a fetch loop's error when a partition's response holds
// bytes but not one complete batch, which a broker following KIP-74 (the
// first batch is returned whole whatever the size limits) never sends.
var ErrNoProgress = errors.New("fetch response holds no complete batch")

// rawPartition is one partition's read position. end is the offset to stop
// at, or -1 to read on until the run stops.
type rawPartition struct {
	id     int32
	offset int64
	end    int64
	failed bool
}

func (p *rawPartition) active() bool { return !p.failed && (p.end < 0 || p.offset < p.end) }

// rawFetcher is one fetch loop: one client's partitions led by one broker,
// fetched with one request at a time over the client's fetch connection to
// that broker, as a Kafka consumer does.
type rawFetcher struct {
	leader  int32
	addr    string // the leader's host:port
	topic   string
	topicID [16]byte // v13+ fetches name topics by id
	opts    RawConsumeOptions
	parts   []*rawPartition
}

// rawTally is what one response added.
type rawTally struct{ records, bytes, batches int64 }

// run fetches until ctx is done, every partition reached its end or failed,
// or the broker connection failed. after is called once each response has
// been counted.
func (f *rawFetcher) run(ctx context.Context, ctr *rawCounters, after func()) {
	byID := make(map[int32]*rawPartition, len(f.parts))
	active := make([]*rawPartition, 0, len(f.parts))
	for _, p := range f.parts {
		byID[p.id] = p
		if p.active() {
			active = append(active, p)
		}
	}
	if len(active) == 0 {
		return
	}
	conn, err := dialRaw(ctx, f.addr, f.opts.Timeout, f.opts.TLS)
	if err != nil {
		if ctx.Err() == nil {
			ctr.fail(fmt.Errorf("connecting to broker %d: %w", f.leader, err))
		}
		return
	}
	defer conn.close()
	for len(active) > 0 {
		fr, err := conn.fetch(f.request(active))
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			ctr.fail(fmt.Errorf("fetching from broker %d: %w", f.leader, err))
			return
		}
		ctr.fetches.Add(1)
		if err := kerr.ErrorForCode(fr.ErrorCode); err != nil {
			ctr.fail(fmt.Errorf("fetching from broker %d: %w", f.leader, err))
			return
		}
		var got rawTally
		retry := false
		for _, t := range fr.Topics {
			for _, rp := range t.Partitions {
				p := byID[rp.Partition]
				if p == nil || !p.active() {
					continue
				}
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					if kerr.IsRetriable(err) {
						retry = true
						continue
					}
					p.failed = true
					ctr.fail(fmt.Errorf("fetching %s[%d] at %d: %w", f.topic, p.id, p.offset, err))
					continue
				}
				if err := p.consume(rp.RecordBatches, &got); err != nil {
					p.failed = true
					ctr.fail(fmt.Errorf("reading %s[%d]: %w", f.topic, p.id, err))
				}
			}
		}
		ctr.records.Add(got.records)
		ctr.bytes.Add(got.bytes)
		ctr.batches.Add(got.batches)
		after()
		active = active[:0]
		for _, p := range f.parts {
			if p.active() {
				active = append(active, p)
			}
		}
		if retry {
			select {
			case <-ctx.Done():
				return
			case <-time.After(rawRetryBackoff):
			}
		}
	}
}

// request builds a full (session-less) fetch of the active partitions. The
// topic carries both its name and its id; the encoding writes the one the
// negotiated version uses.
func (f *rawFetcher) request(active []*rawPartition) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = int32(f.opts.MaxWait.Milliseconds())
	req.MinBytes = 1
	req.MaxBytes = f.opts.FetchMaxBytes
	req.SessionID = 0
	req.SessionEpoch = -1
	t := kmsg.NewFetchRequestTopic()
	t.Topic = f.topic
	t.TopicID = f.topicID
	t.Partitions = make([]kmsg.FetchRequestTopicPartition, 0, len(active))
	for _, p := range active {
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition = p.id
		fp.FetchOffset = p.offset
		fp.PartitionMaxBytes = f.opts.PartitionMaxBytes
		fp.CurrentLeaderEpoch = -1
		fp.LogStartOffset = -1
		t.Partitions = append(t.Partitions, fp)
	}
	req.Topics = append(req.Topics, t)
	return req
}

// consume counts the complete batches in b and moves the partition past
// them. Only headers are parsed: neither CRCs nor records are looked at. A
// trailing partial batch (cut off by the size limits) is left for the next
// fetch, and batches at or past the partition's end are not counted.
func (p *rawPartition) consume(b []byte, got *rawTally) error {
	n := 0
	for n < len(b) {
		h, err := record.ParseHeader(b[n:])
		if errors.Is(err, record.ErrTruncated) {
			break
		}
		if err != nil {
			return fmt.Errorf("batch at byte %d of the response for offset %d: %w", n, p.offset, err)
		}
		size := h.Size()
		if n+size > len(b) {
			break
		}
		if p.end >= 0 && h.BaseOffset >= p.end {
			p.offset = p.end
			return nil
		}
		got.batches++
		got.bytes += int64(size)
		if !h.Control() {
			got.records += int64(h.NumRecords)
		}
		p.offset = max(p.offset, h.NextOffset())
		n += size
	}
	if n == 0 && len(b) > 0 {
		return fmt.Errorf("%w (%d bytes at offset %d)", ErrNoProgress, len(b), p.offset)
	}
	return nil
}
