package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/imigee/imigee/crypto"
	proto "github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// session is a share stream after both Hellos verified: the friend is
// proven to hold the pair keys for this epoch, bound to this connection's
// two transport IDs.
type session struct {
	n *Node
	s network.Stream
	f *friend
	r *proto.Reader

	rdl, wdl time.Time // when the read/write deadlines were last renewed

	// hello is the initiator's Hello nonce while the responder's Hello is
	// not yet checked (dialFriend sends its request right behind its own
	// Hello); the first read checks it before anything else.
	hello    []byte
	helloErr error // why the friend's Hello failed: every later read fails
}

// via is the path of this session's stream for Event.Via.
func (s *session) via() string {
	if s.s.Conn().Stat().Limited {
		return ViaCircuit
	}
	return ViaDirect
}

const helloDomain = "imigee/hello/v1"

// transcript binds a Hello proof to the two transport identities (which
// the libp2p secure channel authenticates) and the nonces, so a proof
// cannot be replayed on another connection.
func transcript(initiator, responder peer.ID, nonces ...[]byte) []byte {
	t := []byte(helloDomain)
	t = append(t, initiator...)
	t = append(t, 0)
	t = append(t, responder...)
	for _, n := range nonces {
		t = append(t, n...)
	}
	return t
}

// epochNow returns the current proximity epoch number.
func (n *Node) epochNow() uint64 {
	return uint64(n.cfg.Now().Unix()) / uint64(n.cfg.EpochSeconds)
}

func (n *Node) epochOK(e uint64) bool {
	now := n.epochNow()
	return e+1 >= now && e <= now+1
}

func (s *session) write(m *pb.PeerFrame) error {
	s.renewWrite()
	return proto.WriteMsg(s.s, m)
}

// renewWrite renews the write deadline, at most once a second: setting
// one per 64 KiB frame costs more than the frame.
func (s *session) renewWrite() {
	if now := time.Now(); now.Sub(s.wdl) > time.Second {
		s.wdl = now
		_ = s.s.SetWriteDeadline(now.Add(StreamIdleTimeout))
	}
}

func (s *session) read(m *pb.PeerFrame) error {
	if err := s.checkHello(); err != nil {
		return err
	}
	return s.readFrame(m)
}

// readFrame reads and validates one frame; an Error frame becomes its
// error.
func (s *session) readFrame(m *pb.PeerFrame) error {
	s.renewRead()
	m.Reset()
	if err := s.r.ReadMsg(m); err != nil {
		return err
	}
	if err := proto.ValidatePeerFrame(m); err != nil {
		return err
	}
	if e := m.GetError(); e != nil {
		return proto.FromPB(e)
	}
	return nil
}

// renewRead renews the read deadline, at most once a second.
func (s *session) renewRead() {
	if now := time.Now(); now.Sub(s.rdl) > time.Second {
		s.rdl = now
		_ = s.s.SetReadDeadline(now.Add(StreamIdleTimeout))
	}
}

// readInto is read for the transfer loop: the frame is read into buf and a
// chunk comes back in c without a copy (aliasing buf); any other frame is
// decoded into m (an Error frame is returned as its error).
func (s *session) readInto(m *pb.PeerFrame, c *proto.ChunkView, buf []byte) (isChunk bool, err error) {
	if err := s.checkHello(); err != nil {
		return false, err
	}
	s.renewRead()
	body, err := s.r.ReadFrameInto(buf)
	if err != nil {
		return false, err
	}
	if isChunk, err = proto.DecodePeerFrame(body, m, c); err != nil {
		return false, err
	}
	if e := m.GetError(); e != nil {
		return false, proto.FromPB(e)
	}
	return isChunk, nil
}

// sendError tells the peer why the session ends (best effort).
func (s *session) sendError(err error) {
	_ = s.write(&pb.PeerFrame{Body: &pb.PeerFrame_Error{Error: proto.ToPB(err)}})
}

// dialSession opens a share stream to friend f at its last known transport
// ID and runs the Hello exchange as initiator.
func (n *Node) dialSession(ctx context.Context, f *friend) (*session, error) {
	n.mu.Lock()
	pid := f.peer
	n.mu.Unlock()
	if pid == "" {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, errNoPeer)
	}
	return n.dialSessionTo(ctx, f, pid)
}

