// Package server accepts Kafka protocol connections, frames and decodes
// requests with kmsg, hands them to a Handler and writes responses back in
// request order.
//
// Each connection has two goroutines: a reader that decodes frames ahead
// (clients pipeline requests) and a worker that handles them one at a time
// and writes the responses, so responses always leave in request order, as
// the protocol requires. Anything that cannot be decoded closes the
// connection with a log line; it never reaches a handler and never panics.
package server

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Handler serves decoded requests.
type Handler interface {
	// Supports reports whether the broker implements key at version.
	Supports(key, version int16) bool
	// Handle serves one request. A nil response sends nothing (acks=0
	// produce). For an ApiVersions request at an unsupported version, req
	// is an empty v0 request and hdr carries the version the client asked.
	Handle(ctx context.Context, conn *ConnInfo, hdr *RequestHeader, req kmsg.Request) kmsg.Response
}

// Releaser is implemented by responses that hold pooled buffers. The server
// calls Release exactly once, after the response is written (or the write
// failed, or handling panicked), after which the response must not be used.
type Releaser interface {
	Release()
}

// ConnInfo describes the client connection a request arrived on.
type ConnInfo struct {
	Remote net.Addr
	// Conn is the raw connection, for handlers that write to it directly
	// in the future (zero-copy fetch). Handlers must not read from it.
	Conn net.Conn
	// PeerNode is the broker id a cluster-internal connection proved in
	// its handshake, or -1 for a client connection. Replica requests
	// (Fetch and OffsetForLeaderEpoch with ReplicaID >= 0) are honoured
	// only when it equals their ReplicaID.
	PeerNode int32
}

// peerNoder is implemented by the replication listener's connections,
// which know the node id their handshake proved.
type peerNoder interface{ PeerNodeID() int32 }

// peerNode is the proven broker id behind c, or -1.
func peerNode(c net.Conn) int32 {
	if pn, ok := c.(peerNoder); ok {
		return pn.PeerNodeID()
	}
	return -1
}

// Config bounds what one client may ask of the server.
type Config struct {
	// MaxRequestBytes is socket.request.max.bytes: larger frames close the
	// connection before their body is read.
	MaxRequestBytes int32
	// MaxConnections caps concurrent client connections; more are closed
	// on accept.
	MaxConnections int
	// PipelineDepth is how many decoded requests may wait per connection.
	PipelineDepth int
}

// Server is a Kafka protocol listener.
type Server struct {
	cfg     Config
	handler Handler
	log     *slog.Logger
	metrics *Metrics

	ctx    context.Context
	cancel context.CancelFunc

	// responseBufs recycles encoded-response buffers across connections,
	// so large fetch responses do not allocate (and zero) a new buffer
	// each time, and idle connections do not pin one.
	responseBufs sync.Pool
	// frames recycles Produce request frames (see framePool).
	frames framePool

	mu     sync.Mutex
	ln     net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New returns a server; call Serve to start accepting.
func New(cfg Config, handler Handler, logger *slog.Logger, metrics *Metrics) *Server {
	if cfg.PipelineDepth <= 0 {
		cfg.PipelineDepth = 16
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 100 << 20
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, handler: handler, log: logger, metrics: metrics,
		ctx: ctx, cancel: cancel, conns: make(map[net.Conn]struct{})}
}

// Serve accepts connections on ln until Close. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ln.Close()
	}
	s.ln = ln
	s.mu.Unlock()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyOpenFiles) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; backing off", "err", err, "backoff", backoff)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		backoff = 0
		if !s.track(c) {
			s.log.Warn("connection refused: max.connections reached", "remote", c.RemoteAddr(), "max", s.cfg.MaxConnections)
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			s.serveConn(c)
		}()
	}
}

