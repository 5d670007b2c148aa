package handlers

// The per-API authorization rules, Kafka's (KafkaApis): what each request
// needs and which error a refused item gets. See authz.go for how a rule is
// applied.

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/auth"
)

const (
	opRead            = kmsg.ACLOperationRead
	opWrite           = kmsg.ACLOperationWrite
	opCreate          = kmsg.ACLOperationCreate
	opDelete          = kmsg.ACLOperationDelete
	opAlter           = kmsg.ACLOperationAlter
	opDescribe        = kmsg.ACLOperationDescribe
	opDescribeConfigs = kmsg.ACLOperationDescribeConfigs
	opAlterConfigs    = kmsg.ACLOperationAlterConfigs
	opIdempotentWrite = kmsg.ACLOperationIdempotentWrite
)

var (
	topicDenied   = kerr.TopicAuthorizationFailed.Code
	groupDenied   = kerr.GroupAuthorizationFailed.Code
	clusterDenied = kerr.ClusterAuthorizationFailed.Code
	txnDenied     = kerr.TransactionalIDAuthorizationFailed.Code
)

// authzRules are the APIs with a rule of their own; any other API needs
// ALTER on the cluster (requireCluster), and ApiVersions and the SASL
// APIs need nothing (alwaysAllowed).
var authzRules = map[int16]authzRule{
	0:  ruleProduce,
	1:  ruleFetch,
	2:  ruleListOffsets,
	3:  ruleMetadata,
	8:  ruleOffsetCommit,
	9:  ruleOffsetFetch,
	10: ruleFindCoordinator,
	11: ruleGroup(func(r kmsg.Request) string { return r.(*kmsg.JoinGroupRequest).Group }),
	12: ruleGroup(func(r kmsg.Request) string { return r.(*kmsg.HeartbeatRequest).Group }),
	13: ruleGroup(func(r kmsg.Request) string { return r.(*kmsg.LeaveGroupRequest).Group }),
	14: ruleGroup(func(r kmsg.Request) string { return r.(*kmsg.SyncGroupRequest).Group }),
	15: ruleDescribeGroups,
	16: ruleListGroups,
	19: ruleCreateTopics,
	20: ruleDeleteTopics,
	21: ruleDeleteRecords,
	22: ruleInitProducerID,
	23: ruleOffsetForLeaderEpoch,
	24: ruleAddPartitionsToTxn,
	26: ruleEndTxn,
	29: requireCluster(opDescribe),
	30: ruleCreateACLs,
	31: ruleDeleteACLs,
	32: ruleDescribeConfigs,
	33: ruleAlterConfigs,
	35: requireCluster(opDescribe),
	37: ruleCreatePartitions,
	42: ruleDeleteGroups,
	44: ruleIncrementalAlterConfigs,
	46: requireCluster(opDescribe),
	50: requireCluster(opDescribe),
	51: ruleAlterScram,
	55: requireCluster(opDescribe),
	60: requireCluster(opDescribe),
}

// split keeps the items ok accepts and returns the others.
func split[T any](items *[]T, ok func(*T) bool) (denied []T) {
	kept := (*items)[:0:0]
	for i := range *items {
		if ok(&(*items)[i]) {
			kept = append(kept, (*items)[i])
		} else {
			denied = append(denied, (*items)[i])
		}
	}
	*items = kept
	return denied
}

// finishing builds a rule's result from its denied items: nothing denied
// needs no finish; all denied answers without the handler.
func finishing[T any](denied []T, left int, add func(kmsg.Response, []T)) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	if len(denied) == 0 {
		return nil, nil, false
	}
	return nil, func(resp kmsg.Response) kmsg.Response {
		if resp != nil {
			add(resp, denied)
		}
		return resp
	}, left == 0
}

func ruleProduce(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.ProduceRequest)
	if r.TransactionID != nil && !a.allowed(opWrite, kmsg.ACLResourceTypeTransactionalId, *r.TransactionID) {
		resp := r.ResponseKind().(*kmsg.ProduceResponse)
		for _, t := range r.Topics {
			produceErrors(resp, t, txnDenied)
		}
		return resp, nil, false
	}
	img := a.h.image()
	codes := map[string]int16{}
	denied := split(&r.Topics, func(t *kmsg.ProduceRequestTopic) bool {
		switch {
		case !a.topic(opWrite, t.Topic):
			codes[t.Topic] = topicDenied
		case img.Topic(t.Topic) == nil && !a.canCreateTopic(t.Topic):
			// Spool's produce auto-creates; without CREATE the topic
			// stays unknown, as on a Kafka broker that does not.
			codes[t.Topic] = kerr.UnknownTopicOrPartition.Code
		default:
			return true
		}
		return false
	})
	acks0 := r.Acks == 0
	_, finish, empty := finishing(denied, len(r.Topics), func(resp kmsg.Response, ts []kmsg.ProduceRequestTopic) {
		for _, t := range ts {
			produceErrors(resp.(*kmsg.ProduceResponse), t, codes[t.Topic])
		}
	})
	if empty && acks0 {
		// Nothing to write and nothing to answer: acks=0 gets no response.
		return nil, func(kmsg.Response) kmsg.Response { return nil }, true
	}
	return nil, finish, empty
}

