package node

import (
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"

	proto "github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// TestDeliveryChecksHelloBeforeTrusting: a delivery sends its request
// right behind its Hello (dialFriend) and checks the friend's Hello at
// the first read. A responder at the friend's transport ID that cannot
// prove the pair (a bad Hello proof), then accepts the offer and "signs" a
// receipt, gets the sealed offer or message and nothing else: no chunk,
// the sender marks nothing delivered and keeps none of the false Hello's
// caps.
func TestDeliveryChecksHelloBeforeTrusting(t *testing.T) {
	old := withoutAES(t)
	clock := newTestClock()
	a := newTestNode(t, clock, nil)
	b := newTestNode(t, clock, nil)
	old.Store(b.Node, true) // b's own Hellos advertise no caps
	bID, _ := link(t, a, b)
	bh, err := b.host()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	streams := make(chan struct{}, 16)
	bh.SetStreamHandler(protocol.ID(proto.ShareProtocol), func(st network.Stream) {
		defer st.Reset()
		defer func() { streams <- struct{}{} }()
		r := proto.NewReader(st, proto.MaxShareFrame)
		// The false Hello is held back until the request behind the
		// initiator's Hello is read: the sender resets the stream when
		// the proof fails, and QUIC drops what it has not sent yet.
		var hello *pb.PeerFrame
		for {
			var m pb.PeerFrame
			if err := r.ReadMsg(&m); err != nil {
				return
			}
			mu.Lock()
			got = append(got, fmt.Sprintf("%T", m.Body))
			mu.Unlock()
			if hello != nil {
				if proto.WriteMsg(st, hello) != nil {
					return
				}
				hello = nil
			}
			var reply *pb.PeerFrame
			switch x := m.Body.(type) {
			case *pb.PeerFrame_Hello:
				proof := make([]byte, len(x.Hello.Proof))
				nonce := make([]byte, proto.HelloNonceSize)
				_, _ = rand.Read(proof)
				_, _ = rand.Read(nonce)
				hello = &pb.PeerFrame{Body: &pb.PeerFrame_Hello{Hello: &pb.Hello{PairHint: x.Hello.PairHint, Epoch: x.Hello.Epoch, Nonce: nonce, Proof: proof, Caps: proto.HelloCapAESGCM}}}
			case *pb.PeerFrame_Offer:
				reply = &pb.PeerFrame{Body: &pb.PeerFrame_OfferReply{OfferReply: &pb.OfferReply{ItemId: x.Offer.ItemId, Accept: true}}}
			case *pb.PeerFrame_Envelope:
				sig := make([]byte, 64)
				_, _ = rand.Read(sig)
				reply = &pb.PeerFrame{Body: &pb.PeerFrame_Receipt{Receipt: &pb.Receipt{ItemId: make([]byte, 16), Sig: sig}}}
			}
			if reply != nil && proto.WriteMsg(st, reply) != nil {
				return
			}
		}
	})
	if _, err := a.SendMessage(bID, "hello"); err != nil {
		t.Fatal(err)
	}
	sharePhoto(t, a, []string{bID}, 300<<10)
	deadline := time.After(20 * time.Second)
	for seen := 0; ; {
		mu.Lock()
		offers, envelopes := 0, 0
		for _, k := range got {
			switch k {
			case "*pb.PeerFrame_Offer":
				offers++
			case "*pb.PeerFrame_Envelope":
				envelopes++
			case "*pb.PeerFrame_Chunk":
				frames := fmt.Sprint(got)
				mu.Unlock()
				t.Fatalf("chunks sent to a responder whose Hello failed: %s", frames)
			}
		}
		mu.Unlock()
		if offers > 0 && envelopes > 0 && seen >= 2 {
			break
		}
		select {
		case <-streams:
			seen++
		case <-deadline:
			mu.Lock()
			frames := fmt.Sprint(got)
			mu.Unlock()
			t.Fatalf("the deliveries did not reach the responder: %s", frames)
		}
	}
	time.Sleep(200 * time.Millisecond) // anything the sender would send next
	mu.Lock()
	defer mu.Unlock()
	for _, k := range got {
		if k == "*pb.PeerFrame_Chunk" {
			t.Fatalf("chunks sent to a responder whose Hello failed: %v", got)
		}
	}
	if n := a.ev.count(EventDelivered); n != 0 {
		t.Fatalf("%d deliveries marked on a false Hello", n)
	}
	if c := friendCaps(a, bID); c != 0 {
		t.Fatalf("caps %d taken from a false Hello", c)
	}
	for _, it := range a.Pending() {
		for _, r := range it.Recipients {
			if r.State == RecipientDelivered {
				t.Fatalf("item %s delivered on a false Hello", it.ID)
			}
		}
	}
}
