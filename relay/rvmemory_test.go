package relay

import (
	"context"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
	"github.com/imigee/imigee/relay/rendezvous"
)

// recordsFrame is an announce of 16 announcements, one fresh token each,
// with a full 512-byte sealed record: about 11 KiB of engine memory.
func recordsFrame(epoch uint64, first uint64) *pb.RendezvousRequest {
	return recordsFrameN(epoch, first, 16)
}

func recordsFrameN(epoch uint64, first, n uint64) *pb.RendezvousRequest {
	a := &pb.Announce{Epoch: epoch, EpochSeconds: 600}
	for i := range n {
		a.Announcements = append(a.Announcements, &pb.Announcement{
			SealedRecord: make([]byte, protocol.MaxSealedRecord),
			Tokens:       []*pb.Token{{Value: tokenN(first + i), Kind: pb.TokenKind_HERE}},
		})
	}
	return &pb.RendezvousRequest{Body: &pb.RendezvousRequest_Announce{Announce: a}}
}

// TestRendezvousMemoryBudget: rendezvous entries and records are reserved
// with the memory budget, so a client filling records gets UNAVAILABLE at
// its connection's share (well before the entry caps), the refusal adds
// nothing, and the reserved bytes return to their baseline when the
// entries are withdrawn, when they expire, and when the stream ends. The
// old relay held records only under the engine's own caps: the same
// client was never refused.
func TestRendezvousMemoryBudget(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Now = clk.Now
	cfg.Limits.MemoryPerConn = 1 << 20
	cfg.Limits.MemoryPerSource = 1 << 20
	r := startRelay(t, cfg)
	epoch := uint64(clk.Now().Unix()) / 600
	s := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.RendezvousProtocol)

	fill := func() (accepted int) {
		t.Helper()
		for i := range 400 { // 400 × 11 KiB is far beyond the 1 MiB share
			before := r.rv.Stats().Entries
			res := s.rv(recordsFrame(epoch, uint64(i)*16+uint64(accepted%7)<<40))
			if e := res.GetError(); e != nil {
				if e.Code != pb.ErrorCode_UNAVAILABLE {
					t.Fatalf("refusal %v, want UNAVAILABLE", e)
				}
				if after := r.rv.Stats().Entries; after != before {
					t.Fatalf("refused announce changed entries %d → %d", before, after)
				}
				return accepted
			}
			accepted += int(res.GetAnnounce().GetAccepted())
		}
		t.Fatalf("no refusal after %d entries", accepted)
		return 0
	}
	n := fill()
	if n == 0 || n >= cfg.Rendezvous.MaxEntriesPerConn {
		t.Fatalf("refused after %d entries; the entry cap is %d", n, cfg.Rendezvous.MaxEntriesPerConn)
	}
	peak := r.mem.inUse()
	if peak < int64(n)*(rendezvous.EntryBytes+protocol.MaxSealedRecord) {
		t.Fatalf("%d entries but only %d bytes reserved", n, peak)
	}
	if w := s.rv(&pb.RendezvousRequest{Body: &pb.RendezvousRequest_Withdraw{Withdraw: &pb.Withdraw{}}}); w.GetWithdraw().GetDropped() != uint32(n) {
		t.Fatalf("withdraw %v, want %d dropped", w, n)
	}
	// What stays is the stream's retained read buffer (≤ RetainLimit; it
	// may double once when the request ids grow a byte).
	if base := r.mem.inUse(); base > protocol.RetainLimit || base > peak/16 {
		t.Fatalf("after withdraw %d bytes still reserved (peak %d)", base, peak)
	}

	// Fill again; expiry gives everything back.
	if m := fill(); m != n {
		t.Logf("second fill took %d entries (first %d)", m, n)
	}
	clk.Add(2*600*time.Second + 2*time.Minute)
	r.rv.Sweep()
	if got := r.mem.inUse(); got > protocol.RetainLimit || got > peak/16 {
		t.Fatalf("after expiry %d bytes reserved (peak %d)", got, peak)
	}
	// Announcing works again after expiry.
	epoch = uint64(clk.Now().Unix()) / 600
	if res := s.rv(recordsFrame(epoch, 1<<50)); res.GetError() != nil {
		t.Fatalf("after expiry: %v", res.GetError())
	}
	_ = s.s.Reset()
	deadline := time.Now().Add(10 * time.Second)
	for r.mem.inUse() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stream gone but %d bytes reserved", r.mem.inUse())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGossipMemoryBudget: gossip from a peer relay is reserved on that
