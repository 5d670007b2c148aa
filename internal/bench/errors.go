package bench

import "errors"

var (
	// ErrInvalidOptions is wrapped by every Validate error: an option is out
	// of range or contradicts another one. Callers map it to a usage error.
	ErrInvalidOptions = errors.New("invalid benchmark options")

	// ErrRecordsFailed is returned, together with a complete Result, when
	// at least one produced record was not acknowledged. It wraps the first
	// record error.
	ErrRecordsFailed = errors.New("records failed")

	// ErrIncomplete is returned by RunE2E, together with a complete Result,
	// when the consumer did not receive every acknowledged record within
	// the drain timeout after producing stopped.
	ErrIncomplete = errors.New("not every acknowledged record was consumed")

	// ErrNoPartitions is returned when the benchmark topic reports no
	// partitions to read or write.
	ErrNoPartitions = errors.New("topic has no partitions")
)
