package node

import (
	"os"
	"sync"
	"testing"
	"time"
)

// TestShareDayCost measures what P12 costs on a day of 20 offline
// deliveries (10 messages, 10 photos of 600 KiB) from a to b: one-off
// identities made at the sender (puts) and at the recipient (past-day
// catch-ups, receipts), and the stream bytes each sends to the relay.
func TestShareDayCost(t *testing.T) {
	if os.Getenv("IMIGEE_MEASURE") == "" {
		t.Skip("measurement: set IMIGEE_MEASURE=1")
	}
	clock := newTestClock()
	r := startRelay(t, clock)
	ra := relayAddrs(r)
	var mu sync.Mutex
	sent := map[string]int{}
	mk := func(name string) *testNode {
		tn := &testNode{ev: newEvents(), dir: t.TempDir(), key: make([]byte, 32), pre: func(n *Node) {
			n.relayRec = func(_ string, p []byte) { mu.Lock(); sent[name] += len(p); mu.Unlock() }
		}}
		tn.Node = tn.open(t, clock, ra)
		return tn
	}
	a, b := mk("a"), mk("b")
	bID, aID := link(t, a, b)
	_ = b.SetAutoAccept(aID, true)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	a0 := a.tstats.oneOffs.Load()
	mu.Lock()
	sent["a"], sent["b"] = 0, 0
	mu.Unlock()
	for i := range 10 {
		if _, err := a.SendMessage(bID, "offline message "+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
		sharePhoto(t, a, []string{bID}, 600<<10)
	}
	waitFor(t, 60*time.Second, func() bool { return a.ev.count(EventQueued) >= 20 })
	b.restart(t, clock, ra)
	waitFor(t, 60*time.Second, func() bool { return b.ev.count(EventMessage) >= 10 && b.ev.count(EventItemReceived) >= 10 })
	waitFor(t, 60*time.Second, func() bool { return a.ev.count(EventDelivered) >= 20 })
	mu.Lock()
	defer mu.Unlock()
	t.Logf("20 offline deliveries: sender made %d one-off identities and sent %d KiB to the relay; recipient made %d one-offs (receipts, past days) and sent %d KiB",
		a.tstats.oneOffs.Load()-a0, sent["a"]>>10, b.tstats.oneOffs.Load(), sent["b"]>>10)
}
