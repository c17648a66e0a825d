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
