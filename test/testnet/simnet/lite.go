package simnet

// The lite transport (network.transport = "lite"): a libp2p
// transport.Transport that carries whole stream writes as messages over
// the same wire (links, latency, bandwidth, jitter, NATs) instead of QUIC
// packets. It owns the transport, its listener and the dial handshake;
// litestream.go owns connections and streams.
//
// Why: in QUIC mode most of a run's CPU is the real transport — TLS
// handshakes, packetisation, ACKs, congestion control, quic-go's timers —
// and one wire settle (synctest.Wait) per packet. A lite message is one
// settle for up to LiteChunk bytes. Security and multiplexing are the
// simulation's own: peer IDs and keys are handed over in the dial and
// accept messages (the simulation trusts itself), streams are a map per
// connection. Everything above the transport (swarm, identify,
// multistream, pubsub, the node and relay) is unchanged.
//
// What it models: the path latency and each end's link rate (a message
// occupies the sender's up link and the receiver's down link for its size
// plus per-packet overhead, LiteOverhead per MTU), jitter, the
// address-restricted NAT for connection openings (established connections
// keep their mapping, as QUIC's 15 s keep-alives do), and loss as a
// retransmission delay (LiteResendRTTs round trips when any of a
// message's packets is lost). What it does not: congestion control and
// slow start (a bulk transfer gets the full link rate at once), flow
// control (writes never block), drop-tail loss (messages queue), and the
// QUIC handshake's exact bytes. TestLiteMatchesQUIC states what still
// agrees with QUIC mode.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/transport"
	ma "github.com/multiformats/go-multiaddr"
)

// Lite transport constants.
const (
	// LiteChunk: a stream write is split into messages of at most this
	// many bytes, so writes on other streams of a link interleave with a
	// bulk transfer (16 KiB, about 13 QUIC packets).
	LiteChunk = 16 << 10
	// LiteMTU and LiteOverhead: a message occupies the links for its
	// payload plus LiteOverhead bytes per started LiteMTU (QUIC short
	// header, frame headers, AEAD tag, UDP/IP: about 48 bytes per
	// 1,200-byte packet), and at least one packet.
	LiteMTU      = 1200
	LiteOverhead = 48
	// LiteDialBytes and LiteAcceptBytes are the sizes of the dial and
	// accept messages: a padded QUIC Initial, and the server's flight
	// with a libp2p TLS certificate.
	LiteDialBytes   = 1252
	LiteAcceptBytes = 3000
	// LiteHandshakeTimeout is how long a dial waits for the accept: 5 s,
	// quic-go's default handshake idle timeout.
	LiteHandshakeTimeout = 5 * time.Second
	// LiteResendRTTs: a message that lost a packet arrives this many
	// path round trips late (loss detection and retransmission).
	LiteResendRTTs = 1.5
)

// Transport names (network.transport).
const (
	TransportQUIC = "quic"
	TransportLite = "lite"
)

// ErrLiteRefused: the listener refused the connection (resource manager,
// or nothing listening behind a live address).
var ErrLiteRefused = errors.New("simnet: lite connection refused")

type liteKind uint8

const (
	liteDial   liteKind = iota // open a connection (to the listener)
	liteAccept                 // connection accepted (to the dialer's conn)
	liteRefuse                 // connection refused (to the dialer's conn)
	liteOpen                   // new stream
	liteData                   // stream bytes
	liteFin                    // end of the sender's write side
	liteReset                  // stream reset / read cancelled (flags)
	liteClose                  // connection closed
)

// liteMsg is one message between two lite transports. conn is the
// receiving side's connection (nil for a dial, which goes to the
// listener); from is the sending side's for dial and accept.
type liteMsg struct {
	kind liteKind
	conn *liteConn
	from *liteConn
	id   uint64 // stream
	code uint32 // stream or connection error code
	// For liteReset: the sender stopped reading (the receiver's writes
	// fail) and/or reset its writing (the receiver's reads fail).
	stopRead, stopWrite bool
	data                []byte
	// dial and accept: who the sender is.
	peer peer.ID
	pub  lcrypto.PubKey
	addr ma.Multiaddr
}

// liteSize is what size payload bytes occupy on a link.
func liteSize(n int) int {
	pk := max(1, (n+LiteMTU-1)/LiteMTU)
	return n + pk*LiteOverhead
}

// liteLost reports whether a message of size bytes lost any of its
// packets (each with probability Model.Loss). Called by admit only.
func (w *wire) liteLost(size int) bool {
	pk := float64(max(1, (size+LiteMTU-1)/LiteMTU))
	return w.rng.Float64() < 1-math.Pow(1-w.model.Loss, pk)
}

