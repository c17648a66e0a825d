package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/localstore"
)

// friend is the in-memory state of one friend. Fields other than the
// immutable card and keys are guarded by Node.mu.
type friend struct {
	id    string
	card  crypto.Card
	keys  *crypto.PairKeys
	saved friendRecord

	peer        peer.ID   // transport ID of the last confirmed session
	nearbyUntil time.Time // zero when not nearby
	sealer      *crypto.Sealer
}

// friendRecord is what the store keeps per friend (sealed at rest).
type friendRecord struct {
	Card       []byte
	Keys       []byte
	Precision  Precision
	AutoAccept bool
	Linked     int64
	Prekey     []byte `json:",omitempty"` // the friend's latest signed prekey
	// Relays are the relay addresses the friend reads its mailboxes at
	// (learned at link time and refreshed on contact; friendrelays.go).
	Relays []string `json:",omitempty"`
	// ToldRelays tags the relay set of this node the friend was last told.
	ToldRelays string `json:",omitempty"`
	// Profile is the friend's latest profile and ProfileAt its creation
	// time (profile.go).
	Profile   *friendProfile `json:",omitempty"`
	ProfileAt int64          `json:",omitempty"`
	// Pending: linked through a parked request not confirmed yet.
	Pending bool `json:",omitempty"`
	// Caps are the capability bits of the friend's last verified Hello
	// (caps.go).
	Caps uint32 `json:",omitempty"`
}

func (n *Node) loadFriends() error {
	return n.store.ForEach(localstore.Friends, func(v []byte) error {
		var r friendRecord
		if err := json.Unmarshal(v, &r); err != nil {
			n.log.Warn("skipping unreadable friend record", "err", err)
			return nil
		}
		f, err := n.friendFromRecord(r)
		if err != nil {
			n.log.Warn("skipping unreadable friend record", "err", err)
			return nil
		}
		n.friends[f.id] = f
		return nil
	})
}

func (n *Node) friendFromRecord(r friendRecord) (*friend, error) {
	card, err := crypto.ParseCard(r.Card)
	if err != nil {
		return nil, err
	}
	keys, err := crypto.UnmarshalPairKeys(r.Keys)
	if err != nil {
		return nil, err
	}
	s, err := crypto.NewSealer(n.id, card.BoxPub)
	if err != nil {
		return nil, err
	}
	return &friend{id: card.Fingerprint(), card: card, keys: keys, saved: r, sealer: s}, nil
}

// saveFriend persists f.saved (with the current pair keys). Callers hold
// no lock; the record is copied under n.mu.
func (n *Node) saveFriend(f *friend) error {
	b, err := n.friendBytes(f)
	if err != nil {
		return err
	}
	if err := n.store.Put(localstore.Friends, f.id, b); err != nil {
		return fmt.Errorf("node: save friend: %w", err)
	}
	return nil
}

// friendBytes encodes f's record (with the current pair keys), copied
// under n.mu, for a store write in or outside a transaction.
func (n *Node) friendBytes(f *friend) ([]byte, error) {
	n.mu.Lock()
	r := f.saved
	n.mu.Unlock()
	kb, err := f.keys.MarshalBinary()
	if err != nil {
		return nil, err
	}
	r.Keys = kb
	return json.Marshal(r)
}

// addFriend derives the pair keys with the link secret and stores the
// friend. Linking an existing friend again refreshes its keys.
func (n *Node) addFriend(card crypto.Card, linkSecret []byte) (*friend, error) {
	keys, err := crypto.DerivePairWithSecret(n.id, card, linkSecret)
	if err != nil {
		return nil, fmt.Errorf("node: derive pair: %w", err)
	}
	keys.Advance(n.proximityDay())
	cb, _ := card.MarshalBinary()
	s, err := crypto.NewSealer(n.id, card.BoxPub)
	if err != nil {
		return nil, err
	}
	f := &friend{id: card.Fingerprint(), card: card, keys: keys, sealer: s,
		saved: friendRecord{Card: cb, Linked: n.cfg.Now().Unix()}}
	if err := n.saveFriend(f); err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.friends[f.id] = f
	n.proxChanged = true
	n.mu.Unlock()
	n.spawn(func(context.Context) { n.refreshSubscriptions() })
	n.spawn(n.sendProfileToNew(f.id))
	n.wake()
	return f, nil
}

