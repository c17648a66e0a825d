package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	lprotocol "github.com/libp2p/go-libp2p/core/protocol"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/protocol/pb"
)

// Protocol IDs and caps as PROTOCOL.md names them.
const (
	mailboxID    = "/imigee/mailbox/1"
	rendezvousID = "/imigee/rendezvous/1"

	maxMailboxRequest  = 1<<20 + 4<<10
	maxMailboxResponse = 4<<20 + 128<<10
	maxRendezvous      = 768 << 10
)

// Mailbox operations signed into a MailboxAuth (PROTOCOL.md, Flows).
const (
	opFetch     = 1
	opAck       = 2
	opSubscribe = 3
	opForget    = 4
)

// client is one libp2p connection to the relay over one transport.
type client struct {
	t     *testing.T
	h     host.Host
	relay peer.AddrInfo
}

// newClient dials the relay over transport ("quic" or "tcp").
func newClient(t *testing.T, relay peer.AddrInfo, transport string) *client {
	t.Helper()
	opts := []libp2p.Option{libp2p.NoListenAddrs, libp2p.DisableRelay(), libp2p.DisableMetrics(), libp2p.ResourceManager(&network.NullResourceManager{})}
	if transport == "tcp" {
		opts = append(opts, libp2p.Transport(tcp.NewTCPTransport))
	} else {
		opts = append(opts, libp2p.Transport(quic.NewTransport))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ai := peer.AddrInfo{ID: relay.ID}
	for _, a := range relay.Addrs {
		_, err := a.ValueForProtocol(ma.P_TCP)
		if (transport == "tcp") == (err == nil) {
			ai.Addrs = append(ai.Addrs, a)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Connect(ctx, ai); err != nil {
		t.Fatal(err)
	}
	return &client{t: t, h: h, relay: ai}
}

// stream is one raw protocol stream: frames go out exactly as built here
// and come back through this package's own frame reader.
type stream struct {
	t   *testing.T
	s   network.Stream
	br  *bufio.Reader
	cap int
	id  uint64
}

func (c *client) open(proto string) *stream {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := c.h.NewStream(ctx, c.relay.ID, lprotocol.ID(proto))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { s.Reset() })
	capacity := maxRendezvous
	if proto == mailboxID {
		capacity = maxMailboxResponse
	}
	return &stream{t: c.t, s: s, br: bufio.NewReader(s), cap: capacity}
}

// frame is a body with its uvarint length in front (PROTOCOL.md, Framing).
func frame(body []byte) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(body))), body...)
}

