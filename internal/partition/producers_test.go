package partition_test

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spool-mq/spool/internal/partition"
)

// produce1 is an acks=1 produce that must succeed.
func produce1(t *testing.T, p *partition.Partition, data []byte) partition.ProduceResult {
	t.Helper()
	res, err := p.Produce(data, 1, time.Second)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return res
}

func TestIdleProducerExpires(t *testing.T) {
	c := newClusterWith(t, 1, 1, func(_ int32, o *partition.Options) { o.ProducerIDExpiration = time.Hour })
	p := c.nodes[1]
	produce1(t, p, idempotentBatch(5, 0, "a"))
	produce1(t, p, idempotentBatch(5, 1, "b"))
	if _, err := p.Produce(idempotentBatch(5, 7, "gap"), 1, time.Second); !errors.Is(err, partition.ErrOutOfOrderSequence) {
		t.Fatalf("gap from a known producer: %v, want out of order", err)
	}

	// Idle for just under the expiration: still known, a retry is a retry.
	c.clock.Advance(time.Hour - time.Millisecond)
	if res := produce1(t, p, idempotentBatch(5, 1, "b")); res.BaseOffset != 1 || p.LogEndOffset() != 2 {
		t.Fatalf("retry before expiry: offset %d, log end %d; want 1, 2", res.BaseOffset, p.LogEndOffset())
	}
	// That retry was not a write, so it does not extend the producer's
	// life: one more millisecond expires it. The lookup itself forgets it.
	c.clock.Advance(time.Millisecond)
	if res := produce1(t, p, idempotentBatch(5, 7, "after")); res.BaseOffset != 2 {
		t.Fatalf("expired producer's batch at %d, want 2 (accepted as new)", res.BaseOffset)
	}
	if n := p.ProducerCount(); n != 1 {
		t.Fatalf("%d producers, want 1", n)
	}

	// The maintenance pass expires producers nobody looks up again.
	produce1(t, p, idempotentBatch(6, 0, "other"))
	c.clock.Advance(30 * time.Minute)
	produce1(t, p, idempotentBatch(6, 1, "other"))
	c.clock.Advance(30 * time.Minute)
	if n := p.ExpireProducers(); n != 1 {
		t.Fatalf("expired %d producers, want 1 (producer 5)", n)
	}
	if n := p.ProducerCount(); n != 1 {
		t.Fatalf("%d producers after expiry, want 1 (producer 6)", n)
	}
	if _, err := p.Produce(idempotentBatch(6, 9, "gap"), 1, time.Second); !errors.Is(err, partition.ErrOutOfOrderSequence) {
		t.Fatalf("producer 6 was expired too early: %v", err)
	}
}

func TestProducerTableEvictsLeastRecentlyWritten(t *testing.T) {
	c := newClusterWith(t, 1, 1, func(_ int32, o *partition.Options) { o.MaxProducers = 3 })
	p := c.nodes[1]
	for pid := int64(1); pid <= 3; pid++ {
		produce1(t, p, idempotentBatch(pid, 0, "v"))
	}
	produce1(t, p, idempotentBatch(1, 1, "v")) // 1 is now the most recent, 2 the least
	produce1(t, p, idempotentBatch(4, 0, "v"))
	if n := p.ProducerCount(); n != 3 {
		t.Fatalf("%d producers, want the cap of 3", n)
	}
	for _, pid := range []int64{1, 3, 4} {
		if _, err := p.Produce(idempotentBatch(pid, 50, "gap"), 1, time.Second); !errors.Is(err, partition.ErrOutOfOrderSequence) {
			t.Fatalf("producer %d should still be known: %v", pid, err)
		}
	}
	// 2 was evicted: its gap is accepted as a new producer's first batch.
	end := p.LogEndOffset()
	if res := produce1(t, p, idempotentBatch(2, 50, "back")); res.BaseOffset != end {
		t.Fatalf("evicted producer's batch at %d, want %d", res.BaseOffset, end)
	}
	if n := p.ProducerCount(); n != 3 {
		t.Fatalf("%d producers after re-adding 2, want 3", n)
	}
}

func TestInventedProducerIDRefused(t *testing.T) {
	const next = 1000 // the first id the fake cluster has not handed out
	c := newClusterWith(t, 1, 1, func(_ int32, o *partition.Options) {
		o.ProducerIDAllocated = func(id int64) bool { return id < next }
	})
	p := c.nodes[1]
	for _, pid := range []int64{next, next + 1, 1 << 40} {
		_, err := p.Produce(idempotentBatch(pid, 0, "forged"), 1, time.Second)
		if !errors.Is(err, partition.ErrUnknownProducerID) {
			t.Fatalf("producer id %d: %v, want ErrUnknownProducerID", pid, err)
		}
	}
	if p.LogEndOffset() != 0 || p.ProducerCount() != 0 {
		t.Fatalf("refused batches left log end %d, %d producers", p.LogEndOffset(), p.ProducerCount())
	}
	// Allocated ids and non-idempotent batches (-1) are accepted.
	if res := produce1(t, p, idempotentBatch(next-1, 0, "real")); res.BaseOffset != 0 {
		t.Fatalf("allocated id at %d, want 0", res.BaseOffset)
	}
	if res := produce1(t, p, idempotentBatch(0, 0, "first id")); res.BaseOffset != 1 {
		t.Fatalf("id 0 at %d, want 1", res.BaseOffset)
	}
	if res := produce1(t, p, batch("plain")); res.BaseOffset != 2 {
		t.Fatalf("non-idempotent batch at %d, want 2", res.BaseOffset)
	}
}

func TestFollowerCopiesWithoutCheckingProducerIDs(t *testing.T) {
	var followerAsked atomic.Int32
	c := newClusterWith(t, 2, 1, func(id int32, o *partition.Options) {
		if id == 1 {
			return // the leader accepts every id
		}
		// The follower's metadata knows no ids at all (as if it lagged
		// behind the block's allocation): it must copy regardless.
		o.ProducerIDAllocated = func(int64) bool { followerAsked.Add(1); return false }
	})
	leader, follower := c.nodes[1], c.nodes[2]
	produce1(t, leader, idempotentBatch(77, 0, "x"))
	produce1(t, leader, idempotentBatch(77, 1, "y"))
	c.catchUp(2)
	if follower.LogEndOffset() != 2 {
		t.Fatalf("follower log end %d, want 2", follower.LogEndOffset())
	}
	if n := followerAsked.Load(); n != 0 {
		t.Fatalf("follower checked producer ids %d times while copying", n)
	}
	if n := follower.ProducerCount(); n != 1 {
		t.Fatalf("follower remembers %d producers, want 1", n)
	}
}