// DirectDialBudget bounds the direct attempt of a delivery to a friend that
// is neither connected nor confirmed nearby: 2 s. Its last transport ID is
// most likely stale (rotated, or the device is offline), and waiting out a
// QUIC handshake time-out (about 5 s, up to DialTimeout) only delays the
// mailbox fallback. A friend connected or nearby gets the full DialTimeout.
const DirectDialBudget = 2 * time.Second

// dialFriend is dialSession for a delivery: with DirectDialBudget when the
// friend is neither connected nor confirmed nearby, and without waiting for
// the friend's Hello: the caller's request follows this side's Hello at
// once and the Hello reply is checked at the first read, which saves the
// delivery a round trip. Writing before the friend is proven on this
// stream reveals nothing: the request is sealed to the friend's box key,
// and f.peer is a transport ID the friend proved before (notePeer).
func (n *Node) dialFriend(ctx context.Context, f *friend) (*session, error) {
	h, err := n.host()
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	pid, nearby := f.peer, n.cfg.Now().Before(f.nearbyUntil)
	n.mu.Unlock()
	if !nearby && (pid == "" || h.Network().Connectedness(pid) != network.Connected) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DirectDialBudget)
		defer cancel()
	}
	if pid == "" {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, errNoPeer)
	}
	return n.openSession(ctx, f, pid, false)
}

// dialSessionTo is dialSession to an explicit transport ID.
func (n *Node) dialSessionTo(ctx context.Context, f *friend, pid peer.ID) (*session, error) {
	return n.openSession(ctx, f, pid, true)
}

// openSession opens a share stream to pid and sends this side's Hello;
// with check it also waits for the friend's Hello and checks it.
func (n *Node) openSession(ctx context.Context, f *friend, pid peer.ID, check bool) (*session, error) {
	h, err := n.host()
	if err != nil {
		return nil, err
	}
	st, err := n.openStream(ctx, h, peer.AddrInfo{ID: pid, Addrs: h.Peerstore().Addrs(pid)}, proto.ShareProtocol)
	if err != nil {
		return nil, err
	}
	s := &session{n: n, s: st, f: f, r: proto.NewReader(st, proto.MaxShareFrame)}
	err = s.sendHello()
	if err == nil && check {
		err = s.checkHello()
	}
	if err != nil {
		st.Reset()
		return nil, err
	}
	return s, nil
}

func (s *session) close() {
	_ = s.s.CloseWrite()
	// Wait briefly for the peer's close so the last frame is not reset.
	_ = s.s.SetReadDeadline(time.Now().Add(2 * time.Second))
	var buf [1]byte
	_, _ = s.s.Read(buf[:])
	_ = s.s.Close()
	s.r.Release()
}

// sendHello sends the initiator's Hello; checkHello takes the reply.
func (s *session) sendHello() error {
	n := s.n
	epoch := n.epochNow()
	nonce := make([]byte, proto.HelloNonceSize)
	_, _ = rand.Read(nonce)
	local, remote := s.s.Conn().LocalPeer(), s.s.Conn().RemotePeer()
	hint := s.f.keys.Hint(epoch)
	proof := s.f.keys.Proof(epoch, transcript(local, remote, nonce))
	if err := s.write(&pb.PeerFrame{Body: &pb.PeerFrame_Hello{Hello: &pb.Hello{
		PairHint: hint[:], Epoch: epoch, Nonce: nonce, Proof: proof[:], Caps: n.ownCaps()}}}); err != nil {
		return fmt.Errorf("node: hello: %w", err)
	}
	s.hello = nonce
	return nil
}

// checkHello reads and checks the responder's Hello if it is still
// unchecked (a no-op after that): it proves the friend's pair keys over
// both nonces and this stream's transport IDs.
func (s *session) checkHello() error {
	nonce := s.hello
	if nonce == nil {
		return s.helloErr
	}
	s.hello = nil
	if err := s.verifyHello(nonce); err != nil {
		s.helloErr = err
		return err
	}
	return nil
}

