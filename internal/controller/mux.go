package controller

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"
)

// Streams on the cluster port. Every connection to a node's cluster
// address, Raft's own included, starts with a hello naming its kind.
const (
	// StreamRaft carries hashicorp/raft's RPCs.
	StreamRaft byte = 1
	// StreamControl carries controller RPCs: forwarded writes, broker
	// heartbeats and quorum information (see forward.go).
	StreamControl byte = 2
	// StreamReplication carries the Kafka protocol between brokers
	// (follower fetches); it is served by the broker's Kafka server through
	// ReplicationListener.
	StreamReplication byte = 3
)

// ErrPeerMismatch means the hello handshake on the cluster port failed
// its checks: the dialed address is served by a different node id than the
// voters list says, the two nodes' voter id sets differ, or they belong to
// different clusters. It is a configuration error: retrying does not help.
var ErrPeerMismatch = errors.New("cluster peer mismatch")

// The hello handshake. The dialer writes
//
//	helloMagic (1 byte) | helloVersion (1 byte) | length (uint32 BE) | JSON hello
//
// and the acceptor answers with
//
//	length (uint32 BE) | JSON helloReply
//
// after which the connection belongs to the stream named by hello.Kind.
// The magic byte is not a valid hashicorp/raft RPC type (those are 0..4),
// so a peer running a version without the handshake fails loudly instead
// of having its bytes misread. A failed check is answered with OK=false
// and the connection closed; both sides log it.
const (
	helloMagic   byte = 0xA5
	helloVersion byte = 1
	// maxHelloBytes bounds a hello so a stray client cannot make the
	// acceptor allocate much.
	maxHelloBytes = 64 << 10
	// helloTimeout bounds the handshake so a silent peer cannot hold a
	// connection (and a goroutine) for long.
	helloTimeout = 5 * time.Second
	// routeTimeout bounds how long an accepted stream waits for its
	// listener to take it (nobody may be accepting replication streams).
	routeTimeout = 5 * time.Second
)

type hello struct {
	Kind      byte    `json:"kind"`
	From      int32   `json:"from"`
	To        int32   `json:"to"`
	ClusterID string  `json:"cluster_id,omitempty"`
	VoterIDs  []int32 `json:"voter_ids"`
}

type helloReply struct {
	OK        bool    `json:"ok"`
	Error     string  `json:"error,omitempty"`
	NodeID    int32   `json:"node_id"`
	ClusterID string  `json:"cluster_id,omitempty"`
	VoterIDs  []int32 `json:"voter_ids,omitempty"`
}

// PeerConn is an accepted or dialed cluster connection whose peer node id
// was established by the hello handshake.
type PeerConn struct {
	net.Conn
	peer int32
}

// PeerNodeID is the node id at the other end, as proven by the handshake
// (the dialer's id for accepted connections, the dialed id for dialed ones).
func (p *PeerConn) PeerNodeID() int32 { return p.peer }

// WriteBuffers writes v in order, with one writev when the connection
// beneath is a TCP connection, so the Kafka server can send replica fetch
// responses without copying their records (server.BuffersWriter).
func (p *PeerConn) WriteBuffers(v *net.Buffers) (int64, error) { return v.WriteTo(p.Conn) }

// clusterMux owns the cluster listener: it accepts connections, runs the
// acceptor side of the hello on each (in its own goroutine, so a slow peer
// delays nobody else) and hands the connection to the listener for its
// stream kind. It also dials peers.
type clusterMux struct {
	ln       net.Listener
	self     int32
	addrs    map[int32]string // this node's view of where every voter is
	voterIDs []int32          // sorted
	// clusterID returns the cluster id as far as this node knows ("" before
	// one is committed).
	clusterID func() string
	log       *slog.Logger
	errs      *errorLimiter

	subs map[byte]*subListener

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

// newClusterMux starts accepting on ln. voters is this node's voters list;
// an empty list means this node alone at advertise.
func newClusterMux(ln net.Listener, self int32, voters []Voter, advertise string, clusterID func() string, log *slog.Logger) *clusterMux {
	m := &clusterMux{
		ln:        ln,
		self:      self,
		addrs:     make(map[int32]string),
		clusterID: clusterID,
		log:       log,
		errs:      newErrorLimiter(time.Minute),
		closed:    make(chan struct{}),
	}
	for _, v := range voters {
		m.addrs[v.ID] = v.Addr
	}
	if len(voters) == 0 {
		m.addrs[self] = advertise
	}
	for id := range m.addrs {
		m.voterIDs = append(m.voterIDs, id)
	}
	slices.Sort(m.voterIDs)
	m.subs = map[byte]*subListener{
		StreamRaft:        m.newSub(StreamRaft),
		StreamControl:     m.newSub(StreamControl),
		StreamReplication: m.newSub(StreamReplication),
	}
	m.wg.Add(1)
	go m.acceptLoop()
	return m
}

func (m *clusterMux) newSub(kind byte) *subListener {
	return &subListener{mux: m, kind: kind, ch: make(chan *PeerConn, 16), closed: make(chan struct{})}
}

// Close stops accepting, unblocks every sub-listener's Accept and waits
// for handshakes in progress. Connections already handed out stay open;
// their owners close them.
func (m *clusterMux) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.closed)
		err = m.ln.Close()
		m.wg.Wait()
		// Streams accepted but never taken are closed here.
		for _, s := range m.subs {
		drain:
			for {
				select {
				case pc := <-s.ch:
					_ = pc.Close()
				default:
					break drain
				}
			}
		}
	})
	return err
}

