package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTransactionalProduceRefused: a transactional produce is accepted
// only for partitions of the producer's ongoing transaction. Without a
// local coordinator for the id (here: none was ever looked up) it gets
// UNSUPPORTED_VERSION with a message saying why, never an authorization
// error; a non-transactional batch sent with a transactional id gets
// INVALID_RECORD. Nothing is written either way.
func TestTransactionalProduceRefused(t *testing.T) {
	t.Parallel()
	addr := txnBroker(t)
	ctx := testContext(t)
	topic := topicName(t, "t")
	createTopic(t, ctx, newAdmin(t, addr), topic, 1, nil)

	c := dialRaw(t, addr)
	send := func() kmsg.ProduceResponseTopicPartition {
		t.Helper()
		req := produceRequest(topic, 0, -1, encodeBatch([]testRecord{{key: []byte("k"), value: []byte("v"), timestamp: time.Now().UnixMilli()}}))
		req.TransactionID = kmsg.StringPtr("payments")
		return c.roundTrip(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	}
	part := send()
	if part.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("transactional produce without a coordinator: %v, want UNSUPPORTED_VERSION", kerr.ErrorForCode(part.ErrorCode))
	}
	if part.ErrorMessage == nil || !strings.Contains(*part.ErrorMessage, "transaction coordinator") {
		t.Fatalf("error message %v, want one naming the transaction coordinator", ptrStr(part.ErrorMessage))
	}

	// A real transactional producer creates the coordinator's topic.
	cl := txnProducer(t, addr, "payments")
	beginTxn(t, cl)
	produceSync(t, ctx, cl, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("v")})
	endTxn(t, ctx, cl, kgo.TryCommit)
	before := listOffsets(t, addr, topic)[0].end

	if part := send(); part.ErrorCode != kerr.InvalidRecord.Code {
		t.Fatalf("non-transactional batch with a transactional id: %v, want INVALID_RECORD", kerr.ErrorForCode(part.ErrorCode))
	}
	if end := listOffsets(t, addr, topic)[0].end; end != before {
		t.Fatalf("a refused transactional produce moved the log end from %d to %d", before, end)
	}
}
