package simnet

// Connections and streams of the lite transport (lite.go). A connection's
// messages go to the peer's endpoint on the wire and are handled there by
// handle, on the wire's goroutine, which only changes state and signals;
// readers and acceptors wait on channels (durably blocked under synctest),
// and locks are held only for bookkeeping, never across a wait. Stream
// semantics follow libp2p's QUIC streams (p2p/transport/quic/stream.go):
// Close is CloseRead plus CloseWrite, Reset cancels both directions, a
// cancelled read makes the peer's writes fail, errors are
// network.StreamError and network.ConnError.

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/transport"
	ma "github.com/multiformats/go-multiaddr"
)

// liteConn is one side of a lite connection.
type liteConn struct {
	t      *liteTransport
	scope  network.ConnManagementScope
	dialer bool
	rap    netip.AddrPort // the peer's endpoint
	raddr  ma.Multiaddr
	ready  chan struct{} // closed when the dial is answered (or aborted)

	mu        sync.Mutex // guards everything below
	peer      *liteConn  // the other side (nil until accepted)
	remote    peer.ID
	remotePub lcrypto.PubKey
	refused   bool
	closed    bool
	err       error // why it closed
	streams   map[uint64]*liteStream
	next      uint64 // streams opened here so far
	acceptQ   []*liteStream
	acceptCh  chan struct{} // 1-buffered: acceptQ not empty or closed
}

var _ transport.CapableConn = (*liteConn)(nil)

func newLiteConn(t *liteTransport, scope network.ConnManagementScope, dialer bool, rap netip.AddrPort, raddr ma.Multiaddr) *liteConn {
	return &liteConn{
		t: t, scope: scope, dialer: dialer, rap: rap, raddr: raddr,
		ready:    make(chan struct{}),
		streams:  map[uint64]*liteStream{},
		acceptCh: make(chan struct{}, 1),
	}
}

