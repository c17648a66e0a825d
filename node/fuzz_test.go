package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/localstore"
	proto "github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// fakeStream is an in-memory network.Stream for feeding a handler bytes
// (fuzzing); only what the handlers use is implemented.
type fakeStream struct {
	network.Stream
	in    io.Reader
	out   bytes.Buffer
	local peer.ID
	peer  peer.ID
}

type fakeConn struct {
	network.Conn
	local, remote peer.ID
}

func (c fakeConn) LocalPeer() peer.ID      { return c.local }
func (c fakeConn) RemotePeer() peer.ID     { return c.remote }
func (c fakeConn) Stat() network.ConnStats { return network.ConnStats{} }

func (s *fakeStream) Read(p []byte) (int, error)       { return s.in.Read(p) }
func (s *fakeStream) Write(p []byte) (int, error)      { return s.out.Write(p) }
func (s *fakeStream) Close() error                     { return nil }
func (s *fakeStream) CloseWrite() error                { return nil }
func (s *fakeStream) CloseRead() error                 { return nil }
func (s *fakeStream) Reset() error                     { return nil }
func (s *fakeStream) SetDeadline(time.Time) error      { return nil }
func (s *fakeStream) SetReadDeadline(time.Time) error  { return nil }
func (s *fakeStream) SetWriteDeadline(time.Time) error { return nil }
func (s *fakeStream) Conn() network.Conn               { return fakeConn{local: s.local, remote: s.peer} }

// detRand is a deterministic byte source for fixed identities.
type detRand struct{ r *mrand.ChaCha8 }

func (d detRand) Read(p []byte) (int, error) { return d.r.Read(p) }

// fuzzRig is a node with one friend (fixed keys) that is never started: the
// handlers run on fake streams.
type fuzzRig struct {
	n        *Node
	friendID *crypto.Identity
	f        *friend
	me, them peer.ID
	hello    []byte // a valid Hello from the friend for this stream
	clock    *testClock
}

var rigKey = make([]byte, 32)