func (m *clusterMux) acceptLoop() {
	defer m.wg.Done()
	var delay time.Duration
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closed:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failures (out of file descriptors): back off.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			m.log.Warn("accepting a cluster connection failed", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
				continue
			case <-m.closed:
				return
			}
		}
		delay = 0
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.serveHello(conn)
		}()
	}
}

// serveHello runs the acceptor side of the handshake and routes the
// connection.
func (m *clusterMux) serveHello(conn net.Conn) {
	_ = conn.SetDeadline(time.Now().Add(helloTimeout))
	h, err := readHello(conn)
	if err != nil {
		m.log.Warn("dropping cluster connection without a valid hello", "remote", conn.RemoteAddr().String(), "err", err)
		_ = conn.Close()
		return
	}
	reply := helloReply{OK: true, NodeID: m.self, ClusterID: m.clusterID(), VoterIDs: m.voterIDs}
	if problem := m.checkIncoming(h, conn.LocalAddr().String()); problem != "" {
		reply.OK, reply.Error = false, problem
		m.errs.log(m.log, fmt.Sprintf("in %d %s", h.From, problem), "refusing cluster connection: "+problem,
			"remote", conn.RemoteAddr().String(), "from", h.From)
	}
	if err := writeFrame(conn, nil, reply); err != nil || !reply.OK {
		if err != nil {
			m.log.Debug("answering a cluster hello failed", "remote", conn.RemoteAddr().String(), "err", err)
		}
		_ = conn.Close()
		return
	}
	_ = conn.SetDeadline(time.Time{})
	sub := m.subs[h.Kind]
	timer := time.NewTimer(routeTimeout)
	defer timer.Stop()
	select {
	case sub.ch <- &PeerConn{Conn: conn, peer: h.From}:
	case <-sub.closed:
		_ = conn.Close()
	case <-m.closed:
		_ = conn.Close()
	case <-timer.C:
		m.log.Warn("nobody accepted a cluster stream; closing it", "kind", h.Kind, "from", h.From)
		_ = conn.Close()
	}
}

// checkIncoming returns why an incoming hello is refused, or "".
func (m *clusterMux) checkIncoming(h hello, localAddr string) string {
	if _, ok := m.subs[h.Kind]; !ok {
		return fmt.Sprintf("unknown stream kind %d from node %d", h.Kind, h.From)
	}
	if h.To != m.self {
		return fmt.Sprintf("dialed node %d at %s but reached node %d: node ids or the voters lists disagree", h.To, localAddr, m.self)
	}
	if problem := m.checkVoters(h.From, h.VoterIDs); problem != "" {
		return problem
	}
	return m.checkClusterID(h.From, h.ClusterID)
}

func (m *clusterMux) checkVoters(peer int32, peerVoters []int32) string {
	theirs := slices.Sorted(slices.Values(peerVoters))
	if !slices.Equal(theirs, m.voterIDs) {
		return fmt.Sprintf("voters list disagrees between nodes: node %d has voter ids %v, node %d has %v", m.self, m.voterIDs, peer, theirs)
	}
	return ""
}

func (m *clusterMux) checkClusterID(peer int32, peerCluster string) string {
	own := m.clusterID()
	if own != "" && peerCluster != "" && own != peerCluster {
		return fmt.Sprintf("cluster id mismatch: node %d belongs to cluster %s, node %d to cluster %s", m.self, own, peer, peerCluster)
	}
	return ""
}

