package group

import (
	"errors"
	"fmt"
)

// The coordinator's errors. Each corresponds to one Kafka error code (the
// handlers map them); the comments say when a client sees it.
var (
	// ErrNotCoordinator means this broker does not lead the partition of
	// __consumer_offsets the group hashes to (NOT_COORDINATOR): the client
	// looks the coordinator up again.
	ErrNotCoordinator = errors.New("this broker is not the group's coordinator")

	// ErrCoordinatorLoading means the group's partition is still being
	// replayed (COORDINATOR_LOAD_IN_PROGRESS); the client retries.
	ErrCoordinatorLoading = errors.New("group coordinator is loading")

	// ErrCoordinatorNotAvailable means the group is being removed or its
	// state could not be written (COORDINATOR_NOT_AVAILABLE); retriable.
	ErrCoordinatorNotAvailable = errors.New("group coordinator not available")

	// ErrTooManyGroups means creating the group would take the
	// coordinator past Config.MaxGroups. It is a case of
	// ErrCoordinatorNotAvailable, which is what clients see (retriable,
	// valid for JoinGroup and OffsetCommit alike): the limit lifts as
	// empty groups expire or are deleted, and the broker logs a warning
	// so the operator learns why consumers are stuck.
	ErrTooManyGroups = fmt.Errorf("%w: too many consumer groups on this coordinator (group.coordinator.max.groups)", ErrCoordinatorNotAvailable)

	// ErrTooManyMembers means a new member would take the coordinator
	// past Config.MaxMembers; like ErrTooManyGroups it is a case of
	// ErrCoordinatorNotAvailable.
	ErrTooManyMembers = fmt.Errorf("%w: too many group members on this coordinator (group.coordinator.max.members)", ErrCoordinatorNotAvailable)

	// ErrInvalidGroupID means the group id is empty where the API needs
	// one (INVALID_GROUP_ID).
	ErrInvalidGroupID = errors.New("invalid group id")

	// ErrUnknownMember means the member id is not (or no longer) in the
	// group (UNKNOWN_MEMBER_ID): the client rejoins with an empty id.
	ErrUnknownMember = errors.New("unknown member id")

	// ErrMemberIDRequired is the first answer to a new member's JoinGroup
	// (v4+, KIP-394): the response carries the member id to rejoin with
	// (MEMBER_ID_REQUIRED).
	ErrMemberIDRequired = errors.New("member id required")

	// ErrIllegalGeneration means the request names another generation
	// than the group's current one (ILLEGAL_GENERATION).
	ErrIllegalGeneration = errors.New("illegal generation")

	// ErrRebalanceInProgress means the group is rebalancing; the member
	// must rejoin (REBALANCE_IN_PROGRESS).
	ErrRebalanceInProgress = errors.New("rebalance in progress")

	// ErrFencedInstance means a newer member with the same
	// group.instance.id replaced this one (FENCED_INSTANCE_ID).
	ErrFencedInstance = errors.New("static member fenced by a newer instance")

	// ErrInconsistentProtocol means the member's protocol type or
	// protocols do not fit the group's (INCONSISTENT_GROUP_PROTOCOL).
	ErrInconsistentProtocol = errors.New("inconsistent group protocol")

	// ErrGroupMaxSize means the group already has group.max.size members
	// (GROUP_MAX_SIZE_REACHED).
	ErrGroupMaxSize = errors.New("group max size reached")

	// ErrInvalidSessionTimeout means the session timeout is outside
	// group.min/max.session.timeout.ms (INVALID_SESSION_TIMEOUT).
	ErrInvalidSessionTimeout = errors.New("invalid session timeout")

	// ErrGroupNotFound means the group does not exist (GROUP_ID_NOT_FOUND).
	ErrGroupNotFound = errors.New("group not found")

	// ErrNonEmptyGroup means the operation needs a group without members
	// (NON_EMPTY_GROUP).
	ErrNonEmptyGroup = errors.New("group is not empty")

	// ErrSubscribedToTopic means an offset cannot be deleted because a
	// member of the group consumes the topic (GROUP_SUBSCRIBED_TO_TOPIC).
	ErrSubscribedToTopic = errors.New("group is subscribed to the topic")

	// ErrMetadataTooLarge means an offset's metadata string is longer than
	// offset.metadata.max.bytes (OFFSET_METADATA_TOO_LARGE).
	ErrMetadataTooLarge = errors.New("offset metadata too large")

	// ErrRecordTooLarge means the records of one commit (or the group's
	// metadata) exceed what the offsets topic accepts in one batch
	// (INVALID_COMMIT_OFFSET_SIZE for commits). A Log returns it, wrapped,
	// for a batch over its size limit.
	ErrRecordTooLarge = errors.New("coordinator record batch too large")
)
