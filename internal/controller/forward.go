package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Controller RPCs travel on StreamControl connections. After the hello,
// each request and each reply is one frame, length-prefixed JSON:
//
//	uint32 BE length | {"op":"submit","timeout_ms":9000,"data":{...}}
//	uint32 BE length | {"data":{...}} or {"err":{"is":["ErrTopicExists"],"msg":"..."}}
//
// A connection carries one request at a time; callers take a connection
// from a small per-node pool, so a slow write does not hold up heartbeats.
// Operations:
//
//	submit     {"cmd": <command envelope as in the log>}
//	           -> {"index": n, "err": e, "errs": [e...], "first": n}
//	heartbeat  heartbeatRequest -> heartbeatReply   (lifecycle.go)
//	quorum     {} -> QuorumInfo                      (quorum.go)
//
// Errors are sent as the names of the package's sentinel errors they match
// plus their message (errors.go, wireError), and rebuilt on the caller so
// errors.Is and the printed text survive the trip.
const (
	opSubmit    = "submit"
	opHeartbeat = "heartbeat"
	opQuorum    = "quorum"

	// maxControlBytes bounds one control frame; the largest are
	// create-topics commands with many partitions.
	maxControlBytes = 32 << 20
	// maxIdleControlConns is how many idle connections to one node the
	// pool keeps.
	maxIdleControlConns = 4
)

type controlRequest struct {
	Op        string          `json:"op"`
	TimeoutMs int64           `json:"timeout_ms,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
}

type controlReply struct {
	Err  *wireError      `json:"err,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
}

type submitRequest struct {
	Cmd json.RawMessage `json:"cmd"`
}

type submitReply struct {
	Index uint64       `json:"index"`
	Err   *wireError   `json:"err,omitempty"`
	Errs  []*wireError `json:"errs,omitempty"`
	First int64        `json:"first,omitempty"`
}

// transportError is a failure to reach the leader or to get its answer:
// the request may or may not have been carried out. Writes retry on it.
type transportError struct {
	node int32
	err  error
}

func (e *transportError) Error() string {
	return fmt.Sprintf("controller rpc to node %d: %v", e.node, e.err)
}
func (e *transportError) Unwrap() error { return e.err }

// retriable reports whether an attempt on the Raft leader failed in a way
// that another attempt (perhaps on a new leader) may fix.
func retriable(err error) bool {
	var te *transportError
	return errors.Is(err, ErrNotLeader) || errors.As(err, &te)
}

// submit is the one path by which metadata changes are made. With
// validateOnly it applies cmd to a scratch copy of the local image, so
// validation is exactly the apply logic, on any node. Otherwise the Raft
// leader appends cmd to the log: this node when it leads, else the leader
// reached over StreamControl, after which submit waits until the local
// image includes the command (read-your-writes on every node). While there
// is no leader, or it changes, submit retries until ctx ends (bounded by
// ApplyTimeout when ctx has no deadline) and then returns *NotLeaderError.
//
// A retry after a lost connection or lost leadership can apply a command
// twice (a create then fails with ErrTopicExists), as with Kafka clients
// retrying NOT_CONTROLLER. If ctx ends first the command may still be
// applied later, as with any Kafka request that times out.
func (c *Controller) submit(ctx context.Context, cmd command, validateOnly bool) (applyResult, error) {
	if c.isClosed() {
		return applyResult{}, ErrClosed
	}
	if validateOnly {
		img := c.Image()
		return cmd.apply(newBuilder(img), img.Index+1), nil
	}
	data, err := encodeCommand(cmd)
	if err != nil {
		return applyResult{}, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.ApplyTimeout)
		defer cancel()
	}
	var res applyResult
	err = c.onLeader(ctx, "metadata write "+string(cmd.kind()),
		func(ctx context.Context) (err error) {
			res, _, err = c.propose(ctx, cmd, data)
			return err
		},
		func(ctx context.Context, leader int32) error {
			var reply submitReply
			if err := c.call(ctx, leader, opSubmit, submitRequest{Cmd: data}, &reply); err != nil {
				return err
			}
			res = applyResult{Err: decodeError(reply.Err), First: reply.First}
			if reply.Errs != nil {
				res.Errs = make([]error, len(reply.Errs))
				for i, e := range reply.Errs {
					res.Errs[i] = decodeError(e)
				}
			}
			c.waitApplied(ctx, reply.Index)
			return nil
		})
	return res, err
}

