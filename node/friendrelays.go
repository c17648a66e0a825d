package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/relayclient"
)

// Friends' relays. A friend reads its mailboxes only at its own relays, so
// offline items, receipts and rejections for it must be put there. Each
// side learns the other's relay addresses from the invite (hints), the
// sealed link request and response, and the sealed contact envelope
// (prekey ‖ relays) sent on every confirmed meeting and, when this node's
// relay set changed since it last told a friend, on the next direct
// session or ahead of the next mailbox item. Posting connects to a friend's
// relay on demand (with the rotating transport identity, like any relay
// session) through a small pool that closes idle connections.

// Limits of friends' relays.
const (
	// MaxRelayHints caps the relay addresses kept per friend and carried
	// in invites, link payloads and contact envelopes: 6.
	MaxRelayHints = 6
	// maxRelayHintLen caps one relay address: 256 bytes.
	maxRelayHintLen = 256
	// FriendRelayPool caps open clients to relays that are not this
	// node's own: 8. A full pool closes its least recently used idle one.
	FriendRelayPool = 8
	// FriendRelayIdle is how long an on-demand relay client stays open
	// unused: 2 min.
	FriendRelayIdle = 2 * time.Minute
	// MailboxPutTimeout bounds posting one group of blobs at one relay
	// (dial included): 30 s. Then the next relay is tried, and failing
	// all, the delivery backs off (RetryMin..RetryMax).
	MailboxPutTimeout = 30 * time.Second
)

// extRelay is a pooled client to a friend's relay.
type extRelay struct {
	c    *relayclient.Client
	h    host.Host // the host the client was made on (rotation replaces it)
	busy int
	last time.Time // real time of the last release
}

// ownRelayHints returns this node's relay addresses as friends should
// store them (at most MaxRelayHints).
func (n *Node) ownRelayHints() []string {
	n.mu.Lock()
	relays := append([]peer.AddrInfo(nil), n.relays...)
	n.mu.Unlock()
	var out []string
	for _, ai := range relays {
		as, err := peer.AddrInfoToP2pAddrs(&ai)
		if err != nil {
			continue
		}
		for _, a := range as {
			if len(out) < MaxRelayHints {
				out = append(out, a.String())
			}
		}
	}
	return out
}

// relaysTag identifies this node's relay set, to know whether a friend was
// told the current one.
func relaysTag(hints []string) string {
	h := sha256.Sum256([]byte(strings.Join(hints, "\n")))
	return hex.EncodeToString(h[:8])
}

