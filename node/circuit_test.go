package node

import (
	"net"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"
)

// TestDeliveryTakesCircuitWhenDirectIsBlackholed (issue 14's finding: with
// NATed phones the circuit path never occurred): the friend's direct
// address swallows every packet (a phone behind a NAT), and the friend is
// neither connected nor nearby, so the delivery has DirectDialBudget. The
// direct attempt must leave the circuit through the relay time to connect,
// so the message arrives live over the circuit, not through the mailbox.
// Before the fix the direct attempt used the whole budget and every such
// delivery went to the mailbox.
func TestDeliveryTakesCircuitWhenDirectIsBlackholed(t *testing.T) {
	_, ra, a, b, bID, _ := pair(t)
	// Let b's circuit reservation stand and a learn b's transport ID.
	if _, err := a.SendMessage(bID, "warm up"); err != nil {
		t.Fatal(err)
	}
	b.ev.wait(t, EventMessage, nil, 20*time.Second)
	// a proves b's Hello when it reads the receipt (the message goes out
	// right behind a's Hello), so wait for the delivery, not b's event.
	a.ev.wait(t, EventDelivered, nil, 20*time.Second)
	hole, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hole.Close() // never read: a black hole
	bh, _ := b.host()
	ah, _ := a.host()
	f, _ := a.friend(bID)
	a.mu.Lock()
	pid := f.peer
	a.mu.Unlock()
	if pid != bh.ID() {
		t.Fatalf("a does not know b's transport ID")
	}
	_ = ah.Network().ClosePeer(pid)
	ah.Peerstore().ClearAddrs(pid)
	direct := ma.StringCast("/ip4/127.0.0.1/udp/" + itoa(hole.LocalAddr().(*net.UDPAddr).Port) + "/quic-v1")
	circuit := ma.StringCast(ra[0] + "/p2p-circuit")
	ah.Peerstore().AddAddrs(pid, []ma.Multiaddr{direct, circuit}, peerstore.PermanentAddrTTL)
	if _, err := a.SendMessage(bID, "over the circuit"); err != nil {
		t.Fatal(err)
	}
	ev := b.ev.wait(t, EventMessage, func(e Event) bool { return e.Text == "over the circuit" }, 60*time.Second)
	if ev.Via != ViaCircuit {
		t.Fatalf("delivered via %q, want %q", ev.Via, ViaCircuit)
	}
}
