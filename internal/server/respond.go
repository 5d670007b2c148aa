package server

import (
	"bufio"
	"log/slog"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// responseWriter encodes and writes one connection's responses, in the
// order it is given them.
//
// Plain responses are encoded into a pooled buffer and written through a
// 64 KiB bufio.Writer, which coalesces the small responses of pipelined
// requests; the worker flushes it when no request is waiting. A vectored
// response with fields to write by reference (see VectoredResponse) first
// flushes what is buffered, then goes out as one vectored write of its
// framing and its fields' own bytes, so those are copied only by the
// kernel. On a connection that cannot writev, the pieces go through the
// bufio.Writer one after another instead: still in order, small pieces
// still coalesced.
type responseWriter struct {
	bw     *bufio.Writer
	log    *slog.Logger
	bufs   *sync.Pool // of *[]byte, shared by the server's connections
	out    *[]byte    // the encoded-response buffer, from bufs
	sp     splicer
	vec    net.Buffers                       // the pieces being written; WriteTo consumes it
	writev func(*net.Buffers) (int64, error) // nil when the connection cannot writev
	// under, when set, is flushed after the connection's own buffer: the
	// coalescingConn beneath a TLS connection.
	under flusher
}

// flusher is a connection layer that buffers writes until flushed.
type flusher interface{ Flush() error }

func newResponseWriter(c net.Conn, bufs *sync.Pool, log *slog.Logger) *responseWriter {
	w := &responseWriter{bw: bufio.NewWriterSize(c, 64<<10), log: log, bufs: bufs}
	switch c := c.(type) {
	case *net.TCPConn, *net.UnixConn:
		w.writev = func(v *net.Buffers) (int64, error) { return v.WriteTo(c) }
	case BuffersWriter:
		w.writev = c.WriteBuffers
	}
	return w
}

// buf returns an empty pooled buffer.
func (w *responseWriter) buf() *[]byte {
	if p, _ := w.bufs.Get().(*[]byte); p != nil {
		*p = (*p)[:0]
		return p
	}
	return new([]byte)
}

// write encodes resp, framed for correlationID, and writes it (or buffers
// it: see flush). It returns the bytes written or buffered. Once it has
// returned, nothing refers to resp's fields any more, so resp may be
// released, even after an error.
func (w *responseWriter) write(correlationID int32, resp kmsg.Response) (int, error) {
	if w.out == nil {
		w.out = w.buf()
	}
	vr, ok := resp.(VectoredResponse)
	if !ok {
		*w.out = appendResponse((*w.out)[:0], correlationID, resp)
		n, err := w.bw.Write(*w.out)
		w.recycle()
		return n, err
	}
	// After the write: the pieces point into w.out and resp's fields.
	defer w.sp.release()
	defer w.recycle()
	out, pieces, err := w.sp.encode((*w.out)[:0], correlationID, vr)
	*w.out = out
	if err != nil {
		w.log.Error("writing a response without splicing", "api", kmsg.NameForKey(resp.Key()), "err", err)
	}
	if pieces == nil {
		return w.bw.Write(out)
	}
	if w.writev == nil {
		total := 0
		for _, p := range pieces {
			n, err := w.bw.Write(p)
			total += n
			if err != nil {
				return total, err
			}
		}
		return total, nil
	}
	if err := w.bw.Flush(); err != nil {
		return 0, err
	}
	w.vec = pieces
	n, err := w.writev(&w.vec)
	w.vec = nil
	return int(n), err
}

// recycle returns a large encoded-response buffer to the pool after use,
// so an idle connection does not pin it; small ones stay.
func (w *responseWriter) recycle() {
	if cap(*w.out) > 64<<10 {
		w.bufs.Put(w.out)
		w.out = nil
	}
}

// flush writes what the bufio.Writer holds, and what the layer beneath
// it gathered.
func (w *responseWriter) flush() error {
	if err := w.bw.Flush(); err != nil {
		return err
	}
	if w.under != nil {
		return w.under.Flush()
	}
	return nil
}

// close returns the connection's buffer to the pool.
func (w *responseWriter) close() {
	if w.out != nil {
		w.bufs.Put(w.out)
		w.out = nil
	}
}
