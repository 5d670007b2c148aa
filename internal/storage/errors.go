package storage

import (
	"errors"
	"fmt"
	"syscall"
)

var (
	// ErrOffsetOutOfRange means an offset is below the log start or above
	// the log end offset.
	ErrOffsetOutOfRange = errors.New("storage: offset out of range")
	// ErrLogFailed means the log hit an error it cannot recover from in
	// place (a write it could not undo, or a failed fsync, after which the
	// kernel may have dropped dirty data). It refuses appends and flushes
	// but keeps serving reads; reopening runs recovery.
	ErrLogFailed = errors.New("storage: log failed")
	// ErrClosed means the log or manager was closed (or the log deleted).
	ErrClosed = errors.New("storage: closed")
	// ErrDiskFull wraps ENOSPC. Nothing partial stays in the log and
	// appends work again once space is freed.
	ErrDiskFull = errors.New("storage: disk full")
	// ErrInvalidBatch means appended data is not a sequence of complete v2
	// batch headers, or cannot be placed in a segment.
	ErrInvalidBatch = errors.New("storage: invalid record batch data")
	// ErrInvalidOffset means a replicated batch's offset does not follow
	// the log end offset.
	ErrInvalidOffset = errors.New("storage: batch offset below log end offset")
	// ErrCorruptSegment means a segment trusted to be intact failed to
	// parse while being read.
	ErrCorruptSegment = errors.New("storage: corrupt segment")
	// ErrInvalidName means a topic name or partition cannot name a log
	// directory.
	ErrInvalidName = errors.New("storage: invalid topic partition name")
)

// ioError wraps an I/O failure, adding ErrDiskFull when the disk is full so
// callers can map it without knowing about errno values.
func ioError(what string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%w: %s: %w", ErrDiskFull, what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
