package relay

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

var transports = []string{"quic", "tcp"}

// TestPutNotifyFetchAckGone proves P2's delivery path over real hosts:
// a subscribed recipient is notified at once, fetches, acks, and the blob
// is gone.
func TestPutNotifyFetchAckGone(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			r := startRelay(t, testConfig(t))
			key, mbox := newKey(t)
			recv := openRaw(t, clientHost(t, tr), r, tr, protocol.MailboxProtocol)
			ch := recv.challenge()
			sub := recv.mbox(&pb.MailboxRequest{Body: &pb.MailboxRequest_Subscribe{Subscribe: &pb.Subscribe{Challenge: ch, Auth: []*pb.MailboxAuth{auth(key, crypto.OpSubscribe, ch)}}}})
			if sub.GetSubscribe() == nil || sub.GetSubscribe().Pending != 0 {
				t.Fatalf("subscribe: %v", sub)
			}

			send := openRaw(t, clientHost(t, tr), r, tr, protocol.MailboxProtocol)
			blob := bytes.Repeat([]byte("sealed"), 100)
			put := send.put(mbox, blob)
			if put.GetPut() == nil {
				t.Fatalf("put: %v", put.Error)
			}
			n := recv.readMbox(false).GetNotify()
			if n == nil || !bytes.Equal(n.MailboxId, mbox[:]) || !bytes.Equal(n.BlobId, put.GetPut().BlobId) || int(n.Size) != len(blob) {
				t.Fatalf("notify %v", n)
			}

			ch = recv.challenge()
			f := recv.mbox(fetchReq(key, ch)).GetFetch()
			if f == nil || len(f.Blobs) != 1 || !bytes.Equal(f.Blobs[0].Data, blob) {
				t.Fatalf("fetch %v", f)
			}
			ch = recv.challenge()
			ack := recv.mbox(&pb.MailboxRequest{Body: &pb.MailboxRequest_Ack{Ack: &pb.Ack{
				Challenge: ch, Auth: []*pb.MailboxAuth{auth(key, crypto.OpAck, ch)},
				Blobs: []*pb.BlobRef{{MailboxId: mbox[:], BlobId: f.Blobs[0].BlobId}},
			}}})
			if ack.GetAck().GetDeleted() != 1 {
				t.Fatalf("ack %v", ack)
			}
			ch = recv.challenge()
			if f := recv.mbox(fetchReq(key, ch)).GetFetch(); f == nil || len(f.Blobs) != 0 {
				t.Fatalf("blob still there after ack: %v", f)
			}
			if st := r.store.Stats(); st.Blobs != 0 || st.Bytes != 0 {
				t.Fatalf("store not empty: %+v", st)
			}
		})
	}
}

// TestOfflineRecipientGetsEverything: blobs put while the recipient is away
// are counted on subscribe and all listed on reconnect (P2).
func TestOfflineRecipientGetsEverything(t *testing.T) {
	r := startRelay(t, testConfig(t))
	key, mbox := newKey(t)
	send := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.MailboxProtocol)
	const n = 40
	for i := range n {
		if send.put(mbox, []byte{byte(i), 1, 2, 3}).GetPut() == nil {
			t.Fatal("put failed")
		}
	}
	recv := openRaw(t, clientHost(t, "tcp"), r, "tcp", protocol.MailboxProtocol)
	ch := recv.challenge()
	sub := recv.mbox(&pb.MailboxRequest{Body: &pb.MailboxRequest_Subscribe{Subscribe: &pb.Subscribe{Challenge: ch, Auth: []*pb.MailboxAuth{auth(key, crypto.OpSubscribe, ch)}}}})
	if got := sub.GetSubscribe().GetPending(); got != n {
		t.Fatalf("pending %d, want %d", got, n)
	}
	var got [][]byte
	var after []byte
	for {
		ch := recv.challenge()
		req := fetchReq(key, ch)
		req.GetFetch().MaxBlobs = 7
		req.GetFetch().AfterBlobId = after
		f := recv.mbox(req).GetFetch()
		for _, b := range f.Blobs {
			got = append(got, b.Data)
			after = b.BlobId
		}
		if !f.More {
			break
		}
	}
	if len(got) != n {
		t.Fatalf("listed %d, want %d", len(got), n)
	}
	for i, d := range got {
		if d[0] != byte(i) {
			t.Fatalf("blob %d out of order", i)
		}
	}
}

