package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// DefaultMaxDecompressedBytes is the default bound on the decompressed
// record bytes of one batch (broker key message.max.decompressed.bytes).
const DefaultMaxDecompressedBytes = 64 << 20

// zstdMaxWindow bounds the history a zstd frame may ask for. Producers at
// levels up to 19 use at most 8 MiB; a frame asking for more is refused
// rather than letting a client choose how much the broker allocates.
const zstdMaxWindow = 8 << 20

// minStreams is the least number of batches decompressed at once; the
// bound is larger on machines with more than two cores (see codecs.slots).
const minStreams = 4

// chunkSize is how much decompressed data a stream holds at once.
const chunkSize = 32 << 10

// maxPooledScratch is the largest record scratch buffer kept for reuse, so
// one huge record does not pin its buffer in the pool.
const maxPooledScratch = 1 << 20

// ErrTooLarge means a batch's records decompress to more bytes than the
// decoder's limit. Decoding stops at the limit: the expansion is never
// held in memory.
var ErrTooLarge = errors.New("decompressed records exceed the limit")

// codecs pools the streaming decompressors of one Decoder. Each is reset
// onto a batch's compressed bytes, so a decompression allocates nothing
// once the pools are warm.
type codecs struct {
	limit int64
	// slots bounds the streams open at once. Each holds a codec's
	// window (zstd up to 8 MiB, a raw snappy block up to the limit), and
	// a client chooses how many compressed batches it sends at once: so
	// the broker decompresses at most cap(slots) batches together, and
	// more wait. Decompression is CPU work, so a few per core lose
	// nothing.
	slots chan struct{}
	zstd  sync.Pool // *zstd.Decoder
	gzip  sync.Pool // *gzip.Reader
	lz4   sync.Pool // *lz4.Reader
	state sync.Pool // *stream
}

// stream is a bounded reader of one batch's decompressed records: it pulls
// chunkSize bytes at a time from the codec and fails with ErrTooLarge as
// soon as more than limit bytes come out.
type stream struct {
	c      *codecs
	codec  Codec
	src    bytes.Reader
	r      io.Reader // the codec reading src
	zd     *zstd.Decoder
	gz     *gzip.Reader
	lz     *lz4.Reader
	snappy snappyReader

	buf     []byte // chunk storage; unread bytes are buf[lo:hi]
	lo, hi  int
	total   int64 // bytes read from r
	eof     bool
	err     error  // sticky read error other than io.EOF
	scratch []byte // a record larger than what buf holds
}

// openStream starts decompressing body with codec c.
func (c *codecs) openStream(codec Codec, body []byte) (*stream, error) {
	c.slots <- struct{}{} // released by close
	s, _ := c.state.Get().(*stream)
	if s == nil {
		s = &stream{c: c, buf: make([]byte, chunkSize)}
	}
	s.codec, s.lo, s.hi, s.total, s.eof, s.err = codec, 0, 0, 0, false, nil
	s.src.Reset(body)
	var err error
	switch codec {
	case CodecGzip:
		s.gz, _ = c.gzip.Get().(*gzip.Reader)
		if s.gz == nil {
			s.gz = new(gzip.Reader)
		}
		err = s.gz.Reset(&s.src)
		s.r = s.gz
	case CodecLZ4:
		s.lz, _ = c.lz4.Get().(*lz4.Reader)
		if s.lz == nil {
			s.lz = lz4.NewReader(nil)
		}
		s.lz.Reset(&s.src)
		s.r = s.lz
	case CodecZstd:
		s.zd, _ = c.zstd.Get().(*zstd.Decoder)
		if s.zd == nil {
			s.zd, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(uint64(min(zstdMaxWindow, max(c.limit, zstd.MinWindowSize)))),
				zstd.WithDecoderMaxMemory(uint64(max(c.limit, 1))))
			if err != nil {
				s.close()
				return nil, err
			}
		}
		err = s.zd.Reset(&s.src)
		s.r = s.zd
	case CodecSnappy:
		s.snappy.reset(body, c.limit)
		s.r = &s.snappy
	default:
		err = fmt.Errorf("%w: unknown compression codec %d", ErrInvalid, codec)
	}
	if err != nil {
		s.close()
		return nil, s.codecError(err)
	}
	return s, nil
}

