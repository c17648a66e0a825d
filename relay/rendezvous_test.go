package relay

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	dto "github.com/prometheus/client_model/go"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

func tokenN(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// announce builds an Announce of here tokens with record "rec".
func announce(epoch uint64, toks ...[]byte) *pb.RendezvousRequest {
	return announceRec(epoch, []byte("rec"), toks...)
}

func announceRec(epoch uint64, rec []byte, toks ...[]byte) *pb.RendezvousRequest {
	a := &pb.Announcement{SealedRecord: rec}
	for _, t := range toks {
		a.Tokens = append(a.Tokens, &pb.Token{Value: t, Kind: pb.TokenKind_HERE})
	}
	return &pb.RendezvousRequest{Body: &pb.RendezvousRequest_Announce{Announce: &pb.Announce{Epoch: epoch, EpochSeconds: 600, Announcements: []*pb.Announcement{a}}}}
}

// announceShared is announceRec with a shared record, the form nodes use.
func announceShared(epoch uint64, share, shared []byte, toks ...[]byte) *pb.RendezvousRequest {
	r := announceRec(epoch, share, toks...)
	r.GetAnnounce().SharedRecord = shared
	return r
}

// waitMatch reads until a pushed Match arrives.
func waitMatch(t *testing.T, s *rawStream) *pb.Match {
	t.Helper()
	for {
		resp := s.readRv()
		if m := resp.GetMatch(); m != nil {
			return m
		}
	}
}

// TestRendezvousMatchBothSides: the second announcer gets the match in its
// result, the first gets it pushed, each with the other's record.
func TestRendezvousMatchBothSides(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Now = clk.Now
	r := startRelay(t, cfg)
	epoch := uint64(clk.Now().Unix()) / 600
	a := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.RendezvousProtocol)
	b := openRaw(t, clientHost(t, "tcp"), r, "tcp", protocol.RendezvousProtocol)
	if res := a.rv(announceRec(epoch, []byte("A"), tokenN(7))); len(res.GetAnnounce().GetMatches()) != 0 {
		t.Fatalf("early match %v", res)
	}
	res := b.rv(announceRec(epoch, []byte("B"), tokenN(7)))
	ms := res.GetAnnounce().GetMatches()
	if len(ms) != 1 || string(ms[0].SealedRecord) != "A" {
		t.Fatalf("b's matches %v", res)
	}
	if m := waitMatch(t, a); string(m.SealedRecord) != "B" || !bytes.Equal(m.Token, tokenN(7)) {
		t.Fatalf("a's pushed match %v", m)
	}
}

// TestRendezvousLimits: stale epochs, token budgets and malformed
// announces are refused with a clear code and add nothing.
func TestRendezvousLimits(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Now = clk.Now
	cfg.Rendezvous.TokenBudget = 4
	r := startRelay(t, cfg)
	epoch := uint64(clk.Now().Unix()) / 600
	s := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.RendezvousProtocol)
	cases := []struct {
		name string
		req  *pb.RendezvousRequest
		want pb.ErrorCode
	}{
		{"epoch two ahead", announce(epoch+2, tokenN(1)), pb.ErrorCode_STALE},
		{"epoch two behind", announce(epoch-2, tokenN(1)), pb.ErrorCode_STALE},
		{"too many tokens", announce(epoch, tokenN(1), tokenN(2), tokenN(3), tokenN(4), tokenN(5)), pb.ErrorCode_RATE_LIMITED},
		{"short token", announce(epoch, []byte{1, 2}), pb.ErrorCode_BAD_REQUEST},
		{"record too big", announceRec(epoch, make([]byte, protocol.MaxSealedRecord+1), tokenN(1)), pb.ErrorCode_TOO_LARGE},
	}
	for _, tc := range cases {
		if got := code(s.rv(tc.req)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		if tc.want == pb.ErrorCode_BAD_REQUEST || tc.want == pb.ErrorCode_TOO_LARGE {
			// An invalid request closes the stream.
			s = openRaw(t, clientHost(t, "quic"), r, "quic", protocol.RendezvousProtocol)
		}
		if e := r.rv.Stats().Entries; e != 0 {
			t.Fatalf("%s: %d entries added", tc.name, e)
		}
	}
	if res := s.rv(announce(epoch, tokenN(1), tokenN(2), tokenN(3), tokenN(4))); res.GetAnnounce().GetAccepted() != 4 {
		t.Fatalf("within budget: %v", res)
	}
	if got := code(s.rv(announce(epoch, tokenN(9)))); got != pb.ErrorCode_RATE_LIMITED {
		t.Fatalf("fifth token: %v", got)
	}
}

