package testcluster

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// ErrProxyClosed is returned by a closed proxy's methods that need the
// listener.
var ErrProxyClosed = errors.New("proxy closed")

// Proxy is a TCP forwarder for one direction of one inter-broker link: the
// node that dials it reaches the target's cluster port. Cutting it closes
// every live connection and refuses new ones (accepted, then closed at
// once), which is what a broker sees when a link between two machines
// fails; healing lets connections through again. Bytes are copied verbatim,
// so the proxy is invisible to the protocols above it.
type Proxy struct {
	ln     net.Listener
	target string
	dialer net.Dialer

	mu     sync.Mutex
	cut    bool
	closed bool
	conns  map[net.Conn]struct{} // both ends of every live pair
	wg     sync.WaitGroup
}

// NewProxy listens on a free 127.0.0.1 port and forwards every accepted
// connection to target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, dialer: net.Dialer{Timeout: 5 * time.Second},
		conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the address nodes dial to reach the target through the proxy.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Cut closes every live connection and refuses new ones until Heal.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.closeConnsLocked()
}

// Heal lets new connections through again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// IsCut reports whether the link is cut.
func (p *Proxy) IsCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// Conns is the number of live forwarded connections.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns) / 2
}

// Close stops listening, closes every connection and waits for the
// forwarding goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrProxyClosed
	}
	p.closed = true
	p.closeConnsLocked()
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) closeConnsLocked() {
	for c := range p.conns {
		// A reset rather than a FIN: a failed link does not say goodbye.
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
	clear(p.conns)
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

// forward connects c to the target and copies bytes both ways until either
// side closes or the proxy cuts them.
func (p *Proxy) forward(c net.Conn) {
	defer p.wg.Done()
	if p.refusing() {
		refuse(c)
		return
	}
	up, err := p.dialer.Dial("tcp", p.target)
	if err != nil {
		refuse(c) // the target is down: so is the link, as far as c can tell
		return
	}
	p.mu.Lock()
	if p.cut || p.closed {
		p.mu.Unlock()
		refuse(c)
		refuse(up)
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		// Either direction ending ends the pair: half-open links would
		// leave a peer waiting on a connection nobody serves.
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	<-done
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

func (p *Proxy) refusing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut || p.closed
}

func refuse(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}
