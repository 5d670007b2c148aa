package e2e

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTransactionsRefusedAsUnsupported: until transactions exist, a
// transactional produce and a transactional InitProducerId get
// UNSUPPORTED_VERSION (a broker lacking the feature), with a message that
// says so, never an authorization error; nothing is written.
func TestTransactionsRefusedAsUnsupported(t *testing.T) {
	t.Parallel()
	b := startBroker(t)
	ctx := testContext(t)
	topic := topicName(t, "t")
	createTopic(t, ctx, newAdmin(t, b.KafkaAddr()), topic, 1, nil)

	c := dialRaw(t, b.KafkaAddr())
	req := produceRequest(topic, 0, -1, encodeBatch([]testRecord{{key: []byte("k"), value: []byte("v"), timestamp: time.Now().UnixMilli()}}))
	req.TransactionID = kmsg.StringPtr("payments")
	part := c.roundTrip(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	if part.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("transactional produce: %v, want UNSUPPORTED_VERSION", kerr.ErrorForCode(part.ErrorCode))
	}
	if part.ErrorMessage == nil || !strings.Contains(*part.ErrorMessage, "transactions are not supported") {
		t.Fatalf("transactional produce: error message %v, want one saying transactions are not supported", ptrStr(part.ErrorMessage))
	}
	if r := listOffsets(t, b.KafkaAddr(), topic)[0]; r.end != 0 {
		t.Fatalf("a refused transactional produce moved the log end to %d", r.end)
	}

	// A franz-go transactional producer fails at once with the same code.
	cl := newClient(t, b.KafkaAddr(), kgo.TransactionalID("payments"), kgo.DefaultProduceTopic(topic))
	err := cl.BeginTransaction()
	if err == nil {
		err = cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr()
	}
	if !errors.Is(err, kerr.UnsupportedVersion) {
		t.Fatalf("franz-go transactional producer: %v, want UNSUPPORTED_VERSION", err)
	}
}
