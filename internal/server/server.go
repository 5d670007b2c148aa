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
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/auth"
	"github.com/spool-mq/spool/internal/tlsconf"
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
	// Listener is the name of the listener the connection came in on
	// (PLAINTEXT, SSL, ...; see Config.Listener), so that Metadata can
	// answer with the addresses of that same listener.
	Listener string
	// TLSSubject is the principal of the client's verified TLS
	// certificate in Kafka's form, "User:CN=...,O=...", or "" when the
	// connection is plaintext or the client sent no certificate. ACLs
	// authorize with it when the connection has no SASL principal.
	TLSSubject string
	// Principal is who the connection acts as: "User:<name>" once it has
	// authenticated with SASL, auth.AnonymousPrincipal before (and on
	// listeners without SASL). Written by the SaslAuthenticate handler on
	// the connection's worker, read by later requests' handlers (ACLs).
	Principal string
	// SASL is the connection's SASL exchange, nil when the listener has no
	// Authenticator. The SaslHandshake and SaslAuthenticate handlers drive
	// it; the server lets nothing else through until it has succeeded
	// when Config.RequireSASL is set.
	SASL *auth.Session

	// authFailed is set by FailAuthentication: the response is delayed and
	// the connection closed after it (worker goroutine only).
	authFailed bool

	log     *slog.Logger
	metrics *Metrics
}

// FailAuthentication marks a failed SASL exchange: the server delays the
// response by Config.FailedAuthenticationDelay, writes it and closes the
// connection, so each guess costs a new connection and the delay, as in
// Kafka (connection.failed.authentication.delay.ms).
func (ci *ConnInfo) FailAuthentication() { ci.authFailed = true }

// authenticated reports whether the connection has completed SASL.
func (ci *ConnInfo) authenticated() bool { return ci.SASL != nil && ci.SASL.Authenticated() }

// preAuthAPI reports whether key may be sent before SASL authentication:
// ApiVersions (to learn the versions), SaslHandshake and SaslAuthenticate.
func preAuthAPI(key int16) bool { return key == apiVersionsKey || key == 17 || key == 36 }

// Recover is deferred by every goroutine a handler starts. A panic there is
// a bug, as in the handler itself: it is logged with its stack and counted
// in spool_kafka_handler_panics_total, and *err reports it to the handler,
// which answers with an error; the broker keeps running.
func (ci *ConnInfo) Recover(api string, err *error) {
	p := recover()
	if p == nil {
		return
	}
	if ci != nil && ci.log != nil {
		ci.log.Error("request handling panicked", "api", api, "panic", p, "stack", string(debug.Stack()))
	}
	if ci != nil && ci.metrics != nil {
		ci.metrics.panics.Inc()
	}
	*err = fmt.Errorf("%w: %s: %v", ErrHandlerPanic, api, p)
}

