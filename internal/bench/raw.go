package bench

// The raw consumer measures what a broker can serve, not what a client can
// decode. A franz-go consumer of 1 KiB records spends most of its CPU
// decoding records into kgo.Record values; on a small machine that shares
// cores with the broker, it runs out of CPU long before the broker does.
// RunRawConsume sends Fetch requests itself, walks the returned record
// batches by their 61-byte headers only (record.ParseHeader), and advances
// each partition to the next batch's offset, so its own cost per byte is
// close to that of reading the socket.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrNoLeader is returned by RunRawConsume when the metadata names no
// leader for a partition it is to read.
var ErrNoLeader = errors.New("partition has no leader")

// Defaults of the raw consumer's fetch settings, the Java consumer's.
const (
	// DefaultFetchMaxBytes is fetch.max.bytes: the most a response holds.
	DefaultFetchMaxBytes = 50 << 20
	// DefaultPartitionMaxBytes is max.partition.fetch.bytes.
	DefaultPartitionMaxBytes = 1 << 20
	// DefaultFetchMaxWait is fetch.max.wait.ms: how long the broker may
	// hold a request while it has less than one byte to return.
	DefaultFetchMaxWait = 500 * time.Millisecond
	// rawRetryBackoff is the pause after a retriable partition error (a
	// leader moving, a partition still loading) before fetching again.
	rawRetryBackoff = 100 * time.Millisecond
)

// RawConsumeOptions configure RunRawConsume. The embedded ConsumeOptions
// mean what they mean for RunConsume, except that Group is not supported:
// partitions are always divided among the Consumers directly.
type RawConsumeOptions struct {
	ConsumeOptions
	// FetchMaxBytes caps one fetch response (0: DefaultFetchMaxBytes).
	FetchMaxBytes int32 `json:"fetch_max_bytes"`
	// PartitionMaxBytes caps each partition's part of a response (0:
	// DefaultPartitionMaxBytes). As in Kafka, a first batch larger than
	// this is still returned whole, so progress never stalls.
	PartitionMaxBytes int32 `json:"partition_max_bytes"`
	// MaxWait is the fetch long-poll time (0: DefaultFetchMaxWait).
	MaxWait time.Duration `json:"max_wait_ns"`
}

// Validate checks all raw consume options.
func (o RawConsumeOptions) Validate() error {
	if err := o.ConsumeOptions.Validate(); err != nil {
		return err
	}
	switch {
	case o.Group != "":
		return invalid("the raw consumer assigns partitions directly and does not join group %q", o.Group)
	case o.FetchMaxBytes < 0:
		return invalid("fetch max bytes %d: must not be negative", o.FetchMaxBytes)
	case o.PartitionMaxBytes < 0:
		return invalid("partition max bytes %d: must not be negative", o.PartitionMaxBytes)
	case o.MaxWait < 0:
		return invalid("max wait %s: must not be negative", o.MaxWait)
	}
	return nil
}

func (o RawConsumeOptions) withDefaults() RawConsumeOptions {
	o.Common = o.Common.withDefaults()
	if o.FetchMaxBytes == 0 {
		o.FetchMaxBytes = DefaultFetchMaxBytes
	}
	if o.PartitionMaxBytes == 0 {
		o.PartitionMaxBytes = DefaultPartitionMaxBytes
	}
	if o.MaxWait == 0 {
		o.MaxWait = DefaultFetchMaxWait
	}
	return o
}

// RawResult is the outcome of RunRawConsume. In its Consume side, Bytes
// counts whole record batches as the broker sent them (headers and record
// framing included, compressed if the producer compressed), not keys plus
// values, and Records is the sum of the batches' record counts (control
// batches excluded). Batches and Fetches say how the bytes arrived.
type RawResult struct {
	Result
	Batches     int64 // record batches received, control batches included
	Fetches     int64 // fetch responses received
	Connections int   // fetch loops: one per consumer and partition leader
}

