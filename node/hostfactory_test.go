package node

import (
	"crypto/rand"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// tcpOnlyFactory builds plain libp2p hosts on 127.0.0.1, TCP only (no QUIC,
// no relay client, no hole punching), counting the calls.
func tcpOnlyFactory(calls *atomic.Int32) func(p2pcrypto.PrivKey) (host.Host, error) {
	return func(priv p2pcrypto.PrivKey) (host.Host, error) {
		calls.Add(1)
		return libp2p.New(
			libp2p.Identity(priv),
			libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
			libp2p.Transport(tcp.NewTCPTransport),
			libp2p.DisableMetrics(),
		)
	}
}

// TestHostFactory: two nodes on hosts built by Config.HostFactory link,
// share directly and reach each other through the relay's mailbox; the
// factory is called again on a transport rotation, with the new key, and
// for every one-off identity.
func TestHostFactory(t *testing.T) {
	clock := newTestClock()
	r := startRelay(t, clock)
	ra := relayAddrs(r)
	var calls atomic.Int32
	withFactory := func(c *Config) {
		c.HostFactory = tcpOnlyFactory(&calls)
		c.EnableMDNS = true // ignored with a factory
	}
	a := newTestNode(t, clock, ra, withFactory)
	b := newTestNode(t, clock, ra, withFactory)
	// Each start makes an announce host; under a factory the day's
	// mailbox session shares it (simShared).
	if calls.Load() != 2 {
		t.Fatalf("factory calls %d, want 2", calls.Load())
	}
	bID, aID := link(t, a, b)
	if err := b.SetAutoAccept(aID, true); err != nil {
		t.Fatal(err)
	}
	id, data := sharePhoto(t, a, []string{bID}, 150<<10)
	got := b.ev.wait(t, EventItemReceived, func(e Event) bool { return e.ItemID == id }, 20*time.Second)
	sameFile(t, got.Path, data)
	a.ev.wait(t, EventDelivered, func(e Event) bool { return e.ItemID == id }, 10*time.Second)

	before := b.TransportID()
	callsBefore := calls.Load()
	clock.Add(MaxTransportRotation + time.Minute)
	b.wake()
	waitFor(t, 10*time.Second, func() bool { return b.TransportID() != before })
	if calls.Load() <= callsBefore {
		t.Fatalf("rotation did not use the factory: %d calls", calls.Load())
	}
	mid, err := a.SendMessage(bID, "after rotation")
	if err != nil {
		t.Fatal(err)
	}
	b.ev.wait(t, EventMessage, func(e Event) bool { return e.ItemID == mid }, 30*time.Second)
}

// TestHostFactoryWrongKey: a factory whose host ignores the transport key
// makes Start fail (the rotating identity would silently stop rotating).
func TestHostFactoryWrongKey(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	n, err := New(Config{DataDir: t.TempDir(), StoreKey: key, Logger: quietLogger(),
		HostFactory: func(p2pcrypto.PrivKey) (host.Host, error) {
			return libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Transport(tcp.NewTCPTransport), libp2p.DisableMetrics())
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Start(t.Context()); !errors.Is(err, ErrBadArgument) {
		t.Fatalf("start: %v, want ErrBadArgument", err)
	}
}
