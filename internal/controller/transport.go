package controller

import (
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// streamLayer is Raft's TCP stream layer. raft.NewTCPTransport insists on
// an advertisable IP address; this one advertises whatever the quorum
// configuration says (a hostname is fine) and listens first, so a bind
// port of 0 works and the real port is known before Raft starts.
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr
}

var _ raft.StreamLayer = (*streamLayer)(nil)

// listenRaft opens the Raft listener. advertise is the address peers use;
// empty means the listener's own address (with a loopback host when bound
// to all interfaces, which only a single voter can get away with).
func listenRaft(bind, advertise string) (*streamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
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
	return &streamLayer{ln: ln, advertise: tcpAddrString(advertise)}, nil
}

func (s *streamLayer) Accept() (net.Conn, error) { return s.ln.Accept() }
func (s *streamLayer) Close() error              { return s.ln.Close() }
func (s *streamLayer) Addr() net.Addr            { return s.advertise }

func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	return d.Dial("tcp", string(address))
}

// tcpAddrString is a net.Addr for an address that may name a host rather
// than an IP.
type tcpAddrString string

func (a tcpAddrString) Network() string { return "tcp" }
func (a tcpAddrString) String() string  { return string(a) }
