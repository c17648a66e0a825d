package relay

import (
	"context"
	"testing"
	"time"

	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	lprotocol "github.com/libp2p/go-libp2p/core/protocol"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// TestWithdrawWholeConnection: Withdraw on one rendezvous stream drops the
// announcements of every rendezvous stream of the same connection (as
// PROTOCOL.md promises), and no other connection's. Before, it dropped only
// the calling stream's, and a friend still matched the other stream's token.
func TestWithdrawWholeConnection(t *testing.T) {
	for _, transport := range []string{"quic", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			clk := newTestClock()
			cfg := testConfig(t)
			cfg.Now = clk.Now
			r := startRelay(t, cfg)
			epoch := uint64(clk.Now().Unix()) / 600
			h := clientHost(t, transport)
			a1 := openRaw(t, h, r, transport, protocol.RendezvousProtocol)
			// A second stream on the same connection.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s2, err := h.NewStream(ctx, r.ID(), lprotocol.ID(protocol.RendezvousProtocol))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s2.Reset() })
			if len(h.Network().ConnsToPeer(r.ID())) != 1 {
				t.Fatal("want one connection")
			}
			a2 := &rawStream{t: t, s: s2, r: protocol.NewReader(s2, protocol.MaxRendezvousResponse)}
			other := openRaw(t, clientHost(t, transport), r, transport, protocol.RendezvousProtocol)
			if res := a1.rv(announce(epoch, tokenN(1))); res.GetAnnounce().GetAccepted() != 1 {
				t.Fatalf("a1: %v", res)
			}
			if res := a2.rv(announce(epoch, tokenN(2))); res.GetAnnounce().GetAccepted() != 1 {
				t.Fatalf("a2: %v", res)
			}
			if res := other.rv(announce(epoch, tokenN(3))); res.GetAnnounce().GetAccepted() != 1 {
				t.Fatalf("other: %v", res)
			}
			res := a1.rv(&pb.RendezvousRequest{Body: &pb.RendezvousRequest_Withdraw{Withdraw: &pb.Withdraw{}}})
			if res.GetWithdraw().GetDropped() != 2 {
				t.Fatalf("withdraw dropped %v, want 2 (both streams of the connection)", res)
			}
			// A friend announcing a2's token finds nothing; the other
			// connection's token still matches.
			friend := openRaw(t, clientHost(t, transport), r, transport, protocol.RendezvousProtocol)
			if ms := friend.rv(announce(epoch, tokenN(1), tokenN(2))).GetAnnounce().GetMatches(); len(ms) != 0 {
				t.Fatalf("withdrawn tokens still match: %v", ms)
			}
			if ms := friend.rv(announce(epoch, tokenN(3))).GetAnnounce().GetMatches(); len(ms) != 1 {
				t.Fatalf("another connection's token lost: %v", ms)
			}
			// The streams stay usable.
			if res := a2.rv(announce(epoch, tokenN(4))); res.GetAnnounce().GetAccepted() != 1 {
				t.Fatalf("a2 after withdraw: %v", res)
			}
		})
	}
}

// nearAnnounce is announceRec with NEAR tokens.
func nearAnnounce(epoch uint64, rec string, toks ...[]byte) *pb.RendezvousRequest {
	r := announceRec(epoch, []byte(rec), toks...)
	for _, t := range r.GetAnnounce().Announcements[0].Tokens {
		t.Kind = pb.TokenKind_NEAR
	}
	return r
}

// TestGossipNearBecomesHere: across two relays, a near token re-announced
// as here becomes here at the other relay too, so a friend there that
// announced the same token as near is told (by its own relay), and a
// Withdraw from another stream of the announcer's connection drops the
// entries at both relays.
func TestGossipNearBecomesHere(t *testing.T) {
	clk := newTestClock()
	kb, _, _ := lcrypto.GenerateEd25519Key(nil)
	cfgB := testConfig(t)
	cfgB.Identity, cfgB.Now, cfgB.Network = kb, clk.Now, "test-"+t.Name()
	cfgA := testConfig(t)
	cfgA.Now, cfgA.Network = clk.Now, cfgB.Network
	ka, _, _ := lcrypto.GenerateEd25519Key(nil)
	idA, _ := peer.IDFromPrivateKey(ka)
	cfgA.Identity = ka
	cfgB.Peers = []string{"/p2p/" + idA.String()} // B trusts A, which dials it
	b := startRelay(t, cfgB)
	for _, a := range b.Addrs() {
		cfgA.Peers = append(cfgA.Peers, a.String()+"/p2p/"+b.ID().String())
	}
	a := startRelay(t, cfgA)
	eventually(t, "gossip mesh A—B", func() bool { return gaugeValue(a.m.gossipMesh) >= 1 && gaugeValue(b.m.gossipMesh) >= 1 })
	epoch := uint64(clk.Now().Unix()) / 600

	h := clientHost(t, "quic")
	ca := openRaw(t, h, a, "quic", protocol.RendezvousProtocol)
	cb := openRaw(t, clientHost(t, "tcp"), b, "tcp", protocol.RendezvousProtocol)
	ca.rv(nearAnnounce(epoch, "A-old", tokenN(9)))
	eventually(t, "A's near entry at B", func() bool { return b.rv.Stats().Entries == 1 })
	if ms := cb.rv(nearAnnounce(epoch, "B", tokenN(9))).GetAnnounce().GetMatches(); len(ms) != 0 {
		t.Fatalf("near=near matched: %v", ms)
	}
	eventually(t, "B's near entry at A", func() bool { return a.rv.Stats().Entries == 2 })
	res := ca.rv(announceRec(epoch, []byte("A-here"), tokenN(9)))
	if r := res.GetAnnounce(); r.GetAccepted() != 1 || len(r.Matches) != 1 || string(r.Matches[0].SealedRecord) != "B" {
		t.Fatalf("upgrade at A: %v", res)
	}
	if m := waitMatch(t, cb); string(m.SealedRecord) != "A-here" {
		t.Fatalf("B's match through gossip: %v", m)
	}
	// A second stream of the same connection withdraws for both.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s2, err := h.NewStream(ctx, a.ID(), lprotocol.ID(protocol.RendezvousProtocol))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Reset() })
	w := &rawStream{t: t, s: s2, r: protocol.NewReader(s2, protocol.MaxRendezvousResponse)}
	if r := w.rv(&pb.RendezvousRequest{Body: &pb.RendezvousRequest_Withdraw{Withdraw: &pb.Withdraw{}}}); r.GetWithdraw().GetDropped() != 1 {
		t.Fatalf("withdraw: %v", r)
	}
	eventually(t, "A's entry gone at B", func() bool { return b.rv.Stats().Entries == 1 })
}
