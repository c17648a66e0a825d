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
// session or ahead of the next mailbox item. Every put, at a friend's relay
// or this node's own, runs on a one-off transport identity made for it
// (ephemeral.go), never on the sessions that subscribe or announce.

// Limits of friends' relays.
const (
	// MaxRelayHints caps the relay addresses kept per friend and carried
	// in invites, link payloads and contact envelopes: 6.
	MaxRelayHints = 6
	// maxRelayHintLen caps one relay address: 256 bytes.
	maxRelayHintLen = 256
	// MailboxPutTimeout bounds posting one group of blobs at one relay
	// (dial included): 30 s. Then the next relay is tried, and failing
	// all, the delivery backs off (RetryMin..RetryMax).
	MailboxPutTimeout = 30 * time.Second
)

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
		err = n.withOneOff(ctx, ai, func(c *relayclient.Client) error {
			pctx, cancel := context.WithTimeout(ctx, MailboxPutTimeout)
			defer cancel()
			for _, b := range blobs {
				if _, err := c.Put(pctx, mbox, b); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
	}
	return fmt.Errorf("node: mailbox put: %w", err)
}