// liteTransport is one host's lite transport: one wire endpoint (opened
// by Listen, shared by every connection, as quicreuse shares a socket)
// and the connections on it.
type liteTransport struct {
	w     *wire
	bps   int
	opts  endOpts
	id    peer.ID
	pub   lcrypto.PubKey
	rcmgr network.ResourceManager

	mu     sync.Mutex // guards everything below
	ep     *conn      // nil until Listen
	ap     netip.AddrPort
	laddr  ma.Multiaddr
	ln     *liteListener
	conns  int // open connections: the endpoint closes after the last
	closed bool
}

var _ transport.Transport = (*liteTransport)(nil)

// lite returns the constructor of a lite transport with links of bps each
// way, for libp2p.Transport.
func (w *world) liteTransport(bps int, o endOpts) func(lcrypto.PrivKey, network.ResourceManager) (transport.Transport, error) {
	return func(key lcrypto.PrivKey, rcmgr network.ResourceManager) (transport.Transport, error) {
		id, err := peer.IDFromPrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("simnet: lite transport: %w", err)
		}
		if rcmgr == nil {
			rcmgr = &network.NullResourceManager{}
		}
		return &liteTransport{w: w.w, bps: bps, opts: o, id: id, pub: key.GetPublic(), rcmgr: rcmgr}, nil
	}
}

// liteAddr is the wire address of /ip4/A/udp/P/quic-v1 (the lite
// transport listens on QUIC's addresses, so nodes and relays see the same
// addresses in both modes).
func liteAddr(a ma.Multiaddr) (netip.AddrPort, bool) {
	var ip netip.Addr
	var port uint16
	var quic bool
	n := 0
	for _, c := range a {
		n++
		switch c.Protocol().Code {
		case ma.P_IP4, ma.P_IP6:
			if n != 1 {
				return netip.AddrPort{}, false
			}
			ip, _ = netip.AddrFromSlice(c.RawValue())
		case ma.P_UDP:
			if n != 2 || len(c.RawValue()) != 2 {
				return netip.AddrPort{}, false
			}
			port = uint16(c.RawValue()[0])<<8 | uint16(c.RawValue()[1])
		case ma.P_QUIC_V1:
			quic = n == 3
		default:
			return netip.AddrPort{}, false
		}
	}
	if n != 3 || !quic || !ip.IsValid() {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.Unmap(), port), true
}

func (t *liteTransport) CanDial(a ma.Multiaddr) bool { _, ok := liteAddr(a); return ok }
func (t *liteTransport) Protocols() []int            { return []int{ma.P_QUIC_V1} }
func (t *liteTransport) Proxy() bool                 { return false }

// Close closes the listener; connections are the swarm's to close.
func (t *liteTransport) Close() error {
	t.mu.Lock()
	ln := t.ln
	t.mu.Unlock()
	if ln != nil {
		return ln.Close()
	}
	return nil
}

// Listen opens the transport's endpoint at laddr.
func (t *liteTransport) Listen(laddr ma.Multiaddr) (transport.Listener, error) {
	ap, ok := liteAddr(laddr)
	if !ok {
		return nil, fmt.Errorf("simnet: lite: cannot listen on %s", laddr)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ln != nil {
		return nil, errors.New("simnet: lite: already listening")
	}
	ep, err := t.w.endpoint(net.UDPAddrFromAddrPort(ap), t.bps, t.bps, t.opts, t.recv)
	if err != nil {
		return nil, fmt.Errorf("simnet: lite listen: %w", err)
	}
	t.ep, t.ap, t.laddr = ep, ap, laddr
	t.ln = &liteListener{t: t, ready: make(chan struct{}, 1), shut: make(chan struct{})}
	return t.ln, nil
}

// send puts m on the wire to the endpoint at to.
func (t *liteTransport) send(to netip.AddrPort, m *liteMsg, size int) {
	t.mu.Lock()
	ep, from := t.ep, t.ap
	t.mu.Unlock()
	if ep == nil || ep.isClosed() {
		return
	}
	t.w.send(&packet{from: from, to: to, src: ep.addr, msg: m, size: size, opening: m.kind == liteDial})
}

// recv is the endpoint's receiver, on the wire's goroutine: it only
// queues and signals.
func (t *liteTransport) recv(p *packet) {
	m := p.msg
	if m.kind == liteDial {
		t.mu.Lock()
		ln := t.ln
		t.mu.Unlock()
		if ln == nil || !ln.push(p) {
			t.send(p.from, &liteMsg{kind: liteRefuse, conn: m.from}, liteSize(0))
		}
		return
	}
	if m.conn == nil || m.conn.t != t {
		return // for a connection of an earlier host at this address
	}
	m.conn.handle(p)
}

// addConn and doneConn count open connections, so the endpoint stays
// open until the listener and the last connection are closed.
func (t *liteTransport) addConn() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ep == nil || t.closed {
		return errors.New("simnet: lite: not listening")
	}
	t.conns++
	return nil
}

