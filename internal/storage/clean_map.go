package storage

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/record"
)

// keyHash identifies a record key in the offset map.
//
// Keys are stored as the first 128 bits of their SHA-256, so the map's
// memory does not depend on key sizes. Two keys with the same hash would
// make the cleaner drop the older key's latest value; with a 128-bit
// cryptographic hash the chance for n keys is about n²/2¹²⁹ (1e-27 for a
// million keys), and producers cannot craft collisions on purpose, which
// a fast non-cryptographic hash would allow. Kafka makes the same trade
// with MD5.
type keyHash [16]byte

func hashKey(key []byte) keyHash {
	sum := sha256.Sum256(key)
	return keyHash(sum[:16])
}

// offsetMap maps key hashes to the latest offset seen for them, holding at
// most max keys.
type offsetMap struct {
	max int
	m   map[keyHash]int64
}

func newOffsetMap(max int) *offsetMap {
	return &offsetMap{max: max, m: make(map[keyHash]int64)}
}

// put records offset as key's latest. It returns false, changing nothing,
// if the key is new and the map is full.
func (om *offsetMap) put(k keyHash, offset int64) bool {
	if _, ok := om.m[k]; !ok && len(om.m) >= om.max {
		return false
	}
	om.m[k] = offset
	return true
}

func (om *offsetMap) get(k keyHash) (int64, bool) {
	off, ok := om.m[k]
	return off, ok
}

func (om *offsetMap) reset() { clear(om.m) }

func (om *offsetMap) len() int { return len(om.m) }

// mapDirty builds the offset map over the dirty range [p.firstDirty,
// p.uncleanable) and returns where the mapped range ends: p.uncleanable,
// or, if the map filled up, the offset of the first record that did not
// fit (records from there on are left for the next pass).
func (l *Log) mapDirty(ctx context.Context, c *cleaner, p *cleanPlan, res *CleanResult) (int64, error) {
	c.keys.reset()
	end := p.uncleanable
	full := false
	for i := 0; i < len(p.segs)-1 && p.segs[i].base < p.uncleanable && !full; i++ {
		if p.end(i) <= p.firstDirty {
			continue
		}
		err := l.eachBatch(ctx, c, p.segs[i], p.sizes[i], res, func(h *record.Header, b []byte) error {
			if h.NextOffset() <= p.firstDirty || h.Control() || h.Transactional() {
				return nil
			}
			err := c.dec.Records(b, func(r *kmsg.Record) bool {
				off := h.BaseOffset + int64(r.OffsetDelta)
				if off < p.firstDirty || r.Key == nil {
					return true
				}
				if !c.keys.put(hashKey(r.Key), off) {
					end, full = off, true
					return false
				}
				return true
			})
			if errors.Is(err, record.ErrTooLarge) {
				// Stored before the limit was lowered: leave its keys
				// unmapped, so it supersedes nothing (and is kept whole
				// when rewriting, see cleanGroup).
				c.logger.Warn("cleaner: batch decompresses past the limit; its keys do not supersede older records",
					"segment", p.segs[i].path, "offset", h.BaseOffset, "limit", c.dec.Limit())
				return nil
			}
			if err != nil {
				return batchDecodeError(p.segs[i], h, err)
			}
			if full {
				return errStopScan
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopScan) {
			return 0, err
		}
	}
	return end, nil
}

// batchDecodeError reports a batch whose records do not decode.
func batchDecodeError(s *segment, h *record.Header, err error) error {
	return fmt.Errorf("%w: %s: batch at offset %d: %w", ErrCorruptSegment, s.path, h.BaseOffset, err)
}

// errStopScan ends an eachBatch walk early without error.
var errStopScan = errors.New("stop scan")

// eachBatch calls fn with each batch of the first size bytes of s, CRC
// checked, in order. The bytes are valid only during the call. Reads are
// counted in res and throttled.
func (l *Log) eachBatch(ctx context.Context, c *cleaner, s *segment, size int64, res *CleanResult,
	fn func(h *record.Header, b []byte) error) error {
	sc := newScanner(s.file, 0, size, recoveryChunk)
	for {
		if err := c.check(ctx); err != nil {
			return err
		}
		h, pos, err := sc.next(math.MinInt64) // verify every batch
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return segmentReadError(s, pos, err)
		}
		b, err := sc.window(pos, h.Size())
		if err != nil {
			return segmentReadError(s, pos, err)
		}
		res.BytesRead += int64(len(b))
		if err := c.io.wait(ctx, c.stop, int64(len(b))); err != nil {
			return err
		}
		if err := fn(&h, b); err != nil {
			return err
		}
	}
}