func produceErrors(resp *kmsg.ProduceResponse, t kmsg.ProduceRequestTopic, code int16) {
	rt := kmsg.NewProduceResponseTopic()
	rt.Topic = t.Topic
	for _, p := range t.Partitions {
		rp := kmsg.NewProduceResponseTopicPartition()
		rp.Partition, rp.ErrorCode = p.Partition, code
		rt.Partitions = append(rt.Partitions, rp)
	}
	resp.Topics = append(resp.Topics, rt)
}

func ruleFetch(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.FetchRequest)
	img := a.h.image()
	denied := split(&r.Topics, func(t *kmsg.FetchRequestTopic) bool {
		name := t.Topic
		if r.Version >= 13 {
			if tp := img.TopicByID(t.TopicID); tp != nil {
				name = tp.Name
			} else {
				return true // the handler answers UNKNOWN_TOPIC_ID
			}
		}
		return a.topic(opRead, name)
	})
	return finishing(denied, len(r.Topics), func(resp kmsg.Response, ts []kmsg.FetchRequestTopic) {
		var fr *kmsg.FetchResponse
		switch x := resp.(type) {
		case *fetchResponse:
			fr = x.FetchResponse
		case *kmsg.FetchResponse:
			fr = x
		default:
			return
		}
		for _, t := range ts {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = t.Topic, t.TopicID
			for _, p := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, topicDenied
				rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			fr.Topics = append(fr.Topics, rt)
		}
	})
}

func ruleListOffsets(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.ListOffsetsRequest)
	denied := split(&r.Topics, func(t *kmsg.ListOffsetsRequestTopic) bool { return a.topic(opDescribe, t.Topic) })
	return finishing(denied, len(r.Topics), func(resp kmsg.Response, ts []kmsg.ListOffsetsRequestTopic) {
		lr := resp.(*kmsg.ListOffsetsResponse)
		for _, t := range ts {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.Offset, rp.Timestamp = p.Partition, topicDenied, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			lr.Topics = append(lr.Topics, rt)
		}
	})
}

func ruleOffsetForLeaderEpoch(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.OffsetForLeaderEpochRequest)
	denied := split(&r.Topics, func(t *kmsg.OffsetForLeaderEpochRequestTopic) bool { return a.topic(opDescribe, t.Topic) })
	return finishing(denied, len(r.Topics), func(resp kmsg.Response, ts []kmsg.OffsetForLeaderEpochRequestTopic) {
		or := resp.(*kmsg.OffsetForLeaderEpochResponse)
		for _, t := range ts {
			rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.LeaderEpoch, rp.EndOffset = p.Partition, topicDenied, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			or.Topics = append(or.Topics, rt)
		}
	})
}

// ruleMetadata hides the topics the principal cannot describe when it
// lists all of them, refuses the named ones with TOPIC_AUTHORIZATION_FAILED,
// and lets a missing topic be auto-created only with CREATE.
func ruleMetadata(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.MetadataRequest)
	all := r.Topics == nil || (r.Version == 0 && len(r.Topics) == 0)
	img := a.h.image()
	unknown := map[string]bool{}
	var denied []kmsg.MetadataRequestTopic
	if !all {
		denied = split(&r.Topics, func(t *kmsg.MetadataRequestTopic) bool {
			if t.Topic == nil {
				if tp := img.TopicByID(t.TopicID); tp != nil {
					return a.topic(opDescribe, tp.Name)
				}
				return true
			}
			if !a.topic(opDescribe, *t.Topic) {
				return false
			}
			if img.Topic(*t.Topic) == nil && !a.canCreateTopic(*t.Topic) {
				unknown[*t.Topic] = true
				return false
			}
			return true
		})
	}
	return nil, func(resp kmsg.Response) kmsg.Response {
		mr := resp.(*kmsg.MetadataResponse)
		if all {
			kept := mr.Topics[:0]
			for _, t := range mr.Topics {
				if t.Topic != nil && a.quiet(opDescribe, kmsg.ACLResourceTypeTopic, *t.Topic) {
					kept = append(kept, t)
				}
			}
			mr.Topics = kept
		}
		for _, t := range denied {
			rt := kmsg.NewMetadataResponseTopic()
			rt.Topic, rt.TopicID, rt.ErrorCode = t.Topic, t.TopicID, topicDenied
			if t.Topic != nil && unknown[*t.Topic] {
				rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			mr.Topics = append(mr.Topics, rt)
		}
		return mr
	}, !all && len(r.Topics) == 0 && r.Version == 0 // v0: no topics would mean all
}

