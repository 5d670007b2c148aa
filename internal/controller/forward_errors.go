package controller

import (
	"context"
	"errors"

	"github.com/spool-mq/spool/internal/auth"
)

// wireError is an error as it crosses a controller RPC: the names of the
// sentinels it matches (errors.Is), its message, and for *NotLeaderError the
// leader it names.
type wireError struct {
	Is       []string `json:"is,omitempty"`
	Message  string   `json:"msg"`
	LeaderID *int32   `json:"leader_id,omitempty"`
}

// sentinel names an error value that keeps its identity across forwarding.
type sentinel struct {
	name string
	err  error
}

// forwardedSentinels lists every exported sentinel of the package, plus
// the context errors. An error matching none of them arrives as plain text.
// When adding an Err* variable to the package, add it here (the
// TestForwardedSentinelsComplete test lists what is missing).
var forwardedSentinels = []sentinel{
	{"ErrTopicExists", ErrTopicExists},
	{"ErrUnknownTopic", ErrUnknownTopic},
	{"ErrUnknownTopicID", ErrUnknownTopicID},
	{"ErrInvalidTopicName", ErrInvalidTopicName},
	{"ErrInvalidPartitions", ErrInvalidPartitions},
	{"ErrInvalidReplicationFactor", ErrInvalidReplicationFactor},
	{"ErrInvalidReplicaAssignment", ErrInvalidReplicaAssignment},
	{"ErrInvalidConfig", ErrInvalidConfig},
	{"ErrInvalidBrokerRegistration", ErrInvalidBrokerRegistration},
	{"ErrInvalidProducerIDCount", ErrInvalidProducerIDCount},
	{"ErrProducerIDsExhausted", ErrProducerIDsExhausted},
	{"ErrNotLeader", ErrNotLeader},
	{"ErrClosed", ErrClosed},
	{"ErrUnsupportedCommand", ErrUnsupportedCommand},
	{"ErrInvalidVoters", ErrInvalidVoters},
	{"ErrInvalidConfigValue", ErrInvalidConfigValue},
	{"ErrNodeIDMismatch", ErrNodeIDMismatch},
	{"ErrClusterIDMismatch", ErrClusterIDMismatch},
	{"ErrInvalidMetaProperties", ErrInvalidMetaProperties},
	{"ErrPeerMismatch", ErrPeerMismatch},
	{"ErrDuplicateBrokerID", ErrDuplicateBrokerID},
	{"ErrBrokerNotRegistered", ErrBrokerNotRegistered},
	{"ErrFencedLeaderEpoch", ErrFencedLeaderEpoch},
	{"ErrInvalidUpdateVersion", ErrInvalidUpdateVersion},
	{"ErrIneligibleReplica", ErrIneligibleReplica},
	{"ErrElectionNotNeeded", ErrElectionNotNeeded},
	{"ErrPreferredLeaderNotAvailable", ErrPreferredLeaderNotAvailable},
	{"ErrEligibleLeadersNotAvailable", ErrEligibleLeadersNotAvailable},
	{"ErrNoReassignmentInProgress", ErrNoReassignmentInProgress},
	{"ErrScramCredentialNotFound", ErrScramCredentialNotFound},
	{"ErrUnsupportedScramMechanism", ErrUnsupportedScramMechanism},
	{"ErrUnacceptableCredential", ErrUnacceptableCredential},
	{"ErrTooManyACLs", ErrTooManyACLs},
	{"auth.ErrInvalidACL", auth.ErrInvalidACL},
	{"context.Canceled", context.Canceled},
	{"context.DeadlineExceeded", context.DeadlineExceeded},
}

// encodeError turns err into its wire form; nil stays nil.
func encodeError(err error) *wireError {
	if err == nil {
		return nil
	}
	w := &wireError{Message: err.Error()}
	for _, s := range forwardedSentinels {
		if errors.Is(err, s.err) {
			w.Is = append(w.Is, s.name)
		}
	}
	var nle *NotLeaderError
	if errors.As(err, &nle) {
		id := nle.LeaderID
		w.LeaderID = &id
	}
	return w
}

// decodeError rebuilds an error that prints w's message and matches the
// same sentinels (and *NotLeaderError) as the original.
func decodeError(w *wireError) error {
	if w == nil {
		return nil
	}
	var causes []error
	if w.LeaderID != nil {
		nle := &NotLeaderError{LeaderID: *w.LeaderID}
		if nle.Error() == w.Message {
			return nle
		}
		causes = append(causes, nle)
	}
	for _, name := range w.Is {
		for _, s := range forwardedSentinels {
			if s.name == name {
				causes = append(causes, s.err)
			}
		}
	}
	if len(causes) == 1 && causes[0].Error() == w.Message {
		return causes[0] // a bare sentinel stays the very value
	}
	return &remoteError{msg: w.Message, causes: causes}
}

// remoteError is an error received from another node.
type remoteError struct {
	msg    string
	causes []error
}

func (e *remoteError) Error() string   { return e.msg }
func (e *remoteError) Unwrap() []error { return e.causes }
