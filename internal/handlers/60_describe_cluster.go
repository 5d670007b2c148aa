package handlers

// DescribeCluster (key 60, KIP-700).
//
// v1 adds the endpoint type (KIP-919: 1 lists brokers, 2 controllers, which
// only controllers answer); v2 can include fenced brokers and flags them
// (KIP-1073).
//
// As in Metadata, the controller id is the metadata quorum leader when it
// is a registered broker, else this broker: clients only need a broker to
// send controller-bound requests to, and every broker accepts them.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterOperations is the set of operations on the CLUSTER resource, as a
// DescribeCluster bitfield (bit n set = operation n). Without ACLs every
// client is authorized for all of them, as in Kafka without an authorizer.
const clusterOperations = 1<<kmsg.ACLOperationCreate | 1<<kmsg.ACLOperationAlter |
	1<<kmsg.ACLOperationDescribe | 1<<kmsg.ACLOperationClusterAction |
	1<<kmsg.ACLOperationDescribeConfigs | 1<<kmsg.ACLOperationAlterConfigs |
	1<<kmsg.ACLOperationIdempotentWrite

// Endpoint types of DescribeCluster v1+.
const (
	endpointBrokers     = 1
	endpointControllers = 2
)

func handleDescribeCluster(h *Handlers, _ context.Context, rc *reqContext, req *kmsg.DescribeClusterRequest) *kmsg.DescribeClusterResponse {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	if req.Version >= 1 && req.EndpointType != endpointBrokers {
		err := newRequestError(kerr.UnsupportedEndpointType, "this is a broker endpoint: only endpoint type 1 (brokers) is served")
		if req.EndpointType != endpointControllers {
			err = newRequestError(kerr.InvalidRequest, "unknown endpoint type %d", req.EndpointType)
		}
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp
	}
	img := h.image()
	resp.ClusterID = img.ClusterID
	resp.ControllerID = img.ControllerID
	if b, ok := img.Brokers[resp.ControllerID]; !ok || b.Fenced {
		resp.ControllerID = h.NodeID
	}
	for _, b := range img.SortedBrokers() {
		if b.Fenced && !req.IncludeFencedBrokers {
			continue
		}
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.Host, rb.Port = b.Endpoint(rc.listener()) // as in Metadata
		rb.NodeID, rb.Rack, rb.IsFenced = b.ID, b.Rack, b.Fenced
		resp.Brokers = append(resp.Brokers, rb)
	}
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterOperations
	}
	return resp
}
