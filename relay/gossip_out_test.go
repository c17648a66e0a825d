package relay

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// TestGossipBatchesAnnouncements: announcements a relay takes in within
// gossipBatchDelay leave as fewer pubsub messages than items (one
// signature and one RPC for many; on the code before batching every
// announcement was a message of its own), every item arrives, and a
// withdrawal right after its announcements is applied after them at the
// other relay (order kept within and across batches).
func TestGossipBatchesAnnouncements(t *testing.T) {
	rs := relayNet(t, 2, func(int, int) bool { return true })
	meshed(t, rs, func(int) int { return 1 })
	a, b := rs[0], rs[1]
	epoch := uint64(a.cfg.Now().Unix()) / 600
	cl := openRaw(t, clientHost(t, "quic"), a, "quic", protocol.RendezvousProtocol)
	const n = 20
	for i := range uint64(n) {
		if res := cl.rv(announce(epoch, tokenN(1000+i))); res.GetAnnounce().GetAccepted() != 1 {
			t.Fatalf("announce %d: %v", i, res)
		}
	}
	eventually(t, "the announcements at the other relay", func() bool { return b.rv.Stats().Entries == n })
	items, batches := gaugeValue(a.m.gossipItemsOut), gaugeValue(a.m.gossipOut)
	t.Logf("%v items in %v batches", items, batches)
	if items != n || batches >= items {
		t.Fatalf("%v items published in %v pubsub messages, want fewer messages than items", items, batches)
	}
	if got := gaugeValue(b.m.gossipIn); got != n {
		t.Fatalf("other relay applied %v items, want %d", got, n)
	}
	// Withdraw: it follows the announcements through the outbox and must
	// not overtake them, so the other relay ends with nothing.
	if res := cl.rv(&pb.RendezvousRequest{Id: 99, Body: &pb.RendezvousRequest_Withdraw{Withdraw: &pb.Withdraw{}}}); res.GetWithdraw().GetDropped() != n {
		t.Fatalf("withdraw: %v", res)
	}
	eventually(t, "the withdrawal at the other relay", func() bool { return b.rv.Stats().Entries == 0 })
}

// TestGossipOutboxOrderAndFull: the outbox cuts a batch when the next item
// would pass MaxGossipMessage, hands batches out oldest first with their
// items in order, each a valid RendezvousGossipBatch, and drops (false)
// once gossipOutboxBatches full batches wait.
func TestGossipOutboxOrderAndFull(t *testing.T) {
	o := newGossipOutbox()
	big := func(i int) []byte {
		m := &pb.RendezvousGossip{Origin: bytes.Repeat([]byte{byte(i)}, protocol.OriginSize), Epoch: 1, EpochSeconds: 600}
		for j := range 600 {
			m.Announcements = append(m.Announcements, &pb.Announcement{Tokens: []*pb.Token{{Value: tokenN(uint64(i<<16 | j))}}, SealedRecord: bytes.Repeat([]byte{7}, 512)})
		}
		b, err := protocol.EncodeGossip(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// Each item is about 322 KiB: two fit a batch, a third does not.
	var added int
	for i := 0; ; i++ {
		if !o.add(big(i)) {
			break
		}
		added++
		if added > 3*gossipOutboxBatches {
			t.Fatal("the outbox never filled up")
		}
	}
	if len(o.ready) != gossipOutboxBatches {
		t.Fatalf("%d full batches wait, want %d", len(o.ready), gossipOutboxBatches)
	}
	select {
	case <-o.full:
	default:
		t.Fatal("a full batch was not signalled")
	}
	next := 0
	for _, data := range o.take() {
		var bt pb.RendezvousGossipBatch
		if err := protocol.DecodeGossipBatch(data, &bt); err != nil {
			t.Fatalf("batch: %v", err)
		}
		for _, it := range bt.Items {
			if it.Origin[0] != byte(next) {
				t.Fatalf("item of %d where %d was due", it.Origin[0], next)
			}
			if !proto.Equal(it.Announcements[0], &pb.Announcement{Tokens: []*pb.Token{{Value: tokenN(uint64(next << 16))}}, SealedRecord: bytes.Repeat([]byte{7}, 512)}) {
				t.Fatalf("item %d changed", next)
			}
			next++
		}
	}
	if next != added {
		t.Fatalf("%d items out of %d added", next, added)
	}
	if bs := o.take(); len(bs) != 0 {
		t.Fatalf("outbox not empty after take: %d batches", len(bs))
	}
}
