package node

import (
	"testing"
	"time"
)

// TestTransportIdentityRotates (P12): a new transport ID on every start and
// after TransportRotation, and the node keeps receiving after a rotation.
func TestTransportIdentityRotates(t *testing.T) {
	clock, ra, a, b, bID, aID := pair(t)
	first := b.TransportID()
	b.restart(t, clock, ra)
	second := b.TransportID()
	if first == second || second == "" {
		t.Fatal("restart kept the transport identity")
	}
	clock.Add(MaxTransportRotation + time.Minute)
	b.wake()
	waitFor(t, 10*time.Second, func() bool { return b.TransportID() != second })
	// Still reachable: a's direct attempt fails (old ID), the mailbox works.
	if _, err := a.SendMessage(bID, "after rotation"); err != nil {
		t.Fatal(err)
	}
	b.ev.wait(t, EventMessage, nil, 30*time.Second)
	_ = aID
}
