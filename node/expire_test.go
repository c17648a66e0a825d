package node

import (
	"os"
	"testing"
	"time"
)

// TestPendingCopyExpires (P11): an item nobody fetched is dropped with its
// sealed copy after the retention window, and the app hears about it.
func TestPendingCopyExpires(t *testing.T) {
	clock := newTestClock()
	a := newTestNode(t, clock, nil, func(c *Config) { c.Retention = 48 * time.Hour })
	b := newTestNode(t, clock, nil)
	bID, _ := link(t, a, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	id, _ := sharePhoto(t, a, []string{bID}, 1000)
	if len(a.Pending()) != 1 {
		t.Fatal("not pending")
	}
	clock.Add(49 * time.Hour)
	a.wake()
	a.ev.wait(t, EventDeliveryFailed, func(e Event) bool { return e.ItemID == id }, 10*time.Second)
	if len(a.Pending()) != 0 {
		t.Fatal("still pending after retention")
	}
	if ents, _ := os.ReadDir(a.outdir); len(ents) != 0 {
		t.Fatalf("sealed copy left: %d files", len(ents))
	}
}

// TestQueuedItemExpires (P11): an item waiting in the friend's relay
// mailbox for a receipt has no retry left to make the loop look at it
// again; its retention alone must still drop it. (The loop skips outbox
// scans a wake cannot change, so the retention deadline is what brings
// this item back to a scan.)
func TestQueuedItemExpires(t *testing.T) {
	clock, _, a, b, bID, _ := pair(t)
	id := messageToAbsent(t, clock, a, b, bID, "for later")
	// Quiet wakes with nothing due: the loop remembers that.
	for range 3 {
		a.wake()
		time.Sleep(20 * time.Millisecond)
	}
	clock.Add(DefaultRetention + time.Hour)
	a.wake()
	ev := a.ev.wait(t, EventDeliveryFailed, func(e Event) bool { return e.ItemID == id }, 10*time.Second)
	if ev.Err != FailRetention {
		t.Fatalf("failed with %q, want %q", ev.Err, FailRetention)
	}
	if len(a.Pending()) != 0 {
		t.Fatalf("still pending after retention: %+v", a.Pending())
	}
}
