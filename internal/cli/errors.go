package cli

import (
	"errors"
	"fmt"
)

var (
	// ErrUsage marks an error in the command line itself (unknown flag, bad
	// flag value, wrong number of arguments). Run exits with ExitUsage for
	// any error that wraps it.
	ErrUsage = errors.New("usage error")

	// ErrMissingCommand is returned for a command that only groups
	// subcommands (spool, spool topic) when none was given.
	ErrMissingCommand = errors.New("missing subcommand")

	// ErrRecordsFailed is returned by produce when at least one record was
	// not acknowledged by the cluster.
	ErrRecordsFailed = errors.New("records failed")

	// ErrNoKeySeparator is a produce record failure: --key-separator was set
	// and the line does not contain it.
	ErrNoKeySeparator = errors.New("line has no key separator")

	// ErrLineTooLong is returned by produce when a line of input exceeds
	// --max-line-bytes.
	ErrLineTooLong = errors.New("line exceeds --max-line-bytes")

	// ErrNoSuchPartition is returned when --partition names a partition the
	// topic does not have.
	ErrNoSuchPartition = errors.New("no such partition")

	// ErrTimeout is returned when the cluster did not answer within
	// --timeout; it wraps the client's own error, which says what it was
	// last trying (often a refused connection).
	ErrTimeout = errors.New("timed out")
)

// usageErr carries the message of the underlying error and makes
// errors.Is(err, ErrUsage) true without changing how the error reads.
type usageErr struct{ err error }

func (e *usageErr) Error() string   { return e.err.Error() }
func (e *usageErr) Unwrap() []error { return []error{e.err, ErrUsage} }

// usageError marks err as a command-line mistake (exit code 2).
func usageError(err error) error {
	if err == nil {
		return nil
	}
	return &usageErr{err: err}
}

// usageErrorf is usageError(fmt.Errorf(format, args...)).
func usageErrorf(format string, args ...any) error {
	return usageError(fmt.Errorf(format, args...))
}

// brokerError adds the free-text message a broker may send next to an error
// code (kadm's ErrMessage fields) to err, keeping err in the chain. Kafka
// brokers often put the useful detail there ("Unknown topic config name:
// x"), so dropping it would leave only the generic code description.
func brokerError(err error, msg string) error {
	if err == nil || msg == "" || msg == err.Error() {
		return err
	}
	return fmt.Errorf("%w (%s)", err, msg)
}
