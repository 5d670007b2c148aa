package replication

// Replication between real partition.Partition replicas over MemFS logs.
// The leader's side is a small Kafka-protocol server that calls the
// leader partition directly (ReadForReplica, EndOffsetForEpoch,
// DivergingEpoch), standing in for the broker's handlers.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/partition"
	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/server"
	"github.com/spool-mq/spool/internal/storage"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

const realTopic = "t"

var realTopicID = [16]byte{0x7}

// realLeader serves replica fetches from one leader partition.
type realLeader struct {
	p  *partition.Partition
	ch *changes
}

func (l *realLeader) Supports(key, version int16) bool {
	return key == 1 && version == 13 || key == 23 && version == 4 || key == 2 && version == 4
}

func (l *realLeader) Handle(ctx context.Context, _ *server.ConnInfo, _ *server.RequestHeader, req kmsg.Request) kmsg.Response {
	defer l.ch.notify()
	switch req := req.(type) {
	case *kmsg.FetchRequest:
		return l.fetch(ctx, req)
	case *kmsg.OffsetForLeaderEpochRequest:
		resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
		for _, rt := range req.Topics {
			ot := kmsg.NewOffsetForLeaderEpochResponseTopic()
			ot.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				op := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				op.Partition = rp.Partition
				if rp.CurrentLeaderEpoch != l.p.LeaderEpoch() || !l.p.IsLeader() {
					op.ErrorCode, op.LeaderEpoch, op.EndOffset = kerr.FencedLeaderEpoch.Code, -1, -1
				} else {
					op.LeaderEpoch, op.EndOffset = l.p.EndOffsetForEpoch(rp.LeaderEpoch)
				}
				ot.Partitions = append(ot.Partitions, op)
			}
			resp.Topics = append(resp.Topics, ot)
		}
		return resp
	}
	return nil
}

func (l *realLeader) fetch(ctx context.Context, req *kmsg.FetchRequest) kmsg.Response {
	wake := make(chan struct{}, 1)
	defer l.p.AddAppendWaiter(wake)()
	deadline := time.NewTimer(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	defer deadline.Stop()
	for {
		resp, n := l.answer(req)
		if n > 0 {
			return resp
		}
		select {
		case <-wake:
		case <-deadline.C:
			return resp
		case <-ctx.Done():
			return resp
		}
	}
}

func (l *realLeader) answer(req *kmsg.FetchRequest) (*kmsg.FetchResponse, int) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	n := 0
	for _, rt := range req.Topics {
		ot := kmsg.NewFetchResponseTopic()
		ot.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			op := kmsg.NewFetchResponseTopicPartition()
			op.Partition = rp.Partition
			if e, end, diverged := l.p.DivergingEpoch(rp.LastFetchedEpoch, rp.FetchOffset); diverged && l.p.IsLeader() {
				op.DivergingEpoch.Epoch, op.DivergingEpoch.EndOffset = e, end
				op.HighWatermark, op.LogStartOffset = l.p.HighWatermark(), l.p.LogStartOffset()
				ot.Partitions = append(ot.Partitions, op)
				n++
				continue
			}
			res, err := l.p.ReadForReplica(nil, req.ReplicaID, rp.FetchOffset, rp.CurrentLeaderEpoch, int(rp.PartitionMaxBytes))
			op.HighWatermark, op.LastStableOffset, op.LogStartOffset = res.HighWatermark, res.HighWatermark, res.LogStartOffset
			op.RecordBatches = res.Data
			switch {
			case err == nil:
			case errors.Is(err, storage.ErrOffsetOutOfRange):
				op.ErrorCode = kerr.OffsetOutOfRange.Code
			case errors.Is(err, partition.ErrFencedLeaderEpoch):
				op.ErrorCode = kerr.FencedLeaderEpoch.Code
			case errors.Is(err, partition.ErrUnknownLeaderEpoch):
				op.ErrorCode = kerr.UnknownLeaderEpoch.Code
			default:
				op.ErrorCode = kerr.NotLeaderForPartition.Code
			}
			if op.ErrorCode != 0 {
				n++
			}
			n += len(op.RecordBatches)
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp, n
}

// realNode is one broker's replica of topic t/0.
type realNode struct {
	id   int32
	p    *partition.Partition
	mgr  *partition.Manager
	addr string // its leader-side server
}

func openRealNode(t *testing.T, fs *vfstest.MemFS, ch *changes, id int32) *realNode {
	t.Helper()
	sm, err := storage.OpenManager(fmt.Sprintf("/data%d", id), storage.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sm.Close(); err != nil {
			t.Errorf("closing storage of %d: %v", id, err)
		}
	})
	cfg := config.DefaultTopicConfig()
	lg, err := sm.GetOrCreate(storage.TopicPartition{Topic: realTopic}, realTopicID, partition.LogConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	p := partition.New(lg, realTopicID, cfg, 0, partition.Options{NodeID: id, ISR: noISRChanges{},
		ReplicaLagTime: time.Hour})
	mgr := partition.NewManager()
	mgr.Put(p)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{}, &realLeader{p: p, ch: ch}, slog.New(slog.NewTextHandler(io.Discard, nil)),
		server.NewMetrics(prometheus.NewRegistry()))
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &realNode{id: id, p: p, mgr: mgr, addr: ln.Addr().String()}
}

