package node

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/localstore"
	proto "github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// Invite limits.
const (
	// InviteTTL is how long an invite can be used: 24 h. It is single use.
	InviteTTL = 24 * time.Hour
	// MaxInviteLen caps the invite text a node parses: 4 KiB.
	MaxInviteLen = 4 << 10
	// MaxInviteAddrs caps the addresses in an invite: 16.
	MaxInviteAddrs = 16
	// LinkTimeout bounds one link exchange: 20 s.
	LinkTimeout = 20 * time.Second
	// linkSecretSize is the one-time invite secret: 32 bytes.
	linkSecretSize = 32
)

// invite is the payload of an invite text. Sig is by the card's signing key
// over everything else, so the addresses cannot be swapped on the way.
type invite struct {
	V       int
	Card    []byte
	ID      []byte // 16 bytes
	Secret  []byte // 32 bytes, one time
	Expires int64
	Peer    string   // transport peer ID at the time of the invite
	Addrs   []string // direct and relay-circuit multiaddrs
	// Relays are the inviter's relays (where it reads its mailboxes); a
	// requester that cannot reach the inviter parks its request there.
	Relays []string `json:",omitempty"`
	Sig    []byte   `json:",omitempty"`
}

const inviteDomain = "imigee/invite/v1"

func (iv *invite) message() []byte {
	c := *iv
	c.Sig = nil
	b, _ := json.Marshal(c)
	return append([]byte(inviteDomain), b...)
}

// pendingInvite is stored until used or expired.
type pendingInvite struct {
	Secret  []byte
	Expires int64
}

// Invite makes a single-use invite valid for InviteTTL. The text is also
// the QR payload. It holds this device's signed card, a one-time secret,
// and the current transport addresses (direct and via the relays).
func (n *Node) Invite() (string, error) {
	h, err := n.host()
	if err != nil {
		return "", err
	}
	iv := invite{V: 1, ID: make([]byte, proto.InviteIDSize), Secret: make([]byte, linkSecretSize)}
	if _, err := rand.Read(iv.ID); err != nil {
		return "", err
	}
	if _, err := rand.Read(iv.Secret); err != nil {
		return "", err
	}
	iv.Card, _ = n.id.Card().MarshalBinary()
	iv.Expires = n.cfg.Now().Add(InviteTTL).Unix()
	iv.Peer = h.ID().String()
	for _, a := range n.reachableAddrs(h) {
		if len(iv.Addrs) == MaxInviteAddrs {
			break
		}
		iv.Addrs = append(iv.Addrs, a.String())
	}
	iv.Relays = n.ownRelayHints()
	iv.Sig = n.id.Sign(iv.message())
	pi, _ := json.Marshal(pendingInvite{Secret: iv.Secret, Expires: iv.Expires})
	if err := n.store.Put(localstore.Settings, "invite:"+hex.EncodeToString(iv.ID), pi); err != nil {
		return "", fmt.Errorf("node: store invite: %w", err)
	}
	n.spawn(func(context.Context) { n.refreshSubscriptions() }) // the invite's mailbox
	b, _ := json.Marshal(iv)
	return "imigee1:" + base64.RawURLEncoding.EncodeToString(b), nil
}

// parseInvite decodes and verifies an invite text.
func parseInvite(text string, now time.Time) (*invite, crypto.Card, error) {
	const prefix = "imigee1:"
	var card crypto.Card
	if len(text) > MaxInviteLen || len(text) < len(prefix) || text[:len(prefix)] != prefix {
		return nil, card, ErrBadInvite
	}
	b, err := base64.RawURLEncoding.DecodeString(text[len(prefix):])
	if err != nil {
		return nil, card, fmt.Errorf("%w: encoding", ErrBadInvite)
	}
	var iv invite
	if err := json.Unmarshal(b, &iv); err != nil {
		return nil, card, fmt.Errorf("%w: encoding", ErrBadInvite)
	}
	if iv.V != 1 || len(iv.ID) != proto.InviteIDSize || len(iv.Secret) != linkSecretSize || len(iv.Addrs) > MaxInviteAddrs || len(iv.Relays) > MaxRelayHints {
		return nil, card, fmt.Errorf("%w: fields", ErrBadInvite)
	}
	card, err = crypto.ParseCard(iv.Card)
	if err != nil {
		return nil, card, fmt.Errorf("%w: card", ErrBadInvite)
	}
	if !ed25519Verify(card.SignPub[:], iv.message(), iv.Sig) {
		return nil, card, fmt.Errorf("%w: signature", ErrBadInvite)
	}
	if now.Unix() > iv.Expires {
		return nil, card, fmt.Errorf("%w: expired", ErrBadInvite)
	}
	return &iv, card, nil
}

