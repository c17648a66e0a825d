package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"sync"
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

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// testClock is an injected clock that tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Unix(1_800_000_000, 0)} }

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testConfig is a relay on 127.0.0.1 (QUIC and TCP, ephemeral ports) with
// its data in a temp dir.
func testConfig(t testing.TB) Config {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"}
	cfg.Logger = quietLogger()
	cfg.Store.SweepInterval = -1
	cfg.Limits.ResourceMemory = 256 << 20
	// These tests exercise caps and quotas with odd sizes;
	// TestPutOnlySizeClasses tests the size classes.
	cfg.AnyBlobSize = true
	return cfg
}

func startRelay(t testing.TB, cfg Config) *Relay {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		r.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// clientHost is a dial-only libp2p host using one transport.
func clientHost(t testing.TB, transport string) host.Host {
	t.Helper()
	opts := []libp2p.Option{libp2p.NoListenAddrs, libp2p.DisableRelay(), libp2p.ResourceManager(&network.NullResourceManager{})}
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
	return h
}

// relayInfo returns r's address info restricted to one transport.
func relayInfo(r *Relay, transport string) peer.AddrInfo {
	ai := peer.AddrInfo{ID: r.ID()}
	for _, a := range r.Addrs() {
		_, err := a.ValueForProtocol(ma.P_TCP)
		if (transport == "tcp") == (err == nil) {
			ai.Addrs = append(ai.Addrs, a)
		}
	}
	return ai
}

// rawStream speaks frames directly, so tests can send anything.
type rawStream struct {
	t  testing.TB
	s  network.Stream
	r  *protocol.Reader
	id uint64
}

func openRaw(t testing.TB, h host.Host, r *Relay, transport, proto string) *rawStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, relayInfo(r, transport)); err != nil {
		t.Fatal(err)
	}
	s, err := h.NewStream(ctx, r.ID(), lprotocol.ID(proto))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Reset() })
	return &rawStream{t: t, s: s, r: protocol.NewReader(s, protocol.MaxMailboxResponse)}
}

func (rs *rawStream) send(m proto.Message) {
	rs.t.Helper()
	if err := protocol.WriteMsg(rs.s, m); err != nil {
		rs.t.Fatal(err)
	}
}

// mbox sends a mailbox request and returns the response with its id.
func (rs *rawStream) mbox(req *pb.MailboxRequest) *pb.MailboxResponse {
	rs.t.Helper()
	rs.id++
	req.Id = rs.id
	rs.send(req)
	return rs.readMbox(true)
}

// readMbox reads the next mailbox frame; skipNotify skips pushed ones.
func (rs *rawStream) readMbox(skipNotify bool) *pb.MailboxResponse {
	rs.t.Helper()
	for {
		_ = rs.s.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp := &pb.MailboxResponse{}
		if err := rs.r.ReadMsg(resp); err != nil {
			rs.t.Fatalf("read response: %v", err)
		}
		if skipNotify && resp.GetNotify() != nil {
			continue
		}
		return resp
	}
}

// closedAfter asserts the relay closes the stream after the frame just
// read: the next read ends cleanly (after at most a few pushed frames).
func (rs *rawStream) closedAfter() {
	rs.t.Helper()
	_ = rs.s.SetReadDeadline(time.Now().Add(10 * time.Second))
	for range 8 {
		var m pb.MailboxResponse
		err := rs.r.ReadMsg(&m)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			rs.t.Fatalf("stream not closed cleanly: %v", err)
		}
	}
	rs.t.Fatal("stream still open")
}

func (rs *rawStream) rv(req *pb.RendezvousRequest) *pb.RendezvousResponse {
	rs.t.Helper()
	rs.id++
	req.Id = rs.id
	rs.send(req)
	for {
		resp := rs.readRv()
		if resp.GetMatch() != nil && resp.Id == 0 {
			continue
		}
		return resp
	}
}

func (rs *rawStream) readRv() *pb.RendezvousResponse {
	rs.t.Helper()
	_ = rs.s.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp := &pb.RendezvousResponse{}
	if err := rs.r.ReadMsg(resp); err != nil {
		rs.t.Fatalf("read response: %v", err)
	}
	return resp
}

func (rs *rawStream) challenge() []byte {
	rs.t.Helper()
	resp := rs.mbox(&pb.MailboxRequest{Body: &pb.MailboxRequest_Challenge{Challenge: &pb.ChallengeRequest{}}})
	if resp.GetChallenge() == nil {
		rs.t.Fatalf("challenge: %v", resp.Error)
	}
	return resp.GetChallenge().Nonce
}

func (rs *rawStream) put(mbox crypto.MailboxID, blob []byte) *pb.MailboxResponse {
	rs.t.Helper()
	return rs.mbox(&pb.MailboxRequest{Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: mbox[:], Blob: blob}}})
}

func newKey(t testing.TB) (ed25519.PrivateKey, crypto.MailboxID) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv, crypto.MailboxIDFromPub(pub)
}

func auth(k ed25519.PrivateKey, op crypto.MailboxOp, ch []byte) *pb.MailboxAuth {
	id, sig := crypto.SignMailboxAuth(k, op, ch)
	return &pb.MailboxAuth{MailboxId: id[:], Pub: k.Public().(ed25519.PublicKey), Sig: sig}
}

func fetchReq(k ed25519.PrivateKey, ch []byte) *pb.MailboxRequest {
	return &pb.MailboxRequest{Body: &pb.MailboxRequest_Fetch{Fetch: &pb.Fetch{Challenge: ch, Auth: []*pb.MailboxAuth{auth(k, crypto.OpFetch, ch)}}}}
}

func code(resp interface{ GetError() *pb.Error }) pb.ErrorCode {
	if e := resp.GetError(); e != nil {
		return e.Code
	}
	return pb.ErrorCode_OK
}

// eventually polls cond for up to 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// encodeGossip encodes m as the one item of a gossip batch, the payload
// of one pubsub message of the gossip topic.
func encodeGossip(m *pb.RendezvousGossip) ([]byte, error) {
	b, err := protocol.EncodeGossip(m)
	if err != nil {
		return nil, err
	}
	return protocol.AppendGossipItem(nil, b), nil
}
