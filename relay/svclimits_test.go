package relay

import (
	"testing"
	"time"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

func (rs *rawStream) readContacts() (*pb.ContactsResponse, error) {
	_ = rs.s.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp := &pb.ContactsResponse{}
	return resp, rs.r.ReadMsg(resp)
}

// TestContactsRateCharged: contacts frames are charged to the
// connection's request rate limiter before they are decoded; a frame over
// the rate is answered RATE_LIMITED with its id and the stream stays. The
// old service had its own read loop and charged nothing (it answered the
// same burst from its challenge cap instead).
func TestContactsRateCharged(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.RequestsPerSecond = 0.5
	cfg.Limits.RequestBurst = 3
	r := startRelay(t, cfg)
	s := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.ContactsProtocol)
	for id := uint64(1); id <= 6; id++ {
		s.send(&pb.ContactsRequest{Id: id, Body: &pb.ContactsRequest_Challenge{Challenge: &pb.ContactsChallengeRequest{}}})
	}
	limited := 0
	for id := uint64(1); id <= 6; id++ {
		resp, err := s.readContacts()
		if err != nil {
			t.Fatalf("response %d: %v", id, err)
		}
		if resp.Id != id {
			t.Fatalf("response id %d, want %d", resp.Id, id)
		}
		if e := resp.GetError(); e != nil {
			if e.Code != pb.ErrorCode_RATE_LIMITED || e.Detail != "request rate exceeded" {
				t.Fatalf("response %d: %v, want the rate limiter's RATE_LIMITED", id, e)
			}
			limited++
		}
	}
	if limited < 2 {
		t.Fatalf("%d of 6 frames rate limited with a burst of 3", limited)
	}
}

// TestContactsMemoryReserved: a contacts frame's buffer is reserved with
// the memory budget before it is read; one that does not fit the
// connection's share is refused with an id-0 UNAVAILABLE, the stream
// closes, and the reservations return to zero. The old service read any
// frame up to 320 KiB outside the budget.
func TestContactsMemoryReserved(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.MemoryPerConn = 32 << 10
	cfg.Limits.MemoryPerSource = 32 << 10
	r := startRelay(t, cfg)
	s := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.ContactsProtocol)
	s.send(&pb.ContactsRequest{Id: 1, Body: &pb.ContactsRequest_Challenge{Challenge: &pb.ContactsChallengeRequest{}}})
	if resp, err := s.readContacts(); err != nil || resp.GetChallenge() == nil {
		t.Fatalf("small request: %v %v", resp, err)
	}
	blinded := make([][]byte, 2048) // ≈ 72 KiB frame
	for i := range blinded {
		blinded[i] = make([]byte, 32)
	}
	// The relay stops reading mid-frame, so the write may fail.
	go protocol.WriteMsg(s.s, &pb.ContactsRequest{Id: 2, Body: &pb.ContactsRequest_Evaluate{Evaluate: &pb.ContactEvaluate{Challenge: make([]byte, 32), Blinded: blinded}}})
	resp, err := s.readContacts()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Id != 0 || resp.GetError().GetCode() != pb.ErrorCode_UNAVAILABLE {
		t.Fatalf("frame beyond the connection's share: %v, want id-0 UNAVAILABLE", resp)
	}
	if _, err := s.readContacts(); err == nil {
		t.Fatal("stream still open")
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.mem.inUse() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes still reserved", r.mem.inUse())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestAnalyticsOneShotAdmitted: an analytics stream is charged to the
// connection's rate limiter and its largest frame and answer are reserved
// with the memory budget before anything is read; refusals are
// RATE_LIMITED or UNAVAILABLE and change nothing.
func TestAnalyticsOneShotAdmitted(t *testing.T) {
	r := offlineRelay(t)
	r.mem = newMemBudget(Limits{MemoryBudget: 1 << 20, MemoryPerConn: 64 << 10, MemoryPerSource: 1 << 20}, func() {})
	cs := unlimitedConn()
	if _, err := r.admitOneShot(cs, protocol.MaxAnalyticsFrame+256); protocol.Code(err) != pb.ErrorCode_UNAVAILABLE {
		t.Fatalf("report beyond the connection's share: %v, want UNAVAILABLE", err)
	}
	if r.mem.inUse() != 0 {
		t.Fatal("refusal reserved bytes")
	}
	release, err := r.admitOneShot(cs, 32<<10)
	if err != nil || r.mem.inUse() != 32<<10 {
		t.Fatalf("admit: %v, %d reserved", err, r.mem.inUse())
	}
	release()
	if r.mem.inUse() != 0 {
		t.Fatalf("%d bytes after release", r.mem.inUse())
	}
	cs.limiter.SetBurst(0)
	cs.limiter.SetLimit(0)
	if _, err := r.admitOneShot(cs, 1024); protocol.Code(err) != pb.ErrorCode_RATE_LIMITED {
		t.Fatalf("over the rate: %v, want RATE_LIMITED", err)
	}
}
