package coordlog

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/record"
)

// ErrReplayAborted means a replay stopped because its aborted callback
// said so (the coordinator gave the partition up meanwhile).
var ErrReplayAborted = errors.New("coordinator log replay aborted")

// replayReadBytes is how much of the log one read during a replay returns.
const replayReadBytes = 1 << 20

// Replay calls fn with the key and value of every data record of l, from
// its start to the end offset as it is when Replay starts, in order;
// control batches (transaction markers) are skipped. fn may keep the
// slices: records of uncompressed batches alias the bytes read (a fresh
// buffer per read), those of compressed ones are copies, because the
// decoder reuses its buffer. aborted, if not nil, is polled between reads;
// an error from fn ends the replay with it.
func Replay(l Log, dec *record.Decoder, aborted func() bool, fn func(key, value []byte) error) error {
	next, end := l.StartOffset(), l.EndOffset()
	for next < end {
		if aborted != nil && aborted() {
			return ErrReplayAborted
		}
		data, err := l.Read(next, replayReadBytes)
		if err != nil {
			return fmt.Errorf("reading offset %d: %w", next, err)
		}
		start := next
		_, err = record.Batches(data, func(h record.Header, batch []byte) error {
			if h.NextOffset() <= next {
				return nil
			}
			if !h.Control() {
				if err := replayBatch(dec, &h, batch, next, end, fn); err != nil {
					return fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
				}
			}
			next = h.NextOffset()
			return nil
		})
		if err != nil {
			return err
		}
		if next == start {
			return fmt.Errorf("no progress reading offset %d of %d", next, end)
		}
	}
	return nil
}

// replayBatch hands fn the records of one batch in [from, end).
func replayBatch(dec *record.Decoder, h *record.Header, batch []byte, from, end int64, fn func(key, value []byte) error) error {
	copied := h.Codec() != record.CodecNone
	var ferr error
	err := dec.Records(batch, func(r *kmsg.Record) bool {
		off := h.BaseOffset + int64(r.OffsetDelta)
		if off < from || off >= end {
			return true
		}
		key, value := r.Key, r.Value
		if copied {
			key, value = bytes.Clone(key), bytes.Clone(value)
		}
		ferr = fn(key, value)
		return ferr == nil
	})
	if err == nil {
		err = ferr
	}
	return err
}
