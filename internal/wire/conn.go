// Package wire is the client side of one Kafka protocol connection:
// framing, correlation ids and kmsg encoding and decoding, one request at
// a time. Follower fetchers, the benchmark's raw consumer and the tests
// that speak the protocol byte for byte all use it, so there is one
// implementation of the framing rules to get right.
package wire

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

var (
	// ErrCorrelationMismatch means a response answered a different
	// request than the one awaited: the stream is out of step and must be
	// closed.
	ErrCorrelationMismatch = errors.New("wire: response correlation id mismatch")
	// ErrBadFrame means a response frame was too large, too short or did
	// not decode.
	ErrBadFrame = errors.New("wire: malformed response frame")
	// errStreamPoisoned notes that a stream's deadline was forced into the
	// past by its context ending.
	errStreamPoisoned = errors.New("wire: stream interrupted")
)

// apiVersionsKey's responses never carry header tags, whatever the version.
const apiVersionsKey = 18

// Options configures a Conn.
type Options struct {
	// ClientID is sent in every request header.
	ClientID string
	// MaxResponseBytes bounds a response frame, so a corrupt size prefix
	// cannot make the client allocate gigabytes. 0 means 1 GiB.
	MaxResponseBytes int32
	// ReuseBuffer reads every response into one buffer the Conn keeps:
	// no allocation per response, but a decoded response's byte fields
	// (record batches) are valid only until the next read. Without it
	// each response gets a fresh buffer that the caller may keep.
	ReuseBuffer bool
}

// Conn is one Kafka protocol connection. It is not safe for concurrent use.
type Conn struct {
	nc        net.Conn
	opts      Options
	formatter *kmsg.RequestFormatter
	corr      int32
	wbuf      []byte
	rbuf      []byte
}

// New wraps an established connection.
func New(nc net.Conn, opts Options) *Conn {
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = 1 << 30
	}
	return &Conn{nc: nc, opts: opts, formatter: kmsg.NewRequestFormatter(kmsg.FormatterClientID(opts.ClientID))}
}

// NetConn is the underlying connection, for deadlines and closing.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the underlying connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Send writes req as one frame and returns its correlation id. Requests
// may be pipelined: send several, then Receive their responses in order.
func (c *Conn) Send(req kmsg.Request) (int32, error) {
	c.corr++
	c.wbuf = c.formatter.AppendRequest(c.wbuf[:0], req, c.corr)
	if _, err := c.nc.Write(c.wbuf); err != nil {
		return 0, fmt.Errorf("wire: writing %s request: %w", kmsg.NameForKey(req.Key()), err)
	}
	return c.corr, nil
}

// ReadFrame reads one response frame, checks that it answers corr and
// returns what follows the correlation id (for a flexible response, the
// header's tags and then the body).
func (c *Conn) ReadFrame(corr int32) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c.nc, size[:]); err != nil {
		return nil, fmt.Errorf("wire: reading response size: %w", err)
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > c.opts.MaxResponseBytes {
		return nil, fmt.Errorf("%w: size %d", ErrBadFrame, n)
	}
	var body []byte
	if c.opts.ReuseBuffer {
		if cap(c.rbuf) < int(n) {
			c.rbuf = make([]byte, n)
		}
		body = c.rbuf[:n]
	} else {
		body = make([]byte, n)
	}
	if _, err := io.ReadFull(c.nc, body); err != nil {
		return nil, fmt.Errorf("wire: reading response: %w", err)
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corr {
		return nil, fmt.Errorf("%w: awaited %d, got %d", ErrCorrelationMismatch, corr, got)
	}
	return body[4:], nil
}

// Receive reads the response to the request req was sent as (correlation
// id corr) and decodes it into resp at req's version.
func (c *Conn) Receive(corr int32, req kmsg.Request, resp kmsg.Response) error {
	body, err := c.ReadFrame(corr)
	if err != nil {
		return err
	}
	return Decode(req, resp, body)
}

// Decode decodes a response frame's body (as ReadFrame returns it) into
// resp at req's version, skipping a flexible response header's tags.
func Decode(req kmsg.Request, resp kmsg.Response, body []byte) error {
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() && req.Key() != apiVersionsKey {
		var err error
		if body, err = skipTags(body); err != nil {
			return err
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return fmt.Errorf("%w: decoding %s v%d: %w", ErrBadFrame, kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return nil
}

// RoundTrip sends req and decodes its response into resp.
func (c *Conn) RoundTrip(req kmsg.Request, resp kmsg.Response) error {
	corr, err := c.Send(req)
	if err != nil {
		return err
	}
	return c.Receive(corr, req, resp)
}

// Request sends req and returns its decoded response. ctx bounds the whole
// exchange: its deadline becomes the connection's and its cancellation
// unblocks a pending read or write. After an error the stream is in an
// unknown state and must be closed.
func (c *Conn) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	deadline, _ := ctx.Deadline() // zero: no deadline
	if err := c.nc.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("wire: setting deadline: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	resp := req.ResponseKind()
	err := c.RoundTrip(req, resp)
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
	if err != nil {
		return nil, err
	}
	return resp, nil
}

// skipTags skips a flexible response header's tagged fields.
func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, fmt.Errorf("%w: response header tag count", ErrBadFrame)
	}
	b = b[n:]
	for range count {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, fmt.Errorf("%w: response header tag", ErrBadFrame)
		}
		b = b[n:]
		l, n := binary.Uvarint(b)
		if n <= 0 || uint64(len(b)-n) < l {
			return nil, fmt.Errorf("%w: response header tag length", ErrBadFrame)
		}
		b = b[n+int(l):]
	}
	return b, nil
}