// close returns the stream and its codec to the pools.
func (s *stream) close() {
	c := s.c
	if s.zd != nil {
		_ = s.zd.Reset(nil) // drop the reference to the batch
		c.zstd.Put(s.zd)
		s.zd = nil
	}
	if s.gz != nil {
		c.gzip.Put(s.gz)
		s.gz = nil
	}
	if s.lz != nil {
		s.lz.Reset(nil)
		c.lz4.Put(s.lz)
		s.lz = nil
	}
	s.snappy.reset(nil, 0)
	s.src.Reset(nil)
	s.r = nil
	if cap(s.scratch) > maxPooledScratch {
		s.scratch = nil
	}
	c.state.Put(s)
	<-c.slots
}

// codecError classifies a codec failure: the zstd decoder's own size
// bounds are the limit at work, anything else is a malformed stream.
func (s *stream) codecError(err error) error {
	switch {
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrInvalid):
		return err
	case errors.Is(err, zstd.ErrDecoderSizeExceeded), errors.Is(err, zstd.ErrWindowSizeExceeded):
		return fmt.Errorf("%w: zstd frame needs more than %d bytes of window or output: %w",
			ErrTooLarge, min(zstdMaxWindow, s.c.limit), err)
	}
	return fmt.Errorf("%w: decompressing %s records: %w", ErrInvalidRecord, s.codec, err)
}

// consumed is how many decompressed bytes have been handed out.
func (s *stream) consumed() int64 { return s.total - int64(s.hi-s.lo) }

// fill reads more decompressed bytes into buf. It returns false at the end
// of the stream or on error (s.err).
func (s *stream) fill() bool {
	if s.eof || s.err != nil {
		return false
	}
	if s.lo > 0 {
		s.hi = copy(s.buf, s.buf[s.lo:s.hi])
		s.lo = 0
	}
	for empty := 0; s.hi < len(s.buf); empty++ {
		if empty == 100 {
			s.err = s.codecError(io.ErrNoProgress) // a codec that never returns data
			return false
		}
		n, err := s.r.Read(s.buf[s.hi:])
		s.hi += n
		s.total += int64(n)
		if s.total > s.c.limit {
			s.err = fmt.Errorf("%w: more than %d bytes", ErrTooLarge, s.c.limit)
			return false
		}
		if err == io.EOF {
			s.eof = true
			return n > 0
		}
		if err != nil {
			s.err = s.codecError(err)
			return false
		}
		if n > 0 {
			return true
		}
	}
	return true
}

// record returns the next length-prefixed record's body, valid until the
// next call. It returns io.EOF if the stream ends cleanly before a record.
func (s *stream) record(i int32) ([]byte, error) {
	size, err := s.recordLen(i)
	if err != nil {
		return nil, err
	}
	return s.recordBody(i, size)
}

// recordLen reads the next record's length, refusing one that cannot fit
// in what the limit leaves. It returns io.EOF at a clean end.
func (s *stream) recordLen(i int32) (int, error) {
	for s.hi-s.lo < binary.MaxVarintLen64 && s.fill() {
	}
	if s.err != nil {
		return 0, s.err
	}
	if s.lo == s.hi {
		return 0, io.EOF
	}
	length, n := binary.Varint(s.buf[s.lo:s.hi])
	if n <= 0 || length < 0 {
		return 0, fmt.Errorf("%w: record %d: bad length varint", ErrInvalidRecord, i)
	}
	s.lo += n
	if length > s.c.limit-s.consumed() {
		return 0, fmt.Errorf("%w: record %d claims %d bytes, beyond the %d byte limit", ErrTooLarge, i, length, s.c.limit)
	}
	return int(length), nil
}