// storeSnapshot is the part of the state a bad request must not change.
type storeSnapshot struct{ blobs, bytes int64 }

func snap(r *Relay) storeSnapshot {
	st := r.store.Stats()
	return storeSnapshot{st.Blobs, st.Bytes}
}

// TestBadRequestsChangeNothing sends every kind of bad request and checks
// each gets a clear error, the store is unchanged, and the relay keeps
// serving another client.
func TestBadRequestsChangeNothing(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Now = clk.Now
	cfg.Store.MaxBlobSize = 4 << 10
	cfg.Store.MailboxQuota = 10 << 10
	r := startRelay(t, cfg)
	h := clientHost(t, "quic")
	key, mbox := newKey(t)
	otherKey, otherMbox := newKey(t)
	good := openRaw(t, clientHost(t, "tcp"), r, "tcp", protocol.MailboxProtocol)
	if good.put(mbox, []byte("first")).GetPut() == nil {
		t.Fatal("put")
	}

	check := func(name string, want pb.ErrorCode, do func() *pb.MailboxResponse) {
		t.Helper()
		before := snap(r)
		resp := do()
		if got := code(resp); got != want {
			t.Errorf("%s: code %v, want %v (%s)", name, got, want, resp.GetError().GetDetail())
		}
		if after := snap(r); after != before {
			t.Errorf("%s: store changed %+v → %+v", name, before, after)
		}
	}
	// fatal: an invalid request is answered with an id-0 error and the
	// stream is closed (PROTOCOL.md); a fresh stream for each.
	fatal := func(name string, want pb.ErrorCode, mk func(ch []byte) *pb.MailboxRequest) {
		t.Helper()
		fs := openRaw(t, h, r, "quic", protocol.MailboxProtocol)
		ch := fs.challenge()
		check(name, want, func() *pb.MailboxResponse {
			resp := fs.mbox(mk(ch))
			if resp.Id != 0 {
				t.Errorf("%s: error with id %d, want 0", name, resp.Id)
			}
			return resp
		})
		fs.closedAfter()
	}
	s := openRaw(t, h, r, "quic", protocol.MailboxProtocol)
	before := snap(r)

	check("blob over the relay cap", pb.ErrorCode_TOO_LARGE, func() *pb.MailboxResponse { return s.put(mbox, make([]byte, 4<<10+1)) })
	fatal("empty blob", pb.ErrorCode_BAD_REQUEST, func([]byte) *pb.MailboxRequest {
		return &pb.MailboxRequest{Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: mbox[:]}}}
	})
	fatal("short mailbox id", pb.ErrorCode_BAD_REQUEST, func([]byte) *pb.MailboxRequest {
		return &pb.MailboxRequest{Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: mbox[:8], Blob: []byte("x")}}}
	})
	fatal("no body", pb.ErrorCode_UNSUPPORTED, func([]byte) *pb.MailboxRequest { return &pb.MailboxRequest{} })

	ch := s.challenge()
	bad := auth(key, crypto.OpFetch, ch)
	bad.Sig[0] ^= 1
	check("wrong signature", pb.ErrorCode_UNAUTHORIZED, func() *pb.MailboxResponse {
		return s.mbox(&pb.MailboxRequest{Body: &pb.MailboxRequest_Fetch{Fetch: &pb.Fetch{Challenge: ch, Auth: []*pb.MailboxAuth{bad}}}})
	})
	check("challenge consumed by the failed try", pb.ErrorCode_UNAUTHORIZED, func() *pb.MailboxResponse { return s.mbox(fetchReq(key, ch)) })

	ch = s.challenge()
	check("signature for another op", pb.ErrorCode_UNAUTHORIZED, func() *pb.MailboxResponse {
		return s.mbox(&pb.MailboxRequest{Body: &pb.MailboxRequest_Forget{Forget: &pb.Forget{Challenge: ch, Auth: []*pb.MailboxAuth{auth(key, crypto.OpFetch, ch)}}}})
	})

	ch = s.challenge()
	if s.mbox(fetchReq(key, ch)).GetFetch() == nil {
		t.Fatal("good fetch failed")
	}
	check("replayed challenge", pb.ErrorCode_UNAUTHORIZED, func() *pb.MailboxResponse { return s.mbox(fetchReq(key, ch)) })

	// A challenge from another stream is not valid here.
	ch = good.challenge()
	check("challenge of another stream", pb.ErrorCode_UNAUTHORIZED, func() *pb.MailboxResponse { return s.mbox(fetchReq(key, ch)) })

	ch = s.challenge()
	clk.Add(2 * time.Minute)
	check("expired challenge", pb.ErrorCode_STALE, func() *pb.MailboxResponse { return s.mbox(fetchReq(key, ch)) })

	// Acking another mailbox's blob with one's own key is refused whole.
	fatal("ack of an unproven mailbox", pb.ErrorCode_BAD_REQUEST, func(ch []byte) *pb.MailboxRequest {
		return &pb.MailboxRequest{Body: &pb.MailboxRequest_Ack{Ack: &pb.Ack{
			Challenge: ch, Auth: []*pb.MailboxAuth{auth(otherKey, crypto.OpAck, ch)},
			Blobs: []*pb.BlobRef{{MailboxId: mbox[:], BlobId: make([]byte, 16)}},
		}}}
	})

	// Quota: 10 KiB per mailbox; the third 4 KiB blob does not fit.
	s.put(otherMbox, make([]byte, 4<<10))
	s.put(otherMbox, make([]byte, 4<<10))
	check("mailbox quota", pb.ErrorCode_QUOTA_EXCEEDED, func() *pb.MailboxResponse { return s.put(otherMbox, make([]byte, 4<<10)) })

	for i := 0; ; i++ {
		resp := s.mbox(&pb.MailboxRequest{Body: &pb.MailboxRequest_Challenge{Challenge: &pb.ChallengeRequest{}}})
		if code(resp) == pb.ErrorCode_RATE_LIMITED {
			break
		}
		if i > cfg.Limits.MaxChallenges {
			t.Fatalf("challenge %d issued beyond the cap", i)
		}
	}

	if after := r.store.Stats().Blobs; after != before.blobs+2 {
		t.Fatalf("store holds %d blobs, want %d", after, before.blobs+2)
	}
	// The other client is still served.
	if good.put(mbox, []byte("second")).GetPut() == nil {
		t.Fatal("relay stopped serving another client")
	}
}