// send sends a message to the other side of the connection.
func (c *liteConn) send(m *liteMsg, size int) {
	c.mu.Lock()
	m.conn = c.peer
	c.mu.Unlock()
	if m.conn != nil {
		c.t.send(c.rap, m, size)
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// handle takes a message for this connection (the wire's goroutine).
func (c *liteConn) handle(p *packet) {
	m := p.msg
	c.mu.Lock()
	switch m.kind {
	case liteAccept, liteRefuse:
		select {
		case <-c.ready:
			// Answered already, or the dial gave up: drop the peer's side.
			c.mu.Unlock()
			if m.kind == liteAccept {
				c.t.send(c.rap, &liteMsg{kind: liteClose, conn: m.from}, liteSize(0))
			}
			return
		default:
		}
		if m.kind == liteAccept {
			c.peer, c.remote, c.remotePub = m.from, m.peer, m.pub
		} else {
			c.refused = true
		}
		close(c.ready)
		c.mu.Unlock()
		return
	case liteClose:
		c.mu.Unlock()
		c.closeWith(&network.ConnError{ErrorCode: network.ConnErrorCode(m.code), Remote: true}, false)
		return
	}
	if c.closed {
		c.mu.Unlock()
		return
	}
	if m.kind == liteOpen {
		s := newLiteStream(c, m.id)
		c.streams[m.id] = s
		c.acceptQ = append(c.acceptQ, s)
		c.mu.Unlock()
		signal(c.acceptCh)
		return
	}
	s := c.streams[m.id]
	c.mu.Unlock()
	if s != nil {
		s.handle(m)
	}
}

// abort ends a dial that got no (usable) answer.
func (c *liteConn) abort() {
	c.mu.Lock()
	select {
	case <-c.ready:
	default:
		close(c.ready)
	}
	c.mu.Unlock()
	c.closeWith(&network.ConnError{Remote: false}, true)
}

// closeWith closes the connection with err, telling the peer if tell.
func (c *liteConn) closeWith(err *network.ConnError, tell bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed, c.err = true, err
	streams := make([]*liteStream, 0, len(c.streams))
	for _, s := range c.streams {
		streams = append(streams, s)
	}
	c.streams = nil
	c.mu.Unlock()
	if tell {
		c.send(&liteMsg{kind: liteClose, code: uint32(err.ErrorCode)}, liteSize(0))
	}
	slices.SortFunc(streams, func(a, b *liteStream) int { return int(a.id) - int(b.id) })
	for _, s := range streams {
		s.fail(err, err)
	}
	signal(c.acceptCh)
	c.scope.Done()
	c.t.doneConn()
}

func (c *liteConn) Close() error { return c.CloseWithError(0) }

func (c *liteConn) CloseWithError(code network.ConnErrorCode) error {
	c.closeWith(&network.ConnError{ErrorCode: code, Remote: false}, true)
	return nil
}

func (c *liteConn) IsClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// OpenStream opens a stream; the peer learns of it from an open message
// ahead of the stream's first bytes (a pair's messages stay in order).
func (c *liteConn) OpenStream(ctx context.Context) (network.MuxedStream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.closed {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	// Dialer's streams odd, listener's even: one id space per connection.
	c.next++
	id := 2 * c.next
	if c.dialer {
		id--
	}
	s := newLiteStream(c, id)
	c.streams[id] = s
	c.mu.Unlock()
	c.send(&liteMsg{kind: liteOpen, id: id}, liteSize(0))
	return s, nil
}

func (c *liteConn) AcceptStream() (network.MuxedStream, error) {
	for {
		c.mu.Lock()
		if len(c.acceptQ) > 0 {
			s := c.acceptQ[0]
			c.acceptQ[0] = nil
			c.acceptQ = c.acceptQ[1:]
			c.mu.Unlock()
			return s, nil
		}
		if c.closed {
			err := c.err
			c.mu.Unlock()
			return nil, err
		}
		c.mu.Unlock()
		<-c.acceptCh
	}
}

func (c *liteConn) forget(id uint64) {
	c.mu.Lock()
	if c.streams != nil && c.streams[id] != nil {
		delete(c.streams, id)
	}
	c.mu.Unlock()
}

func (c *liteConn) As(any) bool         { return false }
func (c *liteConn) LocalPeer() peer.ID  { return c.t.id }
func (c *liteConn) RemotePeer() peer.ID { c.mu.Lock(); defer c.mu.Unlock(); return c.remote }
func (c *liteConn) RemotePublicKey() lcrypto.PubKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remotePub
}
func (c *liteConn) ConnState() network.ConnectionState {
	return network.ConnectionState{Transport: "quic-v1"}
}
func (c *liteConn) LocalMultiaddr() ma.Multiaddr   { return c.t.laddr }
func (c *liteConn) RemoteMultiaddr() ma.Multiaddr  { return c.raddr }
func (c *liteConn) Scope() network.ConnScope       { return c.scope }
func (c *liteConn) Transport() transport.Transport { return c.t }

// liteStream is one side of a stream.
type liteStream struct {
	c  *liteConn
	id uint64

	mu       sync.Mutex // guards everything below
	rbuf     [][]byte   // received, not yet read
	fin      bool       // the peer's write side ended
	readErr  error      // reads fail (reset, cancelled, connection closed)
	writeErr error      // writes fail
	finSent  bool
	gone     bool // removed from the connection
	rdl, wdl time.Time

	rch chan struct{} // 1-buffered: readable, or read deadline changed
}

var _ network.MuxedStream = (*liteStream)(nil)

func newLiteStream(c *liteConn, id uint64) *liteStream {
	return &liteStream{c: c, id: id, rch: make(chan struct{}, 1)}
}

// handle takes a stream message (the wire's goroutine).
func (s *liteStream) handle(m *liteMsg) {
	s.mu.Lock()
	switch m.kind {
	case liteData:
		if s.readErr == nil && !s.fin {
			s.rbuf = append(s.rbuf, m.data)
		}
	case liteFin:
		s.fin = true
	case liteReset:
		err := &network.StreamError{ErrorCode: network.StreamErrorCode(m.code), Remote: true}
		if m.stopWrite && s.readErr == nil && !(s.fin && len(s.rbuf) == 0) {
			s.readErr, s.rbuf = err, nil
		}
		if m.stopRead && s.writeErr == nil && !s.finSent {
			s.writeErr = err
		}
	}
	s.mu.Unlock()
	signal(s.rch)
	s.maybeForget()
}

// fail ends both directions locally (connection closed).
func (s *liteStream) fail(rerr, werr error) {
	s.mu.Lock()
	if s.readErr == nil {
		s.readErr, s.rbuf = rerr, nil
	}
	if s.writeErr == nil {
		s.writeErr = werr
	}
	s.gone = true
	s.mu.Unlock()
	signal(s.rch)
}

// maybeForget removes the stream from its connection once neither side
// will send more on it.
func (s *liteStream) maybeForget() {
	s.mu.Lock()
	done := !s.gone && (s.readErr != nil || s.fin) && (s.writeErr != nil || s.finSent)
	if done {
		s.gone = true
	}
	s.mu.Unlock()
	if done {
		s.c.forget(s.id)
	}
}

func (s *liteStream) Read(b []byte) (int, error) {
	for {
		s.mu.Lock()
		if s.readErr != nil {
			err := s.readErr
			s.mu.Unlock()
			return 0, err
		}
		if len(s.rbuf) > 0 {
			n := copy(b, s.rbuf[0])
			if n == len(s.rbuf[0]) {
				s.rbuf[0] = nil
				s.rbuf = s.rbuf[1:]
			} else {
				s.rbuf[0] = s.rbuf[0][n:]
			}
			s.mu.Unlock()
			return n, nil
		}
		if s.fin {
			s.mu.Unlock()
			return 0, io.EOF
		}
		dl := s.rdl
		s.mu.Unlock()
		var tc <-chan time.Time
		var t *time.Timer
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			t = time.NewTimer(d)
			tc = t.C
		}
		select {
		case <-s.rch:
		case <-tc:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// Write never blocks: the bytes join the sender's up link (see lite.go).
func (s *liteStream) Write(b []byte) (int, error) {
	s.mu.Lock()
	switch {
	case s.writeErr != nil:
		err := s.writeErr
		s.mu.Unlock()
		return 0, err
	case s.finSent:
		s.mu.Unlock()
		return 0, errors.New("simnet: lite: write on closed stream")
	case !s.wdl.IsZero() && !time.Now().Before(s.wdl):
		s.mu.Unlock()
		return 0, os.ErrDeadlineExceeded
	}
	s.mu.Unlock()
	for off := 0; off < len(b); off += LiteChunk {
		chunk := slices.Clone(b[off:min(len(b), off+LiteChunk)])
		s.c.send(&liteMsg{kind: liteData, id: s.id, data: chunk}, liteSize(len(chunk)))
	}
	return len(b), nil
}

func (s *liteStream) CloseWrite() error {
	s.mu.Lock()
	if s.finSent || s.writeErr != nil {
		s.mu.Unlock()
		return nil
	}
	s.finSent = true
	s.mu.Unlock()
	s.c.send(&liteMsg{kind: liteFin, id: s.id}, liteSize(0))
	s.maybeForget()
	return nil
}

func (s *liteStream) CloseRead() error { return s.cancel(0, true, false) }

func (s *liteStream) Close() error {
	s.CloseRead()
	return s.CloseWrite()
}

func (s *liteStream) Reset() error { return s.ResetWithError(0) }

func (s *liteStream) ResetWithError(code network.StreamErrorCode) error {
	return s.cancel(code, true, true)
}

// cancel cancels reading and/or writing locally and tells the peer.
func (s *liteStream) cancel(code network.StreamErrorCode, read, write bool) error {
	err := &network.StreamError{ErrorCode: code, Remote: false}
	m := &liteMsg{kind: liteReset, id: s.id, code: uint32(code)}
	s.mu.Lock()
	if read && s.readErr == nil && !(s.fin && len(s.rbuf) == 0) {
		s.readErr, s.rbuf = err, nil
		m.stopRead = true
	}
	if write && s.writeErr == nil && !s.finSent {
		s.writeErr = err
		m.stopWrite = true
	}
	s.mu.Unlock()
	if m.stopRead || m.stopWrite {
		s.c.send(m, liteSize(0))
	}
	signal(s.rch)
	s.maybeForget()
	return nil
}

func (s *liteStream) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

func (s *liteStream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	s.rdl = t
	s.mu.Unlock()
	signal(s.rch)
	return nil
}

func (s *liteStream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	s.wdl = t
	s.mu.Unlock()
	return nil
}
