package node

import (
	"context"
	"testing"
	"time"
)

// relayPending counts blobs waiting at the relays in every mailbox n can
// derive (both directions, the whole retention window).
func relayPending(t *testing.T, n *Node) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	keys := n.allMailboxKeys()
	n.mu.Lock()
	var rcs []*relayConn
	for _, rc := range n.rconns {
		rcs = append(rcs, rc)
	}
	n.mu.Unlock()
	total := 0
	for _, rc := range rcs {
		for len(keys) > 0 {
			batch := keys[:min(len(keys), 1024)]
			keys = keys[len(batch):]
			bs, err := rc.c.List(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			total += len(bs)
		}
	}
	return total
}

func TestOfflineDeliveryThroughRelay(t *testing.T) {
	clock, ra, a, b, bID, aID := pair(t)
	// Offline items go to b's prekey (exchanged at link), not its box key.
	fb, _ := a.friend(bID)
	if a.mailboxKeyFor(fb) == fb.card.BoxPub {
		t.Fatal("no prekey known after linking")
	}
	id, mid, data := leaveForAbsent(t, a, b, bID)
	// Both items are announced as queued at b's relay mailbox, and Pending
	// says so per recipient.
	a.ev.waitRetrying(t, a.Node, clock, EventQueued, func(e Event) bool { return e.ItemID == id && e.FriendID == bID }, 30*time.Second)
	a.ev.waitRetrying(t, a.Node, clock, EventQueued, func(e Event) bool { return e.ItemID == mid }, 30*time.Second)
	for _, it := range a.Pending() {
		if len(it.Recipients) != 1 || it.Recipients[0].FriendID != bID || it.Recipients[0].State != RecipientQueued {
			t.Fatalf("pending item %s recipients %+v", it.ID, it.Recipients)
		}
	}
	waitFor(t, 30*time.Second, func() bool {
		return relayPending(t, a.Node) >= 4 // offer + 2 chunk blobs + message
	})
	b.restart(t, clock, ra)
	acceptOffline(t, a, b, aID, id, mid, data)
	// Acked everywhere: the relay holds nothing for either direction.
	waitFor(t, 10*time.Second, func() bool { return relayPending(t, a.Node) == 0 })
	if len(a.Pending()) != 0 {
		t.Fatalf("pending copy kept: %+v", a.Pending())
	}
	// Fetching again delivers nothing twice.
	b.restart(t, clock, ra)
	time.Sleep(200 * time.Millisecond)
	if b.ev.count(EventItemReceived) != 1 || b.ev.count(EventMessage) != 1 {
		t.Fatalf("delivered more than once: %+v", b.ev.snapshot())
	}
}

func waitFor(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestOfflineRejectReachesSender: an item declined after it came by
// mailbox is reported to the sender through its own mailbox
// (EventDeliveryFailed "rejected"), and the pending copy is dropped.
func TestOfflineRejectReachesSender(t *testing.T) {
	clock, ra, a, b, bID, _ := pair(t)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	id, _ := sharePhoto(t, a, []string{bID}, 10<<10)
	a.ev.waitRetrying(t, a.Node, clock, EventQueued, func(e Event) bool { return e.ItemID == id }, 30*time.Second)
	// a goes away too, so b's decision cannot travel on a stream.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b.restart(t, clock, ra)
	b.ev.wait(t, EventItemOffered, func(e Event) bool { return e.ItemID == id }, 20*time.Second)
	if err := b.Reject(id); err != nil {
		t.Fatal(err)
	}
	a.restart(t, clock, ra)
	ev := a.ev.wait(t, EventDeliveryFailed, func(e Event) bool { return e.ItemID == id }, 20*time.Second)
	if ev.Err != FailRejected || ev.FriendID != bID {
		t.Fatalf("failure event %+v", ev)
	}
	waitFor(t, 10*time.Second, func() bool { return len(a.Pending()) == 0 })
}

// leaveForAbsent closes b and has a share a photo of 4 chunks (2 chunk
// blobs) and a message with it: what an offline test then delivers.
func leaveForAbsent(t *testing.T, a, b *testNode, bID string) (id, mid string, data []byte) {
	t.Helper()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	id, data = sharePhoto(t, a, []string{bID}, 200<<10+5)
	mid, err := a.SendMessage(bID, "left this for you")
	if err != nil {
		t.Fatal(err)
	}
	return id, mid, data
}

// acceptOffline is the returning recipient's side of an offline share: b is
// offered photo id from aID and gets message mid, accepts, receives the
// photo with content data, and a sees both delivered (receipts back).
func acceptOffline(t *testing.T, a, b *testNode, aID, id, mid string, data []byte) {
	t.Helper()
	off := b.ev.wait(t, EventItemOffered, func(e Event) bool { return e.ItemID == id }, 20*time.Second)
	if off.FriendID != aID {
		t.Fatalf("offer %+v", off)
	}
	msg := b.ev.wait(t, EventMessage, func(e Event) bool { return e.ItemID == mid }, 10*time.Second)
	if err := b.Accept(id); err != nil {
		t.Fatal(err)
	}
	got := b.ev.wait(t, EventItemReceived, func(e Event) bool { return e.ItemID == id }, 10*time.Second)
	sameFile(t, got.Path, data)
	dv := a.ev.wait(t, EventDelivered, func(e Event) bool { return e.ItemID == id }, 20*time.Second)
	a.ev.wait(t, EventDelivered, func(e Event) bool { return e.ItemID == mid }, 20*time.Second)
	if msg.Via != ViaMailbox || got.Via != ViaMailbox || dv.Via != ViaMailbox {
		t.Errorf("via: message %q, received %q, delivered %q; want %q", msg.Via, got.Via, dv.Via, ViaMailbox)
	}
}