// TestRendezvousRetention: with an injected clock, entries are gone after
// their epoch window and no longer match; nothing is on disk.
func TestRendezvousRetention(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Now = clk.Now
	r := startRelay(t, cfg)
	epoch := uint64(clk.Now().Unix()) / 600
	a := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.RendezvousProtocol)
	a.rv(announce(epoch, tokenN(5)))
	// Move past the epoch's end plus the skew: the entry is dropped.
	end := time.Unix(int64(epoch+1)*600, 0).Add(cfg.Rendezvous.Skew.D())
	clk.Add(end.Sub(clk.Now()))
	r.rv.Sweep()
	if e := r.rv.Stats().Entries; e != 0 {
		t.Fatalf("%d entries after the window", e)
	}
	b := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.RendezvousProtocol)
	res := b.rv(announce(epoch+1, tokenN(5)))
	if len(res.GetAnnounce().GetMatches()) != 0 {
		t.Fatal("matched an expired entry")
	}
	if code(b.rv(announce(epoch, tokenN(5)))) != pb.ErrorCode_STALE {
		t.Fatal("old epoch accepted after its window")
	}
}

// TestGossipThreeRelays: relays A—B—C in a line; a client of A and a
// client of C announce the same token and both are told.
func TestGossipThreeRelays(t *testing.T) {
	clk := newTestClock()
	keys := make([]lcrypto.PrivKey, 3)
	ids := make([]peer.ID, 3)
	for i := range keys {
		keys[i], _, _ = lcrypto.GenerateEd25519Key(nil)
		ids[i], _ = peer.IDFromPrivateKey(keys[i])
	}
	mk := func(i int, trust []peer.ID, dial ...*Relay) *Relay {
		cfg := testConfig(t)
		cfg.Identity = keys[i]
		cfg.Now = clk.Now
		cfg.Network = "test-" + t.Name()
		for _, id := range trust {
			cfg.Peers = append(cfg.Peers, "/p2p/"+id.String())
		}
		for _, p := range dial {
			for _, a := range p.Addrs() {
				cfg.Peers = append(cfg.Peers, a.String()+"/p2p/"+p.ID().String())
			}
		}
		return startRelay(t, cfg)
	}
	b := mk(1, []peer.ID{ids[0], ids[2]}) // B trusts A and C, who dial it
	a := mk(0, nil, b)
	c := mk(2, nil, b)
	// Gossipsub forwards only along its mesh, which forms on heartbeats;
	// wait for it as an operator would see it, in the metrics.
	mesh := func(r *Relay) float64 { return gaugeValue(r.m.gossipMesh) }
	eventually(t, "gossip mesh A—B—C", func() bool { return mesh(a) >= 1 && mesh(c) >= 1 && mesh(b) >= 2 })
	epoch := uint64(clk.Now().Unix()) / 600
	ca := openRaw(t, clientHost(t, "quic"), a, "quic", protocol.RendezvousProtocol)
	cc := openRaw(t, clientHost(t, "tcp"), c, "tcp", protocol.RendezvousProtocol)
	if res := ca.rv(announceShared(epoch, []byte("from-a"), []byte("shared-a"), tokenN(42))); res.GetAnnounce().GetAccepted() != 1 {
		t.Fatalf("announce at A: %v", res)
	}
	eventually(t, "A's entry at C", func() bool {
		return c.rv.Stats().Entries == 1
	})
	res := cc.rv(announceShared(epoch, []byte("from-c"), []byte("shared-c"), tokenN(42)))
	// C matched A's gossiped entry at once; A hears of C's by gossip. The
	// shared records travel with the gossip.
	if ms := res.GetAnnounce().GetMatches(); len(ms) != 1 || string(ms[0].SealedRecord) != "from-a" || string(ms[0].SharedRecord) != "shared-a" {
		t.Fatalf("client of C: %v", res)
	}
	if m := waitMatch(t, ca); string(m.SealedRecord) != "from-c" || string(m.SharedRecord) != "shared-c" {
		t.Fatalf("client of A: %v", m)
	}
	// Closing the stream at A withdraws its entry across the network.
	ca.s.Reset()
	eventually(t, "withdraw gossiped to C", func() bool { return c.rv.Stats().Entries == 1 })
	// Once every stream is gone, all three relays' memory budgets are back
	// to zero: gossip held in, queued out and applied is all released.
	cc.s.Reset()
	eventually(t, "budgets back to zero", func() bool {
		return c.rv.Stats().Entries == 0 && a.mem.inUse() == 0 && b.mem.inUse() == 0 && c.mem.inUse() == 0
	})
}