// cleanRelayHints keeps the well-formed relay addresses (with /p2p/, no
// circuit), deduplicated, at most MaxRelayHints.
func cleanRelayHints(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if len(out) == MaxRelayHints {
			break
		}
		if len(s) > maxRelayHintLen || seen[s] || strings.Contains(s, "/p2p-circuit") {
			continue
		}
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		if _, err := peer.AddrInfoFromP2pAddr(m); err != nil {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// inviteRelayHints returns the inviter's relays: the invite's explicit
// hints, else the relays of its circuit addresses.
func inviteRelayHints(iv *invite) []string {
	hints := append([]string(nil), iv.Relays...)
	for _, s := range iv.Addrs {
		if r, ok := strings.CutSuffix(s, "/p2p-circuit"); ok {
			hints = append(hints, r)
		}
	}
	return cleanRelayHints(hints)
}

// hintsToAddrInfos groups relay addresses by relay, in the order of
// first appearance: the first relay named is tried first, so an item's
// blobs usually land at one relay.
func hintsToAddrInfos(hints []string) []peer.AddrInfo {
	var out []peer.AddrInfo
	at := map[peer.ID]int{}
	for _, s := range hints {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		ai, err := peer.AddrInfoFromP2pAddr(m)
		if err != nil {
			continue
		}
		if i, ok := at[ai.ID]; ok {
			out[i].Addrs = append(out[i].Addrs, ai.Addrs...)
			continue
		}
		at[ai.ID] = len(out)
		out = append(out, *ai)
	}
	return out
}

// noteRelays stores friend f's relays if they verify as addresses and
// differ from what is stored. An empty list changes nothing.
func (n *Node) noteRelays(f *friend, hints []string) {
	hints = cleanRelayHints(hints)
	if f == nil || len(hints) == 0 {
		return
	}
	n.mu.Lock()
	changed := strings.Join(f.saved.Relays, "\n") != strings.Join(hints, "\n")
	if changed {
		f.saved.Relays = hints
	}
	n.mu.Unlock()
	if changed {
		_ = n.saveFriend(f)
	}
}

// noteTold records that f was told this node's relay set tag.
func (n *Node) noteTold(f *friend, tag string) {
	n.mu.Lock()
	changed := f.saved.ToldRelays != tag
	f.saved.ToldRelays = tag
	n.mu.Unlock()
	if changed {
		_ = n.saveFriend(f)
	}
}

// toldCurrent reports whether f knows this node's current relay set.
func (n *Node) toldCurrent(f *friend) bool {
	tag := relaysTag(n.ownRelayHints())
	n.mu.Lock()
	defer n.mu.Unlock()
	return f.saved.ToldRelays == tag
}

// contactPayload is the payload of a TypePrekeys envelope: this device's
// signed prekey, then its relay addresses as JSON.
func (n *Node) contactPayload() ([]byte, string) {
	pk := n.currentPrekey()
	if len(pk) != crypto.PrekeySize {
		return nil, ""
	}
	hints := n.ownRelayHints()
	rb, _ := json.Marshal(hints)
	return append(append([]byte(nil), pk...), rb...), relaysTag(hints)
}

// noteContact handles a TypePrekeys payload from f.
func (n *Node) noteContact(f *friend, p []byte) {
	if len(p) < crypto.PrekeySize {
		return
	}
	n.notePrekey(f, p[:crypto.PrekeySize])
	var hints []string
	if len(p) > crypto.PrekeySize && json.Unmarshal(p[crypto.PrekeySize:], &hints) == nil && len(hints) <= 4*MaxRelayHints {
		n.noteRelays(f, hints)
	}
}

// friendRelays returns where f reads its mailboxes: its known relays, else
// (a friend linked before relays were exchanged) this node's own.
func (n *Node) friendRelays(f *friend) []peer.AddrInfo {
	n.mu.Lock()
	hints := append([]string(nil), f.saved.Relays...)
	own := append([]peer.AddrInfo(nil), n.relays...)
	n.mu.Unlock()
	if ais := hintsToAddrInfos(hints); len(ais) > 0 {
		return ais
	}
	return own
}

// canPost reports whether an item for f can go to a mailbox.
func (n *Node) canPost(f *friend) bool {
	return len(n.friendRelays(f)) > 0
}

var errNoRelay = errors.New("node: no relay reachable")

// putAt stores blobs, in order, in mailbox mbox at the first of relays
// that takes them all; each relay gets MailboxPutTimeout.
func (n *Node) putAt(ctx context.Context, relays []peer.AddrInfo, mbox crypto.MailboxID, blobs [][]byte) error {
	err := errNoRelay
	for _, ai := range relays {
		c, release, cerr := n.relayClientFor(ai)
		if cerr != nil {
			err = cerr
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, MailboxPutTimeout)
		err = nil
		for _, b := range blobs {
			if _, err = c.Put(pctx, mbox, b); err != nil {
				break
			}
		}
		cancel()
		release(err == nil)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("node: mailbox put: %w", err)
}

// relayClientFor returns a client for relay ai: this node's own session if
// ai is one of its relays, else a pooled on-demand one. release must be
// called when done (ok: the relay answered).
func (n *Node) relayClientFor(ai peer.AddrInfo) (*relayclient.Client, func(ok bool), error) {
	h, err := n.host()
	if err != nil {
		return nil, nil, err
	}
	var stale []*relayclient.Client
	defer func() {
		for _, c := range stale {
			c.Close()
		}
	}()
	n.mu.Lock()
	if rc := n.rconns[ai.ID]; rc != nil {
		n.mu.Unlock()
		return rc.c, func(bool) {}, nil
	}
	if n.closed {
		n.mu.Unlock()
		return nil, nil, ErrClosed
	}
	x := n.xrelays[ai.ID]
	if x != nil && x.h != h {
		// Made on a host since rotated away: useless now.
		stale = append(stale, x.c)
		delete(n.xrelays, ai.ID)
		x = nil
	}
	if x == nil {
		if len(n.xrelays) >= FriendRelayPool {
			c := n.evictIdleLocked()
			if c == nil {
				n.mu.Unlock()
				return nil, nil, fmt.Errorf("node: friend relay pool full: %w", errNoRelay)
			}
			stale = append(stale, c)
		}
		x = &extRelay{c: relayclient.New(n.relayHost(h), ai, relayclient.Config{Timeout: MailboxPutTimeout}), h: h}
		n.xrelays[ai.ID] = x
		// A fresh client is a retry's own decision (the last one failed
		// or idled out): let it dial.
		clearDialBackoff(h, ai.ID)
	}
	x.busy++
	n.mu.Unlock()
	id := ai.ID
	return x.c, func(ok bool) {
		var drop *relayclient.Client
		n.mu.Lock()
		x.busy--
		x.last = time.Now()
		if !ok && x.busy == 0 && n.xrelays[id] == x {
			// A relay that failed is dialled afresh next time.
			delete(n.xrelays, id)
			drop = x.c
		}
		n.armSweepLocked()
		n.mu.Unlock()
		if drop != nil {
			drop.Close()
		}
	}, nil
}

// armSweepLocked schedules the idle sweep if clients are pooled. Callers
// hold n.mu.
func (n *Node) armSweepLocked() {
	if n.xidle == nil && !n.closed && len(n.xrelays) > 0 {
		n.xidle = time.AfterFunc(FriendRelayIdle, func() { n.spawn(func(context.Context) { n.sweepFriendRelays() }) })
	}
}

// evictIdleLocked removes the least recently used idle pooled client and
// returns it for the caller to close (nil if none is idle). Callers hold
// n.mu.
func (n *Node) evictIdleLocked() *relayclient.Client {
	var victim peer.ID
	var oldest time.Time
	for id, x := range n.xrelays {
		if x.busy == 0 && (victim == "" || x.last.Before(oldest)) {
			victim, oldest = id, x.last
		}
	}
	if victim == "" {
		return nil
	}
	x := n.xrelays[victim]
	delete(n.xrelays, victim)
	return x.c
}

// sweepFriendRelays closes pooled clients idle for FriendRelayIdle and the
// connections to those relays (unless a friend's circuit runs through
// them), then re-arms itself while clients remain.
func (n *Node) sweepFriendRelays() {
	now := time.Now()
	n.mu.Lock()
	n.xidle = nil
	var gone []*extRelay
	var ids []peer.ID
	for id, x := range n.xrelays {
		if x.busy == 0 && now.Sub(x.last) >= FriendRelayIdle {
			gone = append(gone, x)
			ids = append(ids, id)
			delete(n.xrelays, id)
		}
	}
	n.armSweepLocked()
	h := n.h
	n.mu.Unlock()
	for i, x := range gone {
		x.c.Close()
		if h != nil && x.h == h && !n.circuitThrough(h, ids[i]) {
			_ = h.Network().ClosePeer(ids[i])
		}
	}
}

// circuitThrough reports whether a relayed connection runs through relay.
func (n *Node) circuitThrough(h host.Host, relay peer.ID) bool {
	mark := "/p2p/" + relay.String() + "/p2p-circuit"
	for _, c := range h.Network().Conns() {
		if strings.Contains(c.RemoteMultiaddr().String(), mark) {
			return true
		}
	}
	return false
}

// closeFriendRelays closes every pooled client (Close, rotation).
func (n *Node) closeFriendRelays() {
	n.mu.Lock()
	xs := n.xrelays
	n.xrelays = map[peer.ID]*extRelay{}
	if n.xidle != nil {
		n.xidle.Stop()
		n.xidle = nil
	}
	n.mu.Unlock()
	for _, x := range xs {
		x.c.Close()
	}
}
