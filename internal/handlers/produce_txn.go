package handlers

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/partition"
	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/txn"
)

// produceJob is one partition of a Produce request to append locally.
type produceJob struct {
	p    *partition.Partition
	data []byte
	out  *kmsg.ProduceResponseTopicPartition
	// transactional routes the data to ProduceTransactional: the
	// coordinator has the partition in the producer's ongoing
	// transaction.
	transactional bool
}

// msgRemoteCoordinator explains UNSUPPORTED_VERSION for a transactional
// produce whose coordinator is another broker: verifying a produce
// against a remote coordinator is not built yet.
const msgRemoteCoordinator = "the transaction coordinator of this transactional id is not on this broker (transactions across brokers are not supported yet)"

// checkTransactional asks the transaction coordinator whether each job's
// partition belongs to the ongoing transaction of id's producer (taken
// from the batch header) and returns the jobs that do. Others get their
// error code: INVALID_TXN_STATE for a partition not added,
// INVALID_PRODUCER_EPOCH for a stale epoch, INVALID_RECORD for a batch
// that is not transactional. The coordinator must be local: in a cluster
// it may be another broker, which gets UNSUPPORTED_VERSION until produce
// verification (KIP-890's AddPartitionsToTxn v4 verify-only) is built.
// release, if not nil, must be called once the accepted jobs are appended.
func (h *Handlers) checkTransactional(id string, version int16, jobs []*produceJob) (accepted []*produceJob, release func(), failed bool) {
	fail := func(j *produceJob, code int16, msg string) {
		j.out.ErrorCode, failed = code, true
		if version >= 8 && msg != "" {
			j.out.ErrorMessage = kmsg.StringPtr(msg)
		}
	}
	if h.Txn == nil || !h.Txn.IsCoordinator(id) {
		for _, j := range jobs {
			fail(j, kerr.UnsupportedVersion.Code, msgRemoteCoordinator)
		}
		return nil, nil, true
	}
	var (
		pid   int64 = -1
		epoch int16
		tps   []txn.TopicPartition
		check []*produceJob
	)
	for _, j := range jobs {
		hdr, err := record.ParseHeader(j.data)
		switch {
		case err != nil:
			fail(j, kerr.CorruptMessage.Code, err.Error())
			continue
		case !hdr.Transactional() || hdr.Control() || hdr.ProducerID < 0:
			fail(j, kerr.InvalidRecord.Code, "a transactional produce needs transactional batches")
			continue
		case pid >= 0 && (hdr.ProducerID != pid || hdr.ProducerEpoch != epoch):
			fail(j, kerr.InvalidRecord.Code, "batches of one transactional produce must share the producer id and epoch")
			continue
		}
		pid, epoch = hdr.ProducerID, hdr.ProducerEpoch
		tp := j.p.TopicPartition()
		tps = append(tps, txn.TopicPartition{Topic: tp.Topic, Partition: tp.Partition})
		check = append(check, j)
	}
	if len(check) == 0 {
		return nil, nil, failed
	}
	errs, release, err := h.Txn.BeginProduce(id, pid, epoch, tps)
	if err != nil {
		code := errorCode(err)
		switch {
		case errors.Is(err, txn.ErrProducerFenced):
			code = kerr.InvalidProducerEpoch.Code
		case errors.Is(err, txn.ErrNotCoordinator), errors.Is(err, txn.ErrCoordinatorLoading):
			// Retriable for a producer: it refreshes metadata and
			// tries again once the coordinator has loaded.
			code = kerr.NotLeaderForPartition.Code
		}
		for _, j := range check {
			fail(j, code, err.Error())
		}
		return nil, nil, true
	}
	for i, j := range check {
		if errs[i] != nil {
			fail(j, errorCode(errs[i]), errs[i].Error())
			continue
		}
		accepted = append(accepted, j)
	}
	return accepted, release, failed
}
