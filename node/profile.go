package node

// Profiles after linking (issue 9): this user's display name, short
// description and a small picture travel to every friend end to end, as a
// small sealed item of their own type (crypto.TypeProfile) on the same
// paths as messages (direct, or the friend's mailbox), when they change
// and to each new friend. The relay sees one more padded blob, never the
// profile. Profile items stay out of Pending, Inbox and delivery events;
// the receiving side stores the latest profile on the friend
// (Friend.ProfileName, ProfileAbout, ProfilePicture) and emits
// EventFriendProfile.

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/localstore"
	"github.com/imigee/imigee/node/scrub"
)

// EventFriendProfile: a friend's profile arrived or changed (FriendID;
// Text is the display name). Friends/Friend carry the fields.
const EventFriendProfile = "friend_profile"

// MaxProfilePicture caps the profile picture: 8 KiB (a thumbnail; it
// travels base64-encoded inside one message-sized item).
const MaxProfilePicture = 8 << 10

// friendProfile is what the store keeps of a friend's profile.
type friendProfile struct {
	Name, About string
	Picture     []byte `json:",omitempty"`
}

// SetProfilePicture sets a small picture (JPEG or PNG bytes, at most
// MaxProfilePicture; nil removes it) and sends the profile to every friend.
// Its location metadata is blanked first (node/scrub, P3), as for shared
// photos: a camera thumbnail keeps its EXIF GPS.
func (n *Node) SetProfilePicture(data []byte) error {
	if len(data) > MaxProfilePicture {
		return fmt.Errorf("node: profile picture %d bytes (max %d): %w", len(data), MaxProfilePicture, ErrTooLarge)
	}
	var pr profile
	if err := n.getJSON(localstore.Settings, settingProfile, &pr); err != nil {
		return err
	}
	pr.Picture = nil
	if data != nil {
		clean, _, err := scrub.Bytes(data)
		if err != nil {
			return fmt.Errorf("node: profile picture: %w", err)
		}
		pr.Picture = clean
	}
	return n.updateProfile(pr)
}

// updateProfile stores pr and, if it changed, sends it to every friend.
func (n *Node) updateProfile(pr profile) error {
	var old profile
	if err := n.getJSON(localstore.Settings, settingProfile, &old); err != nil {
		return err
	}
	if err := n.putJSON(localstore.Settings, settingProfile, pr); err != nil {
		return err
	}
	ob, _ := json.Marshal(old)
	nb, _ := json.Marshal(pr)
	if string(ob) == string(nb) {
		return nil
	}
	n.mu.Lock()
	ids := make([]string, 0, len(n.friends))
	for id := range n.friends {
		ids = append(ids, id)
	}
	n.mu.Unlock()
	for _, id := range ids {
		if err := n.sendProfile(id, pr); err != nil {
			return err
		}
	}
	return nil
}

// sendProfileTo queues this user's stored profile for one friend.
func (n *Node) sendProfileTo(friendID string) error {
	var pr profile
	if err := n.getJSON(localstore.Settings, settingProfile, &pr); err != nil {
		return err
	}
	return n.sendProfile(friendID, pr)
}

// sendProfile queues pr for one friend (nothing when pr is empty).
func (n *Node) sendProfile(friendID string, pr profile) error {
	if pr.Name == "" && pr.About == "" && len(pr.Picture) == 0 {
		return nil
	}
	b, _ := json.Marshal(friendProfile(pr))
	_, err := n.sendSmall(friendID, TypeProfile, string(b))
	return err
}

// receiveProfile stores a friend's profile (the latest by creation time)
// and records the item as seen, so a repeat changes nothing.
func (n *Node) receiveProfile(f *friend, op *crypto.Opened, text string) error {
	var fp friendProfile
	if err := json.Unmarshal([]byte(text), &fp); err != nil || len(fp.Name) > MaxProfileName ||
		len(fp.About) > MaxProfileAbout || len(fp.Picture) > MaxProfilePicture {
		return fmt.Errorf("node: profile from a friend: %w", ErrPeer)
	}
	// The seen mark and the friend's record go in one transaction: a crash
	// between them must not leave the profile lost and its resend ignored.
	id := fmt.Sprintf("%x", op.ItemID[:])
	n.mu.Lock()
	prev, prevAt := f.saved.Profile, f.saved.ProfileAt
	newer := op.Created >= prevAt
	if newer {
		f.saved.Profile, f.saved.ProfileAt = &fp, op.Created
	}
	n.mu.Unlock()
	fresh := false
	err := n.store.Update(func(tx *localstore.Tx) error {
		if tx.Has(localstore.Seen, id) {
			return nil
		}
		fresh = true
		if newer {
			b, err := n.friendBytes(f)
			if err != nil {
				return err
			}
			if err := tx.Put(localstore.Friends, f.id, b); err != nil {
				return err
			}
		}
		return tx.Put(localstore.Seen, id, []byte("{}"))
	})
	if err != nil || !fresh {
		if newer {
			n.mu.Lock()
			if f.saved.Profile == &fp {
				f.saved.Profile, f.saved.ProfileAt = prev, prevAt // nothing was stored
			}
			n.mu.Unlock()
		}
		return err
	}
	if !newer {
		return nil
	}
	n.emit(&Event{Kind: EventFriendProfile, FriendID: f.id, Text: fp.Name})
	return nil
}

// sendProfileToNew is spawned when a friend is stored.
func (n *Node) sendProfileToNew(id string) func(context.Context) {
	return func(context.Context) {
		if err := n.sendProfileTo(id); err != nil {
			n.log.Debug("profile not queued for a new friend", "err", err)
		}
	}
}
