package simnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"testing/synctest"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/transport"
	ma "github.com/multiformats/go-multiaddr"
)

// litePair is two lite transports on one wire, listening at 1.0.0.1 and
// 1.0.0.2 (the second optionally behind a NAT), 8 Mbit/s each way.
type litePair struct {
	w      *wire
	a, b   *liteTransport
	la, lb transport.Listener
	ida    peer.ID
	idb    peer.ID
}

func newLitePair(t *testing.T, latency time.Duration, bNAT bool) *litePair {
	t.Helper()
	w := newWire(latency, Model{})
	t.Cleanup(w.close)
	wd := &world{w: w}
	mk := func(ip string, o endOpts) (*liteTransport, transport.Listener, peer.ID) {
		priv, _, err := lcrypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := wd.liteTransport(8e6, o)(priv, nil)
		if err != nil {
			t.Fatal(err)
		}
		ln, err := tr.Listen(ma.StringCast(fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", ip, Port)))
		if err != nil {
			t.Fatal(err)
		}
		id, _ := peer.IDFromPrivateKey(priv)
		return tr.(*liteTransport), ln, id
	}
	p := &litePair{w: w}
	p.a, p.la, p.ida = mk("1.0.0.1", endOpts{})
	p.b, p.lb, p.idb = mk("1.0.0.2", endOpts{NAT: bNAT})
	return p
}

// dialB dials b from a and accepts it at b.
func (p *litePair) dialB(t *testing.T) (transport.CapableConn, transport.CapableConn) {
	t.Helper()
	acc := make(chan transport.CapableConn, 1)
	go func() {
		c, err := p.lb.Accept()
		if err != nil {
			t.Error(err)
		}
		acc <- c
	}()
	ca, err := p.a.Dial(context.Background(), p.lb.Multiaddr(), p.idb)
	if err != nil {
		t.Fatal(err)
	}
	return ca, <-acc
}

// TestLiteStream: a dial takes one round trip and learns the peer's
// identity; a write arrives after its serialization and the latency, in
// order, with end of stream after CloseWrite; reset and cancelled reads
// surface as network.StreamError on the other side; closing the
// connection fails the peer's streams and AcceptStream.
func TestLiteStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newLitePair(t, 20*time.Millisecond, false)
		start := time.Now()
		ca, cb := p.dialB(t)
		if d := time.Since(start); d < 40*time.Millisecond || d > 60*time.Millisecond {
			t.Errorf("dial took %v, want about one 40 ms round trip", d)
		}
		if ca.RemotePeer() != p.idb || cb.RemotePeer() != p.ida || ca.RemotePublicKey() == nil {
			t.Error("peer identities not exchanged")
		}
		if !cb.RemoteMultiaddr().Equal(p.la.Multiaddr()) {
			t.Errorf("listener sees %s, want %s", cb.RemoteMultiaddr(), p.la.Multiaddr())
		}

		sa, err := ca.OpenStream(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		msg := make([]byte, 100_000) // several chunks: 100 ms at 8 Mbit/s
		for i := range msg {
			msg[i] = byte(i)
		}
		start = time.Now()
		if n, err := sa.Write(msg); n != len(msg) || err != nil {
			t.Fatal(n, err)
		}
		sa.CloseWrite()
		sb, err := cb.AcceptStream()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(sb)
		if err != nil || string(got) != string(msg) {
			t.Fatalf("read %d bytes, %v", len(got), err)
		}
		// 104 ms on the up link (payload and per-packet overhead), 20 ms,
		// and the last full chunk's 17 ms on the down link (store and
		// forward per chunk): 141 ms.
		if d := time.Since(start); d < 120*time.Millisecond || d > 150*time.Millisecond {
			t.Errorf("100 kB took %v, want 20 ms + 104 ms + 17 ms", d)
		}
		if _, err := sa.Write([]byte("x")); err == nil {
			t.Error("write after CloseWrite")
		}
		// The reply, then Close on both sides.
		sb.Write([]byte("ok"))
		sb.Close()
		if got, err := io.ReadAll(sa); string(got) != "ok" || err != nil {
			t.Errorf("reply %q, %v", got, err)
		}
		sa.Close()

		// Reset: the peer's reads and writes fail with a remote StreamError.
		s2, _ := cb.OpenStream(context.Background())
		s2.Write([]byte("hi"))
		r2, err := ca.AcceptStream()
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		if n, _ := r2.Read(buf); string(buf[:n]) != "hi" {
			t.Errorf("read %q", buf[:n])
		}
		s2.ResetWithError(42)
		var se *network.StreamError
		if _, err := r2.Read(buf); !errors.As(err, &se) || !se.Remote || se.ErrorCode != 42 {
			t.Errorf("read after the peer's reset: %v", err)
		}
		if _, err := r2.Write([]byte("x")); !errors.As(err, &se) || !se.Remote {
			t.Errorf("write after the peer's reset: %v", err)
		}
		if _, err := s2.Write([]byte("x")); !errors.As(err, &se) || se.Remote {
			t.Errorf("write after own reset: %v", err)
		}

		// CloseRead: the peer's writes fail, ours still go through.
		s3, _ := ca.OpenStream(context.Background())
		r3, _ := cb.AcceptStream()
		r3.CloseRead()
		time.Sleep(time.Second)
		if _, err := s3.Write([]byte("x")); !errors.Is(err, network.ErrReset) {
			t.Errorf("write to a stream whose reader stopped: %v", err)
		}
		r3.Write([]byte("still"))
		r3.CloseWrite()
		if got, _ := io.ReadAll(s3); string(got) != "still" {
			t.Errorf("read %q from a stream whose other direction was cancelled", got)
		}

		// Read deadline.
		s4, _ := ca.OpenStream(context.Background())
		s4.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := s4.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("read past its deadline: %v", err)
		}

		// Closing the connection fails the peer's open streams and
		// AcceptStream.
		r4, _ := cb.AcceptStream()
		ca.Close()
		var ce *network.ConnError
		if _, err := r4.Read(buf); !errors.As(err, &ce) || !ce.Remote {
			t.Errorf("read after the peer closed the connection: %v", err)
		}
		if _, err := cb.AcceptStream(); err == nil {
			t.Error("AcceptStream after the peer closed the connection")
		}
		if !ca.IsClosed() || !cb.IsClosed() {
			t.Error("connection not closed on both sides")
		}
		cb.Close()
		p.la.Close()
		p.lb.Close()
	})
}

