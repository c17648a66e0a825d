package relay

import (
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// These tests prove the stream-level rules of PROTOCOL.md and the limits of
// issue 17 on a relay in-process; test/relayabuse runs the attacks against
// the daemon.

// TestOversizeFrameClosesStream (PROTOCOL.md, disagreement #4): a frame
// length above the cap is answered {id:0, TOO_LARGE} before any body byte
// is read, then the relay closes the stream. The reason reaches the client
// (a reset would lose it); the body bytes are never read.
func TestOversizeFrameClosesStream(t *testing.T) {
	r := startRelay(t, testConfig(t))
	for _, tc := range []struct {
		name string
		n    int
	}{
		{"over the stream cap", protocol.MaxMailboxRequest + 1},
		{"fetch over the non-put cap", protocol.MaxMailboxSmallRequest + 1},
	} {
		s := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.MailboxProtocol)
		frame := protowire.AppendVarint(nil, uint64(tc.n))
		frame = append(frame, 0x08, 0x01, 0x22, 0xff, 0xff, 0x3f) // id 1, a Fetch of 1 MiB
		frame = append(frame, make([]byte, 64)...)
		if _, err := s.s.Write(frame); err != nil {
			t.Fatal(err)
		}
		resp := s.readMbox(false)
		if resp.Id != 0 || code(resp) != pb.ErrorCode_TOO_LARGE {
			t.Fatalf("%s: got id %d %v, want id 0 TOO_LARGE", tc.name, resp.Id, code(resp))
		}
		s.closedAfter()
	}
}

// TestStreamErrorClosesStream (PROTOCOL.md, disagreement #2): an error
// with id 0 concerns the whole stream and the relay closes it after. A
// request with id 0, two bodies or a malformed body gets one. The old relay
// answered {id:0, BAD_REQUEST} and kept serving.
func TestStreamErrorClosesStream(t *testing.T) {
	r := startRelay(t, testConfig(t))
	h := clientHost(t, "quic")
	cases := map[string][]byte{
		"id 0":       {0x12, 0x00},
		"two bodies": {0x08, 0x01, 0x12, 0x00, 0x1a, 0x00},
		"bad tag":    {0x08, 0x01, 0xff},
	}
	for name, body := range cases {
		s := openRaw(t, h, r, "quic", protocol.MailboxProtocol)
		if _, err := s.s.Write(append(protowire.AppendVarint(nil, uint64(len(body))), body...)); err != nil {
			t.Fatal(err)
		}
		resp := s.readMbox(false)
		if resp.Id != 0 || code(resp) != pb.ErrorCode_BAD_REQUEST {
			t.Fatalf("%s: id %d %v, want id 0 BAD_REQUEST", name, resp.Id, code(resp))
		}
		s.closedAfter()
	}
	// A per-request error (a bad signature) keeps the stream.
	s := openRaw(t, h, r, "quic", protocol.MailboxProtocol)
	key, _ := newKey(t)
	ch := s.challenge()
	a := auth(key, crypto.OpFetch, ch)
	a.Sig[0] ^= 1
	resp := s.mbox(&pb.MailboxRequest{Body: &pb.MailboxRequest_Fetch{Fetch: &pb.Fetch{Challenge: ch, Auth: []*pb.MailboxAuth{a}}}})
	if resp.Id == 0 || code(resp) != pb.ErrorCode_UNAUTHORIZED {
		t.Fatalf("bad signature: id %d %v", resp.Id, code(resp))
	}
	s.challenge()
}

// TestStartedFrameMustFinish: read_timeout bounds a started frame on every
// stream kind, also on a subscribed stream that may idle for long between
// frames. The old relay gave a frame idle + read_timeout (30 min on a
// subscribed stream).
func TestStartedFrameMustFinish(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.ReadTimeout = Duration(300 * time.Millisecond)
	cfg.Limits.IdleTimeout = Duration(time.Hour)
	cfg.Limits.SubscribedIdleTimeout = Duration(time.Hour)
	r := startRelay(t, cfg)
	key, _ := newKey(t)
	for _, proto := range []string{protocol.MailboxProtocol, protocol.RendezvousProtocol} {
		s := openRaw(t, clientHost(t, "quic"), r, "quic", proto)
		if proto == protocol.MailboxProtocol {
			ch := s.challenge()
			if s.mbox(&pb.MailboxRequest{Body: &pb.MailboxRequest_Subscribe{Subscribe: &pb.Subscribe{Challenge: ch, Auth: []*pb.MailboxAuth{auth(key, crypto.OpSubscribe, ch)}}}}).GetSubscribe() == nil {
				t.Fatal("subscribe")
			}
		}
		// Idle longer than read_timeout between frames is fine...
		time.Sleep(600 * time.Millisecond)
		// ...but a frame that starts and stalls is cut off.
		if _, err := s.s.Write([]byte{0x80, 0x08, 0x08, 0x01}); err != nil {
			t.Fatal(err)
		}
		_ = s.s.SetReadDeadline(time.Now().Add(10 * time.Second))
		var m pb.MailboxResponse
		if err := s.r.ReadMsg(&m); err == nil {
			t.Fatalf("%s: got a frame, want the stream closed", proto)
		} else if isTimeout(err) {
			t.Fatalf("%s: stalled frame still open after 10 s: %v", proto, err)
		}
	}
}