// MarshalJSON writes the Result's object with the raw counters added.
func (r RawResult) MarshalJSON() ([]byte, error) {
	base, err := json.Marshal(r.Result)
	if err != nil {
		return nil, err
	}
	extra, err := json.Marshal(struct {
		Batches     int64 `json:"batches"`
		Fetches     int64 `json:"fetches"`
		Connections int   `json:"connections"`
	}{r.Batches, r.Fetches, r.Connections})
	if err != nil {
		return nil, err
	}
	// Both are non-empty JSON objects: splice the second's fields into the
	// first, keeping the Result's field order.
	out := append(base[:len(base)-1:len(base)-1], ',')
	return append(out, extra[1:]...), nil
}

// WriteText writes the Result's summary and a line about the batches.
func (r *RawResult) WriteText(w io.Writer) error {
	if err := r.Result.WriteText(w); err != nil {
		return err
	}
	avg := 0.0
	if r.Batches > 0 && r.Consume != nil {
		avg = float64(r.Consume.Bytes) / float64(r.Batches)
	}
	_, err := fmt.Fprintf(w, "  raw       %d batches (%.0f bytes on average) in %d fetches over %d connections; bytes are whole record batches\n",
		r.Batches, avg, r.Fetches, r.Connections)
	return err
}

// rawCounters are the run's totals, shared by the fetch loops. Each loop
// adds once per response, so atomics are cheap enough.
type rawCounters struct {
	records, bytes, batches, fetches, errors atomic.Int64

	mu       sync.Mutex
	firstErr error
}

func (c *rawCounters) fail(err error) {
	c.errors.Add(1)
	c.mu.Lock()
	if c.firstErr == nil {
		c.firstErr = err
	}
	c.mu.Unlock()
}

func (c *rawCounters) counts() counts {
	return counts{records: c.records.Load(), bytes: c.bytes.Load(), errors: c.errors.Load()}
}

// RunRawConsume reads o.Topic with hand-built Fetch requests and reports
// what the broker served; see RawResult for what is counted. Its stop
// conditions are RunConsume's: o.Records, o.Duration, or, with neither and
// not tailing, the end offsets found when the run began (batches at or
// past them are not counted, so the run reads exactly what was there).
// Cancelling ctx stops it and returns the partial result with Interrupted
// set.
func RunRawConsume(ctx context.Context, o RawConsumeOptions) (*RawResult, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	plan, err := planRaw(ctx, o)
	if err != nil {
		return nil, err
	}
	defer plan.close()

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	finished := make(chan struct{})
	var finish sync.Once
	done := func() { finish.Do(func() { close(finished) }) }
	var ctr rawCounters

	start := time.Now()
	ticks, stopTicks := newTicker(o.ProgressInterval)
	defer stopTicks()
	var last counts
	prog := startProgress(o.Progress, ticks, start, func(elapsed, interval time.Duration) string {
		c := ctr.counts()
		s := progressSide{label: "consumed", total: c, delta: c.sub(last)}
		last = c
		return formatProgress(elapsed, interval, s)
	})
	var wg sync.WaitGroup
	for _, f := range plan.fetchers {
		wg.Go(func() {
			f.run(runCtx, &ctr, func() {
				if o.Records > 0 && ctr.records.Load() >= o.Records {
					done()
				}
			})
		})
	}
	// Every loop ends when its partitions reach their ends or it fails;
	// once all have, the run is over whatever the limits say.
	go func() { wg.Wait(); done() }()
	var deadline <-chan time.Time
	if plan.duration > 0 {
		t := time.NewTimer(plan.duration)
		defer t.Stop()
		deadline = t.C
	}
	select {
	case <-finished:
	case <-deadline:
	case <-ctx.Done():
	}
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	prog.stop()

	res := &RawResult{
		Result: Result{
			Kind:        "consume-raw",
			Topic:       o.Topic,
			Partitions:  plan.partitions,
			Started:     start,
			Elapsed:     elapsed,
			Interrupted: ctx.Err() != nil,
			Consume:     newThroughput(len(plan.clients), ctr.counts(), elapsed),
			Config:      o,
		},
		Batches:     ctr.batches.Load(),
		Fetches:     ctr.fetches.Load(),
		Connections: len(plan.fetchers),
	}
	if n := ctr.errors.Load(); n > 0 {
		return res, fmt.Errorf("%d fetch errors, first: %w", n, ctr.firstErr)
	}
	return res, nil
}

