package handlers

// EndTxn (key 26).
//
// v1 is v0 with throttling after the response; v2 allows PRODUCER_FENCED;
// v3 is flexible; v4 allows TRANSACTION_ABORTABLE and v5 bumps the epoch
// per transaction (KIP-890 part 2), neither advertised yet. The answer
// comes once the markers are on every partition and the completion is
// durable (see txn.Coordinator.EndTxn).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleEndTxn(h *Handlers, ctx context.Context, _ *reqContext, req *kmsg.EndTxnRequest) *kmsg.EndTxnResponse {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	if h.Txn == nil {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	err := h.Txn.EndTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
	resp.ErrorCode = fencedCode(errorCode(err), req.Version >= 2)
	if resp.ErrorCode == kerr.UnknownServerError.Code {
		h.Logger.Error("EndTxn failed", "transactional_id", req.TransactionalID, "err", err)
	}
	return resp
}
