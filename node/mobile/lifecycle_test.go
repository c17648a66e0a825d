package mobile

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/imigee/imigee/relay"
)

// keepaliveWindow is longer than go-libp2p's QUIC keepalive period (15 s),
// so a connection kept alive shows at least one datagram in it.
const keepaliveWindow = 16 * time.Second

// closeSettle lets the closing packets pass before a quiet window opens.
const closeSettle = 2 * time.Second

// TestBackgroundDropsKeepalives: a node that knows its relay only through
// a counting UDP forwarder sends datagrams while up (the connection and
// its keepalives), and none in a window longer than the keepalive period
// once backgrounded with nothing pending. Before SetAppState existed the
// only knob, SetAppOpen(false), left the connection and its keepalives up.
func TestBackgroundDropsKeepalives(t *testing.T) {
	r := startRelay(t, nil)
	_, up := relayQUIC(t, r)
	fw := newUDPCounter(t, up)
	a, _ := newStarted(t, fw.addr(r))
	// The session with the relay is up through the forwarder.
	deadline := time.Now().Add(5 * time.Second)
	for fw.dgrams.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if fw.dgrams.Load() == 0 {
		t.Fatal("no datagram through the forwarder: the test would prove nothing")
	}
	if err := a.SetAppState(AppBackground); err != nil {
		t.Fatal(err)
	}
	// quic-go sends the CONNECTION_CLOSE frames just after the host's
	// Close returns: let them pass before the window opens.
	time.Sleep(closeSettle)
	d0, b0 := fw.dgrams.Load(), fw.bytes.Load()
	// Told the network changed, with nothing waiting: it stays asleep.
	if err := a.NetworkChanged(NetworkCellular, true); err != nil {
		t.Fatal(err)
	}
	if err := a.NetworkChanged("carrier-pigeon", false); ErrorCode(err) != CodeBadArgument {
		t.Fatalf("unknown network kind: %v", err)
	}
	time.Sleep(keepaliveWindow)
	if d, b := fw.dgrams.Load()-d0, fw.bytes.Load()-b0; d != 0 {
		t.Fatalf("background, idle: %d datagrams (%d bytes) in %v, want 0", d, b, keepaliveWindow)
	}
	// The data API works while asleep.
	if a.InboxJSON() != "[]" {
		t.Fatalf("inbox %s", a.InboxJSON())
	}
	if err := a.SetAppState(AppForeground); err != nil {
		t.Fatal(err)
	}
	d1 := fw.dgrams.Load()
	deadline = time.Now().Add(5 * time.Second)
	for fw.dgrams.Load() == d1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if fw.dgrams.Load() == d1 {
		t.Fatal("foreground again: no datagram to the relay")
	}
}

// TestStopStart: Stop keeps the store (the data API works), Start after
// it brings networking back, and a message sent meanwhile through the
// relay arrives. Before, a closed node could not start again.
func TestStopStart(t *testing.T) {
	r := startRelay(t, nil)
	addr, _ := relayQUIC(t, r)
	a, ea := newStarted(t, addr)
	b, _ := newStarted(t, addr)
	bid := linkPair(t, a, b)
	aid := a.ID()
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Invite(); ErrorCode(err) != CodeNotStarted {
		t.Fatalf("Invite while stopped: %v", err)
	}
	var fs []map[string]any
	if err := json.Unmarshal([]byte(a.FriendsJSON()), &fs); err != nil || len(fs) != 1 {
		t.Fatalf("friends while stopped: %s", a.FriendsJSON())
	}
	if _, err := b.SendMessage(aid, "while you were out"); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	ev := ea.wait(t, EventMessage, nil, 15*time.Second)
	if ev.FriendID != bid || ev.Text != "while you were out" {
		t.Fatalf("message %+v", ev)
	}
	// And again.
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Invite(); err != nil {
		t.Fatal(err)
	}
}

