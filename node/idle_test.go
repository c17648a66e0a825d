package node

import (
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto"
)

// TestIdleCost measures what a stationary device with 100 friends sends to
// its relay per hour while announcing (app open): one announcement per
// epoch, nothing else. It drives epochs with the injected clock.
func TestIdleCost(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	clock := newTestClock()
	r := startRelay(t, clock)
	var mu sync.Mutex
	var bytesSent, writes int
	per := map[string]int{}
	rec := func(proto string, p []byte) {
		mu.Lock()
		bytesSent += len(p)
		per[proto] += len(p)
		writes++
		mu.Unlock()
	}
	a := &testNode{ev: newEvents(), dir: t.TempDir(), key: make([]byte, 32), pre: func(n *Node) {
		n.relayRec = rec
		n.cfg.TransportRotation = DefaultTransportRotation // P12: hourly, as shipped
	}}
	a.Node = a.open(t, clock, relayAddrs(r))
	for i := 0; i < 100; i++ {
		id, err := crypto.NewIdentity(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.addFriend(id.Card(), nil); err != nil {
			t.Fatal(err)
		}
	}
	a.SetAppOpen(true)
	_ = a.SetLocation(lat0, lng0, 10)
	// Let the first announcement and the subscriptions made while adding
	// friends settle: wait for a quiet half second.
	for last := -1; ; {
		time.Sleep(500 * time.Millisecond)
		mu.Lock()
		cur := bytesSent
		mu.Unlock()
		if cur == last {
			break
		}
		last = cur
	}
	mu.Lock()
	bytesSent, writes = 0, 0
	per = map[string]int{}
	mu.Unlock()
	hosts0 := a.tstats.hosts.Load()
	const epochs = 6 // one hour at 600 s
	for i := 0; i < epochs; i++ {
		clock.Add(600 * time.Second)
		a.wake()
		time.Sleep(300 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if bytesSent == 0 {
		t.Fatal("nothing announced")
	}
	t.Logf("100 friends, stationary, app open: %d bytes in %d stream writes to the relay per hour (%d B per epoch; by protocol %v); %d new transport identities (connections with a handshake) in the hour",
		bytesSent, writes, bytesSent/epochs, per, a.tstats.hosts.Load()-hosts0)
}
