package simnet

import (
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"
)

// conn is a host's UDP socket on the wire (a net.PacketConn for quic-go).
// Writes never block: the packet joins the wire's outbox. Reads take
// packets the wire delivered, in delivery order.
type conn struct {
	w    *wire
	addr *net.UDPAddr
	ap   netip.AddrPort
	up   link // owned by the wire's goroutine
	down link // owned by the wire's goroutine
	opts endOpts
	// sent is when this end last sent to each peer (its NAT's mappings),
	// lastTo the latest arrival scheduled per peer (jitter keeps order);
	// owned by the wire's goroutine (admit writes them, step reads sent).
	sent   map[netip.AddrPort]time.Time
	lastTo map[netip.AddrPort]time.Time

	mu       sync.Mutex // guards q, closed, deadline
	q        []*packet
	closed   bool
	deadline time.Time

	// recv takes lite messages (lite.go) on the wire's goroutine; nil
	// for a QUIC socket.
	recv func(*packet)

	ready chan struct{} // 1-buffered: q not empty
	dl    chan struct{} // 1-buffered: deadline changed
	shut  chan struct{} // closed by Close
}

var _ net.PacketConn = (*conn)(nil)

func (c *conn) put(p *packet) {
	if c.recv != nil {
		if !c.isClosed() {
			c.recv(p)
		}
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.q = append(c.q, p)
	c.mu.Unlock()
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// ReadFrom implements net.PacketConn.
func (c *conn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return 0, nil, net.ErrClosed
		}
		if len(c.q) > 0 {
			p := c.q[0]
			c.q[0] = nil
			c.q = c.q[1:]
			c.mu.Unlock()
			return copy(b, p.buf), p.src, nil
		}
		dl := c.deadline
		c.mu.Unlock()
		var t *time.Timer
		var tc <-chan time.Time
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			t = time.NewTimer(d)
			tc = t.C
		}
		select {
		case <-c.ready:
		case <-c.dl:
		case <-c.shut:
		case <-tc:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// WriteTo implements net.PacketConn.
func (c *conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if c.isClosed() {
		return 0, net.ErrClosed
	}
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: net.InvalidAddrError("not a UDP address")}
	}
	c.w.send(&packet{from: c.ap, to: canon(ua.AddrPort()), src: c.addr, buf: slices.Clone(b)})
	return len(b), nil
}

// Close implements net.PacketConn.
func (c *conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.q = nil
		close(c.shut)
	}
	return nil
}

// LocalAddr implements net.PacketConn.
func (c *conn) LocalAddr() net.Addr { return c.addr }

// SetDeadline implements net.PacketConn (writes never block, so only the
// read deadline matters).
func (c *conn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// SetReadDeadline implements net.PacketConn.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	select {
	case c.dl <- struct{}{}:
	default:
	}
	return nil
}

// SetWriteDeadline implements net.PacketConn; writes never block.
func (c *conn) SetWriteDeadline(time.Time) error { return nil }

// SetReadBuffer and SetWriteBuffer keep quic-go from warning about
// buffer sizes it cannot set.
func (c *conn) SetReadBuffer(int) error  { return nil }
func (c *conn) SetWriteBuffer(int) error { return nil }