// linkPayload is sealed inside LinkRequest and LinkResponse.
type linkPayload struct {
	Card   []byte
	Secret []byte
	Prekey []byte `json:",omitempty"`
	// Relays are the sender's relays, where the other side posts to it.
	Relays []string `json:",omitempty"`
}

// Link answers an invite: it connects to the inviter directly (or through
// its relay circuit), sends a sealed link request with the invite secret,
// and stores the friend when the inviter answers with its card. It returns
// the new friend's ID. If the inviter cannot be reached and a relay is
// connected, the request is parked in a mailbox derived from the invite
// secret and the friend is stored at once; the inviter completes the link
// (friend_linked on its side) at its next mailbox catch-up, and items sent
// to it meanwhile wait in its mailbox. A refused parked request (invite
// used up or expired) is never reported back.
func (n *Node) Link(ctx context.Context, text string) (string, error) {
	h, err := n.host()
	if err != nil {
		return "", err
	}
	iv, card, err := parseInvite(text, n.cfg.Now())
	if err != nil {
		return "", err
	}
	if card.BoxPub == n.id.BoxPub() {
		return "", fmt.Errorf("%w: own invite", ErrBadInvite)
	}
	pid, err := peer.Decode(iv.Peer)
	if err != nil {
		return "", fmt.Errorf("%w: peer", ErrBadInvite)
	}
	ai := peer.AddrInfo{ID: pid}
	for _, s := range iv.Addrs {
		if a, err := ma.NewMultiaddr(s); err == nil {
			ai.Addrs = append(ai.Addrs, a)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, LinkTimeout)
	defer cancel()
	myCard, _ := n.id.Card().MarshalBinary()
	myRelays := n.ownRelayHints()
	pl, _ := json.Marshal(linkPayload{Card: myCard, Secret: iv.Secret, Prekey: n.currentPrekey(), Relays: myRelays})
	var itemID [16]byte
	copy(itemID[:], iv.ID)
	sealer, err := crypto.NewSealer(n.id, card.BoxPub)
	if err != nil {
		return "", fmt.Errorf("%w: card key", ErrBadInvite)
	}
	sealed, err := sealer.Seal(rand.Reader, crypto.Header{Type: crypto.TypeLink, ItemID: itemID, Created: n.cfg.Now().Unix()}, pl)
	if err != nil {
		return "", err
	}
	req := &pb.LinkRequest{InviteId: iv.ID, Sealed: sealed}
	hints := inviteRelayHints(iv)
	s, err := n.openStream(ctx, h, ai, proto.LinkProtocol)
	if errors.Is(err, ErrUnreachable) && (len(hints) > 0 || n.hasRelays()) {
		// The inviter is offline: park the request in the invite's
		// mailbox at the inviter's relays; it completes the link at its
		// next catch-up.
		if merr := n.linkViaMailbox(ctx, hints, iv.Secret, req); merr != nil {
			return "", errors.Join(err, merr)
		}
		f, err := n.addFriend(card, iv.Secret)
		if err != nil {
			return "", err
		}
		n.noteRelays(f, hints)
		n.noteTold(f, relaysTag(myRelays))
		n.markPending(f)
		return f.id, nil
	}
	if err != nil {
		return "", err
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(LinkTimeout))
	if err := proto.WriteMsg(s, req); err != nil {
		return "", fmt.Errorf("node: link: send: %w", err)
	}
	var resp pb.LinkResponse
	if err := proto.ReadLinkResponse(s, &resp); err != nil {
		return "", fmt.Errorf("node: link: %w", err)
	}
	if resp.Error != nil {
		return "", fmt.Errorf("node: link refused: %w", proto.FromPB(resp.Error))
	}
	op, err := n.id.Recipient().Open(resp.Sealed)
	if err != nil || op.Type != crypto.TypeLink || op.SenderBox != card.BoxPub || op.ItemID != itemID {
		return "", fmt.Errorf("node: link response does not open: %w", ErrPeer)
	}
	var back linkPayload
	if err := json.Unmarshal(op.Payload, &back); err != nil || subtle.ConstantTimeCompare(back.Secret, iv.Secret) != 1 {
		return "", fmt.Errorf("node: link response: %w", ErrPeer)
	}
	f, err := n.addFriend(card, iv.Secret)
	if err != nil {
		return "", err
	}
	n.notePrekey(f, back.Prekey)
	if len(back.Relays) > 0 {
		n.noteRelays(f, back.Relays)
	} else {
		n.noteRelays(f, hints)
	}
	n.noteTold(f, relaysTag(myRelays))
	n.notePeer(f, pid)
	n.emit(&Event{Kind: EventFriendLinked, FriendID: f.id})
	return f.id, nil
}

// handleLink serves one link request on the inviter's side.
func (n *Node) handleLink(s network.Stream) {
	if !n.enter() {
		s.Reset()
		return
	}
	defer n.wg.Done()
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(LinkTimeout))
	f, resp, err := n.serveLink(s)
	if err != nil {
		n.log.Debug("link request refused", "err", err)
		resp = &pb.LinkResponse{Error: proto.ToPB(err)}
	}
	if werr := proto.WriteMsg(s, resp); werr != nil || err != nil {
		if err == nil {
			n.log.Debug("link response not sent", "err", werr)
		}
		return
	}
	n.notePeer(f, s.Conn().RemotePeer())
	n.emit(&Event{Kind: EventFriendLinked, FriendID: f.id})
}

