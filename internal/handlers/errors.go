package handlers

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/spool-mq/spool/internal/auth"
	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/controller"
	"github.com/spool-mq/spool/internal/group"
	"github.com/spool-mq/spool/internal/partition"
	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/storage"
	"github.com/spool-mq/spool/internal/txn"
)

// errorTable maps Spool's named errors to Kafka error codes. The first match
// in order wins, so more specific errors come first.
var errorTable = []struct {
	err  error
	code *kerr.Error
}{
	// Group errors first: a failed coordinator write wraps its storage
	// cause, but the client must see the group API's code.
	{group.ErrNotCoordinator, kerr.NotCoordinator},
	{group.ErrCoordinatorLoading, kerr.CoordinatorLoadInProgress},
	{group.ErrRecordTooLarge, kerr.InvalidCommitOffsetSize},
	{group.ErrCoordinatorNotAvailable, kerr.CoordinatorNotAvailable},
	{group.ErrInvalidGroupID, kerr.InvalidGroupID},
	{group.ErrUnknownMember, kerr.UnknownMemberID},
	{group.ErrMemberIDRequired, kerr.MemberIDRequired},
	{group.ErrIllegalGeneration, kerr.IllegalGeneration},
	{group.ErrRebalanceInProgress, kerr.RebalanceInProgress},
	{group.ErrFencedInstance, kerr.FencedInstanceID},
	{group.ErrInconsistentProtocol, kerr.InconsistentGroupProtocol},
	{group.ErrGroupMaxSize, kerr.GroupMaxSizeReached},
	{group.ErrInvalidSessionTimeout, kerr.InvalidSessionTimeout},
	{group.ErrGroupNotFound, kerr.GroupIDNotFound},
	{group.ErrNonEmptyGroup, kerr.NonEmptyGroup},
	{group.ErrSubscribedToTopic, kerr.GroupSubscribedToTopic},
	{group.ErrMetadataTooLarge, kerr.OffsetMetadataTooLarge},
	{txn.ErrNotCoordinator, kerr.NotCoordinator},
	{txn.ErrCoordinatorLoading, kerr.CoordinatorLoadInProgress},
	{txn.ErrTooManyIDs, kerr.CoordinatorNotAvailable},
	{txn.ErrInvalidTransactionalID, kerr.InvalidRequest},
	{txn.ErrInvalidTimeout, kerr.InvalidTransactionTimeout},
	{txn.ErrInvalidProducerIDMapping, kerr.InvalidProducerIDMapping},
	{txn.ErrProducerFenced, kerr.ProducerFenced},
	{txn.ErrInvalidTxnState, kerr.InvalidTxnState},
	// Before the write failure: a completion that failed writing wraps
	// its cause, and the client must retry the end, not look up again.
	{txn.ErrConcurrentTransactions, kerr.ConcurrentTransactions},
	{txn.ErrCoordinatorNotAvailable, kerr.CoordinatorNotAvailable},
	{storage.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{storage.ErrDiskFull, kerr.KafkaStorageError},
	{storage.ErrLogFailed, kerr.KafkaStorageError},
	{storage.ErrClosed, kerr.NotLeaderForPartition},
	{storage.ErrCorruptSegment, kerr.KafkaStorageError},
	{storage.ErrInvalidBatch, kerr.CorruptMessage},
	// Only a follower copying its leader's batches can meet it; the
	// replica is out of step, so a client is sent to refresh metadata.
	{storage.ErrInvalidOffset, kerr.NotLeaderForPartition},
	{storage.ErrInvalidName, kerr.InvalidTopicException},
	{partition.ErrNotLeader, kerr.NotLeaderForPartition},
	{partition.ErrNotFollower, kerr.NotLeaderForPartition},
	{partition.ErrNotReplica, kerr.NotLeaderForPartition},
	{partition.ErrNotEnoughReplicas, kerr.NotEnoughReplicas},
	{partition.ErrNotEnoughReplicasAfterAppend, kerr.NotEnoughReplicasAfterAppend},
	{partition.ErrRequestTimedOut, kerr.RequestTimedOut},
	{partition.ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
	{partition.ErrUnknownLeaderEpoch, kerr.UnknownLeaderEpoch},
	{partition.ErrMessageTooLarge, kerr.MessageTooLarge},
	{partition.ErrDecompressedTooLarge, kerr.MessageTooLarge},
	{partition.ErrInvalidTimestamp, kerr.InvalidTimestamp},
	{partition.ErrCorruptBatch, kerr.CorruptMessage},
	{partition.ErrInvalidRecord, kerr.InvalidRecord},
	{partition.ErrUnsupportedMagic, kerr.UnsupportedForMessageFormat},
	{partition.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{partition.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	{partition.ErrUnknownProducerID, kerr.UnknownProducerID},
	{partition.ErrTransactionsUnsupported, kerr.UnsupportedVersion},
	{partition.ErrInvalidTxnState, kerr.InvalidTxnState},
	// Record errors reach here unwrapped only from paths that parse
	// stored or replicated batches; produce wraps them in partition's.
	{record.ErrCorrupt, kerr.CorruptMessage},
	{record.ErrTruncated, kerr.CorruptMessage},
	{record.ErrUnsupportedMagic, kerr.UnsupportedForMessageFormat},
	{record.ErrInvalid, kerr.InvalidRecord},
	{record.ErrInvalidRecord, kerr.InvalidRecord},
	{record.ErrNullKey, kerr.InvalidRecord},
	{record.ErrInvalidTimestamp, kerr.InvalidTimestamp},
	{record.ErrTooLarge, kerr.MessageTooLarge},
	{record.ErrNotMarker, kerr.CorruptMessage},
	{controller.ErrTopicExists, kerr.TopicAlreadyExists},
	{controller.ErrUnknownTopic, kerr.UnknownTopicOrPartition},
	{controller.ErrUnknownTopicID, kerr.UnknownTopicID},
	{controller.ErrInvalidTopicName, kerr.InvalidTopicException},
	{controller.ErrInvalidPartitions, kerr.InvalidPartitions},
	{controller.ErrInvalidReplicationFactor, kerr.InvalidReplicationFactor},
	{controller.ErrInvalidReplicaAssignment, kerr.InvalidReplicaAssignment},
	{controller.ErrNotLeader, kerr.NotController},
	{controller.ErrFencedLeaderEpoch, kerr.FencedLeaderEpoch},
	{controller.ErrInvalidUpdateVersion, kerr.InvalidUpdateVersion},
	{controller.ErrIneligibleReplica, kerr.IneligibleReplica},
	{controller.ErrDuplicateBrokerID, kerr.DuplicateBrokerRegistration},
	{controller.ErrElectionNotNeeded, kerr.ElectionNotNeeded},
	{controller.ErrPreferredLeaderNotAvailable, kerr.PreferredLeaderNotAvailable},
	{controller.ErrEligibleLeadersNotAvailable, kerr.EligibleLeadersNotAvailable},
	{controller.ErrNoReassignmentInProgress, kerr.NoReassignmentInProgress},
	{controller.ErrInvalidConfig, kerr.InvalidConfig},
	{controller.ErrScramCredentialNotFound, kerr.ResourceNotFound},
	{controller.ErrUnsupportedScramMechanism, kerr.UnsupportedSaslMechanism},
	{controller.ErrUnacceptableCredential, kerr.UnacceptableCredential},
	{controller.ErrTooManyACLs, kerr.PolicyViolation},
	{auth.ErrInvalidACL, kerr.InvalidRequest},
	{auth.ErrUnsupportedMechanism, kerr.UnsupportedSaslMechanism},
	{auth.ErrIllegalState, kerr.IllegalSaslState},
	{auth.ErrAuthenticationFailed, kerr.SaslAuthenticationFailed},
	{config.ErrUnknownConfig, kerr.InvalidConfig},
	{config.ErrInvalidConfigValue, kerr.InvalidConfig},
}

// errorCode is the Kafka error code for err (0 for nil).
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.code.Code
		}
	}
	return kerr.UnknownServerError.Code
}

// errorMessage is the optional message sent beside an error code.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