// overrun is the error for record i whose size bytes the stream lacks.
func (s *stream) overrun(i int32, size int) error {
	if s.err != nil {
		return s.err
	}
	return fmt.Errorf("%w: record %d length %d overruns the records", ErrInvalidRecord, i, size)
}

// recordBody returns the next size bytes contiguously: from buf when they
// fit, else assembled in scratch (bounded by the limit recordLen checked).
func (s *stream) recordBody(i int32, size int) ([]byte, error) {
	for s.hi-s.lo < size && s.hi < len(s.buf) && s.fill() {
	}
	if s.hi-s.lo >= size {
		b := s.buf[s.lo : s.lo+size]
		s.lo += size
		return b, nil
	}
	if s.err != nil || s.eof {
		return nil, s.overrun(i, size)
	}
	if cap(s.scratch) < size {
		s.scratch = make([]byte, size)
	}
	b := s.scratch[:size]
	have := copy(b, s.buf[s.lo:s.hi])
	s.lo = s.hi
	for have < size {
		if !s.fill() {
			return nil, s.overrun(i, size)
		}
		n := copy(b[have:], s.buf[s.lo:s.hi])
		s.lo += n
		have += n
	}
	return b, nil
}

// atEnd reports whether the stream holds no more bytes.
func (s *stream) atEnd() (bool, error) {
	if s.lo == s.hi {
		s.fill()
	}
	if s.lo < s.hi {
		return false, nil
	}
	return true, s.err
}

// readAll appends the whole decompressed body to dst, bounded by the limit.
func (s *stream) readAll(dst []byte) ([]byte, error) {
	for {
		dst = append(dst, s.buf[s.lo:s.hi]...)
		s.lo = s.hi
		if !s.fill() {
			if s.err != nil {
				return dst, s.err
			}
			dst = append(dst, s.buf[s.lo:s.hi]...)
			s.lo = s.hi
			return dst, nil
		}
	}
}

// xerialMagic starts the Java producer's framed snappy (xerial
// snappy-java): 8 magic bytes, two 4-byte versions, then blocks of a
// 4-byte big-endian length and a raw snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderLen = 16

// snappyReader decodes Kafka snappy: xerial framing or one raw block.
// Snappy blocks are not streamable (copies may reach back to the block's
// start), so each block is decoded whole, after its declared decoded
// length has been checked against what the limit leaves.
type snappyReader struct {
	src    []byte // compressed bytes not yet decoded
	xerial bool
	left   int64 // decoded bytes the limit still allows
	out    []byte
	pos    int
}

func (r *snappyReader) reset(src []byte, limit int64) {
	r.src, r.left, r.pos = src, limit, 0
	r.out = r.out[:0]
	if cap(r.out) > maxPooledScratch {
		r.out = nil
	}
	r.xerial = len(src) >= xerialHeaderLen && bytes.HasPrefix(src, xerialMagic)
	if r.xerial {
		r.src = src[xerialHeaderLen:]
	}
}

func (r *snappyReader) Read(p []byte) (int, error) {
	for r.pos == len(r.out) {
		if len(r.src) == 0 {
			return 0, io.EOF
		}
		block := r.src
		if r.xerial {
			if len(r.src) < 4 {
				return 0, errors.New("truncated xerial block length")
			}
			n := binary.BigEndian.Uint32(r.src)
			if uint64(n) > uint64(len(r.src)-4) {
				return 0, errors.New("xerial block overruns the data")
			}
			block, r.src = r.src[4:4+n], r.src[4+n:]
		} else {
			r.src = nil
		}
		l, err := s2.DecodedLen(block)
		if err != nil {
			return 0, err
		}
		if int64(l) > r.left {
			return 0, fmt.Errorf("%w: snappy block declares %d decoded bytes", ErrTooLarge, l)
		}
		r.left -= int64(l)
		if cap(r.out) < l {
			r.out = make([]byte, l)
		}
		if r.out, err = s2.Decode(r.out[:l], block); err != nil {
			return 0, err
		}
		r.pos = 0
	}
	n := copy(p, r.out[r.pos:])
	r.pos += n
	return n, nil
}