// TestLiteDialFailures: a dial to the wrong peer ID fails, a dial to a
// NATed end that never sent to the dialer times out (the NAT filters
// openings), while the NATed end can dial out and the connection works
// both ways long after the NAT's timeout; a dial to a closed
// transport times out.
func TestLiteDialFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newLitePair(t, 20*time.Millisecond, true)
		go p.lb.Accept()
		if _, err := p.a.Dial(context.Background(), p.lb.Multiaddr(), p.ida); err == nil {
			t.Error("dial to a NATed end succeeded")
		}
		if p.w.natDrop.Load() == 0 {
			t.Error("the NAT filtered nothing")
		}

		acc := make(chan transport.CapableConn, 1)
		go func() {
			c, _ := p.la.Accept()
			acc <- c
		}()
		cb, err := p.b.Dial(context.Background(), p.la.Multiaddr(), p.ida)
		if err != nil {
			t.Fatal(err)
		}
		ca := <-acc
		time.Sleep(2 * NATTimeout)
		s, _ := ca.OpenStream(context.Background())
		s.Write([]byte("late"))
		s.CloseWrite()
		r, err := cb.AcceptStream()
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := io.ReadAll(r); string(got) != "late" {
			t.Errorf("read %q over an established connection through the NAT", got)
		}
		ca.Close()
		cb.Close()

		if _, err := p.b.Dial(context.Background(), p.la.Multiaddr(), p.idb); err == nil {
			t.Error("dial to the wrong peer ID succeeded")
		}
		p.la.Close()
		// Its endpoint is gone with the last connection: the dial times
		// out, as a QUIC dial to a closed port does here (no ICMP).
		if _, err := p.b.Dial(context.Background(), p.la.Multiaddr(), p.ida); !errors.Is(err, errHandshakeTimeout) {
			t.Errorf("dial to a closed listener: %v", err)
		}
		p.lb.Close()
	})
}