func ruleCreateTopics(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.CreateTopicsRequest)
	denied := split(&r.Topics, func(t *kmsg.CreateTopicsRequestTopic) bool { return a.canCreateTopic(t.Topic) })
	return finishing(denied, len(r.Topics), func(resp kmsg.Response, ts []kmsg.CreateTopicsRequestTopic) {
		cr := resp.(*kmsg.CreateTopicsResponse)
		for _, t := range ts {
			rt := kmsg.NewCreateTopicsResponseTopic()
			rt.Topic, rt.ErrorCode = t.Topic, topicDenied
			rt.NumPartitions, rt.ReplicationFactor = -1, -1
			cr.Topics = append(cr.Topics, rt)
		}
	})
}

func ruleDeleteTopics(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.DeleteTopicsRequest)
	img := a.h.image()
	deniedNames := split(&r.TopicNames, func(n *string) bool { return a.topic(opDelete, *n) })
	denied := split(&r.Topics, func(t *kmsg.DeleteTopicsRequestTopic) bool {
		if t.Topic == nil {
			if tp := img.TopicByID(t.TopicID); tp != nil {
				return a.topic(opDelete, tp.Name)
			}
			return true
		}
		return a.topic(opDelete, *t.Topic)
	})
	if len(deniedNames) == 0 && len(denied) == 0 {
		return nil, nil, false
	}
	return nil, func(resp kmsg.Response) kmsg.Response {
		dr := resp.(*kmsg.DeleteTopicsResponse)
		for _, n := range deniedNames {
			rt := kmsg.NewDeleteTopicsResponseTopic()
			rt.Topic, rt.ErrorCode = kmsg.StringPtr(n), topicDenied
			dr.Topics = append(dr.Topics, rt)
		}
		for _, t := range denied {
			rt := kmsg.NewDeleteTopicsResponseTopic()
			rt.Topic, rt.TopicID, rt.ErrorCode = t.Topic, t.TopicID, topicDenied
			dr.Topics = append(dr.Topics, rt)
		}
		return dr
	}, len(r.TopicNames) == 0 && len(r.Topics) == 0
}

func ruleCreatePartitions(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.CreatePartitionsRequest)
	denied := split(&r.Topics, func(t *kmsg.CreatePartitionsRequestTopic) bool { return a.topic(opAlter, t.Topic) })
	return finishing(denied, len(r.Topics), func(resp kmsg.Response, ts []kmsg.CreatePartitionsRequestTopic) {
		cr := resp.(*kmsg.CreatePartitionsResponse)
		for _, t := range ts {
			rt := kmsg.NewCreatePartitionsResponseTopic()
			rt.Topic, rt.ErrorCode = t.Topic, topicDenied
			cr.Topics = append(cr.Topics, rt)
		}
	})
}

func ruleDeleteRecords(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.DeleteRecordsRequest)
	denied := split(&r.Topics, func(t *kmsg.DeleteRecordsRequestTopic) bool { return a.topic(opDelete, t.Topic) })
	return finishing(denied, len(r.Topics), func(resp kmsg.Response, ts []kmsg.DeleteRecordsRequestTopic) {
		dr := resp.(*kmsg.DeleteRecordsResponse)
		for _, t := range ts {
			rt := kmsg.NewDeleteRecordsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewDeleteRecordsResponseTopicPartition()
				rp.Partition, rp.ErrorCode, rp.LowWatermark = p.Partition, topicDenied, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			dr.Topics = append(dr.Topics, rt)
		}
	})
}

// ruleInitProducerID: a transactional producer needs WRITE on its
// transactional id; an idempotent one IDEMPOTENT_WRITE on the cluster or
// WRITE on some topic (Kafka 3.0+).
func ruleInitProducerID(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.InitProducerIDRequest)
	var code int16
	if r.TransactionalID != nil {
		if !a.allowed(opWrite, kmsg.ACLResourceTypeTransactionalId, *r.TransactionalID) {
			code = txnDenied
		}
	} else if !a.quiet(opIdempotentWrite, kmsg.ACLResourceTypeCluster, auth.ClusterResourceName) &&
		!a.az.AuthorizeAny(a.acls, auth.Request{Principal: a.principal, Host: a.host, Operation: opWrite, ResourceType: kmsg.ACLResourceTypeTopic}) {
		a.cluster(opIdempotentWrite) // for the audit line
		code = clusterDenied
	}
	if code == 0 {
		return nil, nil, false
	}
	resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, -1, -1
	return resp, nil, false
}
