package node

import (
	"testing"
	"time"
)

// TestRetryScheduleSurvivesRestart: a failed delivery's back-off is stored
// with the item; after a restart the node keeps it and delivers once the
// friend is back.
func TestRetryScheduleSurvivesRestart(t *testing.T) {
	clock := newTestClock()
	a := newTestNode(t, clock, nil)
	b := newTestNode(t, clock, nil)
	bID, aID := link(t, a, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	id, err := a.SendMessage(bID, "are you there?")
	if err != nil {
		t.Fatal(err)
	}
	var r recip
	waitFor(t, 30*time.Second, func() bool {
		it, err := a.getOut(id)
		if err != nil {
			return false
		}
		r = *it.To[bID]
		return r.Attempts >= 1
	})
	if r.NextTry <= clock.Now().Unix() {
		t.Fatalf("no back-off stored: %+v", r)
	}
	a.restart(t, clock, nil)
	it, err := a.getOut(id)
	if err != nil || it.To[bID].Attempts < r.Attempts || it.To[bID].NextTry < r.NextTry {
		t.Fatalf("schedule lost across restart: %+v %v", it, err)
	}
	// b comes back (new transport ID) and reaches a: a learns where b is
	// and delivers at once.
	b.restart(t, clock, nil)
	fa, _ := b.friend(aID)
	ha, _ := a.host()
	hb, _ := b.host()
	hb.Peerstore().AddAddrs(ha.ID(), ha.Addrs(), time.Hour)
	b.notePeer(fa, ha.ID())
	if _, err := b.SendMessage(aID, "back"); err != nil {
		t.Fatal(err)
	}
	b.ev.wait(t, EventMessage, func(e Event) bool { return e.ItemID == id }, 20*time.Second)
}
