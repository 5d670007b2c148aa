package handlers_test

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/config"
)

// TestAddPartitionsAndEndTxnCodes: AddPartitionsToTxn is all or nothing
// (an unknown partition gets UNKNOWN_TOPIC_OR_PARTITION, the rest
// OPERATION_NOT_ATTEMPTED); EndTxn with no transaction is
// INVALID_TXN_STATE; a fenced epoch is PRODUCER_FENCED from v2 and
// INVALID_PRODUCER_EPOCH before; commit then succeeds.
func TestAddPartitionsAndEndTxnCodes(t *testing.T) {
	tb := startBroker(t, func(c *config.Broker) { c.TransactionStateLogNumPartitions = 1 })
	tb.createTopic("t", 2, nil)
	find := kmsg.NewPtrFindCoordinatorRequest()
	find.CoordinatorType, find.CoordinatorKeys = 1, []string{"tx"}
	tb.send(nil, find)
	init := kmsg.NewPtrInitProducerIDRequest()
	init.TransactionalID, init.TransactionTimeoutMillis = ptr("tx"), 60000
	var ip *kmsg.InitProducerIDResponse
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		ip = tb.send(nil, init).(*kmsg.InitProducerIDResponse)
		if ip.ErrorCode != kerr.CoordinatorLoadInProgress.Code || time.Now().After(deadline) {
			break
		}
	}
	if ip.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(ip.ErrorCode))
	}

	add := func(version int16, epoch int16, topics map[string][]int32) *kmsg.AddPartitionsToTxnResponse {
		t.Helper()
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = "tx", ip.ProducerID, epoch
		for topic, ps := range topics {
			rt := kmsg.NewAddPartitionsToTxnRequestTopic()
			rt.Topic, rt.Partitions = topic, ps
			req.Topics = append(req.Topics, rt)
		}
		return tb.send(tb.pinned(req.Key(), version), req).(*kmsg.AddPartitionsToTxnResponse)
	}
	end := func(version int16, epoch int16, commit bool) int16 {
		t.Helper()
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = "tx", ip.ProducerID, epoch, commit
		return tb.send(tb.pinned(req.Key(), version), req).(*kmsg.EndTxnResponse).ErrorCode
	}

	wantCode(t, "end with no transaction", end(3, ip.ProducerEpoch, true), kerr.InvalidTxnState)
	r := add(3, ip.ProducerEpoch, map[string][]int32{"t": {0, 5}})
	for _, p := range r.Topics[0].Partitions {
		want := kerr.OperationNotAttempted
		if p.Partition == 5 {
			want = kerr.UnknownTopicOrPartition
		}
		wantCode(t, "partial add", p.ErrorCode, want)
	}
	wantCode(t, "add with a future epoch v3", add(3, ip.ProducerEpoch+1, map[string][]int32{"t": {0}}).Topics[0].Partitions[0].ErrorCode, kerr.ProducerFenced)
	wantCode(t, "add with a future epoch v1", add(1, ip.ProducerEpoch+1, map[string][]int32{"t": {0}}).Topics[0].Partitions[0].ErrorCode, kerr.InvalidProducerEpoch)
	wantOK(t, "add", add(3, ip.ProducerEpoch, map[string][]int32{"t": {0, 1}}).Topics[0].Partitions[1].ErrorCode)
	wantCode(t, "end with a future epoch v1", end(1, ip.ProducerEpoch+1, true), kerr.InvalidProducerEpoch)
	wantOK(t, "commit", end(3, ip.ProducerEpoch, true))
	wantOK(t, "retried commit", end(0, ip.ProducerEpoch, true))
	wantCode(t, "abort after commit", end(3, ip.ProducerEpoch, false), kerr.InvalidTxnState)
}

func wantOK(t *testing.T, what string, code int16) {
	t.Helper()
	if code != 0 {
		t.Errorf("%s: error code %v, want none", what, kerr.ErrorForCode(code))
	}
}
