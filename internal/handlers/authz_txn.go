package handlers

// Authorization rules of the transaction APIs (see authz_rules.go),
// Kafka's: WRITE on the transactional id, and for AddPartitionsToTxn WRITE
// on every topic added.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ruleAddPartitionsToTxn: without WRITE on the transactional id every
// partition gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED; otherwise, if any
// topic lacks WRITE, its partitions get TOPIC_AUTHORIZATION_FAILED and the
// others OPERATION_NOT_ATTEMPTED (the request is all or nothing).
func ruleAddPartitionsToTxn(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.AddPartitionsToTxnRequest)
	idOK := a.allowed(opWrite, kmsg.ACLResourceTypeTransactionalId, r.TransactionalID)
	deniedTopics := make(map[string]bool)
	for _, t := range r.Topics {
		if idOK && !a.topic(opWrite, t.Topic) {
			deniedTopics[t.Topic] = true
		}
	}
	if idOK && len(deniedTopics) == 0 {
		return nil, nil, false
	}
	resp := r.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	for _, t := range r.Topics {
		code := txnDenied
		switch {
		case idOK && deniedTopics[t.Topic]:
			code = topicDenied
		case idOK:
			code = kerr.OperationNotAttempted.Code
		}
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil, false
}

// ruleEndTxn: WRITE on the transactional id.
func ruleEndTxn(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.EndTxnRequest)
	if a.allowed(opWrite, kmsg.ACLResourceTypeTransactionalId, r.TransactionalID) {
		return nil, nil, false
	}
	return withErrorCode(r.ResponseKind(), txnDenied), nil, false
}
