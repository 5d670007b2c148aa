package controller

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// maxTopicNameLen is Kafka's limit: 249 leaves room for the partition
// suffix in directory names within a 255-byte file name.
const maxTopicNameLen = 249

// ValidateTopicName checks a topic name against Kafka's rules: 1 to 249
// characters from [a-zA-Z0-9._-], and not "." or "..". It does not check
// for collisions with existing topics (CreateTopics does).
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the name is empty", ErrInvalidTopicName)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q is not allowed", ErrInvalidTopicName, name)
	case len(name) > maxTopicNameLen:
		return fmt.Errorf("%w: %d characters is longer than the maximum %d", ErrInvalidTopicName, len(name), maxTopicNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q contains %q; only ASCII alphanumerics, '.', '_' and '-' are allowed", ErrInvalidTopicName, name, c)
		}
	}
	return nil
}

// internalTopics are the topics Kafka reports as internal in Metadata.
var internalTopics = map[string]bool{
	"__consumer_offsets":    true,
	"__transaction_state":   true,
	"__share_group_state":   true,
	"__cluster_metadata":    true,
	"__remote_log_metadata": true,
}

// IsInternalTopic reports whether Kafka treats the topic as internal.
func IsInternalTopic(name string) bool { return internalTopics[name] }

// newUUID returns a random version-4 UUID that Kafka accepts as an id: not
// all zeros, not the reserved "one" id, and not starting with '-' in its
// base64url form (Kafka rejects such ids because they read as command-line
// flags).
func newUUID() [16]byte {
	for {
		var id [16]byte
		_, _ = rand.Read(id[:]) // crypto/rand.Read never fails (Go 1.24+)
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if id == ([16]byte{}) || id == ([16]byte{15: 1}) || uuidString(id)[0] == '-' {
			continue
		}
		return id
	}
}

// uuidString is Kafka's textual form of a Uuid: 22 characters of unpadded
// base64url.
func uuidString(id [16]byte) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// newClusterID returns a fresh cluster id in Kafka's format.
func newClusterID() string { return uuidString(newUUID()) }