func (s *session) verifyHello(nonce []byte) error {
	n := s.n
	local, remote := s.s.Conn().LocalPeer(), s.s.Conn().RemotePeer()
	var m pb.PeerFrame
	if err := s.readFrame(&m); err != nil {
		return fmt.Errorf("node: hello: %w", err)
	}
	h := m.GetHello()
	if h == nil || !n.epochOK(h.Epoch) {
		return fmt.Errorf("node: hello: %w", ErrPeer)
	}
	rh := s.f.keys.Hint(h.Epoch)
	if string(rh[:]) != string(h.PairHint) || !s.f.keys.VerifyProof(h.Epoch, transcript(local, remote, nonce, h.Nonce), h.Proof) {
		return fmt.Errorf("node: hello proof: %w", ErrPeer)
	}
	n.noteCaps(s.f, h.Caps)
	n.notePeer(s.f, remote)
	return nil
}

// acceptSession runs the Hello exchange as responder on an inbound stream.
func (n *Node) acceptSession(st network.Stream) (*session, error) {
	s := &session{n: n, s: st, r: proto.NewReader(st, proto.MaxShareFrame)}
	var m pb.PeerFrame
	if err := s.read(&m); err != nil {
		return nil, fmt.Errorf("node: hello: %w", err)
	}
	h := m.GetHello()
	if h == nil || !n.epochOK(h.Epoch) {
		return nil, fmt.Errorf("node: hello: %w", ErrPeer)
	}
	f, err := n.friendByHint(h.PairHint, h.Epoch)
	if err != nil {
		return nil, err
	}
	local, remote := st.Conn().LocalPeer(), st.Conn().RemotePeer()
	if !f.keys.VerifyProof(h.Epoch, transcript(remote, local, h.Nonce), h.Proof) {
		return nil, fmt.Errorf("node: hello proof: %w", ErrPeer)
	}
	s.f = f
	nonce := make([]byte, proto.HelloNonceSize)
	_, _ = rand.Read(nonce)
	proof := f.keys.Proof(h.Epoch, transcript(remote, local, h.Nonce, nonce))
	if err := s.write(&pb.PeerFrame{Body: &pb.PeerFrame_Hello{Hello: &pb.Hello{
		PairHint: h.PairHint, Epoch: h.Epoch, Nonce: nonce, Proof: proof[:], Caps: n.ownCaps()}}}); err != nil {
		return nil, fmt.Errorf("node: hello: %w", err)
	}
	n.noteCaps(f, h.Caps)
	n.notePeer(f, remote)
	return s, nil
}

// notePeer remembers the transport ID a friend was last proven at, and
// wakes the outbox (a friend came online).
func (n *Node) notePeer(f *friend, pid peer.ID) {
	if f == nil {
		return
	}
	n.confirmFriend(f)
	n.mu.Lock()
	changed := f.peer != pid
	f.peer = pid
	n.mu.Unlock()
	if changed {
		n.bump()
		n.resumeFrom(f)
	}
}

// handleShare serves one inbound share stream.
func (n *Node) handleShare(st network.Stream) {
	if !n.enter() {
		st.Reset()
		return
	}
	defer n.wg.Done()
	s, err := n.acceptSession(st)
	if err != nil {
		n.log.Debug("share stream refused", "err", err)
		st.Reset()
		return
	}
	if err := s.serve(); err != nil {
		n.log.Debug("share stream ended", "err", err)
		s.sendError(err)
		// Close, not reset: a reset may discard the error frame before it
		// leaves (QUIC drops unsent data), and the initiator is owed the
		// code (PROTOCOL.md, One request per stream).
		s.close()
		return
	}
	s.close()
}

// serve handles the initiator's one request on this stream.
func (s *session) serve() error {
	var m pb.PeerFrame
	if err := s.read(&m); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // a bare Hello: the initiator only confirmed presence
		}
		return err
	}
	switch b := m.Body.(type) {
	case *pb.PeerFrame_Envelope:
		return s.recvEnvelope(b.Envelope.Sealed)
	case *pb.PeerFrame_Offer:
		return s.recvOffer(b.Offer)
	case *pb.PeerFrame_Resume:
		return s.serveResume(b.Resume)
	default:
		return &proto.Error{Code: pb.ErrorCode_BAD_REQUEST, Detail: "unexpected frame"}
	}
}

var _ = crypto.TypeOffer