type writer interface{ Write(*dto.Metric) error }

func gaugeValue(g writer) float64 {
	var m dto.Metric
	_ = g.Write(&m)
	if m.Gauge != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

// TestGossipRejectsUntrusted: a client that speaks pubsub to a relay can
// neither read the network's announcements (a silent probe) nor inject
// announcements around its token budget.
func TestGossipRejectsUntrusted(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Now = clk.Now
	cfg.Network = "untrusted"
	r := startRelay(t, cfg)
	h := clientHost(t, "quic")
	ctx, cancel := context.WithCancel(context.Background())
	ps, err := pubsub.NewGossipSub(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(topicName("untrusted"))
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { sub.Cancel(); topic.Close(); cancel(); h.Close() }()

	epoch := uint64(clk.Now().Unix()) / 600
	cl := openRaw(t, h, r, "quic", protocol.RendezvousProtocol)
	// The spy sees the relay's subscription (the relay drops the spy's).
	eventually(t, "the spy to see the relay in the topic", func() bool { return len(topic.ListPeers()) == 1 })
	cl.rv(announce(epoch, tokenN(3)))
	eventually(t, "the announcement to be published", func() bool { return gaugeValue(r.m.gossipOut) == 1 })
	// Gossip from an untrusted peer is rejected by the validator (the
	// subscription filter already keeps such peers out of the topic).
	forged, err := encodeGossip(&pb.RendezvousGossip{Origin: make([]byte, 16), Epoch: epoch, EpochSeconds: 600, Announcements: announce(epoch, tokenN(9)).GetAnnounce().Announcements})
	if err != nil {
		t.Fatal(err)
	}
	msg := &pubsub.Message{Message: &pubsubpb.Message{Data: forged}, ReceivedFrom: h.ID()}
	if res := r.gossip.validate(ctx, h.ID(), msg); res != pubsub.ValidationReject {
		t.Fatalf("untrusted gossip: %v, want reject", res)
	}
	if e := r.rv.Stats().Entries; e != 1 {
		t.Fatalf("entries %d, want only the client's own", e)
	}
	if n := len(r.gossip.topic.ListPeers()); n != 0 {
		t.Fatalf("the spy is a topic peer of the relay (%d)", n)
	}
	// The relay never sent its announcement to the spy.
	for {
		rctx, rcancel := context.WithTimeout(ctx, 200*time.Millisecond)
		got, err := sub.Next(rctx)
		rcancel()
		if err != nil {
			break
		}
		t.Fatalf("the relay sent gossip to an untrusted peer: %d bytes", len(got.Data))
	}
}
