package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol/pb"
	"github.com/imigee/imigee/test/internal/e2e"
)

// The peer side of the spec, against a real `imigee run` process: this
// test is a second phone written from PROTOCOL.md. It uses package crypto
// for the constructions CRYPTO.md pins with its own vectors (cards,
// envelopes, pair keys, stream chunks), and builds every peer message —
// invite parsing and signature check, link payloads, Hello transcripts,
// envelope and offer payloads, receipts — and every frame by hand.

const (
	linkID  = "/imigee/link/1"
	shareID = "/imigee/share/1"
)

// nodeProc is one `imigee run -json` child.
type nodeProc struct {
	dir string
	p   *e2e.Proc
}

func startNode(t *testing.T) *nodeProc {
	t.Helper()
	dir, err := os.MkdirTemp("", "iop-") // short: the control socket lives here
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &nodeProc{dir: dir}
	n.cli(t, nil, "init")
	n.p = e2e.Start(t, nodeBin, "run", "-data-dir", dir, "-json", "-log-level", "info",
		"-listen", "/ip4/127.0.0.1/udp/0/quic-v1", "-listen", "/ip4/127.0.0.1/tcp/0")
	n.wait(t, "started", nil)
	return n
}

// cli runs `imigee CMD -data-dir DIR -json ARGS…` and decodes its output.
func (n *nodeProc) cli(t *testing.T, out any, cmd string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, nodeBin, append([]string{cmd, "-data-dir", n.dir, "-json"}, args...)...)
	var so, se bytes.Buffer
	c.Stdout, c.Stderr = &so, &se
	if err := c.Run(); err != nil {
		t.Fatalf("imigee %s: %v: %s", cmd, err, se.String())
	}
	if out != nil {
		if err := json.Unmarshal(so.Bytes(), out); err != nil {
			t.Fatalf("imigee %s: %q: %v", cmd, so.String(), err)
		}
	}
}

type nodeEvent struct {
	Event  string `json:"event"`
	Friend string `json:"friend"`
	Item   string `json:"item"`
	Text   string `json:"text"`
}