func newFuzzRig(t testing.TB) *fuzzRig {
	t.Helper()
	clock := newTestClock()
	n, err := New(Config{DataDir: t.TempDir(), StoreKey: rigKey, Now: clock.Now, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	n.offerWait = time.Millisecond
	seed := [32]byte{7}
	fid, err := crypto.NewIdentityAt(detRand{mrand.NewChaCha8(seed)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	f, err := n.addFriend(fid.Card(), []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	me, _ := peer.Decode("12D3KooWGRUVh7zW8qfYx3gEXYv4EDTNuHr4n3ZZq3JJ4o8hW7pu")
	them, _ := peer.Decode("12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq")
	rig := &fuzzRig{n: n, friendID: fid, f: f, me: me, them: them, clock: clock}
	// The friend's side of the pair keys, to build a valid Hello.
	fk, err := crypto.DerivePairWithSecret(fid, n.id.Card(), []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	epoch := n.epochNow()
	nonce := make([]byte, proto.HelloNonceSize)
	hint := fk.Hint(epoch)
	pr := fk.Proof(epoch, transcript(them, me, nonce))
	var buf bytes.Buffer
	_ = proto.WriteMsg(&buf, &pb.PeerFrame{Body: &pb.PeerFrame_Hello{Hello: &pb.Hello{PairHint: hint[:], Epoch: epoch, Nonce: nonce, Proof: pr[:]}}})
	rig.hello = buf.Bytes()
	return rig
}

// run feeds in to the share handler as if from the friend's transport ID.
func (r *fuzzRig) run(in []byte) []byte {
	s := &fakeStream{in: bytes.NewReader(in), local: r.me, peer: r.them}
	r.n.handleShare(s)
	return s.out.Bytes()
}

func frame(m *pb.PeerFrame) []byte {
	var b bytes.Buffer
	_ = proto.WriteMsg(&b, m)
	return b.Bytes()
}

// seedFrames are valid and near-valid frames a friend might send after
// Hello.
func (r *fuzzRig) seedFrames(t testing.TB) [][]byte {
	itemID := make([]byte, 16)
	_, _ = rand.Read(itemID)
	var id16 [16]byte
	copy(id16[:], itemID)
	sealer, _ := crypto.NewSealer(r.friendID, r.n.id.BoxPub())
	hdr := func(t crypto.ContentType) crypto.Header {
		return crypto.Header{Type: t, ItemID: id16, Created: r.clock.Now().Unix()}
	}
	msg, _ := sealer.Seal(rand.Reader, hdr(crypto.TypeMessage), []byte(`{"Type":"message","Text":"hi"}`))
	key, _ := crypto.NewStreamKey(rand.Reader, 0)
	kb, _ := key.MarshalBinary()
	meta := []byte(`{"Type":"photo","Size":5,"Hash":"` + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" + `","Key":"` + b64(kb) + `"}`)
	off, _ := sealer.Seal(rand.Reader, hdr(crypto.TypeOffer), meta)
	chunk, _ := key.SealChunk(nil, 0, true, []byte("hello"))
	return [][]byte{
		frame(&pb.PeerFrame{Body: &pb.PeerFrame_Envelope{Envelope: &pb.Envelope{Sealed: msg}}}),
		append(frame(&pb.PeerFrame{Body: &pb.PeerFrame_Offer{Offer: &pb.Offer{ItemId: itemID, Sealed: off}}}),
			frame(&pb.PeerFrame{Body: &pb.PeerFrame_Chunk{Chunk: &pb.Chunk{ItemId: itemID, Index: 0, Data: chunk}}})...),
		frame(&pb.PeerFrame{Body: &pb.PeerFrame_Resume{Resume: &pb.Resume{ItemId: itemID}}}),
		{0xff, 0xff, 0xff, 0xff, 0x0f},
		{},
	}
}

// FuzzShareHandler feeds arbitrary bytes to the share handler, both as the
// whole stream and after a valid Hello (so the fuzzer reaches the offer,
// envelope, chunk and resume decoders). Nothing may panic, and nothing may
// be stored unless it opened under the friend's keys.
func FuzzShareHandler(f *testing.F) {
	rig := newFuzzRig(f)
	for _, s := range rig.seedFrames(f) {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Add(rig.hello, false)
	f.Add(peerVectorSeed(f, "hello_frame_i"), false)
	f.Fuzz(func(t *testing.T, data []byte, afterHello bool) {
		in := data
		if afterHello {
			in = append(append([]byte(nil), rig.hello...), data...)
		}
		rig.run(in)
	})
}

// FuzzLinkHandler feeds arbitrary bytes to the link handler: it must answer
// with an error and store no friend.
func FuzzLinkHandler(f *testing.F) {
	rig := newFuzzRig(f)
	inv, id := rig.pendingInvite(f)
	var id16 [16]byte
	copy(id16[:], id)
	card, _ := rig.friendID.Card().MarshalBinary()
	good, _ := crypto.Seal(rand.Reader, rig.friendID, rig.n.id.BoxPub(), crypto.TypeLink, id16, []byte(`{"Card":"`+b64(card)+`","Secret":"`+b64(make([]byte, 32))+`"}`))
	var buf bytes.Buffer
	_ = proto.WriteMsg(&buf, &pb.LinkRequest{InviteId: id, Sealed: good})
	f.Add(buf.Bytes())
	f.Add(peerVectorSeed(f, "link_request_frame"))
	f.Add([]byte{0x05, 0x0a, 0x01, 0x02})
	f.Add([]byte(inv))
	f.Fuzz(func(t *testing.T, data []byte) {
		before := rig.n.store.Count(localstore.Friends)
		s := &fakeStream{in: bytes.NewReader(data), local: rig.me, peer: rig.them}
		rig.n.handleLink(s)
		var resp pb.LinkResponse
		if err := proto.ReadLinkResponse(bytes.NewReader(s.out.Bytes()), &resp); err != nil {
			t.Fatalf("no valid response: %v", err)
		}
		if resp.Error == nil || rig.n.store.Count(localstore.Friends) != before {
			t.Fatal("a fuzzed link request was accepted")
		}
	})
}

// pendingInvite stores an invite (secret known) without a host.
func (r *fuzzRig) pendingInvite(t testing.TB) (string, []byte) {
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	if err := r.n.putJSON(localstore.Settings, "invite:"+hexs(id), pendingInvite{Secret: secret, Expires: r.clock.Now().Add(time.Hour).Unix()}); err != nil {
		t.Fatal(err)
	}
	return "imigee1:xx", id
}

// TestBadPeerInput sends garbage, oversized frames, wrong keys and replays
// to the handlers: each gets an error, nothing is stored, and the node
// still accepts a valid message afterwards.
func TestBadPeerInput(t *testing.T) {
	rig := newFuzzRig(t)
	n := rig.n
	count := func() int {
		return n.store.Count(localstore.Inbox) + n.store.Count(localstore.Incoming) + n.store.Count(localstore.Seen)
	}
	cases := map[string][]byte{
		"garbage":          []byte("GET / HTTP/1.1\r\n\r\n"),
		"oversized frame":  {0xff, 0xff, 0xff, 0x7f},
		"hello only":       rig.hello,
		"hello then junk":  append(append([]byte(nil), rig.hello...), 0x03, 1, 2, 3),
		"hello, oversized": append(append([]byte(nil), rig.hello...), 0xff, 0xff, 0x7f),
	}
	// Wrong keys: a Hello proof from a stranger with the right hint.
	wrong := bytes.Clone(rig.hello)
	wrong[len(wrong)-1] ^= 1
	cases["bad proof"] = wrong
	// An envelope sealed by a stranger.
	stranger, _ := crypto.NewIdentity(rand.Reader)
	var id16 [16]byte
	env, _ := crypto.Seal(rand.Reader, stranger, n.id.BoxPub(), crypto.TypeMessage, id16, []byte(`{"Type":"message","Text":"x"}`))
	cases["stranger envelope"] = append(append([]byte(nil), rig.hello...), frame(&pb.PeerFrame{Body: &pb.PeerFrame_Envelope{Envelope: &pb.Envelope{Sealed: env}}})...)
	for name, in := range cases {
		out := rig.run(in)
		if count() != 0 {
			t.Fatalf("%s: something was stored", name)
		}
		if name == "hello only" {
			continue
		}
		_ = out
	}
	// A valid message is accepted once; the replay is answered but not
	// delivered again.
	seeds := rig.seedFrames(t)
	valid := append(append([]byte(nil), rig.hello...), seeds[0]...)
	out := rig.run(valid)
	if n.store.Count(localstore.Inbox) != 1 {
		t.Fatal("valid message not stored")
	}
	var hello, receipt pb.PeerFrame
	rd := bytes.NewReader(out)
	if err := proto.ReadPeerFrame(rd, &hello); err != nil || hello.GetHello() == nil {
		t.Fatalf("no hello back: %v", err)
	}
	if err := proto.ReadPeerFrame(rd, &receipt); err != nil || receipt.GetReceipt() == nil {
		t.Fatalf("no receipt: %v", err)
	}
	rig.run(valid)
	if n.store.Count(localstore.Inbox) != 1 {
		t.Fatal("replay delivered again")
	}
	_ = context.Background
}