// rawPlan is what RunRawConsume works out before it starts fetching.
type rawPlan struct {
	partitions int
	duration   time.Duration
	clients    []*kgo.Client
	fetchers   []*rawFetcher
}

func (p *rawPlan) close() { closeAll(p.clients) }

// planRaw finds the partitions, their leaders and the offsets to read
// between, and creates one client per consumer with one fetch loop per
// leader of that consumer's partitions.
func planRaw(ctx context.Context, o RawConsumeOptions) (*rawPlan, error) {
	adm, err := newAdmin(o.Common)
	if err != nil {
		return nil, err
	}
	defer adm.close()
	parts, err := adm.partitions(ctx, o.Topic, false, 0, 0)
	if err != nil {
		return nil, err
	}
	readToEnd := o.Records == 0 && o.Duration == 0 && !o.Tail
	plan := &rawPlan{partitions: len(parts), duration: o.Duration}
	if o.Records == 0 && o.Duration == 0 && o.Tail {
		plan.duration = DefaultDuration
	}
	starts, err := adm.offsets(ctx, o.Topic, o.Tail)
	if err != nil {
		return nil, err
	}
	var ends map[int32]int64
	if readToEnd {
		if ends, err = adm.offsets(ctx, o.Topic, true); err != nil {
			return nil, err
		}
	}
	for _, ps := range splitPartitions(parts, o.Consumers) {
		cl, err := kgo.NewClient(o.kgoOpts()...)
		if err != nil {
			plan.close()
			return nil, fmt.Errorf("%w: client: %w", ErrInvalidOptions, err)
		}
		plan.clients = append(plan.clients, cl)
		topicID, leaders, addrs, err := rawLeaders(ctx, cl, o.Topic, o.Timeout)
		if err != nil {
			plan.close()
			return nil, err
		}
		byLeader := make(map[int32]*rawFetcher)
		for _, p := range ps {
			rp := &rawPartition{id: p, offset: starts[p], end: -1}
			if readToEnd {
				rp.end = ends[p]
				if rp.offset >= rp.end {
					continue // nothing to read
				}
			}
			leader, ok := leaders[p]
			if !ok {
				plan.close()
				return nil, fmt.Errorf("topic %q partition %d: %w", o.Topic, p, ErrNoLeader)
			}
			f := byLeader[leader]
			if f == nil {
				f = &rawFetcher{leader: leader, addr: addrs[leader], topic: o.Topic, topicID: topicID, opts: o}
				byLeader[leader] = f
				plan.fetchers = append(plan.fetchers, f)
			}
			f.parts = append(f.parts, rp)
		}
	}
	return plan, nil
}

// rawLeaders asks for the topic's metadata through cl: the topic id, each
// partition's leader, and the brokers' addresses.
func rawLeaders(ctx context.Context, cl *kgo.Client, topic string, timeout time.Duration) ([16]byte, map[int32]int32, map[int32]string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	t := kmsg.NewMetadataRequestTopic()
	t.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return [16]byte{}, nil, nil, fmt.Errorf("topic %q: metadata: %w", topic, err)
	}
	addrs := make(map[int32]string, len(resp.Brokers))
	for _, b := range resp.Brokers {
		addrs[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	for _, mt := range resp.Topics {
		if mt.Topic == nil || *mt.Topic != topic {
			continue
		}
		if err := kerr.ErrorForCode(mt.ErrorCode); err != nil {
			return [16]byte{}, nil, nil, fmt.Errorf("topic %q: metadata: %w", topic, err)
		}
		leaders := make(map[int32]int32, len(mt.Partitions))
		for _, p := range mt.Partitions {
			if _, known := addrs[p.Leader]; p.ErrorCode == 0 && known {
				leaders[p.Partition] = p.Leader
			}
		}
		return mt.TopicID, leaders, addrs, nil
	}
	return [16]byte{}, nil, nil, fmt.Errorf("topic %q: broker sent no metadata for it", topic)
}
