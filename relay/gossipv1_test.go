package relay

import (
	"context"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// TestGossipHearsPreBatchRelays: during a rolling upgrade a relay of this
// release still applies the bare one-announcement messages of a relay not
// upgraded yet (topic version 1), and publishes only batches (version 2),
// never on version 1; an untrusted peer or undecodable bytes there are
// rejected.
func TestGossipHearsPreBatchRelays(t *testing.T) {
	clk := newTestClock()
	old := clientHost(t, "quic") // the relay of the earlier release
	cfg := testConfig(t)
	cfg.Now = clk.Now
	cfg.Network = "rolling"
	cfg.Peers = []string{"/p2p/" + old.ID().String()}
	r := startRelay(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ps, err := pubsub.NewGossipSub(ctx, old, pubsub.WithMessageSignaturePolicy(pubsub.StrictSign))
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(protocol.GossipTopicV1 + "/rolling")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { sub.Cancel(); topic.Close() }()
	if err := old.Connect(ctx, relayInfo(r, "quic")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "each to see the other in the version-1 topic", func() bool {
		return len(topic.ListPeers()) == 1 && len(r.gossip.v1topic.ListPeers()) == 1
	})

	epoch := uint64(clk.Now().Unix()) / 600
	bare, err := protocol.EncodeGossip(&pb.RendezvousGossip{Origin: make([]byte, 16), Epoch: epoch, EpochSeconds: 600,
		Announcements: announce(epoch, tokenN(9)).GetAnnounce().Announcements})
	if err != nil {
		t.Fatal(err)
	}
	// A message published in the first moments after the two see each
	// other's subscription may not be sent yet (gossipsub's own start-up):
	// publish again until it is applied.
	applied := func() bool { return gaugeValue(r.m.gossipIn) >= 1 && r.rv.Stats().Entries == 1 }
	for deadline := time.Now().Add(10 * time.Second); !applied(); {
		if time.Now().After(deadline) {
			t.Fatalf("the old relay's announcement was not applied (received %v, entries %d)", gaugeValue(r.m.gossipIn), r.rv.Stats().Entries)
		}
		if err := topic.Publish(ctx, bare); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20 && !applied(); i++ {
			time.Sleep(50 * time.Millisecond)
		}
	}

	// The version-1 topic is a way in for strangers' bytes too: a peer
	// that is not a configured relay is rejected there, and a trusted
	// relay's message that does not decode is rejected, both before
	// anything is applied.
	before := gaugeValue(r.m.gossipIn)
	spy := clientHost(t, "quic")
	if res := r.gossip.validateV1(ctx, spy.ID(), &pubsub.Message{Message: &pubsubpb.Message{Data: bare}, ReceivedFrom: spy.ID()}); res != pubsub.ValidationReject {
		t.Fatalf("version-1 gossip from an untrusted peer: %v, want reject", res)
	}
	if res := r.gossip.validateV1(ctx, old.ID(), &pubsub.Message{Message: &pubsubpb.Message{Data: []byte{0x0a, 0xff}}, ReceivedFrom: old.ID()}); res != pubsub.ValidationReject {
		t.Fatalf("undecodable version-1 gossip: %v, want reject", res)
	}
	if got := gaugeValue(r.m.gossipIn); got != before || r.rv.Stats().Entries != 1 {
		t.Fatalf("rejected gossip applied: received %v (was %v), entries %d", got, before, r.rv.Stats().Entries)
	}

	// A local announcement leaves as a batch on version 2 only.
	cl := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.RendezvousProtocol)
	cl.rv(announce(epoch, tokenN(3)))
	eventually(t, "the local announcement to be published", func() bool { return gaugeValue(r.m.gossipOut) == 1 })
	rctx, rcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer rcancel()
	for {
		got, err := sub.Next(rctx)
		if err != nil {
			break
		}
		if got.ReceivedFrom != old.ID() {
			t.Fatalf("the relay published on the version-1 topic: %d bytes", len(got.Data))
		}
	}
}
