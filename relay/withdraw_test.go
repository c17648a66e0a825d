package relay

import (
	"context"
	"testing"
	"time"

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
