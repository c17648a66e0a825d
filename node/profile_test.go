package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image/jpeg"
	"testing"
	"time"

	"github.com/imigee/imigee/node/scrub/scrubtest"
)

// TestProfileReachesFriends: a profile set after linking reaches the
// friend end to end (direct), a change made while the friend is offline
// reaches it through its mailbox when it returns, a friend linked later
// gets the current profile at once, and none of it shows in Pending,
// Inbox or delivery events at the sender.
func TestProfileReachesFriends(t *testing.T) {
	clock, ra, a, b, bID, aID := pair(t)
	if err := a.SetProfile("Alice", "hiking, film"); err != nil {
		t.Fatal(err)
	}
	ev := b.ev.waitRetrying(t, a.Node, clock, EventFriendProfile, func(e Event) bool { return e.FriendID == aID }, 30*time.Second)
	if ev.Text != "Alice" {
		t.Fatalf("event %+v", ev)
	}
	f, err := b.Friend(aID)
	if err != nil || f.ProfileName != "Alice" || f.ProfileAbout != "hiking, film" {
		t.Fatalf("b's view of a: %+v %v", f, err)
	}
	if err := a.SetProfilePicture(make([]byte, MaxProfilePicture+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversize picture: %v", err)
	}
	// b goes offline; a changes its picture; b comes back.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	pic := bytes.Repeat([]byte{0xff, 0xd8}, 1000)
	if err := a.SetProfilePicture(pic); err != nil {
		t.Fatal(err)
	}
	b.restart(t, clock, ra)
	b.ev.waitRetrying(t, a.Node, clock, EventFriendProfile, func(e Event) bool {
		f, _ := b.Friend(aID)
		return e.FriendID == aID && bytes.Equal(f.ProfilePicture, pic)
	}, 60*time.Second)
	// A friend linked later gets the profile without any change.
	c := newTestNode(t, clock, ra)
	_, cSeesA := link(t, a, c)
	c.ev.waitRetrying(t, a.Node, clock, EventFriendProfile, func(e Event) bool { return e.FriendID == cSeesA && e.Text == "Alice" }, 30*time.Second)
	// Nothing of it at the sender's surface.
	for _, it := range a.Pending() {
		if it.Type == TypeProfile {
			t.Fatalf("profile item in Pending: %+v", it)
		}
	}
	for _, e := range a.ev.snapshot() {
		if e.Kind == EventDelivered || e.Kind == EventQueued {
			t.Fatalf("a delivery event for a profile item: %+v", e)
		}
	}
	for _, it := range b.Inbox() {
		if it.Type == TypeProfile {
			t.Fatalf("profile item in b's inbox: %+v", it)
		}
	}
	_ = bID
}

// TestProfilePictureHasNoGPS: a camera thumbnail set as the profile
// picture reaches the friend without its location (P3): the EXIF GPS IFD,
// XMP and IPTC place name are blanked as for shared photos. Fails if
// SetProfilePicture stores the bytes as given.
func TestProfilePictureHasNoGPS(t *testing.T) {
	clock, _, a, b, _, aID := pair(t)
	pic := scrubtest.JPEG(binary.BigEndian)
	if len(pic) > MaxProfilePicture {
		t.Fatalf("test picture %d bytes", len(pic))
	}
	if len(scrubtest.Leaks(pic)) == 0 {
		t.Fatal("positive control: the test picture carries no location")
	}
	if err := a.SetProfilePicture(pic); err != nil {
		t.Fatal(err)
	}
	b.ev.waitRetrying(t, a.Node, clock, EventFriendProfile, func(e Event) bool {
		f, _ := b.Friend(aID)
		return e.FriendID == aID && len(f.ProfilePicture) == len(pic)
	}, 30*time.Second)
	f, _ := b.Friend(aID)
	if l := scrubtest.Leaks(f.ProfilePicture); len(l) > 0 {
		t.Fatalf("the friend reads the location from the profile picture: %v", l)
	}
	if _, err := jpeg.Decode(bytes.NewReader(f.ProfilePicture)); err != nil {
		t.Fatalf("the scrubbed picture does not decode: %v", err)
	}
}
