package node

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/imigee/imigee/crypto"
)

// Pending links. A Link that could not reach the inviter parks its
// request in the invite's mailbox and stores the friend at once, but
// nothing is confirmed until the inviter takes the request: such a friend
// is Pending (Friend.Pending, EventFriendPending) and becomes linked
// (EventFriendLinked) when the first envelope or session from it proves it
// holds the pair key. The inviter, on taking a parked request, posts its
// contact envelope to the requester's mailbox for exactly that purpose
// (confirmParkedLink). Before this, Link reported friend_linked at once
// although nothing was confirmed (TestLinkViaMailbox now checks both
// steps).

// EventFriendPending ("friend_pending"): Link parked the request for an
// offline inviter; EventFriendLinked follows once the inviter confirms.
const EventFriendPending = "friend_pending"

// markPending records that f's link is not confirmed yet and tells the app.
func (n *Node) markPending(f *friend) {
	_ = n.updateFriend(f.id, func(r *friendRecord) { r.Pending = true })
	n.emit(&Event{Kind: EventFriendPending, FriendID: f.id})
}

// confirmFriend clears f's pending flag once something authenticated came
// from it (an envelope that opened under its key, a session that proved
// the pair key), and emits EventFriendLinked then.
func (n *Node) confirmFriend(f *friend) {
	if f == nil {
		return
	}
	n.mu.Lock()
	pending := f.saved.Pending
	n.mu.Unlock()
	if !pending {
		return
	}
	changed := false
	_ = n.updateFriend(f.id, func(r *friendRecord) {
		changed = r.Pending
		r.Pending = false
	})
	if changed {
		n.emit(&Event{Kind: EventFriendLinked, FriendID: f.id})
	}
}

// confirmParkedLink posts this device's contact envelope (prekey and
// relays) to f's mailbox after taking f's parked link request, so f
// learns the link is confirmed without waiting for a first item. Best
// effort: a later item or meeting confirms it too.
func (n *Node) confirmParkedLink(ctx context.Context, f *friend) {
	p, tag := n.contactPayload()
	if p == nil {
		return
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	sealed, err := f.sealer.SealPadded(rand.Reader, crypto.Header{Type: crypto.TypePrekeys, ItemID: id, Created: n.cfg.Now().Unix()}, p, sealSize(len(p), true))
	if err != nil {
		return
	}
	if err := n.putBlobs(ctx, f, [][]byte{sealed}); err != nil {
		n.log.Debug("link confirmation not posted", "err", err)
		return
	}
	n.noteTold(f, tag)
}

// Friend returns one friend as the app sees it.
func (n *Node) Friend(friendID string) (Friend, error) {
	for _, f := range n.Friends() {
		if f.ID == friendID {
			return f, nil
		}
	}
	return Friend{}, ErrUnknownFriend
}

// MarshalJSON writes a Precision as its name ("close", "casual", "off"),
// the same word SetPrecision takes: one representation everywhere.
func (p Precision) MarshalJSON() ([]byte, error) {
	return json.Marshal(p.String())
}

// UnmarshalJSON reads the name, or the number older friend records hold.
func (p *Precision) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := ParsePrecision(s)
		if err != nil {
			return err
		}
		*p = v
		return nil
	}
	i, err := strconv.Atoi(string(b))
	if err != nil || i < int(PrecisionClose) || i > int(PrecisionOff) {
		return fmt.Errorf("node: precision %s: %w", b, ErrBadArgument)
	}
	*p = Precision(i)
	return nil
}