func isTimeout(err error) bool {
	te, ok := err.(interface{ Timeout() bool })
	return ok && te.Timeout()
}

// TestRateLimitVoidsChallenges: a rate-limited authenticated request does
// not leave its challenge outstanding; after more rate-limited requests
// than MaxChallenges the stream still gets challenges. The old relay kept
// them, refused new challenges for ChallengeTTL.
func TestRateLimitVoidsChallenges(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.RequestsPerSecond = 40
	cfg.Limits.RequestBurst = 1
	r := startRelay(t, cfg)
	key, _ := newKey(t)
	s := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.MailboxProtocol)
	limited := 0
	for i := 0; i < 3*cfg.Limits.MaxChallenges && limited <= cfg.Limits.MaxChallenges; i++ {
		time.Sleep(30 * time.Millisecond)
		resp := s.mbox(&pb.MailboxRequest{Body: &pb.MailboxRequest_Challenge{Challenge: &pb.ChallengeRequest{}}})
		ch := resp.GetChallenge()
		if ch == nil {
			t.Fatalf("challenge %d refused: %v", i, resp.GetError())
		}
		if code(s.mbox(fetchReq(key, ch.Nonce))) == pb.ErrorCode_RATE_LIMITED {
			limited++
		}
	}
	if limited <= cfg.Limits.MaxChallenges {
		t.Fatalf("only %d requests rate limited", limited)
	}
}

// TestMemoryBudgetRefusesCleanly: a frame or fetch batch that does not fit
// the connection's memory share is refused with UNAVAILABLE and changes
// nothing; the budget is back to zero afterwards.
func TestMemoryBudgetRefusesCleanly(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.MemoryPerConn = 512 << 10
	r := startRelay(t, cfg)
	h := clientHost(t, "quic")
	key, mbox := newKey(t)
	s := openRaw(t, h, r, "quic", protocol.MailboxProtocol)
	before := snap(r)
	// The relay stops reading half way, so the client's write may fail.
	go protocol.WriteMsg(s.s, &pb.MailboxRequest{Id: 1, Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: mbox[:], Blob: make([]byte, 1<<20)}}})
	resp := s.readMbox(false)
	if resp.Id != 0 || code(resp) != pb.ErrorCode_UNAVAILABLE {
		t.Fatalf("1 MiB put over a 512 KiB share: id %d %v", resp.Id, code(resp))
	}
	s.closedAfter()
	if snap(r) != before {
		t.Fatal("store changed")
	}
	s = openRaw(t, h, r, "quic", protocol.MailboxProtocol)
	if s.put(mbox, make([]byte, 100<<10)).GetPut() == nil {
		t.Fatal("small put refused")
	}
	ch := s.challenge()
	if got := code(s.mbox(fetchReq(key, ch))); got != pb.ErrorCode_UNAVAILABLE {
		t.Fatalf("fetch needing 1 MiB: %v, want UNAVAILABLE", got)
	}
	ch = s.challenge()
	ids := s.mbox(&pb.MailboxRequest{Body: &pb.MailboxRequest_Fetch{Fetch: &pb.Fetch{Challenge: ch, Auth: []*pb.MailboxAuth{auth(key, crypto.OpFetch, ch)}, IdsOnly: true}}})
	if len(ids.GetFetch().GetBlobs()) != 1 {
		t.Fatalf("ids-only fetch: %v", ids)
	}
	s.s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for r.mem.inUse() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes still reserved", r.mem.inUse())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLargeValidRequestsNotRateLimited: the rate charge before decoding
// leaves room for the largest requests a client makes at the default
// limits: an Announce of a full token budget (512 friends × 8 tokens) and
// a Fetch with 1024 auths each get an answer other than RATE_LIMITED.
func TestLargeValidRequestsNotRateLimited(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Now = clk.Now
	r := startRelay(t, cfg)
	epoch := uint64(clk.Now().Unix()) / 600
	anns := make([]*pb.Announcement, 512)
	for i := range anns {
		toks := make([]*pb.Token, 8)
		for j := range toks {
			toks[j] = &pb.Token{Value: []byte{byte(i), byte(i >> 8), byte(j), 1, 2, 3, 4, 5}}
		}
		anns[i] = &pb.Announcement{Tokens: toks, SealedRecord: make([]byte, 16)}
	}
	rv := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.RendezvousProtocol)
	res := rv.rv(&pb.RendezvousRequest{Body: &pb.RendezvousRequest_Announce{Announce: &pb.Announce{Epoch: epoch, EpochSeconds: 600, Announcements: anns}}})
	if got := res.GetAnnounce().GetAccepted(); got != 4096 {
		t.Fatalf("full-budget announce: accepted %d, %v", got, res.GetError())
	}
	s := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.MailboxProtocol)
	ch := s.challenge()
	auths := make([]*pb.MailboxAuth, protocol.MaxAuthsPerRequest)
	for i := range auths {
		k, _ := newKey(t)
		auths[i] = auth(k, crypto.OpFetch, ch)
	}
	resp := s.mbox(&pb.MailboxRequest{Body: &pb.MailboxRequest_Fetch{Fetch: &pb.Fetch{Challenge: ch, Auth: auths, IdsOnly: true}}})
	if resp.GetFetch() == nil {
		t.Fatalf("1024-auth fetch: %v", resp.GetError())
	}
}
