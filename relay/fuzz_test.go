package relay

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
	"github.com/imigee/imigee/relay/rendezvous"
)

// memStream is an in-memory serviceStream: the fuzz input is what the
// peer sends, out collects what the relay answers.
type memStream struct {
	io.Reader
	out bytes.Buffer
}

func (m *memStream) Write(p []byte) (int, error)      { return m.out.Write(p) }
func (m *memStream) SetReadDeadline(time.Time) error  { return nil }
func (m *memStream) SetWriteDeadline(time.Time) error { return nil }

// offlineRelay is a relay whose services are driven directly (New without
// Start: nothing listens).
func offlineRelay(t testing.TB) *Relay {
	cfg := testConfig(t)
	cfg.Limits.MaxChallenges = 4
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func unlimitedConn() *connState {
	return &connState{limiter: rate.NewLimiter(rate.Inf, math.MaxInt), budget: rendezvous.NewGroup(), sessions: make(map[*rendezvous.Session]struct{})}
}

func frames(msgs ...proto.Message) []byte {
	var b bytes.Buffer
	for _, m := range msgs {
		if err := protocol.WriteMsg(&b, m); err != nil {
			panic(err)
		}
	}
	return b.Bytes()
}

// readAll decodes every frame the relay wrote.
func readAll[T proto.Message](t *testing.T, b []byte, mk func() T) []T {
	var out []T
	r := bytes.NewReader(b)
	for {
		m := mk()
		if err := protocol.ReadMsg(r, m, protocol.MaxMailboxResponse); err != nil {
			if err != io.EOF {
				t.Fatalf("relay wrote a bad frame: %v", err)
			}
			return out
		}
		out = append(out, m)
	}
}

// FuzzMailboxStream feeds arbitrary bytes as a mailbox stream. The relay
// must not panic, must answer with well-formed frames, and must store
// exactly the blobs it acknowledged with a PutResult (nothing on error).
func FuzzMailboxStream(f *testing.F) {
	r := offlineRelay(f)
	key, mbox := newKey(f)
	ch := make([]byte, 32)
	id := func(n uint64, m *pb.MailboxRequest) *pb.MailboxRequest { m.Id = n; return m }
	f.Add(frames(id(1, &pb.MailboxRequest{Body: &pb.MailboxRequest_Challenge{Challenge: &pb.ChallengeRequest{}}})))
	f.Add(frames(id(1, &pb.MailboxRequest{Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: mbox[:], Blob: []byte("blob")}}})))
	f.Add(frames(id(1, fetchReq(key, ch)), id(2, &pb.MailboxRequest{Body: &pb.MailboxRequest_Ack{Ack: &pb.Ack{Challenge: ch, Auth: []*pb.MailboxAuth{auth(key, crypto.OpAck, ch)}, Blobs: []*pb.BlobRef{{MailboxId: mbox[:], BlobId: make([]byte, 16)}}}}})))
	f.Add(frames(id(1, &pb.MailboxRequest{Body: &pb.MailboxRequest_Subscribe{Subscribe: &pb.Subscribe{Challenge: ch, Auth: []*pb.MailboxAuth{auth(key, crypto.OpSubscribe, ch)}}}}),
		id(2, &pb.MailboxRequest{Body: &pb.MailboxRequest_Forget{Forget: &pb.Forget{Challenge: ch, Auth: []*pb.MailboxAuth{auth(key, crypto.OpForget, ch)}}}})))
	f.Add(binary.AppendUvarint(nil, protocol.MaxMailboxRequest+1))
	f.Add([]byte{0x05, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		before := r.store.Stats()
		s := &memStream{Reader: bytes.NewReader(data)}
		r.serveMailbox(s, unlimitedConn())
		resps := readAll(t, s.out.Bytes(), func() *pb.MailboxResponse { return &pb.MailboxResponse{} })
		puts := 0
		for _, resp := range resps {
			if err := protocol.ValidateMailboxResponse(resp); err != nil {
				t.Fatalf("invalid response %v: %v", resp, err)
			}
			if resp.GetPut() != nil {
				puts++
			}
		}
		after := r.store.Stats()
		if after.Blobs != before.Blobs+int64(puts) {
			t.Fatalf("store went from %d to %d blobs with %d acknowledged puts", before.Blobs, after.Blobs, puts)
		}
		if r.hub.len() != 0 {
			t.Fatal("subscription outlived its stream")
		}
	})
}

