package interop

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/imigee/imigee/protocol/pb"
)

func wantCode(t *testing.T, what string, e *pb.Error, want pb.ErrorCode) {
	t.Helper()
	if code(e) != want {
		t.Fatalf("%s: got %v, want %v", what, e, want)
	}
	if len(e.GetDetail()) > 256 {
		t.Fatalf("%s: detail of %d bytes", what, len(e.GetDetail()))
	}
}

// TestErrorCodes provokes every code of the PROTOCOL.md Errors table that a
// relay sends, from the situation the table names, and checks the answer's
// id: the request's id for an error about a request (the stream then goes
// on), 0 with the stream ending for an error about the framing.
func TestErrorCodes(t *testing.T) {
	relay := startRelay(t)

	t.Run("BAD_REQUEST", func(t *testing.T) {
		c := newClient(t, relay, "tcp")
		// A 15-byte mailbox ID, an epoch length out of range.
		s := c.open(mailboxID)
		r := s.invalid(&pb.MailboxRequest{Id: 5, Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: make([]byte, 15), Blob: []byte("x")}}}, 5)
		wantCode(t, "short mailbox id", r.Error, pb.ErrorCode_BAD_REQUEST)
		bad := ann(epochNow(), "r", here(uniq()))
		bad.Id = 6
		bad.GetAnnounce().EpochSeconds = 59
		rr := c.open(rendezvousID).invalidRv(bad, 6)
		wantCode(t, "epoch_seconds 59", rr.Error, pb.ErrorCode_BAD_REQUEST)
		// A request with id 0 is answered with id 0.
		z := c.open(mailboxID)
		r = z.invalid(&pb.MailboxRequest{Body: &pb.MailboxRequest_Challenge{Challenge: &pb.ChallengeRequest{}}}, 0)
		wantCode(t, "id 0", r.Error, pb.ErrorCode_BAD_REQUEST)
	})

	t.Run("a stream survives an error about a valid request", func(t *testing.T) {
		c := newClient(t, relay, "quic")
		s := c.open(mailboxID)
		k := newMailbox(t)
		unknown := make([]byte, 32)
		f := &pb.Fetch{Challenge: unknown, Auth: []*pb.MailboxAuth{k.auth(opFetch, unknown)}}
		wantCode(t, "unknown challenge", s.mb(&pb.MailboxRequest{Body: &pb.MailboxRequest_Fetch{Fetch: f}}).Error, pb.ErrorCode_UNAUTHORIZED)
		if r := s.put(k, blob(1)); r.GetPut() == nil {
			t.Fatalf("stream did not survive a per-request error: %v", r)
		}
		rs := c.open(rendezvousID)
		wantCode(t, "stale epoch", rs.rv(ann(epochNow()-6, "r", here(uniq()))).Error, pb.ErrorCode_STALE)
		if r := rs.rv(ann(epochNow(), "r", here(uniq()))); r.GetAnnounce().GetAccepted() != 1 {
			t.Fatalf("rendezvous stream did not survive a per-request error: %v", r)
		}
	})

	t.Run("framing", func(t *testing.T) {
		c := newClient(t, relay, "quic")
		for _, tc := range []struct {
			name  string
			bytes []byte
			want  pb.ErrorCode
		}{
			{"non-minimal length", []byte{0x81, 0x00}, pb.ErrorCode_BAD_REQUEST},
			{"length longer than 10 bytes", bytes.Repeat([]byte{0x80}, 11), pb.ErrorCode_BAD_REQUEST},
			{"length beyond 64 bits", append(bytes.Repeat([]byte{0xff}, 9), 0x02), pb.ErrorCode_BAD_REQUEST},
			{"malformed protobuf body", []byte{0x02, 0x08, 0x80}, pb.ErrorCode_BAD_REQUEST},
			{"length above the frame cap", frameHeader(maxMailboxRequest + 1), pb.ErrorCode_TOO_LARGE},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := c.open(mailboxID)
				s.writeRaw(tc.bytes)
				r := s.mbResp()
				if r.Id != 0 {
					t.Fatalf("framing error answered with id %d", r.Id)
				}
				wantCode(t, tc.name, r.Error, tc.want)
				if !s.closed() {
					t.Fatal("the relay kept the stream open after a framing error")
				}
			})
		}
		// The same on a rendezvous stream, whose cap is 768 KiB.
		s := c.open(rendezvousID)
		s.writeRaw(frameHeader(maxRendezvous + 1))
		r := s.rvResp()
		if r.Id != 0 {
			t.Fatalf("answered with id %d", r.Id)
		}
		wantCode(t, "rendezvous frame above cap", r.Error, pb.ErrorCode_TOO_LARGE)
	})

	t.Run("TOO_LARGE", func(t *testing.T) {
		c := newClient(t, relay, "quic")
		s := c.open(mailboxID)
		// Above this relay's own blob cap (lower than MaxBlobSize).
		wantCode(t, "blob above the relay cap", s.put(newMailbox(t), make([]byte, testMaxBlob+1)).Error, pb.ErrorCode_TOO_LARGE)
		// A sealed record of 513 bytes (fails validation).
		long := ann(epochNow(), string(make([]byte, 513)), here(uniq()))
		long.Id = 3
		wantCode(t, "513-byte record", c.open(rendezvousID).invalidRv(long, 3).Error, pb.ErrorCode_TOO_LARGE)
	})

	t.Run("QUOTA_EXCEEDED", func(t *testing.T) {
		c := newClient(t, relay, "tcp")
		s := c.open(mailboxID)
		k := newMailbox(t)
		// The relay may count some overhead per blob against the quota:
		// put until it refuses, within a bound.
		accepted := 0
		var r *pb.MailboxResponse
		for r = s.put(k, blob(2)); r.GetPut() != nil && accepted < 2*testMailboxQuota/smallBlob; r = s.put(k, blob(2)) {
			accepted++
		}
		wantCode(t, "mailbox over quota", r.Error, pb.ErrorCode_QUOTA_EXCEEDED)
		if accepted == 0 {
			t.Fatal("no put accepted")
		}
		// Nothing was stored: the mailbox holds exactly the accepted blobs.
		if r := s.fetch(&pb.Fetch{IdsOnly: true}, k); len(r.GetFetch().GetBlobs()) != accepted {
			t.Fatalf("after the refused put: %d blobs, want %d", len(r.GetFetch().GetBlobs()), accepted)
		}
	})

	t.Run("RATE_LIMITED", func(t *testing.T) {
		// The token budget is per connection and epoch, over all its
		// rendezvous streams.
		c := newClient(t, relay, "quic")
		a, b := c.open(rendezvousID), c.open(rendezvousID)
		ep := epochNow()
		var toks []*pb.Token
		for i := 0; i < testTokenBudget-1; i++ {
			toks = append(toks, here(uniq()))
		}
		if r := a.rv(ann(ep, "r", toks...)); r.GetAnnounce().GetAccepted() != testTokenBudget-1 {
			t.Fatalf("within budget: %v", r)
		}
		wantCode(t, "budget over two streams", b.rv(ann(ep, "r", here(uniq()), here(uniq()))).Error, pb.ErrorCode_RATE_LIMITED)
		// All or nothing: one more still fits.
		if r := b.rv(ann(ep, "r", here(uniq()))); r.GetAnnounce().GetAccepted() != 1 {
			t.Fatalf("last token of the budget: %v", r)
		}
		a.rv(&pb.RendezvousRequest{Body: &pb.RendezvousRequest_Withdraw{Withdraw: &pb.Withdraw{}}})
	})

	t.Run("UNAUTHORIZED", func(t *testing.T) {
		c := newClient(t, relay, "tcp")
		s, other := c.open(mailboxID), c.open(mailboxID)
		k := newMailbox(t)
		// An unknown challenge.
		unknown := make([]byte, 32)
		f := &pb.Fetch{Challenge: unknown, Auth: []*pb.MailboxAuth{k.auth(opFetch, unknown)}}
		wantCode(t, "unknown challenge", s.mb(&pb.MailboxRequest{Body: &pb.MailboxRequest_Fetch{Fetch: f}}).Error, pb.ErrorCode_UNAUTHORIZED)
		// A signature for another operation.
		n := s.challenge()
		f = &pb.Fetch{Challenge: n, Auth: []*pb.MailboxAuth{k.auth(opAck, n)}}
		wantCode(t, "op mismatch", s.mb(&pb.MailboxRequest{Body: &pb.MailboxRequest_Fetch{Fetch: f}}).Error, pb.ErrorCode_UNAUTHORIZED)
		// That challenge was used (the failure consumed it).
		f = &pb.Fetch{Challenge: n, Auth: []*pb.MailboxAuth{k.auth(opFetch, n)}}
		wantCode(t, "reused challenge", s.mb(&pb.MailboxRequest{Body: &pb.MailboxRequest_Fetch{Fetch: f}}).Error, pb.ErrorCode_UNAUTHORIZED)
		// Another stream's challenge.
		n = other.challenge()
		f = &pb.Fetch{Challenge: n, Auth: []*pb.MailboxAuth{k.auth(opFetch, n)}}
		wantCode(t, "other stream's challenge", s.mb(&pb.MailboxRequest{Body: &pb.MailboxRequest_Fetch{Fetch: f}}).Error, pb.ErrorCode_UNAUTHORIZED)
		// A public key that does not hash to the mailbox ID.
		n = s.challenge()
		a := k.auth(opFetch, n)
		a.Pub = newMailbox(t).pub
		f = &pb.Fetch{Challenge: n, Auth: []*pb.MailboxAuth{a}}
		wantCode(t, "pub not matching the id", s.mb(&pb.MailboxRequest{Body: &pb.MailboxRequest_Fetch{Fetch: f}}).Error, pb.ErrorCode_UNAUTHORIZED)
		// An ack naming a mailbox another auth of the request does not
		// cover is caught by validation (BAD_REQUEST, see the vectors); an
		// ack whose auth fails is UNAUTHORIZED and deletes nothing.
		if r := s.put(k, blob(3)); r.GetPut() == nil {
			t.Fatal(r)
		}
		blobs := s.fetch(&pb.Fetch{IdsOnly: true}, k).GetFetch().GetBlobs()
		n = s.challenge()
		bad := k.auth(opAck, n)
		bad.Sig[0] ^= 1
		ack := &pb.Ack{Challenge: n, Auth: []*pb.MailboxAuth{bad}, Blobs: []*pb.BlobRef{{MailboxId: k.id, BlobId: blobs[0].BlobId}}}
		wantCode(t, "bad ack signature", s.mb(&pb.MailboxRequest{Body: &pb.MailboxRequest_Ack{Ack: ack}}).Error, pb.ErrorCode_UNAUTHORIZED)
		if got := s.fetch(&pb.Fetch{IdsOnly: true}, k).GetFetch().GetBlobs(); len(got) != 1 {
			t.Fatalf("a refused ack deleted: %v", got)
		}
	})

	t.Run("STALE", func(t *testing.T) {
		c := newClient(t, relay, "quic")
		rs := c.open(rendezvousID)
		wantCode(t, "epoch an hour ago", rs.rv(ann(epochNow()-6, "r", here(uniq()))).Error, pb.ErrorCode_STALE)
		wantCode(t, "epoch an hour ahead", rs.rv(ann(epochNow()+6, "r", here(uniq()))).Error, pb.ErrorCode_STALE)
		// A challenge past its expiry (this relay: 1 s).
		s := c.open(mailboxID)
		n := s.challenge()
		time.Sleep(1100 * time.Millisecond)
		k := newMailbox(t)
		f := &pb.Fetch{Challenge: n, Auth: []*pb.MailboxAuth{k.auth(opFetch, n)}}
		wantCode(t, "expired challenge", s.mb(&pb.MailboxRequest{Body: &pb.MailboxRequest_Fetch{Fetch: f}}).Error, pb.ErrorCode_STALE)
	})

	t.Run("UNSUPPORTED", func(t *testing.T) {
		c := newClient(t, relay, "tcp")
		wantCode(t, "mailbox request without body", c.open(mailboxID).invalid(&pb.MailboxRequest{Id: 1}, 1).Error, pb.ErrorCode_UNSUPPORTED)
		wantCode(t, "rendezvous request without body", c.open(rendezvousID).invalidRv(&pb.RendezvousRequest{Id: 1}, 1).Error, pb.ErrorCode_UNSUPPORTED)
		// A body field number this version does not know (an unknown
		// oneof case is an unknown field, dropped: no body).
		s := c.open(mailboxID)
		s.writeRaw(frame(append(encode(&pb.MailboxRequest{Id: 9}), 0x52, 0x00))) // field 10, empty bytes
		r := s.mbResp()
		checkID(t, s, true, 9, r.Id)
		wantCode(t, "unknown request type", r.Error, pb.ErrorCode_UNSUPPORTED)
	})
}