// dial connects to node's cluster address as listed in this node's voters
// and runs the dialer side of the handshake. ctx bounds the whole dial; the
// handshake is further bounded by helloTimeout.
func (m *clusterMux) dial(ctx context.Context, node int32, kind byte) (*PeerConn, error) {
	addr, ok := m.addrs[node]
	if !ok {
		return nil, fmt.Errorf("node %d is not among the voters %v", node, m.voterIDs)
	}
	select {
	case <-m.closed:
		return nil, ErrClosed
	default:
	}
	// A connect that takes longer than a handshake may is as good as
	// refused (and the OS default can be minutes).
	d := net.Dialer{Timeout: helloTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dialing node %d at %s: %w", node, addr, err)
	}
	deadline := time.Now().Add(helloTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	reply, err := m.exchangeHello(conn, hello{Kind: kind, From: m.self, To: node, ClusterID: m.clusterID(), VoterIDs: m.voterIDs})
	stop()
	if err == nil {
		err = m.checkReply(node, addr, reply)
	}
	if err != nil {
		_ = conn.Close()
		if errors.Is(err, ErrPeerMismatch) {
			m.errs.log(m.log, fmt.Sprintf("out %d %v", node, err), "cluster connection refused", "node", node, "addr", addr, "err", err)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("handshake with node %d at %s: %w", node, addr, ctx.Err())
		}
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return &PeerConn{Conn: conn, peer: node}, nil
}

func (m *clusterMux) exchangeHello(conn net.Conn, h hello) (helloReply, error) {
	var reply helloReply
	if err := writeFrame(conn, []byte{helloMagic, helloVersion}, h); err != nil {
		return reply, fmt.Errorf("sending hello to node %d: %w", h.To, err)
	}
	if err := readFrame(conn, maxHelloBytes, &reply); err != nil {
		return reply, fmt.Errorf("reading hello reply from node %d: %w", h.To, err)
	}
	return reply, nil
}

// checkReply checks the acceptor's answer; the acceptor has checked the
// same things, but a mismatch must fail on this side too.
func (m *clusterMux) checkReply(node int32, addr string, r helloReply) error {
	if !r.OK {
		return fmt.Errorf("%w: node %d at %s refused the connection: %s", ErrPeerMismatch, node, addr, r.Error)
	}
	if r.NodeID != node {
		return fmt.Errorf("%w: dialed node %d at %s but reached node %d: node ids or the voters lists disagree", ErrPeerMismatch, node, addr, r.NodeID)
	}
	if problem := m.checkVoters(node, r.VoterIDs); problem != "" {
		return fmt.Errorf("%w: %s", ErrPeerMismatch, problem)
	}
	if problem := m.checkClusterID(node, r.ClusterID); problem != "" {
		return fmt.Errorf("%w: %s", ErrPeerMismatch, problem)
	}
	return nil
}

func readHello(r io.Reader) (hello, error) {
	var h hello
	var head [2]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return h, err
	}
	if head[0] != helloMagic {
		return h, fmt.Errorf("first byte 0x%02x is not the cluster hello (is a client or an older node connecting to the cluster port?)", head[0])
	}
	if head[1] != helloVersion {
		return h, fmt.Errorf("hello version %d is not supported (this node speaks %d)", head[1], helloVersion)
	}
	if err := readFrame(r, maxHelloBytes, &h); err != nil {
		return h, err
	}
	return h, nil
}

// writeFrame writes prefix, then v as length-prefixed JSON, in one write.
func writeFrame(w io.Writer, prefix []byte, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	buf := make([]byte, 0, len(prefix)+4+len(body))
	buf = append(buf, prefix...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(body)))
	buf = append(buf, body...)
	_, err = w.Write(buf)
	return err
}

// readFrame reads one length-prefixed JSON value of at most limit bytes.
func readFrame(r io.Reader, limit int, v any) error {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return err
	}
	size := binary.BigEndian.Uint32(n[:])
	if int64(size) > int64(limit) {
		return fmt.Errorf("frame of %d bytes exceeds the limit of %d", size, limit)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decoding frame: %w", err)
	}
	return nil
}

// subListener is a net.Listener for one stream kind. Closing it stops its
// Accept only; the cluster listener itself closes with the mux.
type subListener struct {
	mux       *clusterMux
	kind      byte
	ch        chan *PeerConn
	closeOnce sync.Once
	closed    chan struct{}
}

var _ net.Listener = (*subListener)(nil)

func (s *subListener) Accept() (net.Conn, error) {
	select {
	case pc := <-s.ch:
		return pc, nil
	case <-s.closed:
	case <-s.mux.closed:
	}
	return nil, net.ErrClosed
}

func (s *subListener) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

func (s *subListener) Addr() net.Addr { return s.mux.ln.Addr() }

// errorLimiter logs a repeated error at Error once per interval and at
// Debug in between: Raft redials a refusing peer every few hundred
// milliseconds, and one clear line per minute is enough.
type errorLimiter struct {
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
}

func newErrorLimiter(every time.Duration) *errorLimiter {
	return &errorLimiter{every: every, last: make(map[string]time.Time)}
}

func (l *errorLimiter) log(log *slog.Logger, key, msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	last, seen := l.last[key]
	loud := !seen || now.Sub(last) >= l.every
	if loud {
		l.last[key] = now
	}
	l.mu.Unlock()
	if loud {
		log.Error(msg, args...)
	} else {
		log.Debug(msg, args...)
	}
}