// setWriteDeadline sets c's write deadline d from now; 0 means none.
func setWriteDeadline(c net.Conn, d time.Duration) {
	if d > 0 {
		c.SetWriteDeadline(time.Now().Add(d))
	} else {
		c.SetWriteDeadline(time.Time{})
	}
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
	// QueuedMaxRequestBytes (queued.max.request.bytes) bounds the request
	// bytes held across all connections (see requestBudget); at least
	// MaxRequestBytes, so that any accepted frame can be read.
	QueuedMaxRequestBytes int64
	// FirstRequestTimeout closes a connection that sends no first request
	// within it (connections.first.request.timeout.ms), IdleTimeout one
	// that is silent that long between requests (connections.max.idle.ms),
	// ReadTimeout one whose frame body takes longer than that to arrive
	// (socket.request.read.timeout.ms), and WriteTimeout one that does not
	// take a response off the socket in that time
	// (socket.response.write.timeout.ms). 0 disables each.
	FirstRequestTimeout time.Duration
	IdleTimeout         time.Duration
	ReadTimeout         time.Duration
	WriteTimeout        time.Duration

	// Listener names the listener (config.Listener.Name) in ConnInfo.
	Listener string
	// Protocol is the listener's security protocol (PLAINTEXT, SSL,
	// SASL_PLAINTEXT or SASL_SSL), for the layers that gate on it.
	Protocol string
	// TLS, when set, makes every accepted connection a TLS server
	// connection; its handshake must finish within HandshakeTimeout
	// (ssl.handshake.timeout.ms; 0 means FirstRequestTimeout).
	TLS              *tls.Config
	HandshakeTimeout time.Duration
	// Authenticator serves SASL on this listener (SaslHandshake and
	// SaslAuthenticate); nil means the listener offers none.
	Authenticator *auth.Authenticator
	// RequireSASL lets a connection send only ApiVersions, SaslHandshake
	// and SaslAuthenticate until it has authenticated; anything else
	// closes it, as in Kafka. With no Authenticator nothing can
	// authenticate, so every other request is refused.
	RequireSASL bool
	// SASLTimeout closes a connection that has not authenticated within
	// it of connecting (sasl.authentication.timeout.ms), when RequireSASL
	// is set; 0 disables it. It bounds how long an unauthenticated
	// connection holds a slot by trickling handshake requests.
	SASLTimeout time.Duration
	// FailedAuthenticationDelay is how long the answer to a failed
	// authentication is held back before the connection is closed
	// (connection.failed.authentication.delay.ms).
	FailedAuthenticationDelay time.Duration
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
	// tlsBufs recycles the buffers TLS connections gather records in
	// (see coalescingConn).
	tlsBufs sync.Pool
	budget  *requestBudget

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
	cfg.QueuedMaxRequestBytes = max(cfg.QueuedMaxRequestBytes, int64(cfg.MaxRequestBytes))
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{cfg: cfg, handler: handler, log: logger, metrics: metrics,
		budget: newRequestBudget(cfg.QueuedMaxRequestBytes, metrics),
		ctx:    ctx, cancel: cancel, conns: make(map[net.Conn]struct{})}
	s.tlsBufs.New = func() any { b := make([]byte, 0, coalesceBytes); return &b }
	return s
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
	held     int64  // request budget held for frame until it is handled
}

func (s *Server) serveConn(raw net.Conn) {
	c := raw
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	var under flusher // the coalescingConn below a TLS connection
	info := &ConnInfo{Remote: c.RemoteAddr(), Conn: c, PeerNode: peerNode(c), Listener: s.cfg.Listener,
		Principal: auth.AnonymousPrincipal, log: s.log, metrics: s.metrics}
	if s.cfg.Authenticator != nil {
		info.SASL = s.cfg.Authenticator.NewSession()
	}
	if s.cfg.RequireSASL && s.cfg.SASLTimeout > 0 {
		t := time.AfterFunc(s.cfg.SASLTimeout, func() {
			if !info.authenticated() {
				s.metrics.timeouts.WithLabelValues("sasl").Inc()
				s.log.Info("closing connection: SASL authentication not completed in time",
					"remote", c.RemoteAddr(), "timeout", s.cfg.SASLTimeout)
				c.Close()
			}
		})
		defer t.Stop()
	}
	if s.cfg.TLS != nil {
		tc, cc, err := s.handshake(ctx, c)
		if err != nil {
			s.untrack(c)
			switch {
			case errors.Is(err, context.Canceled): // the server is closing
			case errors.Is(err, ErrConnectionTimeout):
				s.log.Debug("closing client connection", "remote", c.RemoteAddr(), "err", err)
			default:
				s.log.Warn("closing client connection: TLS handshake failed", "remote", c.RemoteAddr(), "err", err)
			}
			return
		}
		info.Conn, info.TLSSubject = tc, tlsconf.Principal(tc.ConnectionState())
		under = cc
	}
	s.serveFrames(ctx, cancel, raw, under, info)
}