// TestUnavailableWhenFull: a relay whose rendezvous memory is full answers
// UNAVAILABLE and stores nothing. Its own relay, so other tests' entries
// do not count.
func TestUnavailableWhenFull(t *testing.T) {
	relay := startRelay(t)
	ep := epochNow()
	held := 0
	for held+testTokenBudget <= testMaxEntries {
		c := newClient(t, relay, "quic")
		var toks []*pb.Token
		for i := 0; i < testTokenBudget; i++ {
			toks = append(toks, near(uniq()))
		}
		if r := c.open(rendezvousID).rv(ann(ep, "r", toks...)); r.GetAnnounce().GetAccepted() != testTokenBudget {
			t.Fatalf("filling: %v", r)
		}
		held += testTokenBudget
	}
	c := newClient(t, relay, "tcp")
	s := c.open(rendezvousID)
	wantCode(t, "rendezvous memory full", s.rv(ann(ep, "r", here(uniq()))).Error, pb.ErrorCode_UNAVAILABLE)
}

// frameHeader is a frame length prefix announcing n body bytes (sent
// without the body).
func frameHeader(n int) []byte { return binary.AppendUvarint(nil, uint64(n)) }

// invalid sends a mailbox request that fails validation, as it is (id
// included), and returns the answer after checking its id (checkID).
func (s *stream) invalid(req *pb.MailboxRequest, id uint64) *pb.MailboxResponse {
	s.t.Helper()
	s.writeRaw(frame(encode(req)))
	r := s.mbResp()
	checkID(s.t, s, true, id, r.Id)
	return r
}

// invalidRv is invalid for a rendezvous request.
func (s *stream) invalidRv(req *pb.RendezvousRequest, id uint64) *pb.RendezvousResponse {
	s.t.Helper()
	s.writeRaw(frame(encode(req)))
	r := s.rvResp()
	checkID(s.t, s, true, id, r.Id)
	return r
}
