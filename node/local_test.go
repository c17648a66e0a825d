package node

import (
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestBLEHook: two friends with no relay at all meet over the Bluetooth
// hook; the scan alone is not enough, the Hello proofs confirm it.
func TestBLEHook(t *testing.T) {
	clock := newTestClock()
	a := newTestNode(t, clock, nil)
	b := newTestNode(t, clock, nil)
	bID, _ := link(t, a, b)
	if len(a.BLEAdvertisement()) != 0 {
		t.Fatal("advertising without a location")
	}
	for _, n := range []*testNode{a, b} {
		n.SetAppOpen(true)
		_ = n.SetLocation(lat0, lng0, 5)
	}
	adv := b.BLEAdvertisement()
	if len(adv) != 8 {
		t.Fatalf("advertisement %d bytes, want one token", len(adv))
	}
	a.OnBLEScan([]byte("random junk from a stranger's beacon"))
	a.OnBLEScan(adv)
	a.ev.wait(t, EventFriendNearby, func(e Event) bool { return e.FriendID == bID }, 10*time.Second)
	// A quiet zone silences the advertisement.
	if _, err := b.AddQuietZone(lat0, lng0, 100); err != nil {
		t.Fatal(err)
	}
	if len(b.BLEAdvertisement()) != 0 {
		t.Fatal("advertising inside a quiet zone")
	}
}

// TestLANProbe runs the mDNS peer-found path directly (multicast may not
// exist in the test environment): a LAN peer that is a friend is confirmed
// by Hello proofs and becomes nearby.
func TestLANProbe(t *testing.T) {
	clock := newTestClock()
	a := newTestNode(t, clock, nil)
	b := newTestNode(t, clock, nil)
	stranger := newTestNode(t, clock, nil)
	bID, _ := link(t, a, b)
	a.SetAppOpen(true)
	_ = a.SetLocation(lat0, lng0, 5)
	hs, _ := stranger.host()
	lanNotifee{a.Node}.HandlePeerFound(peer.AddrInfo{ID: hs.ID(), Addrs: hs.Addrs()})
	hb, _ := b.host()
	lanNotifee{a.Node}.HandlePeerFound(peer.AddrInfo{ID: hb.ID(), Addrs: hb.Addrs()})
	ev := a.ev.wait(t, EventFriendNearby, nil, 10*time.Second)
	if ev.FriendID != bID {
		t.Fatalf("nearby %+v", ev)
	}
}