func encode(m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// writeRaw sends bytes as they are, in one write.
func (s *stream) writeRaw(b []byte) {
	s.t.Helper()
	_ = s.s.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if _, err := s.s.Write(b); err != nil {
		s.t.Fatalf("write: %v", err)
	}
}

var errFraming = errors.New("bad frame length")

// readFrame reads one frame: a minimal uvarint of at most 10 bytes, then
// that many bytes of body (at most the stream's cap).
func (s *stream) readFrame() ([]byte, error) {
	_ = s.s.SetReadDeadline(time.Now().Add(20 * time.Second))
	var n uint64
	for i := 0; ; i++ {
		c, err := s.br.ReadByte()
		if err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if i == 9 && c > 1 {
			return nil, errFraming
		}
		n |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			if c == 0 && i > 0 {
				return nil, errFraming
			}
			break
		}
	}
	if n > uint64(s.cap) {
		return nil, fmt.Errorf("%w: %d > cap %d", errFraming, n, s.cap)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(s.br, body); err != nil {
		return nil, io.ErrUnexpectedEOF
	}
	return body, nil
}

// mbResp reads the next mailbox response.
func (s *stream) mbResp() *pb.MailboxResponse {
	s.t.Helper()
	b, err := s.readFrame()
	if err != nil {
		s.t.Fatalf("read mailbox response: %v", err)
	}
	var r pb.MailboxResponse
	if err := proto.Unmarshal(b, &r); err != nil {
		s.t.Fatalf("decode mailbox response: %v", err)
	}
	return &r
}

// rvResp reads the next rendezvous response.
func (s *stream) rvResp() *pb.RendezvousResponse {
	s.t.Helper()
	b, err := s.readFrame()
	if err != nil {
		s.t.Fatalf("read rendezvous response: %v", err)
	}
	var r pb.RendezvousResponse
	if err := proto.Unmarshal(b, &r); err != nil {
		s.t.Fatalf("decode rendezvous response: %v", err)
	}
	return &r
}

// mb sends a mailbox request with the next id and returns its response,
// skipping pushed notifications (id 0 with a notify body).
func (s *stream) mb(req *pb.MailboxRequest) *pb.MailboxResponse {
	s.t.Helper()
	s.id++
	req.Id = s.id
	s.writeRaw(frame(encode(req)))
	for {
		r := s.mbResp()
		if r.Id == 0 && r.GetNotify() != nil {
			continue
		}
		if r.Id != req.Id {
			s.t.Fatalf("response id %d for request %d: %v", r.Id, req.Id, r)
		}
		return r
	}
}

// rv sends a rendezvous request with the next id and returns its
// response, skipping pushed matches (id 0 with a match body).
func (s *stream) rv(req *pb.RendezvousRequest) *pb.RendezvousResponse {
	s.t.Helper()
	s.id++
	req.Id = s.id
	s.writeRaw(frame(encode(req)))
	for {
		r := s.rvResp()
		if r.Id == 0 && r.GetMatch() != nil {
			continue
		}
		if r.Id != req.Id {
			s.t.Fatalf("response id %d for request %d: %v", r.Id, req.Id, r)
		}
		return r
	}
}

// closed reports whether the relay ended the stream (EOF or reset) within
// a few seconds, reading and dropping anything before.
func (s *stream) closed() bool {
	_ = s.s.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := io.Copy(io.Discard, s.br)
	var ne interface{ Timeout() bool }
	return !(errors.As(err, &ne) && ne.Timeout())
}

func code(e *pb.Error) pb.ErrorCode {
	if e == nil {
		return pb.ErrorCode_OK
	}
	return e.Code
}

// mailboxKey is one mailbox: an Ed25519 key and its ID,
// SHA-256("imigee/mailbox-id/v1" ‖ pub)[:16].
type mailboxKey struct {
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	id   []byte
}

func newMailbox(t *testing.T) mailboxKey {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return mailboxFrom(priv, pub)
}

func mailboxFrom(priv ed25519.PrivateKey, pub ed25519.PublicKey) mailboxKey {
	h := sha256.Sum256(append([]byte("imigee/mailbox-id/v1"), pub...))
	return mailboxKey{priv: priv, pub: pub, id: h[:16]}
}

// auth signs "imigee/mailbox-auth/v1" ‖ op ‖ len(nonce) ‖ nonce ‖ id.
func (k mailboxKey) auth(op byte, nonce []byte) *pb.MailboxAuth {
	msg := append([]byte("imigee/mailbox-auth/v1"), op, byte(len(nonce)))
	msg = append(append(msg, nonce...), k.id...)
	return &pb.MailboxAuth{MailboxId: k.id, Pub: k.pub, Sig: ed25519.Sign(k.priv, msg)}
}

// challenge asks for a fresh nonce.
func (s *stream) challenge() []byte {
	s.t.Helper()
	r := s.mb(&pb.MailboxRequest{Body: &pb.MailboxRequest_Challenge{Challenge: &pb.ChallengeRequest{}}})
	c := r.GetChallenge()
	if c == nil || len(c.Nonce) != 32 || c.ExpiresUnix <= time.Now().Unix()-5 {
		s.t.Fatalf("challenge: %v", r)
	}
	return c.Nonce
}

// smallBlob is the blob size the tests put: 1 KiB, a size every relay
// takes (the smallest blob size class, see issue 11's P12 work).
const smallBlob = 1 << 10

// blob is a smallBlob-byte blob filled with b.
func blob(b byte) []byte { return bytes.Repeat([]byte{b}, smallBlob) }

func (s *stream) put(k mailboxKey, blob []byte) *pb.MailboxResponse {
	s.t.Helper()
	return s.mb(&pb.MailboxRequest{Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: k.id, Blob: blob}}})
}

func (s *stream) fetch(f *pb.Fetch, ks ...mailboxKey) *pb.MailboxResponse {
	s.t.Helper()
	f.Challenge = s.challenge()
	for _, k := range ks {
		f.Auth = append(f.Auth, k.auth(opFetch, f.Challenge))
	}
	return s.mb(&pb.MailboxRequest{Body: &pb.MailboxRequest_Fetch{Fetch: f}})
}

// epochNow is the current 600-second epoch.
func epochNow() uint64 { return uint64(time.Now().Unix()) / 600 }

// tok is an 8-byte token.
func tok(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// ann builds one Announce of one announcement.
func ann(epoch uint64, rec string, toks ...*pb.Token) *pb.RendezvousRequest {
	return &pb.RendezvousRequest{Body: &pb.RendezvousRequest_Announce{Announce: &pb.Announce{
		Epoch: epoch, EpochSeconds: 600,
		Announcements: []*pb.Announcement{{Tokens: toks, SealedRecord: []byte(rec)}},
	}}}
}

func here(n uint64) *pb.Token { return &pb.Token{Value: tok(n), Kind: pb.TokenKind_HERE} }
func near(n uint64) *pb.Token { return &pb.Token{Value: tok(n), Kind: pb.TokenKind_NEAR} }

// uniq returns a token number no other test uses.
var uniqCounter uint64 = uint64(time.Now().UnixNano())

func uniq() uint64 { uniqCounter++; return uniqCounter }

func decode(b []byte, m proto.Message) error { return proto.Unmarshal(b, m) }

func hexString(b []byte) string { return fmt.Sprintf("%x", b) }
