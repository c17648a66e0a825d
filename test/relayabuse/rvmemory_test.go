package relayabuse

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// TestRendezvousRecordFlood: four connections from one address announce
// one token per full 512-byte record, the most memory per entry a client
// can make the engine hold, and keep their streams open. Rendezvous
// entries and records are reserved with the memory budget on the
// address's share (8 MiB here), so the attacker gets UNAVAILABLE at that
// share (about 11,900 such entries), before its entry cap (16,384), and a legitimate announce from
// another address is accepted while the attacker holds what it got. The
// old relay held records outside the budget: the attacker was refused only
// at its entry cap, never with UNAVAILABLE.
func TestRendezvousRecordFlood(t *testing.T) {
	extra := ""
	if !oldBinary {
		extra = "[limits]\nmemory_per_conn = 8388608\nmemory_per_source = 8388608\n"
	}
	r := startRelay(t, extra)
	var as []*attacker
	for range 4 {
		as = append(as, newAttacker(t, r))
	}
	var (
		mu                    sync.Mutex
		accepted, unavailable int
	)
	var filled sync.WaitGroup
	hold := make(chan struct{})
	announce := func(ctx context.Context, streams *sync.WaitGroup) {
		for _, a := range as {
			filled.Add(1)
			streams.Add(1)
			go func() {
				defer streams.Done()
				s := a.stream(protocol.RendezvousProtocol)
				if s == nil {
					filled.Done()
					return
				}
				defer s.Reset()
				rd := protocol.NewReader(s, protocol.MaxRendezvousResponse)
				func() {
					defer filled.Done()
					mine := 0
					defer func() {
						mu.Lock()
						accepted += mine
						mu.Unlock()
					}()
					for i := 0; i < 128 && ctx.Err() == nil; i++ {
						anns := make([]*pb.Announcement, 64) // 34 KiB frames: the reader keeps one buffer

						for j := range anns {
							v := make([]byte, 8)
							rand.Read(v)
							rec := make([]byte, protocol.MaxSealedRecord)
							rand.Read(rec)
							anns[j] = &pb.Announcement{Tokens: []*pb.Token{{Value: v, Kind: pb.TokenKind_HERE}}, SealedRecord: rec}
						}
						_ = s.SetDeadline(time.Now().Add(5 * time.Second))
						req := &pb.RendezvousRequest{Id: uint64(i + 1), Body: &pb.RendezvousRequest_Announce{Announce: &pb.Announce{Epoch: uint64(time.Now().Unix()) / 600, EpochSeconds: 600, Announcements: anns}}}
						if protocol.WriteMsg(s, req) != nil {
							mine = 0
							return
						}
						var resp pb.RendezvousResponse
						if rd.ReadMsg(&resp) != nil {
							mine = 0
							return
						}
						mine += int(resp.GetAnnounce().GetAccepted())
						if resp.GetError().GetCode() == pb.ErrorCode_UNAVAILABLE {
							mu.Lock()
							unavailable++
							mu.Unlock()
						}
						if resp.GetError() != nil {
							if resp.Id == 0 {
								mine = 0 // the stream ends, and its entries with it
							}
							return // refused: hold what it got
						}
					}
				}()
				<-hold
			}()
		}
	}
	l2 := newLegit(t, r)
	octx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rv, err := l2.c.Rendezvous(octx, nil)
	if err != nil {
		t.Fatalf("legitimate rendezvous stream: %v", err)
	}
	defer rv.Close()
	underAttack(t, r, attackTime, func(ctx context.Context) {
		var streams sync.WaitGroup
		announce(ctx, &streams)
		filled.Wait()
		actx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		n, _, err := rv.Announce(actx, 600, uint64(time.Now().Unix())/600, legitAnnouncements())
		if err != nil || n != 5 {
			t.Errorf("legitimate announce while the attacker holds its records: %d accepted, %v", n, err)
		}
		<-ctx.Done()
		close(hold)
		streams.Wait()
	})
	t.Logf("attacker entries held: %d (%d KiB of entries and records), UNAVAILABLE answers: %d", accepted, accepted*(128+protocol.MaxSealedRecord+64)>>10, unavailable)
	if unavailable == 0 {
		t.Error("the attacker was never refused UNAVAILABLE: its records are not in the memory budget")
	}
	if held := accepted * (128 + protocol.MaxSealedRecord + 64); held > 8<<20 {
		t.Errorf("one address holds %d KiB of rendezvous state, its share is 8 MiB", held>>10)
	}
}