// TestBadFrames: oversized, garbage and truncated frames end the stream
// with a clear error (where one can be sent) and change nothing; the relay
// keeps serving others.
func TestBadFrames(t *testing.T) {
	r := startRelay(t, testConfig(t))
	h := clientHost(t, "quic")
	_, mbox := newKey(t)
	before := snap(r)

	cases := map[string][]byte{
		"oversized length":   binary.AppendUvarint(nil, protocol.MaxMailboxRequest+1),
		"garbage body":       append(binary.AppendUvarint(nil, 5), 0xff, 0xff, 0xff, 0xff, 0xff),
		"non-minimal varint": {0x80, 0x00},
	}
	for name, frame := range cases {
		s := openRaw(t, h, r, "quic", protocol.MailboxProtocol)
		if _, err := s.s.Write(frame); err != nil {
			t.Fatal(err)
		}
		resp := s.readMbox(false)
		if resp.Error == nil || resp.Id != 0 {
			t.Errorf("%s: response %v, want an error", name, resp)
		} else {
			t.Logf("%s: %v %s", name, resp.Error.Code, resp.Error.Detail)
		}
		// The relay closes the stream after a framing error.
		_ = s.s.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := s.r.ReadMsg(&pb.MailboxResponse{}); err == nil {
			t.Errorf("%s: stream still open", name)
		}
	}
	// Truncated: half a Put, then the writer closes.
	s := openRaw(t, h, r, "quic", protocol.MailboxProtocol)
	frame := binary.AppendUvarint(nil, 1000)
	frame = append(frame, make([]byte, 100)...)
	s.s.Write(frame)
	s.s.CloseWrite()
	_ = s.s.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp := &pb.MailboxResponse{}
	if err := s.r.ReadMsg(resp); err == nil && resp.Error == nil {
		t.Errorf("truncated frame answered %v", resp)
	}
	if after := snap(r); after != before {
		t.Fatalf("store changed %+v → %+v", before, after)
	}
	good := openRaw(t, clientHost(t, "tcp"), r, "tcp", protocol.MailboxProtocol)
	if good.put(mbox, []byte("x")).GetPut() == nil {
		t.Fatal("relay stopped serving")
	}
}

