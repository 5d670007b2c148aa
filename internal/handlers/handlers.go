// Package handlers implements the Kafka APIs: one file per API key, each a
// plain function from a kmsg request to a kmsg response. Files are named
// after the key (00_produce.go, 01_fetch.go, ...) and open with a note on
// what the protocol versions Spool accepts changed.
//
// ApiVersions advertises exactly the table in apis.go, so a client never
// sees a version the broker cannot answer.
package handlers

import (
	"context"
	"log/slog"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/auth"
	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/group"
	"github.com/spool-mq/spool/internal/partition"
	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/server"
	"github.com/spool-mq/spool/internal/storage"
	"github.com/spool-mq/spool/internal/txn"
)

// Deps is what the handlers need from the rest of the broker.
type Deps struct {
	NodeID     int32
	Config     *config.Broker
	Controller *controller.Controller
	Partitions *partition.Manager
	Storage    *storage.Manager
	Decoder    *record.Decoder
	Logger     *slog.Logger
	// SyncReplicas makes the local replicas match the current metadata
	// image now (after this broker changed it), so a client that creates
	// a topic can produce to it at once.
	SyncReplicas func()
	// Groups is the consumer group coordinator; nil makes the group APIs
	// answer COORDINATOR_NOT_AVAILABLE.
	Groups *group.Coordinator
	// Txn is the transaction coordinator; nil makes the transactional
	// APIs answer COORDINATOR_NOT_AVAILABLE.
	Txn *txn.Coordinator
	// Authorizer, when set (authorizer.class.name), authorizes every
	// request against the image's ACLs (authz.go); nil serves every
	// request as before ACLs existed.
	Authorizer *auth.Authorizer
}

// Handlers serves every implemented Kafka API. It implements server.Handler.
type Handlers struct {
	Deps
	// fetchBufs recycles the buffers fetches read record batches into;
	// see fetchResponse.
	fetchBufs   sync.Pool
	apis        map[int16]api
	producerIDs producerIDAllocator // InitProducerId's current id block
	fetchMemory *fetchMemory        // consumer fetch record bytes held at once
	audit       auditLog            // rate-limited denied-request lines
}

// api is one implemented Kafka API.
type api struct {
	key        int16
	minVersion int16
	maxVersion int16
	serve      func(h *Handlers, ctx context.Context, rc *reqContext, req kmsg.Request) kmsg.Response
}

// reqContext is the per-request information handlers may need.
type reqContext struct {
	hdr  *server.RequestHeader
	conn *server.ConnInfo
}

// listener is the name of the listener the request came in on, "" when
// unknown (then brokers are reported at their first listener).
func (rc *reqContext) listener() string {
	if rc == nil || rc.conn == nil {
		return ""
	}
	return rc.conn.Listener
}

// New builds the handler table.
func New(d Deps) *Handlers {
	h := &Handlers{Deps: d, apis: make(map[int16]api)}
	limits := config.DefaultLimits()
	if d.Config != nil {
		limits = d.Config.Limits
	}
	h.fetchMemory = newFetchMemory(limits.FetchMemoryMaxBytes)
	for _, a := range implementedAPIs() {
		h.apis[a.key] = a
	}
	return h
}

// Supports reports whether key is implemented at version.
func (h *Handlers) Supports(key, version int16) bool {
	a, ok := h.apis[key]
	return ok && version >= a.minVersion && version <= a.maxVersion
}

// Handle dispatches one request. The server only passes requests that
// Supports accepted, except ApiVersions, which answers any version.
func (h *Handlers) Handle(ctx context.Context, conn *server.ConnInfo, hdr *server.RequestHeader, req kmsg.Request) kmsg.Response {
	a := h.apis[req.Key()]
	rc := &reqContext{hdr: hdr, conn: conn}
	if h.Authorizer != nil {
		return h.authorize(ctx, a, rc, req)
	}
	return a.serve(h, ctx, rc, req)
}

// image is the metadata image requests are answered from.
func (h *Handlers) image() *controller.Image { return h.Controller.Image() }
