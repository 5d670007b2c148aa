package handlers

// Authorization rules of the group, config and admin APIs (see
// authz_rules.go).

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/auth"
)

// ruleGroup is the rule of the membership APIs: READ on the group, or the
// whole request fails with GROUP_AUTHORIZATION_FAILED.
func ruleGroup(group func(kmsg.Request) string) authzRule {
	return func(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
		if a.group(opRead, group(req)) {
			return nil, nil, false
		}
		resp := withErrorCode(req.ResponseKind(), groupDenied)
		if jr, ok := resp.(*kmsg.JoinGroupResponse); ok {
			jr.Generation = -1 // as Kafka answers a refused join
		}
		return resp, nil, false
	}
}

// ruleOffsetCommit: READ on the group for everything, then READ on each
// topic.
func ruleOffsetCommit(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.OffsetCommitRequest)
	groupOK := a.group(opRead, r.Group)
	code := groupDenied
	if groupOK {
		code = topicDenied
	}
	denied := split(&r.Topics, func(t *kmsg.OffsetCommitRequestTopic) bool { return groupOK && a.topic(opRead, t.Topic) })
	return finishing(denied, len(r.Topics), func(resp kmsg.Response, ts []kmsg.OffsetCommitRequestTopic) {
		or := resp.(*kmsg.OffsetCommitResponse)
		for _, t := range ts {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			or.Topics = append(or.Topics, rt)
		}
	})
}

// ruleOffsetFetch: DESCRIBE on the group, and the topics the principal
// cannot describe are left out of the answer (Kafka does the same: their
// offsets are not disclosed).
func ruleOffsetFetch(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.OffsetFetchRequest)
	if r.Version < 8 {
		if !a.group(opDescribe, r.Group) {
			return withErrorCode(r.ResponseKind(), groupDenied), nil, false
		}
		// Named topics the principal cannot describe are refused one by
		// one; when it asks for all, they are left out.
		var denied []kmsg.OffsetFetchRequestTopic
		named := r.Topics != nil
		if named {
			denied = split(&r.Topics, func(t *kmsg.OffsetFetchRequestTopic) bool { return a.topic(opDescribe, t.Topic) })
		}
		return nil, func(resp kmsg.Response) kmsg.Response {
			or := resp.(*kmsg.OffsetFetchResponse)
			if !named {
				or.Topics = keepTopics(a, or.Topics, func(t *kmsg.OffsetFetchResponseTopic) string { return t.Topic })
			}
			for _, t := range denied {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition, rp.ErrorCode, rp.Offset, rp.LeaderEpoch = p, topicDenied, -1, -1
					rt.Partitions = append(rt.Partitions, rp)
				}
				or.Topics = append(or.Topics, rt)
			}
			return or
		}, false
	}
	deniedGroups := split(&r.Groups, func(g *kmsg.OffsetFetchRequestGroup) bool { return a.group(opDescribe, g.Group) })
	return nil, func(resp kmsg.Response) kmsg.Response {
		or := resp.(*kmsg.OffsetFetchResponse)
		for i := range or.Groups {
			g := &or.Groups[i]
			g.Topics = keepTopics(a, g.Topics, func(t *kmsg.OffsetFetchResponseGroupTopic) string { return t.Topic })
		}
		for _, g := range deniedGroups {
			rg := kmsg.NewOffsetFetchResponseGroup()
			rg.Group, rg.ErrorCode = g.Group, groupDenied
			or.Groups = append(or.Groups, rg)
		}
		return or
	}, len(r.Groups) == 0
}

// keepTopics drops the topics a cannot describe from an answer.
func keepTopics[T any](a *authz, ts []T, name func(*T) string) []T {
	kept := ts[:0]
	for i := range ts {
		if a.quiet(opDescribe, kmsg.ACLResourceTypeTopic, name(&ts[i])) {
			kept = append(kept, ts[i])
		}
	}
	return kept
}

func ruleFindCoordinator(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.FindCoordinatorRequest)
	ok := func(key string) bool {
		if r.CoordinatorType == 1 {
			return a.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, key)
		}
		return a.group(opDescribe, key)
	}
	code := groupDenied
	if r.CoordinatorType == 1 {
		code = txnDenied
	}
	if r.Version < 4 {
		if ok(r.CoordinatorKey) {
			return nil, nil, false
		}
		resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.ErrorCode, resp.NodeID, resp.Port = code, -1, -1
		return resp, nil, false
	}
	denied := split(&r.CoordinatorKeys, func(k *string) bool { return ok(*k) })
	return finishing(denied, len(r.CoordinatorKeys), func(resp kmsg.Response, keys []string) {
		fr := resp.(*kmsg.FindCoordinatorResponse)
		for _, k := range keys {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.ErrorCode, c.NodeID, c.Port = k, code, -1, -1
			fr.Coordinators = append(fr.Coordinators, c)
		}
	})
}

func ruleDescribeGroups(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.DescribeGroupsRequest)
	denied := split(&r.Groups, func(g *string) bool { return a.group(opDescribe, *g) })
	return finishing(denied, len(r.Groups), func(resp kmsg.Response, gs []string) {
		dr := resp.(*kmsg.DescribeGroupsResponse)
		for _, g := range gs {
			rg := kmsg.NewDescribeGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, groupDenied
			dr.Groups = append(dr.Groups, rg)
		}
	})
}

// ruleListGroups lists every group with DESCRIBE on the cluster, else only
// the groups the principal can describe.
func ruleListGroups(a *authz, _ kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	if a.quiet(opDescribe, kmsg.ACLResourceTypeCluster, auth.ClusterResourceName) {
		return nil, nil, false
	}
	return nil, func(resp kmsg.Response) kmsg.Response {
		lr := resp.(*kmsg.ListGroupsResponse)
		kept := lr.Groups[:0]
		for _, g := range lr.Groups {
			if a.quiet(opDescribe, kmsg.ACLResourceTypeGroup, g.Group) {
				kept = append(kept, g)
			}
		}
		lr.Groups = kept
		return lr
	}, false
}

func ruleDeleteGroups(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
	r := req.(*kmsg.DeleteGroupsRequest)
	denied := split(&r.Groups, func(g *string) bool { return a.group(opDelete, *g) })
	return finishing(denied, len(r.Groups), func(resp kmsg.Response, gs []string) {
		dr := resp.(*kmsg.DeleteGroupsResponse)
		for _, g := range gs {
			rg := kmsg.NewDeleteGroupsResponseGroup()
			rg.Group, rg.ErrorCode = g, groupDenied
			dr.Groups = append(dr.Groups, rg)
		}
	})
}
