package replication

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/server"
	"github.com/spool-mq/spool/internal/storage"
)

// fakeLeader serves the leader side of replication over the real Kafka
// protocol server, answering Fetch, OffsetForLeaderEpoch and ListOffsets
// from in-memory logs the way a Kafka leader would. Tests script faults
// with the hooks.
type fakeLeader struct {
	t    *testing.T
	ch   *changes // follower-visible events (requests seen)
	data *changes // leader appends, for long polls
	srv  *server.Server
	ln   *trackingListener
	addr string

	mu        sync.Mutex
	topics    map[string][16]byte
	parts     map[storage.TopicPartition]*leaderPart
	fetches   []*kmsg.FetchRequest
	epochReqs []*kmsg.OffsetForLeaderEpochRequest
	listReqs  int

	// onFetch sees every fetch on arrival, before it is answered.
	onFetch func(req *kmsg.FetchRequest)
	// fetchHook and epochHook may rewrite an answer before it is sent.
	fetchHook func(req *kmsg.FetchRequest, resp *kmsg.FetchResponse)
	epochHook func(req *kmsg.OffsetForLeaderEpochRequest, resp *kmsg.OffsetForLeaderEpochResponse)
}

type leaderPart struct {
	log   *fakeLog
	epoch int32
}

func newFakeLeader(t *testing.T, ch *changes) *fakeLeader {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &fakeLeader{t: t, ch: ch, data: newChanges(), ln: &trackingListener{Listener: ln},
		addr: ln.Addr().String(), topics: map[string][16]byte{}, parts: map[storage.TopicPartition]*leaderPart{}}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	l.srv = server.New(server.Config{}, l, logger, server.NewMetrics(prometheus.NewRegistry()))
	go func() { _ = l.srv.Serve(l.ln) }()
	t.Cleanup(func() { _ = l.srv.Close() })
	return l
}

// addPartition makes the leader lead topic/partition at epoch.
func (l *fakeLeader) addPartition(topic string, id [16]byte, partition int32, epoch int32) *fakeLog {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.topics[topic] = id
	lg := &fakeLog{}
	l.parts[storage.TopicPartition{Topic: topic, Partition: partition}] = &leaderPart{log: lg, epoch: epoch}
	return lg
}

// appendTo adds data to a led partition and wakes long polls.
func (l *fakeLeader) appendTo(lg *fakeLog, data []byte) {
	l.t.Helper()
	if _, err := lg.appendData(data); err != nil {
		l.t.Fatal(err)
	}
	l.data.notify()
}

func (l *fakeLeader) setEpoch(topic string, partition int32, epoch int32) {
	l.mu.Lock()
	l.parts[storage.TopicPartition{Topic: topic, Partition: partition}].epoch = epoch
	l.mu.Unlock()
}

func (l *fakeLeader) fetchRequests() []*kmsg.FetchRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*kmsg.FetchRequest(nil), l.fetches...)
}

func (l *fakeLeader) epochRequests() []*kmsg.OffsetForLeaderEpochRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*kmsg.OffsetForLeaderEpochRequest(nil), l.epochReqs...)
}

func (l *fakeLeader) listRequests() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.listReqs
}

func (l *fakeLeader) Supports(key, version int16) bool {
	switch key {
	case 1:
		return version >= 12 && version <= 13
	case 2:
		return version >= 1 && version <= 8
	case 23:
		return version >= 2 && version <= 4
	}
	return false
}

func (l *fakeLeader) Handle(ctx context.Context, _ *server.ConnInfo, _ *server.RequestHeader, req kmsg.Request) kmsg.Response {
	defer l.ch.notify()
	switch req := req.(type) {
	case *kmsg.FetchRequest:
		return l.fetch(ctx, req)
	case *kmsg.OffsetForLeaderEpochRequest:
		l.mu.Lock()
		l.epochReqs = append(l.epochReqs, req)
		resp := l.epochLocked(req)
		hook := l.epochHook
		l.mu.Unlock()
		if hook != nil {
			hook(req, resp)
		}
		return resp
	case *kmsg.ListOffsetsRequest:
		l.mu.Lock()
		defer l.mu.Unlock()
		l.listReqs++
		return l.listLocked(req)
	}
	return nil
}

// lookup resolves a partition and applies KIP-320 epoch fencing.
func (l *fakeLeader) lookupLocked(topic string, partition, currentEpoch int32) (*leaderPart, int16) {
	lp := l.parts[storage.TopicPartition{Topic: topic, Partition: partition}]
	switch {
	case lp == nil:
		return nil, kerr.UnknownTopicOrPartition.Code
	case currentEpoch >= 0 && currentEpoch < lp.epoch:
		return nil, kerr.FencedLeaderEpoch.Code
	case currentEpoch > lp.epoch:
		return nil, kerr.UnknownLeaderEpoch.Code
	}
	return lp, 0
}