// proximityDay is the day pair keys may be advanced to: today minus the
// clock-skew window, so a friend a minute behind across midnight still
// matches.
func (n *Node) proximityDay() uint32 {
	return uint32(n.cfg.Now().Add(-clockSkew).Unix() / 86400)
}

// clockSkew is the tolerated clock difference between friends: 60 s.
const clockSkew = 60 * time.Second

func (n *Node) friend(id string) (*friend, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	f, ok := n.friends[id]
	if !ok {
		return nil, ErrUnknownFriend
	}
	return f, nil
}

// Friends returns every friend, in no particular order.
func (n *Node) Friends() []Friend {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.cfg.Now()
	out := make([]Friend, 0, len(n.friends))
	for _, f := range n.friends {
		fr := Friend{
			ID:          f.id,
			Linked:      f.saved.Linked,
			Precision:   f.saved.Precision,
			AutoAccept:  f.saved.AutoAccept,
			Nearby:      now.Before(f.nearbyUntil),
			SafetyCheck: crypto.SafetyNumber(n.id.Card(), f.card),
			Pending:     f.saved.Pending,
		}
		if p := f.saved.Profile; p != nil {
			fr.ProfileName, fr.ProfileAbout, fr.ProfilePicture = p.Name, p.About, p.Picture
		}
		out = append(out, fr)
	}
	return out
}

// SafetyNumber returns the number both friends see on their screens; if
// they match in person, nobody sits between them.
func (n *Node) SafetyNumber(friendID string) (string, error) {
	f, err := n.friend(friendID)
	if err != nil {
		return "", err
	}
	return crypto.SafetyNumber(n.id.Card(), f.card), nil
}

// Unfriend forgets a friend: its record, pair keys and settings are deleted
// (the friend can no longer find or reach this device), and pending items
// to it are dropped.
func (n *Node) Unfriend(friendID string) error {
	n.mu.Lock()
	f, ok := n.friends[friendID]
	delete(n.friends, friendID)
	n.mu.Unlock()
	if !ok {
		return ErrUnknownFriend
	}
	_ = f
	if err := n.store.Delete(localstore.Friends, friendID); err != nil {
		return fmt.Errorf("node: unfriend: %w", err)
	}
	n.dropRecipient(friendID)
	// Its pending late claims go too (meetings go at the next prune).
	_ = n.store.Delete(localstore.History, claimKey(friendID))
	n.wake()
	return nil
}

// SetPrecision sets how finely friendID may find this device.
func (n *Node) SetPrecision(friendID string, p Precision) error {
	if p < PrecisionClose || p > PrecisionOff {
		return ErrBadArgument
	}
	return n.updateFriend(friendID, func(r *friendRecord) { r.Precision = p })
}

// SetAutoAccept makes offers from friendID accepted without asking.
func (n *Node) SetAutoAccept(friendID string, on bool) error {
	return n.updateFriend(friendID, func(r *friendRecord) { r.AutoAccept = on })
}

func (n *Node) updateFriend(friendID string, fn func(r *friendRecord)) error {
	n.mu.Lock()
	f, ok := n.friends[friendID]
	if ok {
		fn(&f.saved)
		n.proxChanged = true
	}
	n.mu.Unlock()
	if !ok {
		return ErrUnknownFriend
	}
	err := n.saveFriend(f)
	n.wake()
	return err
}

// friendList is a snapshot of the friends, in friend ID order: callers
// that dial, subscribe or match per friend then do so in the same order on
// every run, which keeps seeded simulations repeatable.
func (n *Node) friendList() []*friend {
	n.mu.Lock()
	fs := make([]*friend, 0, len(n.friends))
	for _, f := range n.friends {
		fs = append(fs, f)
	}
	n.mu.Unlock()
	slices.SortFunc(fs, func(a, b *friend) int { return strings.Compare(a.id, b.id) })
	return fs
}

// friendByHint finds the friend whose pair hint for epoch (or the one
// before or after, for clock skew) is hint.
func (n *Node) friendByHint(hint []byte, epoch uint64) (*friend, error) {
	fs := n.friendList()
	for _, f := range fs {
		h := f.keys.Hint(epoch)
		if string(h[:]) == string(hint) {
			return f, nil
		}
	}
	return nil, errors.Join(ErrPeer, ErrUnknownFriend)
}