// errLinkRefused is what a requester learns about any failed link: nothing
// about which check failed.
var errLinkRefused = &proto.Error{Code: pb.ErrorCode_UNAUTHORIZED, Detail: "link refused"}

// serveLink checks a link request and stores the friend. On any error
// nothing is stored and the invite stays usable.
func (n *Node) serveLink(s network.Stream) (*friend, *pb.LinkResponse, error) {
	var req pb.LinkRequest
	if err := proto.ReadLinkRequest(s, &req); err != nil {
		return nil, nil, err
	}
	return n.acceptLink(&req)
}

func (n *Node) acceptLink(req *pb.LinkRequest) (*friend, *pb.LinkResponse, error) {
	name := "invite:" + hex.EncodeToString(req.InviteId)
	raw, err := n.store.Get(localstore.Settings, name)
	if err != nil {
		return nil, nil, errLinkRefused
	}
	var pi pendingInvite
	if json.Unmarshal(raw, &pi) != nil || n.cfg.Now().Unix() > pi.Expires {
		return nil, nil, errLinkRefused
	}
	op, err := n.id.Recipient().Open(req.Sealed)
	if err != nil || op.Type != crypto.TypeLink || string(op.ItemID[:]) != string(req.InviteId) {
		return nil, nil, errLinkRefused
	}
	var lp linkPayload
	if err := json.Unmarshal(op.Payload, &lp); err != nil || subtle.ConstantTimeCompare(lp.Secret, pi.Secret) != 1 {
		return nil, nil, errLinkRefused
	}
	card, err := crypto.ParseCard(lp.Card)
	if err != nil || card.BoxPub != op.SenderBox || card.BoxPub == n.id.BoxPub() {
		return nil, nil, errLinkRefused
	}
	// Single use: the invite is consumed before the friend is stored, so a
	// replayed request finds nothing.
	if err := n.store.Delete(localstore.Settings, name); err != nil {
		return nil, nil, err
	}
	f, err := n.addFriend(card, pi.Secret)
	if err != nil {
		return nil, nil, err
	}
	n.notePrekey(f, lp.Prekey)
	n.noteRelays(f, lp.Relays)
	myCard, _ := n.id.Card().MarshalBinary()
	myRelays := n.ownRelayHints()
	pl, _ := json.Marshal(linkPayload{Card: myCard, Secret: pi.Secret, Prekey: n.currentPrekey(), Relays: myRelays})
	n.noteTold(f, relaysTag(myRelays))
	sealed, err := f.sealer.Seal(rand.Reader, crypto.Header{Type: crypto.TypeLink, ItemID: op.ItemID, Created: n.cfg.Now().Unix()}, pl)
	if err != nil {
		return nil, nil, err
	}
	return f, &pb.LinkResponse{Sealed: sealed}, nil
}

// openStream connects to ai (adding its addresses for a short while) and
// opens a stream of protocol id. A relayed (limited) connection is used
// only when no direct one can be made: a relay's circuit caps the bytes
// and time of each connection, so transfers need a direct path (hole
// punching upgrades NAT'd peers; libp2p does that on its own).
func (n *Node) openStream(ctx context.Context, h host.Host, ai peer.AddrInfo, id string) (network.Stream, error) {
	dctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
	direct := false
	for _, a := range h.Peerstore().Addrs(ai.ID) {
		if _, err := a.ValueForProtocol(ma.P_CIRCUIT); err != nil {
			direct = true
			break
		}
	}
	var err error
	if direct && h.Network().Connectedness(ai.ID) != network.Connected {
		// Direct first, with at most half of the time left: a phone behind
		// a NAT drops the packets until the handshake times out, and the
		// circuit through the relay must still have time to connect.
		dd := dctx
		if dl, ok := dctx.Deadline(); ok {
			var c context.CancelFunc
			dd, c = context.WithTimeout(dctx, time.Until(dl)/2)
			defer c()
		}
		err = h.Connect(network.WithForceDirectDial(dd, "imigee: direct first"), peer.AddrInfo{ID: ai.ID})
	}
	if !direct || err != nil {
		err = h.Connect(network.WithAllowLimitedConn(dctx, id), peer.AddrInfo{ID: ai.ID})
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	s, err := h.NewStream(network.WithAllowLimitedConn(ctx, id), ai.ID, protocol.ID(id))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	return s, nil
}

var errNoPeer = errors.New("node: friend has no known address")