// handshake runs the TLS handshake on c within Config.HandshakeTimeout
// (FirstRequestTimeout if unset): until it finishes the client has not
// said anything, so it is held to the same kind of short limit.
func (s *Server) handshake(ctx context.Context, c net.Conn) (*tls.Conn, *coalescingConn, error) {
	d := s.cfg.HandshakeTimeout
	if d <= 0 {
		d = s.cfg.FirstRequestTimeout
	}
	cc := &coalescingConn{Conn: c, pool: &s.tlsBufs}
	tc := tls.Server(cc, s.cfg.TLS)
	if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
		c.SetDeadline(time.Now().Add(d))
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		if s.ctx.Err() != nil {
			return nil, nil, fmt.Errorf("TLS handshake: %w", context.Canceled)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
			s.metrics.timeouts.WithLabelValues("tls_handshake").Inc()
			return nil, nil, fmt.Errorf("%w: no TLS handshake within %v", ErrConnectionTimeout, d)
		}
		s.metrics.malformed.Inc()
		return nil, nil, fmt.Errorf("%w: %w", ErrTLSHandshake, err)
	}
	c.SetDeadline(time.Time{})
	cc.start()
	return tc, cc, nil
}

// serveFrames runs a connection's reader and worker on info.Conn (the TLS
// connection over raw on an SSL listener) until it ends; raw is what the
// server tracks and closes.
func (s *Server) serveFrames(ctx context.Context, cancel context.CancelFunc, raw net.Conn, under flusher, info *ConnInfo) {
	c := info.Conn
	queue := make(chan request, s.cfg.PipelineDepth)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.work(ctx, cancel, c, under, info, queue)
	}()
	err := s.read(ctx, c, queue)
	// The peer hung up (or its stream can no longer be trusted): end
	// whatever is parked on its behalf, a long-poll fetch above all, now
	// rather than when its wait runs out, and give its slot back at once.
	cancel()
	close(queue)
	s.untrack(raw)
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, context.Canceled):
	case errors.Is(err, ErrConnectionTimeout):
		s.log.Debug("closing client connection", "remote", c.RemoteAddr(), "err", err)
	default:
		s.log.Warn("closing client connection", "remote", c.RemoteAddr(), "err", err)
	}
	<-done
}

// work handles queued requests in order and writes their responses,
// flushing whenever no further request is waiting.
func (s *Server) work(ctx context.Context, cancel context.CancelFunc, c net.Conn, under flusher, info *ConnInfo, queue <-chan request) {
	w := newResponseWriter(c, &s.responseBufs, s.log)
	w.under = under
	defer w.close()
	failed := false
	fail := func() {
		failed = true
		cancel() // a reader waiting for request budget gives up too
		c.Close()
	}
	for r := range queue {
		if failed {
			s.budget.release(r.held)
			continue // drain so the reader is never blocked
		}
		if s.cfg.RequireSASL && !preAuthAPI(r.hdr.APIKey) && !info.authenticated() {
			s.log.Warn("closing connection: request before SASL authentication",
				"remote", c.RemoteAddr(), "api", kmsg.NameForKey(r.hdr.APIKey))
			s.budget.release(r.held)
			fail()
			continue
		}
		handled, err := s.serveOne(ctx, c, info, &r, w)
		if handled && recyclesFrame(r.hdr.APIKey) {
			// The response is written and the handler has returned:
			// nothing refers to the request's bytes any more.
			s.frames.put(r.frame)
		}
		s.budget.release(r.held)
		if !handled || err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				s.metrics.timeouts.WithLabelValues("write").Inc()
			}
			fail()
			continue
		}
		if len(queue) == 0 || info.authFailed {
			setWriteDeadline(c, s.cfg.WriteTimeout)
			if err := w.flush(); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					s.metrics.timeouts.WithLabelValues("write").Inc()
				}
				fail()
				continue
			}
		}
		if info.authFailed {
			s.log.Info("closing connection after failed SASL authentication", "remote", c.RemoteAddr())
			fail()
			continue
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
func (s *Server) serveOne(ctx context.Context, c net.Conn, info *ConnInfo, r *request, w *responseWriter) (handled bool, err error) {
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
	if info.authFailed && s.cfg.FailedAuthenticationDelay > 0 {
		t := time.NewTimer(s.cfg.FailedAuthenticationDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	setWriteDeadline(c, s.cfg.WriteTimeout)
	n, err := w.write(r.hdr.CorrelationID, resp)
	s.metrics.bytesOut.Add(float64(n))
	return true, err
}
