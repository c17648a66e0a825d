package node

import (
	"testing"
	"time"

	"github.com/imigee/imigee/crypto/geo"
)

const lat0, lng0 = 52.52000, 13.40500

func TestMeetFriendNearbyOnBoth(t *testing.T) {
	_, _, a, b, bID, aID := pair(t)
	a.SetAppOpen(true)
	b.SetAppOpen(true)
	if err := a.SetLocation(lat0, lng0, 10); err != nil {
		t.Fatal(err)
	}
	// 40 m away.
	lat1, lng1 := geo.Destination(lat0, lng0, 90, 40)
	if err := b.SetLocation(lat1, lng1, 10); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a.ev.wait(t, EventFriendNearby, func(e Event) bool { return e.FriendID == bID }, 10*time.Second)
	b.ev.wait(t, EventFriendNearby, func(e Event) bool { return e.FriendID == aID }, 10*time.Second)
	t.Logf("friend_nearby on both %v after the second announcement", time.Since(start))
	var near bool
	for _, f := range a.Friends() {
		near = near || (f.ID == bID && f.Nearby)
	}
	if !near {
		t.Fatal("Friends() does not show the friend nearby")
	}
	// Auto-share to friends nearby now (sender policy, P7).
	if err := a.SetSharePolicy(SharePolicy{Mode: ShareNearby}); err != nil {
		t.Fatal(err)
	}
	path, _ := writeFile(t, 1000)
	id, err := a.SharePhoto(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.ev.wait(t, EventItemOffered, func(e Event) bool { return e.ItemID == id }, 10*time.Second)
	// A time window that excludes now picks nobody.
	now := a.cfg.Now().In(a.zone()) // windows are in local time
	m := now.Hour()*60 + now.Minute()
	if err := a.SetSharePolicy(SharePolicy{Mode: ShareWindows, Windows: []Window{{StartMinute: (m + 60) % 1440, EndMinute: (m + 120) % 1440}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SharePhoto(path, nil); err != ErrNoRecipients {
		t.Fatalf("outside the window: %v", err)
	}
}

func TestMeetQuietZoneNeverFound(t *testing.T) {
	_, _, a, b, _, _ := pair(t)
	a.SetAppOpen(true)
	b.SetAppOpen(true)
	if _, err := b.AddQuietZone(lat0, lng0, 300); err != nil {
		t.Fatal(err)
	}
	if err := a.SetLocation(lat0, lng0, 10); err != nil {
		t.Fatal(err)
	}
	if err := b.SetLocation(lat0, lng0, 10); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if a.ev.count(EventFriendNearby)+b.ev.count(EventFriendNearby) != 0 {
		t.Fatal("a friend in a quiet zone was found")
	}
}

func TestMeetPrecisionOffAndNoLocation(t *testing.T) {
	_, _, a, b, bID, aID := pair(t)
	a.SetAppOpen(true)
	b.SetAppOpen(true)
	if err := b.SetPrecision(aID, PrecisionOff); err != nil {
		t.Fatal(err)
	}
	_ = a.SetLocation(lat0, lng0, 10)
	_ = b.SetLocation(lat0, lng0, 10)
	time.Sleep(1500 * time.Millisecond)
	if a.ev.count(EventFriendNearby)+b.ev.count(EventFriendNearby) != 0 {
		t.Fatal("precision off still matched")
	}
	// P9: with no location, b still receives messages.
	b.ClearLocation()
	if _, err := a.SendMessage(bID, "still there?"); err != nil {
		t.Fatal(err)
	}
	b.ev.wait(t, EventMessage, nil, 10*time.Second)
}
