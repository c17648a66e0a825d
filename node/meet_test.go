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

// TestMovedWithinEpochLeavesNoStaleTokens (issue 14's one-sided far
// detections): a announces at one place, then moves 2 km within the same
// epoch; b arriving at the first place later in that epoch must not find
// a there. Before the fix the relay kept a's first tokens beside the new
// ones, b matched them and confirmed a over Hello (a ignored its side of
// the match), so b alone reported a friend who had left.
func TestMovedWithinEpochLeavesNoStaleTokens(t *testing.T) {
	_, _, a, b, _, _ := pair(t)
	a.SetAppOpen(true)
	b.SetAppOpen(true)
	if err := a.SetLocation(lat0, lng0, 10); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { r, ok := a.historyAt(a.epochNow()); return ok && r.Live })
	far1, far2 := geo.Destination(lat0, lng0, 0, 2000)
	if err := a.SetLocation(far1, far2, 10); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		h16, _ := geo.Cells(far1, far2, 16)
		return a.prox != nil && a.prox.cells[0] == h16
	})
	time.Sleep(time.Second) // the re-announcement
	lat1, lng1 := geo.Destination(lat0, lng0, 90, 20)
	if err := b.SetLocation(lat1, lng1, 10); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if n := a.ev.count(EventFriendNearby) + b.ev.count(EventFriendNearby); n != 0 {
		t.Fatalf("%d friend_nearby for a friend who left the place", n)
	}
}
