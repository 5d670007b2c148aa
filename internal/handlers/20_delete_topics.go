package handlers

// DeleteTopics (key 20).
//
// v1 added throttle time; v2 only moved throttling after the response; v3
// TOPIC_DELETION_DISABLED (never sent: deletion is always enabled); v4 is
// flexible; v5 adds error messages; v6 names topics by name or by id
// (KIP-516) and answers with both.
//
// Deletion is synchronous: the topics are removed from the metadata log and
// this broker's replicas are deleted before the response is sent, so the
// request timeout is not used.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDeleteTopics(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	var targets []kmsg.DeleteTopicsRequestTopic
	if req.Version >= 6 {
		targets = req.Topics
	} else {
		for i := range req.TopicNames {
			t := kmsg.NewDeleteTopicsRequestTopic()
			t.Topic = &req.TopicNames[i]
			targets = append(targets, t)
		}
	}
	resp.Topics = make([]kmsg.DeleteTopicsResponseTopic, len(targets))

	byName := make(map[string]int)
	byID := make(map[[16]byte]int)
	for _, t := range targets {
		if t.Topic != nil {
			byName[*t.Topic]++
		} else {
			byID[t.TopicID]++
		}
	}

	img := h.image()
	var names []string
	var ids [][16]byte
	var namePos, idPos []int
	fail := func(out *kmsg.DeleteTopicsResponseTopic, err error) {
		out.ErrorCode, out.ErrorMessage = errorCode(err), errorMessage(err)
	}
	for i, t := range targets {
		out := &resp.Topics[i]
		*out = kmsg.NewDeleteTopicsResponseTopic()
		out.Topic, out.TopicID = t.Topic, t.TopicID
		switch {
		case t.Topic != nil && t.TopicID != [16]byte{}:
			fail(out, newRequestError(kerr.InvalidRequest, "topic %q: give a topic name or a topic id, not both", *t.Topic))
		case t.Topic != nil && byName[*t.Topic] > 1:
			fail(out, newRequestError(kerr.InvalidRequest, "topic %q appears more than once in the request", *t.Topic))
		case t.Topic == nil && byID[t.TopicID] > 1:
			fail(out, newRequestError(kerr.InvalidRequest, "topic id %s appears more than once in the request", topicIDString(t.TopicID)))
		case t.Topic != nil:
			// Report the id of the topic being deleted (v6), as Kafka does.
			if topic := img.Topic(*t.Topic); topic != nil {
				out.TopicID = topic.ID
			}
			names, namePos = append(names, *t.Topic), append(namePos, i)
		default:
			if topic := img.TopicByID(t.TopicID); topic != nil {
				name := topic.Name
				out.Topic = &name
			}
			ids, idPos = append(ids, t.TopicID), append(idPos, i)
		}
	}

	deleted := false
	apply := func(errs []error, pos []int) {
		for j, i := range pos {
			if errs[j] != nil {
				fail(&resp.Topics[i], errs[j])
				continue
			}
			deleted = true
		}
	}
	if len(names) > 0 {
		apply(h.Controller.DeleteTopics(ctx, names), namePos)
	}
	if len(ids) > 0 {
		apply(h.Controller.DeleteTopicsByID(ctx, ids), idPos)
	}
	if deleted && h.SyncReplicas != nil {
		h.SyncReplicas()
	}
	return resp
}
