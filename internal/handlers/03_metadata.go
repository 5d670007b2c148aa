package handlers

// Metadata (key 3).
//
// v1 added racks, the controller id and internal flags, and made a null
// topic list mean "all topics" (v0: an empty list does); v2 cluster id; v4
// allow_auto_topic_creation; v5 offline replicas; v7 leader epochs; v8-v10
// authorized operations; v9 flexible; v10 topic ids; v12 lookup by topic id;
// v13 a top-level error code.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/controller"
)

func handleMetadata(h *Handlers, ctx context.Context, rc *reqContext, req *kmsg.MetadataRequest) *kmsg.MetadataResponse {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	img := h.image()

	allTopics := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	autoCreate := h.Config.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	if autoCreate && !allTopics {
		if created := h.autoCreate(ctx, img, req.Topics); created {
			img = h.image()
		}
	}

	listed := listedBrokers(img)
	for _, b := range img.SortedBrokers() {
		if !listed[b.ID] {
			continue
		}
		rb := kmsg.NewMetadataResponseBroker()
		// Each broker's address on the listener this client came in on:
		// an SSL client must be sent to SSL ports.
		rb.Host, rb.Port = b.Endpoint(rc.listener())
		rb.NodeID, rb.Rack = b.ID, b.Rack
		resp.Brokers = append(resp.Brokers, rb)
	}
	cid := img.ClusterID
	resp.ClusterID = &cid
	resp.ControllerID = img.ControllerID
	if !listed[resp.ControllerID] {
		resp.ControllerID = h.NodeID
	}

	if allTopics {
		for _, t := range img.Topics() {
			resp.Topics = append(resp.Topics, metadataTopic(img, t))
		}
		return resp
	}
	for _, rt := range req.Topics {
		var t *controller.Topic
		if rt.Topic != nil {
			t = img.Topic(*rt.Topic)
		} else {
			t = img.TopicByID(rt.TopicID)
		}
		if t != nil {
			resp.Topics = append(resp.Topics, metadataTopic(img, t))
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		if rt.Topic == nil {
			mt.ErrorCode = kerr.UnknownTopicID.Code
		} else if err := controller.ValidateTopicName(*rt.Topic); err != nil {
			mt.ErrorCode = kerr.InvalidTopicException.Code
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

// autoCreate creates the requested topics that do not exist yet, as
// auto.create.topics.enable does in Kafka. Internal (__-prefixed) and
// invalid names are never auto-created. It reports whether anything was.
func (h *Handlers) autoCreate(ctx context.Context, img *controller.Image, topics []kmsg.MetadataRequestTopic) bool {
	var specs []controller.TopicSpec
	for _, rt := range topics {
		if rt.Topic == nil || img.Topic(*rt.Topic) != nil || isInternalName(*rt.Topic) {
			continue
		}
		if controller.ValidateTopicName(*rt.Topic) != nil {
			continue
		}
		specs = append(specs, controller.TopicSpec{Name: *rt.Topic, NumPartitions: -1, ReplicationFactor: -1})
	}
	if len(specs) == 0 {
		return false
	}
	created := false
	for i, err := range h.Controller.CreateTopics(ctx, specs, false) {
		switch {
		case err == nil:
			created = true
			h.Logger.Info("auto-created topic", "topic", specs[i].Name)
		case !errors.Is(err, controller.ErrTopicExists):
			h.Logger.Warn("auto-creating topic failed", "topic", specs[i].Name, "err", err)
		}
	}
	if created && h.SyncReplicas != nil {
		h.SyncReplicas()
	}
	return created
}

func isInternalName(name string) bool { return len(name) >= 2 && name[:2] == "__" }

// listedBrokers is the set of brokers Metadata lists: the unfenced ones,
// which clients may use, plus any fenced broker still named as a
// partition's leader. Fencing moves leadership away, so that is at most a
// passing state, but every leader in a response must resolve to a broker.
func listedBrokers(img *controller.Image) map[int32]bool {
	listed := make(map[int32]bool, len(img.Brokers))
	for id, b := range img.Brokers {
		if !b.Fenced {
			listed[id] = true
		}
	}
	if len(listed) == len(img.Brokers) {
		return listed
	}
	for _, t := range img.Topics() {
		for i := range t.Partitions {
			if l := t.Partitions[i].Leader; l >= 0 {
				if _, ok := img.Brokers[l]; ok {
					listed[l] = true
				}
			}
		}
	}
	return listed
}

func metadataTopic(img *controller.Image, t *controller.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic, mt.TopicID, mt.IsInternal = &name, t.ID, t.Internal
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition, mp.Leader, mp.LeaderEpoch = p.Index, p.Leader, p.LeaderEpoch
		mp.Replicas, mp.ISR = p.Replicas, p.ISR
		for _, r := range p.Replicas {
			if b, ok := img.Brokers[r]; !ok || b.Fenced {
				mp.OfflineReplicas = append(mp.OfflineReplicas, r)
			}
		}
		// Leader -1 is an offline partition (no eligible in-sync
		// replica); clients retry LEADER_NOT_AVAILABLE.
		if _, ok := img.Brokers[p.Leader]; !ok {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