func (t *liteTransport) doneConn() {
	t.mu.Lock()
	t.conns--
	t.maybeCloseLocked()
	t.mu.Unlock()
}

func (t *liteTransport) maybeCloseLocked() {
	if t.closed && t.conns == 0 && t.ep != nil {
		t.ep.Close()
	}
}

// Dial opens a connection to p at raddr: a dial message, answered by an
// accept (or refuse) one round trip later.
func (t *liteTransport) Dial(ctx context.Context, raddr ma.Multiaddr, p peer.ID) (transport.CapableConn, error) {
	ap, ok := liteAddr(raddr)
	if !ok {
		return nil, fmt.Errorf("simnet: lite: cannot dial %s", raddr)
	}
	scope, err := t.rcmgr.OpenConnection(network.DirOutbound, false, raddr)
	if err != nil {
		return nil, err
	}
	if err := scope.SetPeer(p); err != nil {
		scope.Done()
		return nil, err
	}
	if err := t.addConn(); err != nil {
		scope.Done()
		return nil, err
	}
	c := newLiteConn(t, scope, true, ap, raddr)
	c.remote = p
	t.send(ap, &liteMsg{kind: liteDial, from: c, peer: t.id, pub: t.pub, addr: t.laddr}, LiteDialBytes)
	timer := time.NewTimer(LiteHandshakeTimeout)
	defer timer.Stop()
	select {
	case <-c.ready:
	case <-ctx.Done():
		c.abort()
		return nil, fmt.Errorf("simnet: lite dial: %w", ctx.Err())
	case <-timer.C:
		c.abort()
		return nil, fmt.Errorf("simnet: lite dial: %w", errHandshakeTimeout)
	}
	c.mu.Lock()
	refused, remote := c.refused, c.remote
	c.mu.Unlock()
	if refused {
		c.abort()
		return nil, ErrLiteRefused
	}
	if remote != p {
		c.Close()
		return nil, fmt.Errorf("simnet: lite dial: peer is %s, not %s", remote, p)
	}
	return c, nil
}

var errHandshakeTimeout = errors.New("handshake timed out")

// liteListener hands out the connections dialled to its transport.
type liteListener struct {
	t *liteTransport

	mu      sync.Mutex // guards pending, closed
	pending []*packet  // dial messages not yet accepted
	closed  bool

	ready chan struct{} // 1-buffered: pending not empty
	shut  chan struct{} // closed by Close
}

var _ transport.Listener = (*liteListener)(nil)

// push queues a dial; false once the listener is closed.
func (l *liteListener) push(p *packet) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.pending = append(l.pending, p)
	l.mu.Unlock()
	select {
	case l.ready <- struct{}{}:
	default:
	}
	return true
}

// Accept implements transport.Listener: it admits the next dial through
// the resource manager, as the QUIC listener does, and answers it.
func (l *liteListener) Accept() (transport.CapableConn, error) {
	t := l.t
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return nil, transport.ErrListenerClosed
		}
		if len(l.pending) == 0 {
			l.mu.Unlock()
			select {
			case <-l.ready:
			case <-l.shut:
			}
			continue
		}
		p := l.pending[0]
		l.pending[0] = nil
		l.pending = l.pending[1:]
		l.mu.Unlock()
		m := p.msg
		refuse := func() { t.send(p.from, &liteMsg{kind: liteRefuse, conn: m.from}, liteSize(0)) }
		scope, err := t.rcmgr.OpenConnection(network.DirInbound, false, m.addr)
		if err != nil {
			refuse()
			continue
		}
		if err := scope.SetPeer(m.peer); err != nil {
			scope.Done()
			refuse()
			continue
		}
		if err := t.addConn(); err != nil {
			scope.Done()
			refuse()
			continue
		}
		c := newLiteConn(t, scope, false, p.from, m.addr)
		c.remote, c.remotePub, c.peer = m.peer, m.pub, m.from
		close(c.ready)
		t.send(p.from, &liteMsg{kind: liteAccept, conn: m.from, from: c, peer: t.id, pub: t.pub}, LiteAcceptBytes)
		return c, nil
	}
}

// Close implements transport.Listener; dials still queued are refused.
func (l *liteListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	pending := l.pending
	l.pending = nil
	close(l.shut)
	l.mu.Unlock()
	for _, p := range pending {
		l.t.send(p.from, &liteMsg{kind: liteRefuse, conn: p.msg.from}, liteSize(0))
	}
	l.t.mu.Lock()
	l.t.closed = true
	l.t.maybeCloseLocked()
	l.t.mu.Unlock()
	return nil
}

func (l *liteListener) Addr() net.Addr          { return net.UDPAddrFromAddrPort(l.t.ap) }
func (l *liteListener) Multiaddr() ma.Multiaddr { return l.t.laddr }