// TestRateLimit: a connection over its request budget gets RATE_LIMITED;
// another connection is unaffected.
func TestRateLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.RequestsPerSecond = 0.001
	cfg.Limits.RequestBurst = 5
	r := startRelay(t, cfg)
	_, mbox := newKey(t)
	s := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.MailboxProtocol)
	var limited bool
	for range 10 {
		if code(s.put(mbox, []byte("x"))) == pb.ErrorCode_RATE_LIMITED {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("never rate limited")
	}
	other := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.MailboxProtocol)
	if other.put(mbox, []byte("y")).GetPut() == nil {
		t.Fatal("another connection was limited")
	}
}

// TestForgetRemovesMailboxesAndRendezvous proves P8 at the relay: forget
// deletes the proven mailboxes' blobs and the connection's rendezvous
// entries.
func TestForgetRemovesMailboxesAndRendezvous(t *testing.T) {
	clk := newTestClock()
	cfg := testConfig(t)
	cfg.Now = clk.Now
	r := startRelay(t, cfg)
	h := clientHost(t, "quic")
	key, mbox := newKey(t)
	s := openRaw(t, h, r, "quic", protocol.MailboxProtocol)
	for range 3 {
		s.put(mbox, []byte("blob"))
	}
	rv := openRaw(t, h, r, "quic", protocol.RendezvousProtocol)
	epoch := uint64(clk.Now().Unix()) / 600
	if res := rv.rv(announce(epoch, tokenN(1), tokenN(2))); res.GetAnnounce().GetAccepted() != 2 {
		t.Fatalf("announce %v", res)
	}
	ch := s.challenge()
	f := s.mbox(&pb.MailboxRequest{Body: &pb.MailboxRequest_Forget{Forget: &pb.Forget{Challenge: ch, Auth: []*pb.MailboxAuth{auth(key, crypto.OpForget, ch)}}}})
	if f.GetForget().GetDeleted() != 3 {
		t.Fatalf("forget %v", f)
	}
	if st := r.store.Stats(); st.Blobs != 0 {
		t.Fatalf("blobs left: %d", st.Blobs)
	}
	if e := r.rv.Stats().Entries; e != 0 {
		t.Fatalf("rendezvous entries left: %d", e)
	}
}

// TestGlobalQuota: when the relay is full a put gets QUOTA_EXCEEDED,
// nothing is stored, and acking frees room again.
func TestGlobalQuota(t *testing.T) {
	cfg := testConfig(t)
	cfg.Store.GlobalQuota = 16 << 10
	r := startRelay(t, cfg)
	s := openRaw(t, clientHost(t, "quic"), r, "quic", protocol.MailboxProtocol)
	var full *pb.MailboxResponse
	stored := 0
	for i := 0; i < 32 && full == nil; i++ {
		_, mbox := newKey(t)
		resp := s.put(mbox, make([]byte, 1<<10))
		switch code(resp) {
		case pb.ErrorCode_OK:
			stored++
		case pb.ErrorCode_QUOTA_EXCEEDED:
			full = resp
		default:
			t.Fatalf("put: %v", resp.Error)
		}
	}
	if full == nil {
		t.Fatal("global quota never hit")
	}
	if got := r.store.Stats().Blobs; got != int64(stored) {
		t.Fatalf("%d blobs stored, %d acknowledged", got, stored)
	}
}