// noISRChanges refuses ISR changes: these tests keep the ISR fixed.
type noISRChanges struct{}

var errNoISRChanges = errors.New("test: ISR changes disabled")

func (noISRChanges) AlterISR(context.Context, partition.ISRChange) error { return errNoISRChanges }

func realImage(leader, epoch int32, isr ...int32) *controller.Topic {
	return &controller.Topic{Name: realTopic, ID: realTopicID, Partitions: []controller.Partition{{
		Index: 0, Leader: leader, LeaderEpoch: epoch, PartitionEpoch: epoch,
		Replicas: []int32{1, 2}, ISR: isr,
	}}}
}

func realManager(t *testing.T, n *realNode, dialer *fakeDialer) *Manager {
	m := NewManager(Config{NodeID: n.id, Dialer: dialer, Partitions: n.mgr,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		FetchWait: 100 * time.Millisecond, MinBackoff: 5 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		ErrorBackoff: 20 * time.Millisecond, ISRCheckInterval: time.Hour})
	t.Cleanup(m.Close)
	return m
}

func produce(t *testing.T, p *partition.Partition, acks int16, base int64, n int) {
	t.Helper()
	if _, err := p.Produce(batch(base, n, 0), acks, 10*time.Second); err != nil {
		t.Fatalf("produce acks=%d: %v", acks, err)
	}
}

func readAll(t *testing.T, p *partition.Partition) []byte {
	t.Helper()
	var out []byte
	for off := p.LogStartOffset(); off < p.LogEndOffset(); {
		data, err := p.ReadLocal(off, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data...)
		next := p.LogEndOffset()
		if len(data) > 0 {
			next = lastOffsetOf(t, data) + 1
		}
		off = next
	}
	return out
}