func (l *fakeLeader) fetch(ctx context.Context, req *kmsg.FetchRequest) kmsg.Response {
	l.mu.Lock()
	l.fetches = append(l.fetches, req)
	onFetch, hook := l.onFetch, l.fetchHook
	l.mu.Unlock()
	if onFetch != nil {
		onFetch(req)
	}
	deadline := time.NewTimer(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	defer deadline.Stop()
	for {
		wake := l.data.wait()
		resp, n := l.answerFetch(req)
		if n > 0 || resp.Topics == nil {
			if hook != nil {
				hook(req, resp)
			}
			return resp
		}
		select {
		case <-wake:
		case <-deadline.C:
			if hook != nil {
				hook(req, resp)
			}
			return resp
		case <-ctx.Done():
			return resp
		}
	}
}

// answerFetch builds the answer and reports how many record bytes and
// errors it holds (0 means worth waiting).
func (l *fakeLeader) answerFetch(req *kmsg.FetchRequest) (*kmsg.FetchResponse, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	names := map[[16]byte]string{}
	for name, id := range l.topics {
		names[id] = name
	}
	n := 0
	for _, rt := range req.Topics {
		ot := kmsg.NewFetchResponseTopic()
		ot.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			op := kmsg.NewFetchResponseTopicPartition()
			op.Partition = rp.Partition
			op.HighWatermark, op.LastStableOffset, op.LogStartOffset = -1, -1, -1
			name, ok := names[rt.TopicID]
			if !ok {
				op.ErrorCode = kerr.UnknownTopicID.Code
				ot.Partitions = append(ot.Partitions, op)
				n++
				continue
			}
			lp, code := l.lookupLocked(name, rp.Partition, rp.CurrentLeaderEpoch)
			if code != 0 {
				op.ErrorCode = code
				ot.Partitions = append(ot.Partitions, op)
				n++
				continue
			}
			start, end := lp.log.LogStartOffset(), lp.log.LogEndOffset()
			op.HighWatermark, op.LastStableOffset, op.LogStartOffset = end, end, start
			if rp.LastFetchedEpoch >= 0 {
				// Kafka's leader-side divergence check (KIP-595 style).
				e, eo := lp.log.EndOffsetForEpoch(rp.LastFetchedEpoch)
				if e >= 0 && (e != rp.LastFetchedEpoch || eo < rp.FetchOffset) {
					op.DivergingEpoch.Epoch, op.DivergingEpoch.EndOffset = e, eo
					ot.Partitions = append(ot.Partitions, op)
					n++
					continue
				}
			}
			if rp.FetchOffset < start || rp.FetchOffset > end {
				op.ErrorCode = kerr.OffsetOutOfRange.Code
				ot.Partitions = append(ot.Partitions, op)
				n++
				continue
			}
			op.RecordBatches = lp.log.read(rp.FetchOffset, int(rp.PartitionMaxBytes))
			n += len(op.RecordBatches)
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp, n
}

func (l *fakeLeader) epochLocked(req *kmsg.OffsetForLeaderEpochRequest) *kmsg.OffsetForLeaderEpochResponse {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		ot := kmsg.NewOffsetForLeaderEpochResponseTopic()
		ot.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			op := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			op.Partition, op.LeaderEpoch, op.EndOffset = rp.Partition, -1, -1
			lp, code := l.lookupLocked(rt.Topic, rp.Partition, rp.CurrentLeaderEpoch)
			if code != 0 {
				op.ErrorCode = code
			} else if rp.LeaderEpoch == lp.epoch {
				op.LeaderEpoch, op.EndOffset = lp.epoch, lp.log.LogEndOffset()
			} else if rp.LeaderEpoch > lp.log.LatestEpoch() && rp.LeaderEpoch < lp.epoch {
				// The leader's current epoch starts at its log end.
				op.LeaderEpoch, op.EndOffset = lp.log.LatestEpoch(), lp.log.LogEndOffset()
			} else {
				op.LeaderEpoch, op.EndOffset = lp.log.EndOffsetForEpoch(rp.LeaderEpoch)
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}

func (l *fakeLeader) listLocked(req *kmsg.ListOffsetsRequest) *kmsg.ListOffsetsResponse {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		ot := kmsg.NewListOffsetsResponseTopic()
		ot.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			op := kmsg.NewListOffsetsResponseTopicPartition()
			op.Partition, op.Timestamp, op.Offset = rp.Partition, -1, -1
			lp, code := l.lookupLocked(rt.Topic, rp.Partition, rp.CurrentLeaderEpoch)
			switch {
			case code != 0:
				op.ErrorCode = code
			case rp.Timestamp == -2:
				op.Offset = lp.log.LogStartOffset()
			default:
				op.Offset = lp.log.LogEndOffset()
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}

// dropConnections closes every connection accepted so far.
func (l *fakeLeader) dropConnections() { l.ln.closeAll() }

// trackingListener remembers accepted connections so a test can cut them.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (t *trackingListener) Accept() (net.Conn, error) {
	c, err := t.Listener.Accept()
	if err == nil {
		t.mu.Lock()
		t.conns = append(t.conns, c)
		t.mu.Unlock()
	}
	return c, err
}

func (t *trackingListener) closeAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.conns {
		_ = c.Close()
	}
	t.conns = nil
}
