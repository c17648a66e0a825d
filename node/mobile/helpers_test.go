package mobile

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/imigee/imigee/relay"
)

func init() {
	testListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"}
}

// startRelay runs a real relay on 127.0.0.1.
func startRelay(t testing.TB, tweak func(*relay.Config)) *relay.Relay {
	t.Helper()
	cfg := relay.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"}
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Store.SweepInterval = -1
	cfg.Limits.ResourceMemory = 256 << 20
	if tweak != nil {
		tweak(&cfg)
	}
	r, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		r.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// relayQUIC returns the relay's QUIC multiaddr on 127.0.0.1 and its UDP
// address.
func relayQUIC(t testing.TB, r *relay.Relay) (string, *net.UDPAddr) {
	t.Helper()
	for _, a := range r.Addrs() {
		s := a.String()
		if strings.HasPrefix(s, "/ip4/127.0.0.1/udp/") && strings.HasSuffix(s, "/quic-v1") {
			port, _ := a.ValueForProtocol(ma.P_UDP)
			ua, err := net.ResolveUDPAddr("udp", "127.0.0.1:"+port)
			if err != nil {
				t.Fatal(err)
			}
			return s + "/p2p/" + r.ID().String(), ua
		}
	}
	t.Fatal("relay has no QUIC address on 127.0.0.1")
	return "", nil
}

// udpCounter is a UDP forwarder between nodes and a relay that counts
// every datagram and byte in both directions: all QUIC traffic of a node
// that knows the relay only by the forwarder's address passes it.
type udpCounter struct {
	pc       net.PacketConn
	upstream *net.UDPAddr
	dgrams   atomic.Int64
	bytes    atomic.Int64
	mu       sync.Mutex // guards conns
	conns    map[string]net.Conn
	wg       sync.WaitGroup
}

func newUDPCounter(t testing.TB, upstream *net.UDPAddr) *udpCounter {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &udpCounter{pc: pc, upstream: upstream, conns: map[string]net.Conn{}}
	c.wg.Add(1)
	go c.run()
	t.Cleanup(c.close)
	return c
}

// addr is the forwarder's multiaddr for relay r.
func (c *udpCounter) addr(r *relay.Relay) string {
	return "/ip4/127.0.0.1/udp/" + itoa(c.pc.LocalAddr().(*net.UDPAddr).Port) + "/quic-v1/p2p/" + r.ID().String()
}

func itoa(i int) string {
	var b [20]byte
	p := len(b)
	for {
		p--
		b[p] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[p:])
		}
	}
}

func (c *udpCounter) run() {
	defer c.wg.Done()
	buf := make([]byte, 65536)
	for {
		nr, from, err := c.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		c.dgrams.Add(1)
		c.bytes.Add(int64(nr))
		c.mu.Lock()
		up := c.conns[from.String()]
		if up == nil {
			u, err := net.DialUDP("udp", nil, c.upstream)
			if err != nil {
				c.mu.Unlock()
				continue
			}
			up = u
			c.conns[from.String()] = up
			c.wg.Add(1)
			go c.back(up, from)
		}
		c.mu.Unlock()
		_, _ = up.Write(buf[:nr])
	}
}

// back copies the relay's datagrams to the node.
func (c *udpCounter) back(up net.Conn, to net.Addr) {
	defer c.wg.Done()
	buf := make([]byte, 65536)
	for {
		nr, err := up.Read(buf)
		if err != nil {
			return
		}
		c.dgrams.Add(1)
		c.bytes.Add(int64(nr))
		if _, err := c.pc.WriteTo(buf[:nr], to); err != nil && errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

func (c *udpCounter) close() {
	c.pc.Close()
	c.mu.Lock()
	for _, u := range c.conns {
		u.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// evs collects a facade node's events.
type evs struct {
	mu   sync.Mutex
	all  []Event
	wake chan struct{}
}

func newEvs() *evs { return &evs{wake: make(chan struct{}, 1)} }

func (e *evs) OnEvent(ev *Event) {
	e.mu.Lock()
	e.all = append(e.all, *ev)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *evs) snapshot() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Event(nil), e.all...)
}

// wait returns the first event of kind matching match, failing after d.
func (e *evs) wait(t testing.TB, kind string, match func(Event) bool, d time.Duration) Event {
	t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		for _, ev := range e.snapshot() {
			if ev.Kind == kind && (match == nil || match(ev)) {
				return ev
			}
		}
		select {
		case <-e.wake:
		case <-deadline.C:
			t.Fatalf("no %s event within %v; got %+v", kind, d, e.snapshot())
		}
	}
}

// newStarted makes and starts a facade node with the given relays.
func newStarted(t testing.TB, relays string) (*Node, *evs) {
	t.Helper()
	e := newEvs()
	n, err := NewNode(&Config{DataDir: t.TempDir(), StoreKey: newKey(), Relays: relays}, e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	return n, e
}

// linkPair links a (answering) with b (inviting) while both run.
func linkPair(t testing.TB, a, b *Node) string {
	t.Helper()
	inv, err := b.Invite()
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Link(inv, 10000)
	if err != nil {
		t.Fatal(err)
	}
	if res.Pending {
		t.Fatal("link with an online inviter is pending")
	}
	return res.FriendID
}
