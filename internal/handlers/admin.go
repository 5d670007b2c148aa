package handlers

// Helpers shared by the admin APIs (topic creation and deletion, configs,
// partitions): errors with their own message, topic-config validation and
// the lookup of topic config resources.

import (
	"encoding/base64"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/config"
	"github.com/spool-mq/spool/internal/controller"
)

// requestError is an error answered with a chosen Kafka code and a message
// of its own (kerr's messages are generic: "Configuration is invalid.").
// errorCode finds the code through Unwrap; errorMessage sends msg.
type requestError struct {
	code *kerr.Error
	msg  string
}

func (e *requestError) Error() string { return e.msg }
func (e *requestError) Unwrap() error { return e.code }

// newRequestError builds a requestError with a formatted message.
func newRequestError(code *kerr.Error, format string, args ...any) error {
	return &requestError{code: code, msg: fmt.Sprintf(format, args...)}
}

// topicDefaults are the broker-level defaults of topic configs.
func (h *Handlers) topicDefaults() map[string]string {
	if h.Config == nil {
		return nil
	}
	return h.Config.TopicDefaults
}

// validateTopicOverrides checks a topic's complete set of config overrides
// before it is committed: every key known and every value valid, and the
// result consistent with the broker's defaults (min.compaction.lag.ms over a
// broker-wide max.compaction.lag.ms, say). The second check matters because
// the broker refuses to open replicas of a topic whose config does not
// resolve, so such a topic would be unusable.
func (h *Handlers) validateTopicOverrides(overrides map[string]string) error {
	if err := config.ValidateTopicConfigs(overrides); err != nil {
		return err
	}
	_, err := config.ResolveTopicConfig(overrides, h.topicDefaults())
	return err
}

// isReservedTopicName reports whether clients may not create a topic of
// this name: the internal topics the broker creates itself (consumer
// offsets, transaction state, ...), and names that extend the two
// coordinator topics, which tools match by prefix.
func isReservedTopicName(name string) bool {
	if controller.IsInternalTopic(name) {
		return true
	}
	for _, prefix := range []string{"__consumer_offsets", "__transaction_state"} {
		if len(name) >= len(prefix) && name[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}

// lookupTopic finds a topic named in an admin request, or the error
// to answer with: INVALID_TOPIC_EXCEPTION for a name that cannot exist,
// UNKNOWN_TOPIC_OR_PARTITION for one that does not.
func lookupTopic(img *controller.Image, name string) (*controller.Topic, error) {
	if err := controller.ValidateTopicName(name); err != nil {
		return nil, err
	}
	t := img.Topic(name)
	if t == nil {
		return nil, fmt.Errorf("%w: %q", controller.ErrUnknownTopic, name)
	}
	return t, nil
}

// checkBrokerResource checks the name of a BROKER config resource: this
// broker's id or "" (meaning the cluster-wide dynamic defaults). Requests
// for other brokers must be sent to them, as in Kafka.
func (h *Handlers) checkBrokerResource(name string) error {
	if name == "" {
		return nil
	}
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return newRequestError(kerr.InvalidRequest, "broker id %q is not an integer", name)
	}
	if int32(id) != h.NodeID {
		return newRequestError(kerr.InvalidRequest, "unexpected broker id %d: this is broker %d (send broker config requests to the broker they name, or use an empty name)", id, h.NodeID)
	}
	return nil
}

// topicIDString is Kafka's textual form of a topic id (unpadded base64url),
// for error messages.
func topicIDString(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// configResourceKey identifies a config resource, to find duplicates.
type configResourceKey struct {
	typ  kmsg.ConfigResourceType
	name string
}

// checkAlterResource says whether a resource of an AlterConfigs or
// IncrementalAlterConfigs request may be altered; only topics may. dups
// counts each resource in the request: Kafka refuses every copy of a
// resource named twice, as which change would win is unclear.
func (h *Handlers) checkAlterResource(typ kmsg.ConfigResourceType, name string, dups map[configResourceKey]int) error {
	if dups[configResourceKey{typ, name}] > 1 {
		return newRequestError(kerr.InvalidRequest, "resource %q (type %v) appears more than once in the request", name, typ)
	}
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		return nil
	case kmsg.ConfigResourceTypeBroker:
		if err := h.checkBrokerResource(name); err != nil {
			return err
		}
		return newRequestError(kerr.InvalidRequest, "dynamic broker configs are not supported: set broker configs in the config file, environment or flags and restart")
	}
	return newRequestError(kerr.InvalidRequest, "altering configs of resource type %v is not supported", typ)
}
