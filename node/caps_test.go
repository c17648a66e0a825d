package node

import (
	"sync"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto"
	proto "github.com/imigee/imigee/protocol"
)

// withoutAES makes aesHardware false for the nodes added to the returned
// set (devices without AES instructions, or of a release before Hello
// caps: both advertise 0), true for every other, until the test ends.
// Call it before the nodes start: the cleanup that restores the detection
// then runs after they are closed.
func withoutAES(t *testing.T) *sync.Map {
	var old sync.Map
	prev := aesHardware
	aesHardware = func(n *Node) bool { _, no := old.Load(n); return !no }
	t.Cleanup(func() { aesHardware = prev })
	return &old
}

// outVersion is the stream version of a's outbox item id.
func outVersion(t *testing.T, a *testNode, id string) uint8 {
	t.Helper()
	it, err := a.getOut(id)
	if err != nil {
		t.Fatal(err)
	}
	k, err := crypto.ParseStreamKey(it.Key)
	if err != nil {
		t.Fatal(err)
	}
	return k.Version
}

func friendCaps(n *testNode, id string) uint32 {
	f, err := n.friend(id)
	if err != nil {
		return 0
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return f.saved.Caps
}

// TestStreamCipherFollowsCaps: a photo goes out with AES-256-GCM chunks
// (stream version 3) only when the sender and every recipient said in a
// verified Hello that they have AES hardware; an item for a friend that
// did not (a phone without the instructions, or an older release that
// cannot parse version 3) is sealed with XChaCha20-Poly1305 (version 2),
// and both arrive intact. The caps a node learned survive its restart.
func TestStreamCipherFollowsCaps(t *testing.T) {
	old := withoutAES(t)
	clock := newTestClock()
	a := newTestNode(t, clock, nil)
	b := newTestNode(t, clock, nil)
	c := newTestNode(t, clock, nil)
	old.Store(c.Node, true)
	bID, aAtB := link(t, a, b)
	cID, aAtC := link(t, a, c)
	if b.SetAutoAccept(aAtB, true) != nil || c.SetAutoAccept(aAtC, true) != nil {
		t.Fatal("auto-accept")
	}
	// A message each way teaches a both friends' caps (any verified Hello
	// does).
	for _, id := range []string{bID, cID} {
		if _, err := a.SendMessage(id, "hi"); err != nil {
			t.Fatal(err)
		}
		a.ev.waitRetrying(t, a.Node, clock, EventDelivered, func(e Event) bool { return e.FriendID == id }, 30*time.Second)
	}
	if friendCaps(a, bID) != proto.HelloCapAESGCM || friendCaps(a, cID) != 0 {
		t.Fatalf("caps learned: b %d, c %d", friendCaps(a, bID), friendCaps(a, cID))
	}
	for _, tc := range []struct {
		to   []string
		want uint8
	}{
		{[]string{bID}, crypto.StreamV3},
		{[]string{bID, cID}, crypto.StreamV2},
		{[]string{cID}, crypto.StreamV2},
	} {
		a.holdDeliveries(true)
		id, data := sharePhoto(t, a, tc.to, 200<<10)
		if v := outVersion(t, a, id); v != tc.want {
			t.Errorf("item to %d friends (c among them: %v): stream version %d, want %d", len(tc.to), tc.to[len(tc.to)-1] == cID, v, tc.want)
		}
		a.holdDeliveries(false)
		for _, to := range tc.to {
			r := b
			if to == cID {
				r = c
			}
			e := r.ev.waitRetrying(t, r.Node, clock, EventItemReceived, func(e Event) bool { return e.ItemID == id }, 30*time.Second)
			sameFile(t, e.Path, data)
		}
	}
	a.restart(t, clock, nil)
	if friendCaps(a, bID) != proto.HelloCapAESGCM {
		t.Fatalf("b's caps after a restart: %d", friendCaps(a, bID))
	}
}
