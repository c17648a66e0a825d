package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/localstore"
	"github.com/imigee/imigee/node/relayclient"
	proto "github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// Link through the mailbox (issue flow 1, "direct or via A's mailbox"):
// when the inviter cannot be reached, the requester parks its sealed
// LinkRequest in a mailbox derived from the invite secret, at the
// inviter's relays (the invite's relay hints; the requester's own relays
// for an invite without any).
// Only holders of the invite can derive that mailbox; the relay sees one
// more sealed blob. The inviter fetches the mailboxes of its unexpired
// invites on every catch-up (Start, relay reconnect) before its friends'
// mailboxes, checks the request exactly as on a stream (acceptLink: secret,
// single use, expiry) and stores the friend. The requester stores the
// friend at once: it already has the inviter's signed card and the secret,
// which is all the pair keys need.

const inviteMailboxDomain = "imigee/invite-mailbox/v1"

// inviteMailboxKey is the key of the mailbox where requesters leave link
// requests for the invite with this secret.
func inviteMailboxKey(secret []byte) ed25519.PrivateKey {
	seed := sha256.Sum256(append([]byte(inviteMailboxDomain), secret...))
	return ed25519.NewKeyFromSeed(seed[:])
}

// linkViaMailbox parks req in the invite's mailbox at the first of the
// inviter's relays (hints from the invite; this node's own relays if the
// invite names none) that takes it.
func (n *Node) linkViaMailbox(ctx context.Context, hints []string, secret []byte, req *pb.LinkRequest) error {
	var buf bytes.Buffer
	if err := proto.WriteMsg(&buf, req); err != nil {
		return err
	}
	k := inviteMailboxKey(secret)
	mbox := crypto.MailboxIDFromPub(k.Public().(ed25519.PublicKey))
	relays := hintsToAddrInfos(hints)
	if len(relays) == 0 {
		n.mu.Lock()
		relays = append(relays, n.relays...)
		n.mu.Unlock()
	}
	if err := n.putAt(ctx, relays, mbox, [][]byte{padLinkBlob(buf.Bytes())}); err != nil {
		return fmt.Errorf("node: link via mailbox: %w", err)
	}
	return nil
}

// inviteKeys returns the mailbox keys of this device's unexpired invites.
func (n *Node) inviteKeys() []ed25519.PrivateKey {
	now := n.cfg.Now().Unix()
	var keys []ed25519.PrivateKey
	// Record names are keyed hashes, so the invites are found by shape
	// among the settings records.
	_ = n.store.ForEach(localstore.Settings, func(v []byte) error {
		var pi pendingInvite
		if json.Unmarshal(v, &pi) == nil && len(pi.Secret) == linkSecretSize && pi.Expires >= now {
			keys = append(keys, inviteMailboxKey(pi.Secret))
		}
		return nil
	})
	if len(keys) > proto.MaxAuthsPerRequest {
		keys = keys[:proto.MaxAuthsPerRequest]
	}
	return keys
}

// fetchLinkRequests handles link requests parked for this device's
// invites at rc. Every blob is acked: a request is either accepted or can
// never be (wrong secret, used up, garbage).
func (n *Node) fetchLinkRequests(ctx context.Context, rc *relayConn) {
	keys := n.inviteKeys()
	if len(keys) == 0 {
		return
	}
	blobs, _, err := rc.c.Fetch(ctx, keys, relayclient.FetchOptions{})
	if err != nil {
		n.log.Debug("invite mailbox fetch failed", "err", err)
		return
	}
	var acks []relayclient.Ref
	for _, b := range blobs {
		acks = append(acks, b.Ref())
		var req pb.LinkRequest
		if err := proto.ReadLinkRequest(bytes.NewReader(b.Data), &req); err != nil {
			continue
		}
		f, _, err := n.acceptLink(&req)
		if err != nil {
			n.log.Debug("parked link request refused", "err", err)
			continue
		}
		n.emit(&Event{Kind: EventFriendLinked, FriendID: f.id})
		n.spawn(func(ctx context.Context) { n.confirmParkedLink(ctx, f) })
	}
	if len(acks) > 0 {
		if _, err := rc.c.Ack(ctx, keys, acks); err != nil {
			n.log.Debug("invite mailbox ack failed", "err", err)
		}
	}
}