// Close stops accepting, closes every connection and waits for their
// goroutines to finish.
func (s *Server) Close() error {
	s.cancel() // first, so Serve reads the accept error as a shutdown
	s.mu.Lock()
	s.closed = true
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || (s.cfg.MaxConnections > 0 && len(s.conns) >= s.cfg.MaxConnections) {
		return false
	}
	s.conns[c] = struct{}{}
	s.metrics.connections.Inc()
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.metrics.connections.Dec()
	c.Close()
}

// request is a decoded frame waiting for the worker.
type request struct {
	hdr      RequestHeader
	req      kmsg.Request
	received time.Time
	size     int
	frame    []byte // the bytes req was decoded from; req may alias them
}

func (s *Server) serveConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	info := &ConnInfo{Remote: c.RemoteAddr(), Conn: c, PeerNode: peerNode(c)}
	queue := make(chan request, s.cfg.PipelineDepth)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.work(ctx, c, info, queue)
	}()
	err := s.read(c, queue)
	close(queue)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		s.log.Warn("closing client connection", "remote", c.RemoteAddr(), "err", err)
	}
	<-done
}

// read decodes frames into queue until the connection ends or a frame is bad.
func (s *Server) read(c net.Conn, queue chan<- request) error {
	br := bufio.NewReaderSize(c, 64<<10)
	var sizeBuf [4]byte
	for {
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 0 || size > s.cfg.MaxRequestBytes {
			s.metrics.malformed.Inc()
			return fmt.Errorf("%w: %d bytes (socket.request.max.bytes is %d)", ErrFrameTooLarge, size, s.cfg.MaxRequestBytes)
		}
		frame := s.frames.get(int(size))
		if _, err := io.ReadFull(br, frame); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: connection closed inside a %d-byte frame", ErrMalformedRequest, size)
			}
			return err
		}
		received := time.Now()
		s.metrics.bytesIn.Add(float64(size + 4))
		r, err := s.decode(frame)
		if err != nil {
			s.metrics.malformed.Inc()
			return err
		}
		r.received, r.size, r.frame = received, int(size)+4, frame
		queue <- r
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

// work handles queued requests in order and writes their responses,
// flushing whenever no further request is waiting.
func (s *Server) work(ctx context.Context, c net.Conn, info *ConnInfo, queue <-chan request) {
	w := newResponseWriter(c, &s.responseBufs, s.log)
	defer w.close()
	failed := false
	for r := range queue {
		if failed {
			continue // drain so the reader is never blocked
		}
		handled, err := s.serveOne(ctx, info, &r, w)
		if handled && recyclesFrame(r.hdr.APIKey) {
			// The response is written and the handler has returned:
			// nothing refers to the request's bytes any more.
			s.frames.put(r.frame)
		}
		if !handled || err != nil {
			failed = true
			c.Close()
			continue
		}
		if len(queue) == 0 {
			if err := w.flush(); err != nil {
				failed = true
				c.Close()
				continue
			}
		}
		s.metrics.observe(kmsg.NameForKey(r.hdr.APIKey), time.Since(r.received))
	}
}

// serveOne handles one request and writes its response through w (nothing
// for requests without a response), then releases the response: only after
// the write, since a vectored response's fields are written from its own
// buffers, and also after a write error or a panic. A panic in the handler
// or the encoder is a bug: it is logged and counted, and handled=false
// closes the connection, but the broker keeps running. A write error closes
// the connection too.
func (s *Server) serveOne(ctx context.Context, info *ConnInfo, r *request, w *responseWriter) (handled bool, err error) {
	var resp kmsg.Response
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("request handling panicked", "api", kmsg.NameForKey(r.hdr.APIKey), "version", r.hdr.APIVersion,
				"panic", p, "stack", string(debug.Stack()))
			s.metrics.panics.Inc()
			handled = false
		}
		if rel, ok := resp.(Releaser); ok {
			rel.Release()
		}
	}()
	resp = s.handler.Handle(ctx, info, &r.hdr, r.req)
	if resp == nil {
		return true, nil
	}
	n, err := w.write(r.hdr.CorrelationID, resp)
	s.metrics.bytesOut.Add(float64(n))
	return true, err
}
