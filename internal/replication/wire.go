package replication

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxResponseBytes bounds a response frame, so a corrupt size prefix cannot
// make the follower allocate gigabytes. A fetch answers at most
// FetchMaxBytes plus per-partition overhead; this leaves ample headroom.
const maxResponseBytes = 1 << 30

var (
	// ErrCorrelationMismatch means a response answered a different request
	// than the one just sent: the stream is out of step and must be closed.
	ErrCorrelationMismatch = errors.New("replication: response correlation id mismatch")
	// ErrBadFrame means a response frame was too large or too short.
	ErrBadFrame = errors.New("replication: malformed response frame")
)

// conn is one replication stream to a leader. It speaks the Kafka protocol
// one request at a time (a fetcher never pipelines: each fetch depends on
// the previous one's result). It is not safe for concurrent use.
type conn struct {
	nc        net.Conn
	formatter *kmsg.RequestFormatter
	corr      int32
	wbuf      []byte
}

func newConn(nc net.Conn, clientID string) *conn {
	return &conn{nc: nc, formatter: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))}
}

// Close closes the underlying stream.
func (c *conn) Close() error { return c.nc.Close() }

// Request sends req and reads its response. ctx bounds the whole exchange:
// its deadline becomes the stream's deadline and its cancellation unblocks
// any pending read or write. After an error the stream is in an unknown
// state and must be closed.
func (c *conn) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline() // zero: no deadline
	if err := c.nc.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("replication: setting deadline: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	resp, err := c.roundTrip(req)
	if !stop() {
		// The context ended during the exchange and its callback has
		// (or is about to) set a past deadline: the stream is unusable
		// even if the response arrived.
		return nil, fmt.Errorf("%w: %w", context.Cause(ctx), errors.Join(err, errStreamPoisoned))
	}
	if err != nil && !deadline.IsZero() && !time.Now().Before(deadline) {
		// The deadline fired on the socket just before the context's
		// own timer: report it as the context's.
		return nil, fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	return resp, err
}

// errStreamPoisoned notes that a stream's deadline was forced into the past.
var errStreamPoisoned = errors.New("replication: stream interrupted")

func (c *conn) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	c.corr++
	c.wbuf = c.formatter.AppendRequest(c.wbuf[:0], req, c.corr)
	if _, err := c.nc.Write(c.wbuf); err != nil {
		return nil, fmt.Errorf("replication: writing request: %w", err)
	}
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return nil, fmt.Errorf("replication: reading response size: %w", err)
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > maxResponseBytes {
		return nil, fmt.Errorf("%w: size %d", ErrBadFrame, n)
	}
	// A fresh buffer per response: the decoded response (its record
	// batches) aliases it and is handed to the log after this returns.
	body := make([]byte, n)
	if _, err := io.ReadFull(c.nc, body); err != nil {
		return nil, fmt.Errorf("replication: reading response: %w", err)
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != c.corr {
		return nil, fmt.Errorf("%w: sent %d, got %d", ErrCorrelationMismatch, c.corr, got)
	}
	body = body[4:]
	resp := req.ResponseKind()
	// Flexible responses (other than ApiVersions, never sent here) carry a
	// tagged-field section after the correlation id.
	if req.IsFlexible() && req.Key() != 18 {
		tr := tagReader{b: body}
		kmsg.SkipTags(&tr)
		if tr.bad {
			return nil, fmt.Errorf("%w: response header tags", ErrBadFrame)
		}
		body = tr.b
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("%w: decoding %T: %w", ErrBadFrame, resp, err)
	}
	return resp, nil
}

// tagReader is the minimal kmsg.TagReader over a byte slice, used to skip
// the tagged fields of a flexible response header.
type tagReader struct {
	b   []byte
	bad bool
}

func (r *tagReader) Uvarint() uint32 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 || v > 1<<31 {
		r.bad, r.b = true, nil
		return 0
	}
	r.b = r.b[n:]
	return uint32(v)
}

func (r *tagReader) Span(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.bad, r.b = true, nil
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}
