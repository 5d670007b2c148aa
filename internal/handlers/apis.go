package handlers

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handler adapts a typed handler function to the dispatch table.
func handler[Req kmsg.Request, Resp kmsg.Response](fn func(h *Handlers, ctx context.Context, rc *reqContext, req Req) Resp) func(*Handlers, context.Context, *reqContext, kmsg.Request) kmsg.Response {
	return func(h *Handlers, ctx context.Context, rc *reqContext, req kmsg.Request) kmsg.Response {
		resp := fn(h, ctx, rc, req.(Req))
		// A handler returns a nil *Resp for "no response" (acks=0); it
		// must become a nil interface, not an interface holding nil.
		var none Resp
		if any(resp) == any(none) {
			return nil
		}
		return resp
	}
}

// implementedAPIs is the single list of APIs and versions Spool speaks. The
// minimum versions exclude pre-0.11 message formats: Spool stores only
// magic v2 record batches.
func implementedAPIs() []api {
	return []api{
		{key: 0, minVersion: 3, maxVersion: 12, serve: handler(handleProduce)},
		{key: 1, minVersion: 4, maxVersion: 13, serve: handler(handleFetch)},
		{key: 2, minVersion: 1, maxVersion: 8, serve: handler(handleListOffsets)},
		{key: 3, minVersion: 0, maxVersion: 12, serve: handler(handleMetadata)},
		{key: 8, minVersion: 0, maxVersion: 9, serve: handler(handleOffsetCommit)},
		{key: 9, minVersion: 0, maxVersion: 9, serve: handler(handleOffsetFetch)},
		{key: 10, minVersion: 0, maxVersion: 6, serve: handler(handleFindCoordinator)},
		{key: 11, minVersion: 0, maxVersion: 9, serve: handler(handleJoinGroup)},
		{key: 12, minVersion: 0, maxVersion: 4, serve: handler(handleHeartbeat)},
		{key: 13, minVersion: 0, maxVersion: 5, serve: handler(handleLeaveGroup)},
		{key: 14, minVersion: 0, maxVersion: 5, serve: handler(handleSyncGroup)},
		{key: 15, minVersion: 0, maxVersion: 5, serve: handler(handleDescribeGroups)},
		{key: 16, minVersion: 0, maxVersion: 5, serve: handler(handleListGroups)},
		{key: 17, minVersion: 0, maxVersion: 1, serve: handler(handleSaslHandshake)},
		{key: 18, minVersion: 0, maxVersion: 4, serve: handler(handleApiVersions)},
		{key: 19, minVersion: 0, maxVersion: 7, serve: handler(handleCreateTopics)},
		{key: 20, minVersion: 0, maxVersion: 6, serve: handler(handleDeleteTopics)},
		{key: 21, minVersion: 0, maxVersion: 2, serve: handler(handleDeleteRecords)},
		{key: 22, minVersion: 0, maxVersion: 5, serve: handler(handleInitProducerID)},
		{key: 23, minVersion: 0, maxVersion: 4, serve: handler(handleOffsetForLeaderEpoch)},
		{key: 24, minVersion: 0, maxVersion: 3, serve: handler(handleAddPartitionsToTxn)},
		{key: 26, minVersion: 0, maxVersion: 3, serve: handler(handleEndTxn)},
		{key: 29, minVersion: 0, maxVersion: 3, serve: handler(handleDescribeACLs)},
		{key: 30, minVersion: 0, maxVersion: 3, serve: handler(handleCreateACLs)},
		{key: 31, minVersion: 0, maxVersion: 3, serve: handler(handleDeleteACLs)},
		{key: 32, minVersion: 0, maxVersion: 4, serve: handler(handleDescribeConfigs)},
		{key: 33, minVersion: 0, maxVersion: 2, serve: handler(handleAlterConfigs)},
		{key: 35, minVersion: 0, maxVersion: 5, serve: handler(handleDescribeLogDirs)},
		{key: 36, minVersion: 0, maxVersion: 2, serve: handler(handleSaslAuthenticate)},
		{key: 37, minVersion: 0, maxVersion: 3, serve: handler(handleCreatePartitions)},
		{key: 42, minVersion: 0, maxVersion: 2, serve: handler(handleDeleteGroups)},
		{key: 43, minVersion: 0, maxVersion: 2, serve: handler(handleElectLeaders)},
		{key: 44, minVersion: 0, maxVersion: 1, serve: handler(handleIncrementalAlterConfigs)},
		{key: 45, minVersion: 0, maxVersion: 0, serve: handler(handleAlterPartitionReassignments)},
		{key: 46, minVersion: 0, maxVersion: 0, serve: handler(handleListPartitionReassignments)},
		{key: 47, minVersion: 0, maxVersion: 0, serve: handler(handleOffsetDelete)},
		{key: 50, minVersion: 0, maxVersion: 0, serve: handler(handleDescribeUserScramCredentials)},
		{key: 51, minVersion: 0, maxVersion: 0, serve: handler(handleAlterUserScramCredentials)},
		{key: 55, minVersion: 0, maxVersion: 1, serve: handler(handleDescribeQuorum)},
		{key: 60, minVersion: 0, maxVersion: 2, serve: handler(handleDescribeCluster)},
	}
}
