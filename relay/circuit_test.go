package relay

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	ma "github.com/multiformats/go-multiaddr"
)

// TestCircuitRelayConnectsUnreachablePeers: a phone that cannot be dialled
// (it listens nowhere, as behind a NAT) reserves a slot at the relay; a
// friend reaches it through /p2p-circuit, and the relay's limits apply:
// the connection is marked limited and its data is capped (Circuit.LimitData).
func TestCircuitRelayConnectsUnreachablePeers(t *testing.T) {
	cfg := testConfig(t)
	cfg.Circuit.LimitData = 64 << 10
	r := startRelay(t, cfg)
	info := relayInfo(r, "quic")

	natted := circuitHost(t) // no listen addresses: undialable directly
	friend := circuitHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := natted.Connect(ctx, info); err != nil {
		t.Fatal(err)
	}
	rsvp, err := client.Reserve(ctx, natted, info)
	if err != nil {
		t.Fatalf("reserve: %v", err)
	}
	if rsvp.LimitData == 0 || rsvp.LimitData > uint64(cfg.Circuit.LimitData) {
		t.Fatalf("reservation data limit %d, want ≤ %d", rsvp.LimitData, cfg.Circuit.LimitData)
	}

	const proto = "/imigee-test/echo/1"
	natted.SetStreamHandler(proto, func(s network.Stream) {
		defer s.Close()
		io.Copy(s, s)
	})
	circuit := info.Addrs[0].Encapsulate(ma.StringCast("/p2p/" + r.ID().String() + "/p2p-circuit"))
	friend.Peerstore().AddAddrs(natted.ID(), []ma.Multiaddr{circuit}, time.Minute)
	if err := friend.Connect(ctx, peer.AddrInfo{ID: natted.ID(), Addrs: []ma.Multiaddr{circuit}}); err != nil {
		t.Fatalf("connect through relay: %v", err)
	}
	s, err := friend.NewStream(network.WithAllowLimitedConn(ctx, "test"), natted.ID(), proto)
	if err != nil {
		t.Fatalf("stream through relay: %v", err)
	}
	if !s.Conn().Stat().Limited {
		t.Fatal("relayed connection not marked limited")
	}
	msg := []byte("hello through the relay")
	if _, err := s.Write(msg); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	got, err := io.ReadAll(s)
	if err != nil || string(got) != string(msg) {
		t.Fatalf("echo = %q, %v", got, err)
	}

	// The data cap holds: pushing more than LimitData through ends the circuit.
	s2, err := friend.NewStream(network.WithAllowLimitedConn(ctx, "test"), natted.ID(), proto)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 256<<10)
	go func() { s2.Write(big); s2.CloseWrite() }()
	n, _ := io.Copy(io.Discard, s2)
	if n >= int64(len(big)) {
		t.Fatalf("relayed %d bytes past a %d-byte circuit limit", n, cfg.Circuit.LimitData)
	}
}

// circuitHost is a dial-only QUIC host with the circuit relay transport
// (which clientHost disables), as a phone has.
func circuitHost(t testing.TB) host.Host {
	t.Helper()
	h, err := libp2p.New(libp2p.NoListenAddrs, libp2p.Transport(quic.NewTransport), libp2p.EnableRelay(),
		libp2p.ResourceManager(&network.NullResourceManager{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}
