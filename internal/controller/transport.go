package controller

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// The node's cluster port carries Raft, controller RPCs and replication
// (see mux.go). Raft keeps hashicorp/raft's NetworkTransport; raftStream is
// its StreamLayer on top of the mux: Dial runs the hello with StreamRaft
// and Accept yields only Raft streams.
//
// Peer addresses come from this node's own voters list, never from the
// Raft configuration: voterAddrs is the transport's ServerAddressProvider
// and answers "id@host:port", from which Dial learns the node id the hello
// must name. (An address without the id, Raft's fallback when the provider
// fails, is looked up in the voters list.) The test harness relies on this
// to give every node its own addresses for its peers.
type raftStream struct {
	mux       *clusterMux
	ln        *subListener
	advertise net.Addr
}

var _ raft.StreamLayer = (*raftStream)(nil)

// listenCluster opens the cluster listener. advertise is the address peers
// use; empty means the listener's own address (with a loopback host when
// bound to all interfaces, which only a single voter can get away with).
func listenCluster(bind, advertise string) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, "", err
	}
	if advertise == "" {
		addr := ln.Addr().(*net.TCPAddr)
		ip := addr.IP
		if ip.IsUnspecified() {
			// A single voter never dials itself; the address only has
			// to be well formed.
			ip = net.IPv4(127, 0, 0, 1)
		}
		advertise = (&net.TCPAddr{IP: ip, Port: addr.Port}).String()
	}
	return ln, advertise, nil
}

func newRaftStream(mux *clusterMux, advertise string) *raftStream {
	return &raftStream{mux: mux, ln: mux.subs[StreamRaft], advertise: tcpAddrString(advertise)}
}

func (s *raftStream) Accept() (net.Conn, error) { return s.ln.Accept() }
func (s *raftStream) Close() error              { return s.ln.Close() }
func (s *raftStream) Addr() net.Addr            { return s.advertise }

func (s *raftStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	node, err := s.nodeFor(string(address))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	pc, err := s.mux.dial(ctx, node, StreamRaft)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return pc, nil
}

// nodeFor maps a Raft address back to the node id.
func (s *raftStream) nodeFor(address string) (int32, error) {
	if idText, _, ok := strings.Cut(address, "@"); ok {
		id, err := strconv.ParseInt(idText, 10, 32)
		if err == nil {
			return int32(id), nil
		}
	}
	for id, addr := range s.mux.addrs {
		if strings.EqualFold(addr, address) {
			return id, nil
		}
	}
	return -1, fmt.Errorf("raft address %s is not in this node's voters list", address)
}

// voterAddrs is the Raft transport's ServerAddressProvider.
type voterAddrs map[int32]string

func (v voterAddrs) ServerAddr(id raft.ServerID) (raft.ServerAddress, error) {
	n, err := strconv.ParseInt(string(id), 10, 32)
	if err != nil {
		return "", fmt.Errorf("raft server id %q is not a node id", id)
	}
	addr, ok := v[int32(n)]
	if !ok {
		return "", fmt.Errorf("node %d is not in this node's voters list", n)
	}
	return raft.ServerAddress(fmt.Sprintf("%d@%s", n, addr)), nil
}

// tcpAddrString is a net.Addr for an address that may name a host rather
// than an IP.
type tcpAddrString string

func (a tcpAddrString) Network() string { return "tcp" }
func (a tcpAddrString) String() string  { return string(a) }

// Dial opens a connection of the given kind to node's cluster address (as
// listed in this node's voters) after a successful hello. The connection
// implements PeerNodeID. A failed identity check returns an error matching
// ErrPeerMismatch.
func (c *Controller) Dial(ctx context.Context, node int32, kind byte) (net.Conn, error) {
	if kind != StreamControl && kind != StreamReplication && kind != StreamRaft {
		return nil, fmt.Errorf("unknown cluster stream kind %d", kind)
	}
	pc, err := c.mux.dial(ctx, node, kind)
	if err != nil {
		return nil, err
	}
	return pc, nil
}

// ReplicationListener yields accepted StreamReplication connections; each
// is a *PeerConn (PeerNodeID is the node id proven by the handshake). It
// stops accepting (net.ErrClosed) when the controller closes.
func (c *Controller) ReplicationListener() net.Listener { return c.mux.subs[StreamReplication] }