// peer's share of the budget (at most half of it): a message that does not
// fit is ignored, the entries it adds are released when the remote
// session withdraws, and message reservations are released once applied.
func TestGossipMemoryBudget(t *testing.T) {
	r := offlineRelay(t)
	r.mem = newMemBudget(Limits{MemoryBudget: 64 << 10, MemoryPerConn: 1 << 30, MemoryPerSource: 1 << 30}, func() {})
	g := &gossip{r: r, mem: newGossipMem(r.mem), remote: make(map[remoteKey]*rendezvous.Session)}
	from := peer.ID("other-relay")
	r.trusted[from] = true
	epoch := uint64(time.Now().Unix()) / 600
	msg := func(first, n uint64) *pubsub.Message {
		ann := recordsFrameN(epoch, first, n).GetAnnounce()
		b, err := encodeGossip(&pb.RendezvousGossip{Origin: make([]byte, 16), Epoch: epoch, EpochSeconds: 600, Announcements: ann.Announcements})
		if err != nil {
			t.Fatal(err)
		}
		return &pubsub.Message{Message: &pubsubpb.Message{Data: b}, ReceivedFrom: from}
	}
	m1 := msg(0, 16)
	if g.validate(context.Background(), from, m1) != pubsub.ValidationAccept {
		t.Fatal("first message refused")
	}
	held := r.mem.inUse()
	if held < int64(2*len(m1.Data)) {
		t.Fatalf("validated message holds %d bytes", held)
	}
	g.apply(from, from, m1.ValidatorData.(*pb.RendezvousGossipBatch), m1)
	g.mem.done(m1)
	entries := r.mem.inUse()
	if entries < 16*(rendezvous.EntryBytes+protocol.MaxSealedRecord) {
		t.Fatalf("16 remote entries hold %d bytes", entries)
	}
	// Half the budget (32 KiB) is the peer's share: a message of 32
	// records (2 × 17 KiB held while it waits) no longer fits and is
	// ignored, neither delivered nor forwarded.
	if res := g.validate(context.Background(), from, msg(100, 32)); res != pubsub.ValidationIgnore {
		t.Fatalf("over the peer's share: %v, want ignore", res)
	}
	if r.mem.inUse() != entries {
		t.Fatalf("ignored message changed reservations %d → %d", entries, r.mem.inUse())
	}
	wd, _ := encodeGossip(&pb.RendezvousGossip{Origin: make([]byte, 16), Withdraw: true})
	m3 := &pubsub.Message{Message: &pubsubpb.Message{Data: wd}, ReceivedFrom: from}
	if g.validate(context.Background(), from, m3) != pubsub.ValidationAccept {
		t.Fatal("withdraw refused")
	}
	g.apply(from, from, m3.ValidatorData.(*pb.RendezvousGossipBatch), m3)
	g.mem.done(m3)
	if got := r.mem.inUse(); got != 0 {
		t.Fatalf("after the remote withdraw %d bytes reserved", got)
	}
	// A validated message pubsub never delivers is released by prune's expiry.
	m4 := msg(200, 16)
	if g.validate(context.Background(), from, m4) != pubsub.ValidationAccept {
		t.Fatal("message refused")
	}
	g.mem.expire(time.Now().Add(gossipHoldMax + time.Second))
	if got := r.mem.inUse(); got != 0 {
		t.Fatalf("after expiry %d bytes reserved", got)
	}
}

// TestGossipOutboundCharged: the message bytes of RPCs pubsub queues for a
// peer are charged until written, dropped or the peer is gone (also when
// the write is reported first), and while queued gossip holds a quarter
// of the budget new gossip is ignored at validation.
func TestGossipOutboundCharged(t *testing.T) {
	r := offlineRelay(t)
	r.mem = newMemBudget(Limits{MemoryBudget: 64 << 10, MemoryPerConn: 1 << 30, MemoryPerSource: 1 << 30}, func() {})
	gm := newGossipMem(r.mem)
	g := &gossip{r: r, mem: gm, remote: make(map[remoteKey]*rendezvous.Session)}
	tr := &meshTracer{mesh: r.m.gossipMesh, dropped: r.m.gossipDrop, mem: gm}
	p := peer.ID("other-relay")
	r.trusted[p] = true
	rpc := func(n int) *pubsub.RPC {
		return &pubsub.RPC{RPC: pubsubpb.RPC{Publish: []*pubsubpb.Message{{Data: make([]byte, n)}}}}
	}
	a, b, c, d := rpc(10<<10), rpc(8<<10), rpc(1<<10), rpc(2<<10)
	tr.SendRPC(a, p)
	tr.SendRPC(b, p)
	if got := r.mem.inUse(); got != 18<<10 {
		t.Fatalf("queued 18 KiB, reserved %d", got)
	}
	tr.SendRPCCompleted(a, p, 0)
	tr.DropRPC(b, p)
	tr.DropRPC(b, p) // idempotent
	if got := r.mem.inUse(); got != 0 {
		t.Fatalf("written and dropped, %d still reserved", got)
	}
	// Written before pubsub reported queueing it: nothing stays charged.
	tr.SendRPCCompleted(c, p, 0)
	tr.SendRPC(c, p)
	if got := r.mem.inUse(); got != 0 {
		t.Fatalf("write reported first, %d reserved", got)
	}
	// A quarter of the budget (16 KiB) queued: new gossip is ignored.
	big := rpc(16 << 10)
	tr.SendRPC(big, p)
	tr.SendRPC(d, p)
	epoch := uint64(time.Now().Unix()) / 600
	data, _ := encodeGossip(&pb.RendezvousGossip{Origin: make([]byte, 16), Epoch: epoch, EpochSeconds: 600, Announcements: recordsFrameN(epoch, 0, 1).GetAnnounce().Announcements})
	if res := g.validate(context.Background(), p, &pubsub.Message{Message: &pubsubpb.Message{Data: data}, ReceivedFrom: p}); res != pubsub.ValidationIgnore {
		t.Fatalf("with 18 KiB queued: %v, want ignore", res)
	}
	tr.RemovePeer(p)
	if got := r.mem.inUse(); got != 0 {
		t.Fatalf("peer gone, %d still reserved", got)
	}
	if res := g.validate(context.Background(), p, &pubsub.Message{Message: &pubsubpb.Message{Data: data}, ReceivedFrom: p}); res != pubsub.ValidationAccept {
		t.Fatalf("queues empty again: %v, want accept", res)
	}
}