// TestSyncOnceInBackground: a backgrounded node misses a message; SyncOnce
// fetches it, returns a summary and emits sync_done, and leaves the
// network down again.
func TestSyncOnceInBackground(t *testing.T) {
	r := startRelay(t, nil)
	addr, up := relayQUIC(t, r)
	fw := newUDPCounter(t, up)
	a, ea := newStarted(t, fw.addr(r))
	b, eb := newStarted(t, addr)
	linkPair(t, a, b)
	if err := a.SetAppState(AppBackground); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SendMessage(a.ID(), "wake up"); err != nil {
		t.Fatal(err)
	}
	eb.wait(t, EventQueued, nil, 30*time.Second) // b gave up on a direct attempt and posted it
	s, err := a.SyncOnce(10000)
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Complete      bool
		Received      int
		RelaysReached int
	}
	if err := json.Unmarshal([]byte(s), &sum); err != nil || !sum.Complete || sum.Received != 1 || sum.RelaysReached != 1 {
		t.Fatalf("summary %s (%v)", s, err)
	}
	if ev := ea.wait(t, EventMessage, nil, time.Second); ev.Text != "wake up" {
		t.Fatalf("message %+v", ev)
	}
	ea.wait(t, EventSyncDone, nil, time.Second)
	// Down again: nothing crosses the forwarder.
	time.Sleep(closeSettle)
	d0 := fw.dgrams.Load()
	time.Sleep(2 * time.Second)
	if d := fw.dgrams.Load() - d0; d != 0 {
		t.Fatalf("%d datagrams after SyncOnce in background", d)
	}
}

// TestBackgroundWakesForOwnRetry: a backgrounded node with a delivery
// waiting for its retry wakes on its own when the retry falls due (a
// sync_done event the app did not ask for), tries again, and goes back to
// sleep. No relay here, so the retry cannot be parked in a mailbox.
func TestBackgroundWakesForOwnRetry(t *testing.T) {
	a, ea := newStarted(t, "")
	b, _ := newStarted(t, "")
	linkPair(t, a, b)
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SendMessage(b.ID(), "later"); err != nil {
		t.Fatal(err)
	}
	// The first attempt fails (b is down): the item waits for its retry.
	deadline := time.Now().Add(15 * time.Second)
	for {
		var items []struct{ Recipients []struct{ Attempts int } }
		_ = json.Unmarshal([]byte(a.PendingJSON()), &items)
		if len(items) == 1 && len(items[0].Recipients) == 1 && items[0].Recipients[0].Attempts > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed attempt: %s", a.PendingJSON())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := a.SetAppState(AppBackground); err != nil {
		t.Fatal(err)
	}
	ev := ea.wait(t, EventSyncDone, nil, 30*time.Second)
	var sum struct{ Waiting int }
	if err := json.Unmarshal([]byte(ev.Text), &sum); err != nil || sum.Waiting != 1 {
		t.Fatalf("wake-up summary %q", ev.Text)
	}
}

// storeBlobs reads the relay's imigee_relay_store_blobs gauge.
func storeBlobs(t *testing.T, r *relay.Relay) float64 {
	t.Helper()
	mfs, err := r.MetricsRegistry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "imigee_relay_store_blobs" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no imigee_relay_store_blobs")
	return 0
}

// TestForgetWhileAsleep: Forget called while the node sleeps in the
// background still reaches the relay (P8): the node wakes for it, and
// what waited for it there is gone. Before, a node without a running host
// skipped the relays and only wiped itself.
func TestForgetWhileAsleep(t *testing.T) {
	r := startRelay(t, nil)
	addr, _ := relayQUIC(t, r)
	a, _ := newStarted(t, addr)
	b, eb := newStarted(t, addr)
	linkPair(t, a, b)
	if err := a.SetAppState(AppBackground); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SendMessage(a.ID(), "for a"); err != nil {
		t.Fatal(err)
	}
	eb.wait(t, EventQueued, nil, 30*time.Second)
	if storeBlobs(t, r) == 0 {
		t.Fatal("nothing waits at the relay: the test would prove nothing")
	}
	if err := a.Forget(10000); err != nil {
		t.Fatal(err)
	}
	if n := storeBlobs(t, r); n != 0 {
		t.Fatalf("%v blobs left at the relay after Forget", n)
	}
}
