package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// clientID names the benchmark's connections in broker logs and quotas.
const clientID = "spool-bench"

// kgoOpts returns the options for one benchmark client: the cluster, then
// the benchmark's own settings, then the caller's ClientOpts, which win.
func (c Common) kgoOpts(extra ...kgo.Opt) []kgo.Opt {
	opts := make([]kgo.Opt, 0, 2+len(extra)+len(c.ClientOpts))
	opts = append(opts, kgo.SeedBrokers(c.Brokers...), kgo.ClientID(clientID))
	opts = append(opts, extra...)
	return append(opts, c.ClientOpts...)
}

// newClients creates n clients with the same options, closing them all if
// any fails.
func newClients(n int, opts []kgo.Opt) ([]*kgo.Client, error) {
	cls := make([]*kgo.Client, 0, n)
	for range n {
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			closeAll(cls)
			return nil, fmt.Errorf("%w: client: %w", ErrInvalidOptions, err)
		}
		cls = append(cls, cl)
	}
	return cls, nil
}

func closeAll(cls []*kgo.Client) {
	for _, cl := range cls {
		cl.Close()
	}
}

// admin is a short-lived admin client for the run's setup.
type admin struct {
	cl      *kgo.Client
	adm     *kadm.Client
	timeout time.Duration
}

func newAdmin(c Common) (*admin, error) {
	// kadm answers topic listings from the client's metadata cache, which
	// by default is kept for 5s: without a short minimum age, waiting for
	// a topic just created would see the cached "unknown topic" that long.
	cl, err := kgo.NewClient(c.kgoOpts(kgo.MetadataMinAge(50 * time.Millisecond))...)
	if err != nil {
		return nil, fmt.Errorf("%w: client: %w", ErrInvalidOptions, err)
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(min(c.Timeout, time.Hour).Milliseconds()))
	return &admin{cl: cl, adm: adm, timeout: c.Timeout}, nil
}

func (a *admin) close() { a.cl.Close() }

// partitions returns the topic's partition ids in order. With create set, a
// missing topic is created (partitions and rf of -1 mean the broker's
// defaults) and waited for until every partition has a leader, since a
// consumer's offset lookups fail until then.
func (a *admin) partitions(ctx context.Context, topic string, create bool, partitions int32, rf int16) ([]int32, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	created := false
	for {
		details, err := a.adm.ListTopics(ctx, topic)
		if err != nil {
			return nil, fmt.Errorf("topic %q: listing: %w", topic, err)
		}
		d, ok := details[topic]
		switch {
		case !ok:
			return nil, fmt.Errorf("topic %q: broker sent no metadata for it", topic)
		case d.Err == nil && len(d.Partitions) == 0 && !created:
			return nil, fmt.Errorf("topic %q: %w", topic, ErrNoPartitions)
		case d.Err == nil && (!created || allLed(d)):
			return d.Partitions.Numbers(), nil
		case errors.Is(d.Err, kerr.UnknownTopicOrPartition) && create && !created:
			if partitions == 0 {
				partitions = -1
			}
			if rf == 0 {
				rf = -1
			}
			resp, err := a.adm.CreateTopic(ctx, partitions, rf, nil, topic)
			if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				if resp.ErrMessage != "" {
					return nil, fmt.Errorf("topic %q: creating: %w (%s)", topic, err, resp.ErrMessage)
				}
				return nil, fmt.Errorf("topic %q: creating: %w", topic, err)
			}
			created = true
			continue
		case d.Err != nil && !created:
			return nil, fmt.Errorf("topic %q: %w", topic, d.Err)
		}
		// Created but not yet visible or not yet led everywhere: metadata
		// propagates asynchronously, so ask again shortly.
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("topic %q: waiting for the new topic's leaders: %w", topic, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func allLed(d kadm.TopicDetail) bool {
	if len(d.Partitions) == 0 {
		return false
	}
	for _, p := range d.Partitions {
		if p.Leader < 0 || p.Err != nil {
			return false
		}
	}
	return true
}

// offsets returns the start or end offset of each partition.
func (a *admin) offsets(ctx context.Context, topic string, end bool) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	list := a.adm.ListStartOffsets
	if end {
		list = a.adm.ListEndOffsets
	}
	listed, err := list(ctx, topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("topic %q: listing offsets: %w", topic, err)
	}
	out := make(map[int32]int64, len(listed[topic]))
	for p, o := range listed[topic] {
		out[p] = o.Offset
	}
	return out, nil
}

// splitPartitions deals partitions round-robin to at most n consumers, so
// every consumer started has work.
func splitPartitions(partitions []int32, n int) [][]int32 {
	n = min(n, len(partitions))
	out := make([][]int32, n)
	for i, p := range slices.Sorted(slices.Values(partitions)) {
		out[i%n] = append(out[i%n], p)
	}
	return out
}
