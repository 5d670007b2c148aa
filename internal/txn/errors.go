package txn

import "errors"

// Errors the coordinator returns. The handlers map each to a Kafka error
// code (handlers/errors.go); ErrProducerFenced becomes INVALID_PRODUCER_EPOCH
// for request versions that predate PRODUCER_FENCED.
var (
	// ErrNotCoordinator means this broker does not lead the
	// __transaction_state partition of the id: the client must look the
	// coordinator up again.
	ErrNotCoordinator = errors.New("not the transaction coordinator for this transactional id")
	// ErrCoordinatorLoading means the partition of the id is still being
	// replayed; the client retries.
	ErrCoordinatorLoading = errors.New("transaction coordinator is loading")
	// ErrCoordinatorNotAvailable means a state write failed; the client
	// retries.
	ErrCoordinatorNotAvailable = errors.New("transaction coordinator not available")
	// ErrTooManyIDs means the coordinator already holds
	// Config.MaxIDs transactional ids (transaction.coordinator.max.ids):
	// ids are client text, so the map must be bounded. Retriable.
	ErrTooManyIDs = errors.New("transaction coordinator holds transaction.coordinator.max.ids transactional ids")
	// ErrInvalidTransactionalID means the id is empty or longer than
	// MaxTransactionalIDLen.
	ErrInvalidTransactionalID = errors.New("invalid transactional id")
	// ErrInvalidTimeout means the requested transaction timeout is not
	// positive or exceeds transaction.max.timeout.ms.
	ErrInvalidTimeout = errors.New("invalid transaction timeout")
	// ErrInvalidProducerIDMapping means the transactional id is unknown
	// or belongs to another producer id.
	ErrInvalidProducerIDMapping = errors.New("producer id does not match the transactional id")
	// ErrProducerFenced means the request's epoch is not the id's
	// current one: a newer producer took the id over, or the
	// coordinator aborted the transaction on timeout.
	ErrProducerFenced = errors.New("producer fenced by a newer epoch")
	// ErrInvalidTxnState means the request does not fit the
	// transaction's state (ending a transaction that has none, producing
	// to a partition not added, committing a transaction being aborted).
	ErrInvalidTxnState = errors.New("invalid transaction state")
	// ErrConcurrentTransactions means the previous commit or abort of
	// the id is still being completed (its markers are not all written);
	// the client retries.
	ErrConcurrentTransactions = errors.New("previous transaction is still completing")
)