// onLeader runs local when this node is the Raft leader and remote with
// the leader's id otherwise, retrying (with backoff) while the attempt
// fails retriably and ctx lasts.
func (c *Controller) onLeader(ctx context.Context, what string, local func(context.Context) error, remote func(context.Context, int32) error) error {
	backoff := 10 * time.Millisecond
	for {
		changed := c.st.waitCh()
		if c.isClosed() {
			return ErrClosed
		}
		var err error
		switch leader := c.LeaderID(); {
		case leader == c.cfg.NodeID:
			err = local(ctx)
		case leader >= 0:
			err = remote(ctx, leader)
		default:
			err = &NotLeaderError{LeaderID: -1}
		}
		if err == nil || !retriable(err) {
			return err
		}
		var wake <-chan struct{}
		if c.LeaderID() < 0 {
			wake = changed // a leader being elected publishes a new image
		}
		timer := time.NewTimer(backoff)
		select {
		case <-timer.C:
		case <-wake:
		case <-c.stop:
		case <-ctx.Done():
		}
		timer.Stop()
		if c.isClosed() {
			return ErrClosed
		}
		if ctx.Err() != nil {
			var nle *NotLeaderError
			if errors.As(err, &nle) {
				return err
			}
			return fmt.Errorf("%s: %w: %w", what, &NotLeaderError{LeaderID: c.LeaderID()}, err)
		}
		backoff = min(2*backoff, 250*time.Millisecond)
	}
}

// waitApplied waits (bounded by ctx) until the local image has applied
// index. Giving up early is not an error: the write is committed.
func (c *Controller) waitApplied(ctx context.Context, index uint64) {
	for {
		changed := c.st.waitCh()
		if c.Image().Index >= index {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			c.log.Debug("local image did not catch up with a forwarded write in time", "index", index, "applied", c.Image().Index)
			return
		case <-c.stop:
			return
		}
	}
}

func (c *Controller) isClosed() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// call sends one control request to node and decodes the reply into resp.
// An error reply is rebuilt with decodeError; everything else that goes
// wrong is a *transportError. ctx bounds the call and is passed on as the
// remote's timeout.
func (c *Controller) call(ctx context.Context, node int32, op string, req, resp any) error {
	data, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("encoding %s request: %w", op, err)
	}
	creq := controlRequest{Op: op, Data: data}
	if dl, ok := ctx.Deadline(); ok {
		creq.TimeoutMs = max(time.Until(dl).Milliseconds(), 1)
	}
	conn, err := c.pool.get(ctx, node)
	if err != nil {
		return &transportError{node: node, err: err}
	}
	var reply controlReply
	reusable, err := roundTrip(ctx, conn, creq, &reply)
	if err != nil {
		_ = conn.Close()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return &transportError{node: node, err: err}
	}
	if reusable {
		c.pool.put(node, conn)
	} else {
		_ = conn.Close()
	}
	if reply.Err != nil {
		err := decodeError(reply.Err)
		if errors.Is(err, ErrClosed) {
			// The leader is shutting down: try its successor.
			return &transportError{node: node, err: err}
		}
		return err
	}
	if resp != nil {
		if err := json.Unmarshal(reply.Data, resp); err != nil {
			return fmt.Errorf("decoding %s reply from node %d: %w", op, node, err)
		}
	}
	return nil
}

// roundTrip sends req and reads the reply. The connection is reusable
// afterwards unless ctx ended meanwhile (its deadline was then forced).
func roundTrip(ctx context.Context, conn net.Conn, req controlRequest, reply *controlReply) (reusable bool, err error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := writeFrame(conn, nil, req); err != nil {
		return false, err
	}
	if err := readFrame(conn, maxControlBytes, reply); err != nil {
		return false, err
	}
	if !stop() {
		return false, nil
	}
	return conn.SetDeadline(time.Time{}) == nil, nil
}

// controlPool keeps idle StreamControl connections per node.
type controlPool struct {
	dial func(context.Context, int32) (net.Conn, error)

	mu     sync.Mutex
	idle   map[int32][]net.Conn
	closed bool
}

