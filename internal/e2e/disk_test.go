package e2e

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/vfs"
	"github.com/spool-mq/spool/internal/vfs/vfstest"
)

// TestDiskFull: while the data disk is full, produces fail with
// KAFKA_STORAGE_ERROR and reads still work; once space returns, produces
// work again and the log holds exactly the acknowledged records.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	// A full disk as the kernel presents it: a write gets half its bytes
	// down and then ENOSPC; creating files and directories fails.
	var full atomic.Bool
	var hits atomic.Int64
	inj := vfstest.InjectorFunc(func(op vfstest.Op, _ string, size int) (int, error) {
		if !full.Load() {
			return 0, nil
		}
		switch op {
		case vfstest.OpWrite:
			hits.Add(1)
			return size / 2, syscall.ENOSPC
		case vfstest.OpCreate, vfstest.OpMkdir:
			hits.Add(1)
			return 0, syscall.ENOSPC
		}
		return 0, nil
	})
	b := startBroker(t, withFS(vfstest.NewErrorFS(vfs.NewOS(), inj)))
	addr := b.KafkaAddr()
	topic := topicName(t, "full")
	createTopic(t, ctx, newAdmin(t, addr), topic, 1, nil)

	type acked struct {
		offset int64
		value  string
	}
	var ackedRecs []acked
	produce := func(cl *kgo.Client, prefix string, n int) error {
		var recs []*kgo.Record
		for i := range n {
			recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", prefix, i)})
		}
		var firstErr error
		for _, r := range cl.ProduceSync(ctx, recs...) {
			if r.Err != nil {
				firstErr = keepFirst(firstErr, r.Err)
				continue
			}
			ackedRecs = append(ackedRecs, acked{r.Record.Offset, string(r.Record.Value)})
		}
		return firstErr
	}
	cl := newClient(t, addr, kgo.DefaultProduceTopic(topic))
	if err := produce(cl, "before", 20); err != nil {
		t.Fatalf("produce before the disk filled: %v", err)
	}

	full.Store(true)
	// A producer that gives up after a few retries sees the error.
	impatient := newClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.DisableIdempotentWrite(), kgo.RecordRetries(2))
	err := produce(impatient, "while-full", 5)
	if !errors.Is(err, kerr.KafkaStorageError) {
		t.Fatalf("produce to a full disk: %v, want KAFKA_STORAGE_ERROR", err)
	}
	// The broker's own answer, without client retries in between.
	raw := dialRaw(t, addr)
	resp := raw.roundTrip(produceRequest(topic, 0, -1, encodeBatch([]testRecord{{value: []byte("raw-while-full"), timestamp: 1700000000000}}))).(*kmsg.ProduceResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.KafkaStorageError.Code {
		t.Fatalf("raw produce to a full disk: %v, want KAFKA_STORAGE_ERROR", kerr.ErrorForCode(code))
	}
	if hits.Load() == 0 {
		t.Fatalf("precondition: the broker wrote nothing through the injected filesystem")
	}
	// Reads still work while the disk is full.
	if got := consumeAll(t, ctx, addr, topic); len(got) != 20 {
		t.Fatalf("while the disk is full a consumer reads %d records, want the 20 acknowledged", len(got))
	}

	full.Store(false)
	if err := produce(cl, "after", 10); err != nil {
		t.Fatalf("produce after space returned: %v", err)
	}
	if err := produce(impatient, "after-impatient", 3); err != nil {
		t.Fatalf("produce (non-idempotent client) after space returned: %v", err)
	}

	got := consumeAll(t, ctx, addr, topic)
	if len(got) != len(ackedRecs) {
		t.Errorf("the log holds %d records, %d were acknowledged", len(got), len(ackedRecs))
	}
	byOffset := make(map[int64]string)
	for _, r := range got {
		byOffset[r.Offset] = string(r.Value)
	}
	for _, a := range ackedRecs {
		if byOffset[a.offset] != a.value {
			t.Errorf("offset %d holds %q, the ack was for %q", a.offset, byOffset[a.offset], a.value)
		}
	}
	for i, r := range got {
		if r.Offset != int64(i) {
			t.Fatalf("record %d has offset %d: the failed writes left a hole or junk", i, r.Offset)
		}
	}
}
