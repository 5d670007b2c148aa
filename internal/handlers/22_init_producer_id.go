package handlers

// InitProducerId (key 22).
//
// v1 only moved throttling after the response; v2 is flexible; v3 carries
// the producer's current id and epoch so it can recover from a fenced or
// unknown producer by bumping its epoch (KIP-360); v4 allows
// PRODUCER_FENCED and v5 TRANSACTION_ABORTABLE (KIP-890), both errors of
// transactional producers only.
//
// With a transactional id the request goes to the transaction coordinator
// (internal/txn), which must be this broker (NOT_COORDINATOR otherwise):
// a new id gets a fresh producer id, an existing one a bumped epoch that
// fences its previous producer, whose open transaction is aborted before
// the answer. Without one, an idempotent producer gets a fresh id (or a
// bumped epoch, KIP-360). Producer ids come from blocks the controller
// hands out, so ids are unique across brokers and restarts; a broker only
// asks for a new block when its current one is used up.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/controller"
)

// producerIDBlockSize is how many producer ids a broker reserves from the
// controller at a time: large enough that allocation rarely touches the
// metadata log, small enough that ids lost to a restart do not matter.
const producerIDBlockSize = 1000

// producerIDAllocator hands out producer ids from the current controller block.
// The zero value is ready to use; a block is fetched on first use.
type producerIDAllocator struct {
	mu        sync.Mutex
	next, end int64 // [next, end) is the unused rest of the block
}

// nextID returns a fresh producer id, reserving a new block from the
// controller when the current one is used up. The mutex is held across
// the controller call so concurrent callers share one new block.
func (a *producerIDAllocator) nextID(ctx context.Context, ctrl *controller.Controller) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next >= a.end {
		first, err := ctrl.AllocateProducerIDs(ctx, producerIDBlockSize)
		if err != nil {
			return 0, fmt.Errorf("reserving producer ids: %w", err)
		}
		a.next, a.end = first, first+producerIDBlockSize
	}
	id := a.next
	a.next++
	return id, nil
}

// maxProducerEpoch is the last epoch a producer id may use; at it the id is
// exhausted and the producer gets a new one (Kafka's rule, which keeps
// epoch+1 representable for fencing).
const maxProducerEpoch = math.MaxInt16 - 1

func handleInitProducerID(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	switch {
	case req.TransactionalID != nil && *req.TransactionalID == "":
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	case (req.ProducerID < 0) != (req.ProducerEpoch < 0):
		// KIP-360: either both the current id and epoch or neither.
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}

	if req.TransactionalID != nil {
		return h.initTransactionalProducer(ctx, req, resp)
	}

	// A producer that already has an id asks for its epoch to be bumped
	// (it lost track of its sequences): same id, next epoch, so batches
	// of the old epoch still in flight are fenced. An id this cluster
	// never handed out, or one whose epochs are used up, is replaced by a
	// fresh id.
	if req.ProducerID >= 0 && req.ProducerID < h.image().NextProducerID && req.ProducerEpoch < maxProducerEpoch {
		resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
		return resp
	}
	id, err := h.producerIDs.nextID(ctx, h.Controller)
	if err != nil {
		h.Logger.Warn("allocating a producer id failed", "err", err)
		resp.ErrorCode = kerr.UnknownServerError.Code
		if errors.Is(err, controller.ErrNotLeader) || errors.Is(err, controller.ErrClosed) || errors.Is(err, context.DeadlineExceeded) {
			// Retriable: the client tries again once the metadata
			// quorum has a leader.
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}

// initTransactionalProducer serves InitProducerId with a transactional id.
func (h *Handlers) initTransactionalProducer(ctx context.Context, req *kmsg.InitProducerIDRequest, resp *kmsg.InitProducerIDResponse) *kmsg.InitProducerIDResponse {
	if h.Txn == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	allocate := func(ctx context.Context) (int64, error) { return h.producerIDs.nextID(ctx, h.Controller) }
	timeout := time.Duration(req.TransactionTimeoutMillis) * time.Millisecond
	id, epoch, err := h.Txn.InitProducerID(ctx, allocate, *req.TransactionalID, timeout, req.ProducerID, req.ProducerEpoch)
	if err != nil {
		resp.ErrorCode = fencedCode(errorCode(err), req.Version >= 4)
		if resp.ErrorCode == kerr.UnknownServerError.Code || resp.ErrorCode == kerr.CoordinatorNotAvailable.Code {
			h.Logger.Warn("transactional InitProducerId failed", "transactional_id", *req.TransactionalID, "err", err)
		}
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, epoch
	return resp
}

// fencedCode downgrades PRODUCER_FENCED to INVALID_PRODUCER_EPOCH for
// request versions that predate it (KIP-588).
func fencedCode(code int16, fencedAllowed bool) int16 {
	if code == kerr.ProducerFenced.Code && !fencedAllowed {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}