// wait returns the first event of kind that match accepts.
func (n *nodeProc) wait(t *testing.T, kind string, match func(nodeEvent) bool) nodeEvent {
	t.Helper()
	var got nodeEvent
	_, err := n.p.WaitStdout(30*time.Second, func(lines []string) bool {
		for _, l := range lines {
			var ev nodeEvent
			if json.Unmarshal([]byte(l), &ev) == nil && ev.Event == kind && (match == nil || match(ev)) {
				got = ev
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatalf("no %s event: %v\nlog:\n%s", kind, err, n.p.LogTail(2048))
	}
	return got
}

// inviteJSON is the invite object of PROTOCOL.md, keys in its order.
type inviteJSON struct {
	V       int
	Card    []byte
	ID      []byte
	Secret  []byte
	Expires int64
	Peer    string
	Addrs   []string
	Relays  []string `json:",omitempty"`
	Sig     []byte   `json:",omitempty"`
}

// parseInvite decodes and verifies an invite text as the spec says.
func parseInviteText(t *testing.T, text string) (*inviteJSON, crypto.Card) {
	t.Helper()
	b64, ok := strings.CutPrefix(text, "imigee1:")
	if !ok || len(text) > 4096 {
		t.Fatalf("invite %q", text)
	}
	raw, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	var iv inviteJSON
	if err := json.Unmarshal(raw, &iv); err != nil {
		t.Fatal(err)
	}
	if iv.V != 1 || len(iv.ID) != 16 || len(iv.Secret) != 32 || len(iv.Card) != 137 || iv.Expires < time.Now().Unix() {
		t.Fatalf("invite fields %+v", iv)
	}
	card, err := crypto.ParseCard(iv.Card)
	if err != nil {
		t.Fatal(err)
	}
	unsigned := iv
	unsigned.Sig = nil
	msg, _ := json.Marshal(unsigned)
	if !ed25519.Verify(iv.Card[1:33], append([]byte("imigee/invite/v1"), msg...), iv.Sig) {
		t.Fatal("invite signature does not verify over the re-encoded JSON")
	}
	return &iv, card
}

// phone is this test's own device: an identity, a libp2p host, and, once
// linked, the pair keys with the node.
type phone struct {
	t    *testing.T
	id   *crypto.Identity
	c    *client
	node crypto.Card
	keys *crypto.PairKeys
}

// linkTo answers the node's invite over /imigee/link/1.
func linkTo(t *testing.T, n *nodeProc) *phone {
	t.Helper()
	var inv struct{ Invite string }
	n.cli(t, &inv, "invite")
	iv, card := parseInviteText(t, inv.Invite)
	me, err := crypto.NewIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := peer.Decode(iv.Peer)
	if err != nil {
		t.Fatal(err)
	}
	ai := peer.AddrInfo{ID: pid}
	for _, s := range iv.Addrs {
		if a, err := ma.NewMultiaddr(s); err == nil {
			ai.Addrs = append(ai.Addrs, a)
		}
	}
	ph := &phone{t: t, id: me, c: newClient(t, ai, "quic"), node: card}
	myCard, _ := me.Card().MarshalBinary()
	payload, _ := json.Marshal(struct {
		Card   []byte
		Secret []byte
	}{myCard, iv.Secret})
	var itemID [16]byte
	copy(itemID[:], iv.ID)
	sealed := ph.seal(5, itemID, payload)
	s := ph.c.open(linkID)
	s.cap = 8 << 10
	s.writeRaw(frame(encode(&pb.LinkRequest{InviteId: iv.ID, Sealed: sealed})))
	body, err := s.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	var resp pb.LinkResponse
	if err := decode(body, &resp); err != nil || resp.Error != nil {
		t.Fatalf("link response: %v %v", err, resp.Error)
	}
	op, err := me.Recipient().Open(resp.Sealed)
	if err != nil || op.Type != 5 || op.SenderBox != card.BoxPub || op.ItemID != itemID {
		t.Fatalf("link response envelope: %v", err)
	}
	var back struct {
		Card   []byte
		Secret []byte
		Prekey []byte
	}
	if err := json.Unmarshal(op.Payload, &back); err != nil || !bytes.Equal(back.Card, iv.Card) || !bytes.Equal(back.Secret, iv.Secret) {
		t.Fatalf("link response payload %s: %v", op.Payload, err)
	}
	if len(back.Prekey) != 0 {
		if p, err := crypto.ParsePrekey(back.Prekey); err != nil || p.Verify(card) != nil {
			t.Fatalf("prekey in the link response: %v", err)
		}
	}
	if ph.keys, err = crypto.DerivePairWithSecret(me, card, iv.Secret); err != nil {
		t.Fatal(err)
	}
	n.wait(t, "friend_linked", func(e nodeEvent) bool { return e.Friend == me.Card().Fingerprint() })
	return ph
}

// seal makes an envelope from this phone to the node's box key.
func (ph *phone) seal(typ crypto.ContentType, item [16]byte, payload []byte) []byte {
	ph.t.Helper()
	s, err := crypto.NewSealer(ph.id, ph.node.BoxPub)
	if err != nil {
		ph.t.Fatal(err)
	}
	b, err := s.Seal(rand.Reader, crypto.Header{Type: typ, ItemID: item, Created: time.Now().Unix()}, payload)
	if err != nil {
		ph.t.Fatal(err)
	}
	return b
}

// transcript is "imigee/hello/v1" ‖ pid_I ‖ 0x00 ‖ pid_P ‖ nonces.
func transcript(i, p peer.ID, nonces ...[]byte) []byte {
	t := append([]byte("imigee/hello/v1"), i...)
	t = append(append(t, 0), p...)
	for _, n := range nonces {
		t = append(t, n...)
	}
	return t
}

// hello opens a share stream and runs the Hello exchange as initiator;
// breakProof sends a wrong proof (the node must reset without a word).
func (ph *phone) hello(breakProof bool) *stream {
	t := ph.t
	t.Helper()
	s := ph.c.open(shareID)
	s.cap = 66 << 10
	epoch := uint64(time.Now().Unix()) / 600
	nI := make([]byte, 16)
	rand.Read(nI)
	me, them := s.s.Conn().LocalPeer(), s.s.Conn().RemotePeer()
	hint := ph.keys.Hint(epoch)
	proof := ph.keys.Proof(epoch, transcript(me, them, nI))
	if breakProof {
		proof[0] ^= 1
	}
	s.writeRaw(frame(encode(&pb.PeerFrame{Body: &pb.PeerFrame_Hello{Hello: &pb.Hello{PairHint: hint[:], Epoch: epoch, Nonce: nI, Proof: proof[:]}}})))
	if breakProof {
		return s
	}
	h := s.peerFrame().GetHello()
	if h == nil || h.Epoch != epoch || !bytes.Equal(h.PairHint, hint[:]) || len(h.Nonce) != 16 ||
		!ph.keys.VerifyProof(epoch, transcript(me, them, nI, h.Nonce), h.Proof) {
		t.Fatalf("responder hello %v", h)
	}
	return s
}

func (s *stream) peerFrame() *pb.PeerFrame {
	s.t.Helper()
	b, err := s.readFrame()
	if err != nil {
		s.t.Fatalf("read peer frame: %v", err)
	}
	var m pb.PeerFrame
	if err := decode(b, &m); err != nil {
		s.t.Fatal(err)
	}
	return &m
}

func (s *stream) sendPeer(m *pb.PeerFrame) { s.writeRaw(frame(encode(m))) }

// checkReceipt verifies a receipt over "imigee/receipt/v1" ‖ item ‖ hash
// with the node's card signing key.
func (ph *phone) checkReceipt(m *pb.PeerFrame, item []byte, hash []byte) {
	ph.t.Helper()
	r := m.GetReceipt()
	msg := append(append([]byte("imigee/receipt/v1"), item...), hash...)
	if r == nil || !bytes.Equal(r.ItemId, item) || !ed25519.Verify(ph.node.SignPub[:], msg, r.Sig) {
		ph.t.Fatalf("receipt %v", m)
	}
}

// TestPeerProtocol: a phone written from PROTOCOL.md links with a real
// node, proves the pair in Hello both ways, sends a message and a photo
// (declined once, then accepted and streamed), and meets NOT_FOUND,
// INTERNAL and a silent reset where the spec says so.
func TestPeerProtocol(t *testing.T) {
	n := startNode(t)
	ph := linkTo(t, n)
	me := ph.id.Card().Fingerprint()

	t.Run("bad proof is reset", func(t *testing.T) {
		s := ph.hello(true)
		if _, err := s.readFrame(); err == nil {
			t.Fatal("the node answered a Hello whose proof is wrong")
		}
	})

	t.Run("message and receipt", func(t *testing.T) {
		s := ph.hello(false)
		var id [16]byte
		rand.Read(id[:])
		text := "hello from a second implementation <&>"
		pl, _ := json.Marshal(map[string]string{"Type": "message", "Text": text})
		// A map encodes its keys sorted: "Text","Type". The node parses
		// JSON, so key order does not matter on receipt.
		s.sendPeer(&pb.PeerFrame{Body: &pb.PeerFrame_Envelope{Envelope: &pb.Envelope{Sealed: ph.seal(1, id, pl)}}})
		ph.checkReceipt(s.peerFrame(), id[:], nil)
		n.wait(t, "message", func(e nodeEvent) bool { return e.Friend == me && e.Text == text })
	})

	t.Run("the node as initiator", func(t *testing.T) {
		// The node dials this phone (at the peer ID its Hello proved)
		// to deliver a message; the phone answers as responder.
		got := make(chan error, 1)
		ph.c.h.SetStreamHandler(shareID, func(st network.Stream) {
			got <- ph.serveShare(st)
		})
		defer ph.c.h.RemoveStreamHandler(shareID)
		var r struct{ Item string }
		n.cli(t, &r, "message", me, "and hello back")
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the node did not deliver")
		}
		n.wait(t, "delivered", func(e nodeEvent) bool { return e.Item == r.Item && e.Friend == me })
	})

	t.Run("resume of an unknown item is NOT_FOUND", func(t *testing.T) {
		s := ph.hello(false)
		s.sendPeer(&pb.PeerFrame{Body: &pb.PeerFrame_Resume{Resume: &pb.Resume{ItemId: bytes.Repeat([]byte{7}, 16)}}})
		if e := s.peerFrame().GetError(); code(e) != pb.ErrorCode_NOT_FOUND {
			t.Fatalf("got %v", e)
		}
	})

	t.Run("an offer that does not open is INTERNAL", func(t *testing.T) {
		s := ph.hello(false)
		var id [16]byte
		rand.Read(id[:])
		// A message envelope where an offer (type 7) must be.
		s.sendPeer(&pb.PeerFrame{Body: &pb.PeerFrame_Offer{Offer: &pb.Offer{ItemId: id[:], Sealed: ph.seal(1, id, []byte(`{}`))}}})
		if e := s.peerFrame().GetError(); code(e) != pb.ErrorCode_INTERNAL || e.Detail != "" {
			t.Fatalf("got %v", e)
		}
	})

	// A photo of 150,000 bytes: three 64 KiB chunks.
	content := make([]byte, 150_000)
	rand.Read(content)
	key, err := crypto.NewStreamKey(rand.Reader, 0)
	if err != nil {
		t.Fatal(err)
	}
	var sealedBuf bytes.Buffer
	if _, err := key.SealStream(&sealedBuf, bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	kb, _ := key.MarshalBinary()
	offer := func(s *stream) []byte {
		var id [16]byte
		rand.Read(id[:])
		meta, _ := json.Marshal(struct {
			Type string
			Name string
			Size int64
			Hash []byte
			Key  []byte
		}{"photo", "beach.jpg", int64(len(content)), sum[:], kb})
		s.sendPeer(&pb.PeerFrame{Body: &pb.PeerFrame_Offer{Offer: &pb.Offer{ItemId: id[:], Sealed: ph.seal(7, id, meta)}}})
		return id[:]
	}
	hexID := func(b []byte) string { return strings.ToLower(strings.TrimSpace(hexString(b))) }

	t.Run("declined offer", func(t *testing.T) {
		s := ph.hello(false)
		id := offer(s)
		n.wait(t, "item_offered", func(e nodeEvent) bool { return e.Item == hexID(id) })
		n.cli(t, nil, "reject", hexID(id))
		r := s.peerFrame().GetOfferReply()
		if r == nil || !bytes.Equal(r.ItemId, id) || r.Accept {
			t.Fatalf("reply %v", r)
		}
	})

	t.Run("accepted offer, chunks, receipt", func(t *testing.T) {
		s := ph.hello(false)
		id := offer(s)
		n.wait(t, "item_offered", func(e nodeEvent) bool { return e.Item == hexID(id) })
		n.cli(t, nil, "accept", hexID(id))
		r := s.peerFrame().GetOfferReply()
		if r == nil || !r.Accept || r.FromChunk != 0 {
			t.Fatalf("reply %v", r)
		}
		sealed := sealedBuf.Bytes()
		full := int(key.ChunkSize) + 16
		for i := uint32(0); len(sealed) > 0; i++ {
			c := sealed[:min(full, len(sealed))]
			sealed = sealed[len(c):]
			s.sendPeer(&pb.PeerFrame{Body: &pb.PeerFrame_Chunk{Chunk: &pb.Chunk{ItemId: id, Index: i, Data: c}}})
		}
		ph.checkReceipt(s.peerFrame(), id, sum[:])
		n.wait(t, "item_received", func(e nodeEvent) bool { return e.Item == hexID(id) })
	})
}

// serveShare is the responder side of one share stream: Hello, then one
// message envelope answered with a signed receipt.
func (ph *phone) serveShare(st network.Stream) error {
	defer st.Close()
	s := &stream{t: ph.t, s: st, br: bufio.NewReader(st), cap: 66 << 10}
	read := func() (*pb.PeerFrame, error) {
		b, err := s.readFrame()
		if err != nil {
			return nil, err
		}
		var m pb.PeerFrame
		return &m, decode(b, &m)
	}
	m, err := read()
	if err != nil {
		return err
	}
	h := m.GetHello()
	them, me := st.Conn().RemotePeer(), st.Conn().LocalPeer()
	if h == nil {
		return fmt.Errorf("first frame %v", m)
	}
	if hint := ph.keys.Hint(h.Epoch); !bytes.Equal(hint[:], h.PairHint) || !ph.keys.VerifyProof(h.Epoch, transcript(them, me, h.Nonce), h.Proof) {
		return errors.New("initiator hello does not verify")
	}
	nP := make([]byte, 16)
	rand.Read(nP)
	proof := ph.keys.Proof(h.Epoch, transcript(them, me, h.Nonce, nP))
	if _, err := st.Write(frame(encode(&pb.PeerFrame{Body: &pb.PeerFrame_Hello{Hello: &pb.Hello{PairHint: h.PairHint, Epoch: h.Epoch, Nonce: nP, Proof: proof[:]}}}))); err != nil {
		return err
	}
	if m, err = read(); err != nil {
		return err
	}
	env := m.GetEnvelope()
	if env == nil {
		return fmt.Errorf("request %v", m)
	}
	op, err := ph.id.Recipient().Open(env.Sealed)
	if err != nil || op.SenderBox != ph.node.BoxPub {
		return fmt.Errorf("envelope: %v", err)
	}
	// No contact envelope (type 10) comes first: the node has no relays,
	// and this phone was told that (empty) set at link time.
	var si struct{ Type, Text string }
	if op.Type != 1 || json.Unmarshal(op.Payload, &si) != nil || si.Type != "message" || si.Text != "and hello back" {
		return fmt.Errorf("envelope type %d payload %s", op.Type, op.Payload)
	}
	sig := ph.id.Sign(append([]byte("imigee/receipt/v1"), op.ItemID[:]...))
	_, err = st.Write(frame(encode(&pb.PeerFrame{Body: &pb.PeerFrame_Receipt{Receipt: &pb.Receipt{ItemId: op.ItemID[:], Sig: sig}}})))
	return err
}
