package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/tlsconf"
)

// A frame up to 2*firstChunk bytes is read into one buffer. A larger one
// starts with firstChunk and grows by growFactor as its bytes arrive, so
// the memory (and request budget) a frame holds is at most growFactor
// times what its sender has actually sent: a client that declares 100 MiB
// and stalls holds 1 MiB, not 100. Each growth copies what was read so
// far: 1 MiB for frames up to 8 MiB (what producers send), less than a
// seventh of any frame. A factor of four copied five times as much and
// cost 9% of the broker's CPU under a 600 MB/s produce load.
const (
	firstChunk = 1 << 20
	growFactor = 8
)

// ErrConnectionTimeout means a connection was closed because its peer was
// silent for longer than a limit allows (see Config's timeouts).
var ErrConnectionTimeout = errors.New("connection timed out")

// ErrTLSOnPlaintext means a connection to a plaintext listener began with
// a TLS handshake: a client configured for SSL dialled the wrong port.
// Said plainly, rather than as the absurd frame size those bytes make.
var ErrTLSOnPlaintext = errors.New("client speaks TLS but this listener is plaintext")

// ErrTLSHandshake means a connection to an SSL listener failed its TLS
// handshake: a plaintext client, an untrusted or missing client
// certificate under ssl.client.auth=required, or a TLS version below 1.2.
var ErrTLSHandshake = errors.New("TLS handshake failed")

// read decodes frames into queue until the connection ends, a frame is bad
// or a timeout passes.
func (s *Server) read(ctx context.Context, c net.Conn, queue chan<- request) error {
	br := bufio.NewReaderSize(c, 64<<10)
	var sizeBuf [4]byte
	for first := true; ; first = false {
		// Clients send ApiVersions (or a SASL handshake) as soon as they
		// connect, so a connection that says nothing at first is held to
		// a short limit; between requests, to connections.max.idle.ms.
		wait, kind := s.cfg.IdleTimeout, "idle"
		if first {
			wait, kind = s.cfg.FirstRequestTimeout, "first_request"
		}
		setReadDeadline(c, wait)
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			return s.readError(err, kind, wait)
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if first && s.cfg.TLS == nil && tlsconf.LooksLikeTLS(sizeBuf[:]) {
			s.metrics.malformed.Inc()
			return fmt.Errorf("%w (listener %s)", ErrTLSOnPlaintext, s.cfg.Listener)
		}
		if size < 0 || size > s.cfg.MaxRequestBytes {
			s.metrics.malformed.Inc()
			return fmt.Errorf("%w: %d bytes (socket.request.max.bytes is %d)", ErrFrameTooLarge, size, s.cfg.MaxRequestBytes)
		}
		setReadDeadline(c, s.cfg.ReadTimeout)
		frame, held, err := s.readFrame(ctx, br, int(size))
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: connection closed inside a %d-byte frame", ErrMalformedRequest, size)
			}
			return s.readError(err, "read", s.cfg.ReadTimeout)
		}
		received := time.Now()
		s.metrics.bytesIn.Add(float64(size + 4))
		r, err := s.decode(frame)
		if err != nil {
			s.budget.release(held)
			s.metrics.malformed.Inc()
			return err
		}
		r.received, r.size, r.frame, r.held = received, int(size)+4, frame, held
		queue <- r
	}
}

// readError names a deadline that passed; other errors pass through.
func (s *Server) readError(err error, kind string, limit time.Duration) error {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return err
	}
	s.metrics.timeouts.WithLabelValues(kind).Inc()
	return fmt.Errorf("%w: no %s within %v", ErrConnectionTimeout, timeoutWhat[kind], limit)
}

var timeoutWhat = map[string]string{
	"first_request": "first request",
	"idle":          "request",
	"read":          "complete request body",
}

// readFrame reads a size-byte frame body, taking its bytes from the
// request budget as they arrive (see firstChunk). It returns the frame
// and the budget it holds, which the caller releases once the request has
// been handled; on error nothing is held.
func (s *Server) readFrame(ctx context.Context, r io.Reader, size int) ([]byte, int64, error) {
	n := size
	if size > 2*firstChunk {
		n = firstChunk
	}
	if err := s.budget.acquire(ctx, int64(n)); err != nil {
		return nil, 0, err
	}
	held := int64(n)
	frame := s.frames.get(n)
	got := 0
	for {
		m, err := io.ReadFull(r, frame[got:n])
		got += m
		if err != nil {
			s.frames.put(frame) // not decoded yet: nothing aliases it
			s.budget.release(held)
			return nil, 0, err
		}
		if n == size {
			return frame, held, nil
		}
		next := min(size, n*growFactor)
		if err := s.budget.acquire(ctx, int64(next-n)); err != nil {
			s.frames.put(frame)
			s.budget.release(held)
			return nil, 0, err
		}
		held += int64(next - n)
		bigger := s.frames.get(next)
		copy(bigger, frame[:got])
		s.frames.put(frame)
		frame, n = bigger, next
	}
}

// setReadDeadline sets c's read deadline d from now; 0 means none.
func setReadDeadline(c net.Conn, d time.Duration) {
	if d > 0 {
		c.SetReadDeadline(time.Now().Add(d))
	} else {
		c.SetReadDeadline(time.Time{})
	}
}

// decode parses one frame. It recovers from decoder panics so that no input,
// however hostile, can take the broker down.
func (s *Server) decode(frame []byte) (r request, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: decoder panic: %v", ErrMalformedRequest, p)
		}
	}()
	hdr, body, err := parseHeader(frame)
	if err != nil {
		return r, err
	}
	r.hdr = hdr
	if !s.handler.Supports(hdr.APIKey, hdr.APIVersion) {
		if hdr.APIKey == apiVersionsKey {
			// KIP-511: answer with v0 and the versions we do speak so
			// the client can downgrade; the body is not parsed.
			req := kmsg.NewPtrApiVersionsRequest()
			req.SetVersion(0)
			r.req = req
			return r, nil
		}
		return r, fmt.Errorf("%w: unsupported api key %d (%s) version %d", ErrMalformedRequest,
			hdr.APIKey, kmsg.NameForKey(hdr.APIKey), hdr.APIVersion)
	}
	req := kmsg.RequestForKey(hdr.APIKey)
	req.SetVersion(hdr.APIVersion)
	if req.IsFlexible() {
		if body, err = skipTags(body); err != nil {
			return r, err
		}
	}
	if err := req.ReadFrom(body); err != nil {
		return r, fmt.Errorf("%w: %s v%d: %w", ErrMalformedRequest, kmsg.NameForKey(hdr.APIKey), hdr.APIVersion, err)
	}
	r.req = req
	return r, nil
}