func lastOffsetOf(t *testing.T, data []byte) int64 {
	t.Helper()
	last := int64(-1)
	if _, err := record.Batches(data, func(h record.Header, _ []byte) error {
		last = h.LastOffset()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return last
}

func TestRealPartitionsReplicateAndAcksAllCompletes(t *testing.T) {
	fs, ch := vfstest.NewMem(), newChanges()
	leader, follower := openRealNode(t, fs, ch, 2), openRealNode(t, fs, ch, 1)
	dialer := newFakeDialer(ch)
	dialer.set(2, leader.addr)
	img := realImage(2, 1, 2, 1)
	leader.p.ApplyMetadata(metadataOf(&img.Partitions[0]))
	for i := range int64(5) {
		produce(t, leader.p, 1, i*3, 3)
	}

	m := realManager(t, follower, dialer)
	m.reconcile(func(string) *controller.Topic { return img })
	if follower.p.IsLeader() {
		t.Fatal("follower thinks it leads")
	}
	waitFor(t, ch, "follower to copy the leader", func() bool {
		return follower.p.LogEndOffset() == leader.p.LogEndOffset() &&
			follower.p.HighWatermark() == leader.p.LogEndOffset()
	})
	// acks=all completes only once the follower's next fetch reports the
	// batch durable.
	produce(t, leader.p, -1, 15, 2)
	if hwm := leader.p.HighWatermark(); hwm != 17 {
		t.Fatalf("leader high watermark %d after acks=all, want 17", hwm)
	}
	waitFor(t, ch, "follower to get the acks=all batch", func() bool {
		return follower.p.LogEndOffset() == 17
	})
	if !bytes.Equal(readAll(t, follower.p), readAll(t, leader.p)) {
		t.Fatal("follower log differs from leader log")
	}
}

func TestRealPartitionsTruncateDivergentTail(t *testing.T) {
	fs, ch := vfstest.NewMem(), newChanges()
	n1, n2 := openRealNode(t, fs, ch, 1), openRealNode(t, fs, ch, 2)
	dialer := newFakeDialer(ch)
	dialer.set(1, n1.addr)
	dialer.set(2, n2.addr)
	m1, m2 := realManager(t, n1, dialer), realManager(t, n2, dialer)

	// Epoch 1: node 1 leads, node 2 copies the first 5 records.
	img := realImage(1, 1, 1, 2)
	m1.reconcile(func(string) *controller.Topic { return img })
	m2.reconcile(func(string) *controller.Topic { return img })
	produce(t, n1.p, 1, 0, 5)
	waitFor(t, ch, "node 2 to copy epoch 1", func() bool { return n2.p.LogEndOffset() == 5 })

	// Node 2 is cut off (it stops following), node 1 appends 4 records
	// nobody else gets.
	m2.Close()
	produce(t, n1.p, 1, 5, 4)

	// Epoch 2: node 2 leads (unclean-style: it lacks node 1's tail) and
	// appends its own records; node 1 must drop its tail and copy them.
	img = realImage(2, 2, 2)
	m3 := realManager(t, n2, dialer)
	m3.reconcile(func(string) *controller.Topic { return img })
	produce(t, n2.p, 1, 5, 2)
	m1.reconcile(func(string) *controller.Topic { return img })
	waitFor(t, ch, "node 1 to match node 2", func() bool {
		return n1.p.LogEndOffset() == 7 && n1.p.LatestEpoch() == 2
	})
	if !bytes.Equal(readAll(t, n1.p), readAll(t, n2.p)) {
		t.Fatal("node 1's log differs from its new leader's after truncation")
	}
}

func TestRealPartitionFollowerBehindLeaderLogStart(t *testing.T) {
	fs, ch := vfstest.NewMem(), newChanges()
	leader, follower := openRealNode(t, fs, ch, 2), openRealNode(t, fs, ch, 1)
	dialer := newFakeDialer(ch)
	dialer.set(2, leader.addr)
	// The follower is not in the ISR, so the leader's high watermark (and
	// DeleteRecords) can move without it.
	img := realImage(2, 1, 2)
	leader.p.ApplyMetadata(metadataOf(&img.Partitions[0]))
	for i := range int64(10) {
		produce(t, leader.p, 1, i, 1)
	}
	if _, err := leader.p.DeleteRecordsBefore(8); err != nil {
		t.Fatal(err)
	}
	m := realManager(t, follower, dialer)
	m.reconcile(func(string) *controller.Topic { return img })
	waitFor(t, ch, "follower to copy from the leader's log start", func() bool {
		return follower.p.LogEndOffset() == 10
	})
	if !bytes.Equal(readAll(t, follower.p), readAll(t, leader.p)) {
		t.Fatal("follower log differs from the leader's")
	}
	data, err := follower.p.ReadLocal(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := record.ParseHeader(data); err != nil || h.BaseOffset != 8 {
		t.Fatalf("follower's first batch: %+v, %v; want base offset 8", h, err)
	}
}
