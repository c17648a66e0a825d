package node

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/relayclient"
	"github.com/imigee/imigee/protocol"
)

// countingProxy forwards TCP connections to target and counts the bytes
// both ways: everything on the wire (TCP payload: security and muxer
// handshakes, identify, the request), which the stream recorder does not
// see.
type countingProxy struct {
	l     net.Listener
	bytes atomic.Int64
	conns atomic.Int64
	wg    sync.WaitGroup
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{l: l}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.wg.Add(2)
			cp := func(dst, src net.Conn) {
				defer p.wg.Done()
				_, _ = io.Copy(countWriter{dst, &p.bytes}, src)
				dst.Close()
			}
			go cp(up, c)
			go cp(c, up)
		}
	}()
	t.Cleanup(func() { l.Close(); p.wg.Wait() })
	return p
}

// countWriter counts what passes through it as it goes.
type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// TestTransportCost measures what P12's one-off identities cost on the
// wire: one put of a small blob on a fresh identity (TCP, Noise or TLS,
// yamux, identify, the put) against the same put on a session already
// open, through a byte-counting TCP proxy in front of a real relay.
func TestTransportCost(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	clock := newTestClock()
	r := startRelay(t, clock)
	var tcpAddr string
	for _, a := range r.Addrs() {
		if strings.Contains(a.String(), "/tcp/") {
			ip, _ := a.ValueForProtocol(ma.P_IP4)
			port, _ := a.ValueForProtocol(ma.P_TCP)
			tcpAddr = net.JoinHostPort(ip, port)
		}
	}
	px := newCountingProxy(t, tcpAddr)
	_, port, _ := net.SplitHostPort(px.l.Addr().String())
	ai := peer.AddrInfo{ID: r.ID(), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/" + port)}}
	n := newTestNode(t, clock, nil)
	var mbox crypto.MailboxID
	blob := make([]byte, protocol.SmallBlobSize)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const rounds = 5
	for range rounds {
		if err := n.withOneOff(ctx, ai, func(c *relayclient.Client) error { _, err := c.Put(ctx, mbox, blob); return err }); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	oneOff := px.bytes.Load() / rounds
	// The same puts on one session that stays open.
	h, err := n.clientHost()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c := relayclient.New(h, ai, relayclient.Config{})
	if _, err := c.Put(ctx, mbox, blob); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	before := px.bytes.Load()
	for range rounds {
		if _, err := c.Put(ctx, mbox, blob); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	onSession := (px.bytes.Load() - before) / rounds
	c.Close()
	t.Logf("1 KiB put on a one-off identity: %d bytes on the wire (handshakes, identify, put); on an open session: %d bytes; extra per one-off %d bytes, 1 handshake",
		oneOff, onSession, oneOff-onSession)
	if oneOff <= onSession {
		t.Fatalf("one-off %d <= session %d: the proxy counted nothing useful", oneOff, onSession)
	}
}
