package handlers

// FindCoordinator (key 10).
//
// v1 added the key type (0 group, 1 transactional id), throttle time and an
// error message; v2 changed only throttling; v3 is flexible; v4 batches
// keys (KIP-699: CoordinatorKeys in, Coordinators out); v5 and v6 added
// error codes and share-group keys (type 2, KIP-932) that Spool does not
// produce or serve.
//
// A group's coordinator is the leader of the __consumer_offsets partition
// the group id hashes to. The first lookup creates that topic, as Kafka
// does, but waits for it, so the client gets an answer instead of a retry.
// Transaction coordinators do not exist yet: UNSUPPORTED_VERSION, which
// clients treat as final, where COORDINATOR_NOT_AVAILABLE would make a
// transactional producer retry for its whole timeout.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/group"
)

// Coordinator key types.
const (
	coordinatorGroup       = 0
	coordinatorTransaction = 1
)

func handleFindCoordinator(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.FindCoordinatorRequest) *kmsg.FindCoordinatorResponse {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, key := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID, c.Port = key, -1, -1
		b, err := h.findCoordinator(ctx, req.CoordinatorType, key)
		if err != nil {
			c.ErrorCode, c.ErrorMessage = errorCode(err), errorMessage(err)
		} else {
			c.NodeID, c.Host, c.Port = b.ID, b.Host, b.Port
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	if req.Version < 4 {
		c := resp.Coordinators[0]
		resp.Coordinators = nil
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = c.ErrorCode, c.NodeID, c.Host, c.Port
		if req.Version >= 1 {
			resp.ErrorMessage = c.ErrorMessage
		}
	}
	return resp
}

// findCoordinator returns the broker coordinating key.
func (h *Handlers) findCoordinator(ctx context.Context, keyType int8, key string) (controller.Broker, error) {
	switch keyType {
	case coordinatorGroup:
	case coordinatorTransaction:
		return controller.Broker{}, newRequestError(kerr.UnsupportedVersion, "transactions are not supported by this broker yet")
	default:
		return controller.Broker{}, newRequestError(kerr.InvalidRequest, "unsupported coordinator key type %d", keyType)
	}
	if h.Groups == nil {
		return controller.Broker{}, newRequestError(kerr.CoordinatorNotAvailable, "this broker runs no group coordinator")
	}
	img := h.image()
	t := img.Topic(group.TopicName)
	if t == nil {
		if err := h.createOffsetsTopic(ctx, img); err != nil {
			return controller.Broker{}, err
		}
		img = h.image()
		if t = img.Topic(group.TopicName); t == nil {
			return controller.Broker{}, newRequestError(kerr.CoordinatorNotAvailable, "%s is being created", group.TopicName)
		}
	}
	p := t.Partitions[group.PartitionFor(key, len(t.Partitions))]
	b, ok := img.Brokers[p.Leader]
	if !ok || b.Fenced {
		return controller.Broker{}, newRequestError(kerr.CoordinatorNotAvailable, "partition %d of %s has no live leader", p.Index, group.TopicName)
	}
	return b, nil
}

// createOffsetsTopic creates __consumer_offsets and opens this broker's
// replicas of it (which also hands the led partitions to the coordinator).
func (h *Handlers) createOffsetsTopic(ctx context.Context, img *controller.Image) error {
	spec := h.Groups.TopicSpec(img)
	err := h.Controller.CreateTopics(ctx, []controller.TopicSpec{spec}, false)[0]
	switch {
	case err == nil:
		h.Logger.Info("created the group coordinator topic", "topic", spec.Name, "partitions", spec.NumPartitions,
			"replication_factor", spec.ReplicationFactor)
	case errors.Is(err, controller.ErrTopicExists):
		// Another request created it first.
	default:
		h.Logger.Warn("creating the group coordinator topic failed", "topic", spec.Name, "err", err)
		return newRequestError(kerr.CoordinatorNotAvailable, "could not create %s (see the broker log)", spec.Name)
	}
	if h.SyncReplicas != nil {
		h.SyncReplicas()
	}
	return nil
}