func newControlPool(dial func(context.Context, int32) (net.Conn, error)) *controlPool {
	return &controlPool{dial: dial, idle: make(map[int32][]net.Conn)}
}

func (p *controlPool) get(ctx context.Context, node int32) (net.Conn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if conns := p.idle[node]; len(conns) > 0 {
		conn := conns[len(conns)-1]
		p.idle[node] = conns[:len(conns)-1]
		p.mu.Unlock()
		return conn, nil
	}
	p.mu.Unlock()
	return p.dial(ctx, node)
}

func (p *controlPool) put(node int32, conn net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || len(p.idle[node]) >= maxIdleControlConns {
		_ = conn.Close()
		return
	}
	p.idle[node] = append(p.idle[node], conn)
}

func (p *controlPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for node, conns := range p.idle {
		for _, conn := range conns {
			_ = conn.Close()
		}
		delete(p.idle, node)
	}
}

// serveControl accepts StreamControl connections until the controller
// closes.
func (c *Controller) serveControl() {
	defer c.wg.Done()
	ln := c.mux.subs[StreamControl]
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		if !c.trackConn(conn) {
			_ = conn.Close()
			return
		}
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer c.untrackConn(conn)
			c.serveControlConn(conn.(*PeerConn))
		}()
	}
}

// trackConn records an open control connection so Close can end it; it
// returns false once the controller is closing.
func (c *Controller) trackConn(conn net.Conn) bool {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if c.conns == nil {
		return false
	}
	c.conns[conn] = struct{}{}
	return true
}

func (c *Controller) untrackConn(conn net.Conn) {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	if c.conns != nil {
		delete(c.conns, conn)
	}
	_ = conn.Close()
}

// closeConns ends every open control connection and refuses new ones.
func (c *Controller) closeConns() {
	c.connMu.Lock()
	defer c.connMu.Unlock()
	for conn := range c.conns {
		_ = conn.Close()
	}
	c.conns = nil
}

func (c *Controller) serveControlConn(conn *PeerConn) {
	for {
		var req controlRequest
		if err := readFrame(conn, maxControlBytes, &req); err != nil {
			return
		}
		reply := c.handleControl(conn.PeerNodeID(), req)
		if err := writeFrame(conn, nil, reply); err != nil {
			c.log.Debug("answering a controller rpc failed", "peer", conn.PeerNodeID(), "op", req.Op, "err", err)
			return
		}
	}
}

// handleControl serves one request from node peer.
func (c *Controller) handleControl(peer int32, req controlRequest) controlReply {
	timeout := c.cfg.ApplyTimeout
	if req.TimeoutMs > 0 {
		timeout = min(timeout, time.Duration(req.TimeoutMs)*time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(c.ctx, timeout)
	defer cancel()
	var out any
	var err error
	switch req.Op {
	case opSubmit:
		out, err = c.serveSubmit(ctx, req.Data)
	case opHeartbeat:
		var hb heartbeatRequest
		if err = json.Unmarshal(req.Data, &hb); err == nil {
			out, err = c.handleHeartbeat(ctx, hb)
		}
	case opQuorum:
		out, err = c.localQuorumInfo()
	default:
		err = fmt.Errorf("unknown controller rpc %q from node %d", req.Op, peer)
	}
	if err != nil {
		return controlReply{Err: encodeError(err)}
	}
	data, err := json.Marshal(out)
	if err != nil {
		return controlReply{Err: encodeError(fmt.Errorf("encoding %s reply: %w", req.Op, err))}
	}
	return controlReply{Data: data}
}

// serveSubmit proposes a forwarded command on this node, which must lead.
func (c *Controller) serveSubmit(ctx context.Context, data json.RawMessage) (submitReply, error) {
	var req submitRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return submitReply{}, fmt.Errorf("decoding submit request: %w", err)
	}
	cmd, err := decodeCommand(req.Cmd)
	if err != nil {
		return submitReply{}, err
	}
	res, index, err := c.propose(ctx, cmd, req.Cmd)
	if err != nil {
		return submitReply{}, err
	}
	reply := submitReply{Index: index, Err: encodeError(res.Err), First: res.First}
	if res.Errs != nil {
		reply.Errs = make([]*wireError, len(res.Errs))
		for i, e := range res.Errs {
			reply.Errs[i] = encodeError(e)
		}
	}
	return reply, nil
}
