package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spool-mq/spool/internal/record"
	"github.com/spool-mq/spool/internal/vfs"
)

// Cleaner file names. A group of segments covering offsets [base, end) is
// written as "<base>.<end>.log.cleaned" (20 digits each), fsynced, and
// renamed to "<base>.<end>.log.swap" to commit it. The end offset is in
// the name because recovery must know which old segments a committed swap
// replaces, and the cleaned data may end well before the group did.
const (
	cleanedSuffix = ".log.cleaned"
	swapSuffix    = ".log.swap"
)

func cleanedPath(dir string, base, end int64) string {
	return segmentPath(dir, base, fmt.Sprintf(".%020d%s", end, cleanedSuffix))
}

func swapPath(dir string, base, end int64) string {
	return segmentPath(dir, base, fmt.Sprintf(".%020d%s", end, swapSuffix))
}

// parseSwapName parses "<base>.<end>.log.swap".
func parseSwapName(name string) (base, end int64, ok bool) {
	base, rest, ok := parseSegmentName(name)
	if !ok || len(rest) != 21+len(swapSuffix) || rest[0] != '.' || rest[21:] != swapSuffix {
		return 0, 0, false
	}
	end, tail, ok := parseSegmentName(rest[1:])
	if !ok || tail != swapSuffix || end <= base {
		return 0, 0, false
	}
	return base, end, true
}

// cleanWriteChunk is how much cleaned output is buffered per write.
const cleanWriteChunk = 256 << 10

// cleanedSegment is a group's replacement, durable under its .cleaned
// name, with its file still open to become the new segment's.
type cleanedSegment struct {
	path    string
	file    vfs.File
	idx     *segIndex
	size    int64
	removed int64 // records dropped
}

// cleanGroup writes the surviving batches of group g. It returns nil if
// g is a single segment from which nothing would be removed (rewriting it
// would only cost I/O).
func (l *Log) cleanGroup(ctx context.Context, c *cleaner, p *cleanPlan, g cleanGroup, end int64, res *CleanResult) (_ *cleanedSegment, err error) {
	w := &groupWriter{fs: l.fs, c: c, ctx: ctx, res: res, path: cleanedPath(l.dir, g.base, g.end),
		idx: newSegIndex(g.base), interval: l.interval()}
	if len(g.segs) == 1 {
		w.lazySrc = g.segs[0]
	}
	defer func() {
		if err != nil {
			w.abort()
		}
	}()
	keep := func(r *record.Rec) bool {
		if r.Offset >= end {
			return true // beyond the map: not known to be superseded
		}
		if r.Key == nil {
			return false // compacted topics reject null keys
		}
		if latest, ok := c.keys.get(hashKey(r.Key)); ok && r.Offset < latest {
			return false
		}
		return r.Value != nil || r.Offset >= p.horizon
	}
	for i, s := range g.segs {
		err := l.eachBatch(ctx, c, s, g.sizes[i], res, func(h *record.Header, b []byte) error {
			if h.Control() || h.Transactional() || h.BaseOffset >= end {
				return w.emit(h, b, true)
			}
			out, fr, err := c.rw.Filter(w.scratch[:0], b, keep)
			if errors.Is(err, record.ErrTooLarge) {
				return w.emit(h, b, true) // kept whole; see mapDirty
			}
			if err != nil {
				return batchDecodeError(s, h, err)
			}
			w.scratch = out
			removed := int64(fr.Records - fr.Kept)
			w.removed += removed
			switch {
			case fr.Kept == 0:
				return w.diverge()
			case removed == 0:
				return w.emit(h, b, true)
			}
			nh, err := record.Validate(out)
			if err != nil {
				return fmt.Errorf("re-encoding batch at offset %d of %s: %w", h.BaseOffset, s.path, err)
			}
			return w.emit(&nh, out, false)
		})
		if err != nil {
			return nil, err
		}
	}
	return w.finish()
}

// groupWriter writes a cleaned segment. For a single-segment group it
// writes nothing while the output is a byte-for-byte copy of the input;
// at the first difference it creates the file and copies that prefix.
type groupWriter struct {
	fs       vfs.FS
	c        *cleaner
	ctx      context.Context
	res      *CleanResult
	path     string
	lazySrc  *segment // set for single-segment groups
	file     vfs.File // nil until the output differs from the input
	idx      *segIndex
	interval int64
	pos      int64  // output size so far
	buf      []byte // output at [pos-len(buf), pos) not yet written
	removed  int64
	scratch  []byte
}

// emit adds a batch to the output; same says it is unchanged from the
// input.
func (w *groupWriter) emit(h *record.Header, b []byte, same bool) error {
	if !same || w.lazySrc == nil {
		if err := w.diverge(); err != nil {
			return err
		}
	}
	if w.file != nil {
		w.buf = append(w.buf, b...)
		if len(w.buf) >= cleanWriteChunk {
			if err := w.flushBuf(); err != nil {
				return err
			}
		}
	}
	w.idx.add(h, w.pos, w.interval)
	w.pos += int64(len(b))
	return nil
}

// diverge makes sure the output file exists, holding everything emitted
// so far.
func (w *groupWriter) diverge() error {
	if w.file != nil {
		return nil
	}
	f, err := w.fs.OpenFile(w.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return ioError("creating "+w.path, err)
	}
	w.file = f
	if w.lazySrc == nil || w.pos == 0 {
		return nil
	}
	// Copy the unchanged prefix; its batches are already indexed at
	// these positions.
	chunk := make([]byte, min(w.pos, cleanWriteChunk))
	for off := int64(0); off < w.pos; {
		n := min(int64(len(chunk)), w.pos-off)
		if _, err := w.lazySrc.file.ReadAt(chunk[:n], off); err != nil && err != io.EOF {
			return fmt.Errorf("reading %s: %w", w.lazySrc.path, err)
		}
		w.res.BytesRead += n
		if err := w.write(chunk[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}

func (w *groupWriter) flushBuf() error {
	if len(w.buf) == 0 {
		return nil
	}
	if err := w.write(w.buf, w.pos-int64(len(w.buf))); err != nil {
		return err
	}
	w.buf = w.buf[:0]
	return nil
}

func (w *groupWriter) write(b []byte, off int64) error {
	if err := w.c.io.wait(w.ctx, w.c.stop, int64(len(b))); err != nil {
		return err
	}
	n, err := w.file.WriteAt(b, off)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return ioError("writing "+w.path, err)
	}
	w.res.BytesWritten += int64(n)
	return nil
}

// finish makes the output durable; nil means the group is unchanged.
func (w *groupWriter) finish() (*cleanedSegment, error) {
	if w.file == nil {
		return nil, nil
	}
	if err := w.flushBuf(); err != nil {
		return nil, err
	}
	if err := w.file.Sync(); err != nil {
		return nil, ioError("syncing "+w.path, err)
	}
	w.idx.seal()
	return &cleanedSegment{path: w.path, file: w.file, idx: w.idx, size: w.pos, removed: w.removed}, nil
}

// abort removes a partly written output.
func (w *groupWriter) abort() {
	if w.file != nil {
		w.file.Close()
		w.fs.Remove(w.path)
	}
}

// discard removes a finished output that will not be swapped in.
func (o *cleanedSegment) discard(fsys vfs.FS) {
	o.file.Close()
	fsys.Remove(o.path)
}