// FuzzRendezvousStream feeds arbitrary bytes as a rendezvous stream: no
// panic, well-formed answers, accepted counts equal to what the engine
// added, and nothing left once the stream ends.
func FuzzRendezvousStream(f *testing.F) {
	r := offlineRelay(f)
	epoch := uint64(time.Now().Unix()) / 600
	id := func(n uint64, m *pb.RendezvousRequest) *pb.RendezvousRequest { m.Id = n; return m }
	f.Add(frames(id(1, announce(epoch, tokenN(1), tokenN(2)))))
	f.Add(frames(id(1, announce(epoch, tokenN(1))), id(2, &pb.RendezvousRequest{Body: &pb.RendezvousRequest_Withdraw{Withdraw: &pb.Withdraw{}}})))
	f.Add(frames(id(1, announce(epoch+3, tokenN(1)))))
	f.Add(binary.AppendUvarint(nil, protocol.MaxRendezvousRequest+1))
	lateReq := &pb.RendezvousRequest{Id: 2, Body: &pb.RendezvousRequest_LateAnnounce{LateAnnounce: hAnn(epoch-2, "r", "s", make([]byte, 32), []uint64{1}, []uint64{2})}}
	f.Add(frames(id(1, announce(epoch, tokenN(1))), lateReq))
	f.Add(frames(&pb.RendezvousRequest{Id: 1, Body: &pb.RendezvousRequest_HistoryForget{HistoryForget: &pb.HistoryForget{Secrets: []*pb.ForgetSecret{{Epoch: epoch - 2, Secret: make([]byte, 32)}}}}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		before := r.rv.Stats()
		histBefore := r.HistoryStats()
		// Which request ids were late announcements (their accepted
		// count is history entries, not engine entries).
		late := make(map[uint64]bool)
		for rd := bytes.NewReader(data); ; {
			var m pb.RendezvousRequest
			if protocol.ReadMsg(rd, &m, protocol.MaxRendezvousRequest) != nil {
				break
			}
			if m.GetLateAnnounce() != nil {
				late[m.Id] = true
			}
		}
		s := &memStream{Reader: bytes.NewReader(data)}
		r.serveRendezvous(s, unlimitedConn())
		resps := readAll(t, s.out.Bytes(), func() *pb.RendezvousResponse { return &pb.RendezvousResponse{} })
		accepted, lateAccepted := 0, 0
		for _, resp := range resps {
			if err := protocol.ValidateRendezvousResponse(resp); err != nil {
				t.Fatalf("invalid response %v: %v", resp, err)
			}
			if late[resp.Id] {
				lateAccepted += int(resp.GetAnnounce().GetAccepted())
			} else {
				accepted += int(resp.GetAnnounce().GetAccepted())
			}
		}
		if d := r.HistoryStats().Entries - histBefore.Entries; d > int64(accepted+lateAccepted) {
			t.Fatalf("history grew by %d entries, relay reported %d", d, accepted+lateAccepted)
		}
		after := r.rv.Stats()
		if after.Announced-before.Announced != uint64(accepted) {
			t.Fatalf("engine added %d, relay reported %d", after.Announced-before.Announced, accepted)
		}
		if after.Entries != before.Entries {
			t.Fatalf("entries %d → %d after the stream ended", before.Entries, after.Entries)
		}
	})
}

// FuzzGossip feeds arbitrary bytes as a pubsub message from another relay:
// rejected messages change nothing; accepted ones add at most what they
// carry.
func FuzzGossip(f *testing.F) {
	r := offlineRelay(f)
	g := &gossip{r: r, mem: newGossipMem(r.mem), remote: make(map[remoteKey]*rendezvous.Session)}
	epoch := uint64(time.Now().Unix()) / 600
	ann := announce(epoch, tokenN(1), tokenN(2)).GetAnnounce()
	seed, _ := encodeGossip(&pb.RendezvousGossip{Origin: make([]byte, 16), Epoch: epoch, EpochSeconds: 600, Announcements: ann.Announcements})
	f.Add(seed)
	wd, _ := encodeGossip(&pb.RendezvousGossip{Origin: make([]byte, 16), Withdraw: true})
	f.Add(wd)
	late, _ := encodeGossip(&pb.RendezvousGossip{Origin: make([]byte, 16), Epoch: epoch - 3, EpochSeconds: 600, Announcements: ann.Announcements, Late: true, ForgetTag: make([]byte, 32)})
	f.Add(late)
	fg, _ := encodeGossip(&pb.RendezvousGossip{Origin: make([]byte, 16), Forget: []*pb.ForgetSecret{{Epoch: epoch - 3, Secret: make([]byte, 32)}}})
	f.Add(fg)
	f.Add([]byte{0xff, 0x01})
	from := peer.ID("other-relay")
	r.trusted[from] = true
	f.Fuzz(func(t *testing.T, data []byte) {
		before := r.rv.Stats()
		msg := &pubsub.Message{Message: &pubsubpb.Message{Data: data}}
		if g.validate(context.Background(), from, msg) != pubsub.ValidationAccept {
			if after := r.rv.Stats(); after.Entries != before.Entries || after.Announced != before.Announced {
				t.Fatal("rejected gossip changed state")
			}
			return
		}
		m := msg.ValidatorData.(*pb.RendezvousGossipBatch)
		if !g.apply(from, from, m, msg) {
			g.mem.done(msg)
		}
		// The history writer does not run offline: apply its queue here.
		for len(r.hw) > 0 {
			h := <-r.hw
			if _, err := r.hist.Apply(h.ops); err != nil {
				t.Fatal(err)
			}
			g.mem.done(h.msg)
		}
		tokens := 0
		for _, it := range m.Items {
			for _, a := range it.Announcements {
				tokens += len(a.Tokens)
			}
		}
		if added := r.rv.Stats().Announced - before.Announced; added > uint64(tokens) {
			t.Fatalf("added %d entries from %d tokens", added, tokens)
		}
	})
}
