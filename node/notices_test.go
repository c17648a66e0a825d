package node

import (
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/imigee/imigee/node/localstore"
)

// storedNotices returns n's stored notices (receipts and rejections not yet
// posted).
func storedNotices(n *Node) []notice {
	var out []notice
	_ = n.store.ForEach(localstore.Retry, func(v []byte) error {
		var nt notice
		if json.Unmarshal(v, &nt) == nil && nt.Item != "" {
			out = append(out, nt)
		}
		return nil
	})
	return out
}

// TestNoticesRetried: the recipient's receipt (for a message) and
// rejection (for a photo) cannot be posted because the sender's relay is
// down. Both are stored, retried with back-off, survive a restart of the
// recipient, and reach the sender once its relay is back; then they are
// dropped. A receipt that arrives twice changes nothing. Before the fix
// each notice was posted once and lost: the sender kept both items queued
// until retention.
func TestNoticesRetried(t *testing.T) {
	clock := newTestClock()
	ra := startRestartableRelay(t, clock)
	rb := startRelay(t, clock)
	a := newTestNode(t, clock, ra.addrs())
	b := newTestNode(t, clock, relayAddrs(rb))
	bID, aID := link(t, a, b)
	fastRedialAll(a, b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	mid, err := a.SendMessage(bID, "tell me you got it")
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := sharePhoto(t, a, []string{bID}, 20<<10)
	for _, id := range []string{mid, pid} {
		a.ev.waitRetrying(t, a.Node, clock, EventQueued, func(e Event) bool { return e.ItemID == id }, 30*time.Second)
	}

	// a's relay goes down; b comes back, gets the message (receipt) and
	// declines the photo (rejection): neither can reach a's relay.
	ra.stop()
	b.restart(t, clock, relayAddrs(rb))
	b.ev.wait(t, EventMessage, func(e Event) bool { return e.ItemID == mid }, 20*time.Second)
	b.ev.wait(t, EventItemOffered, func(e Event) bool { return e.ItemID == pid }, 20*time.Second)
	if err := b.Reject(pid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, func() bool {
		ns := storedNotices(b.Node)
		failed := 0
		for _, nt := range ns {
			if nt.Attempts > 0 && nt.NextTry > clock.Now().Unix() {
				failed++
			}
		}
		return len(ns) == 2 && failed == 2
	})
	// The back-off survives a restart.
	b.restart(t, clock, relayAddrs(rb))
	if ns := storedNotices(b.Node); len(ns) != 2 || ns[0].Attempts == 0 || ns[1].Attempts == 0 {
		t.Fatalf("notices after restart: %+v", ns)
	}

	// a's relay is back: the retries get through (b's back-off passes)
	// and a hears of both.
	ra.start()
	clock.Add(RetryMax + time.Second)
	b.wake()
	a.ev.waitRetrying(t, b.Node, clock, EventDelivered, func(e Event) bool { return e.ItemID == mid && e.FriendID == bID }, 60*time.Second)
	ev := a.ev.waitRetrying(t, b.Node, clock, EventDeliveryFailed, func(e Event) bool { return e.ItemID == pid }, 30*time.Second)
	if ev.Err != FailRejected {
		t.Fatalf("failure event %+v", ev)
	}
	waitFor(t, 10*time.Second, func() bool { return len(storedNotices(b.Node)) == 0 && len(a.Pending()) == 0 })

	// The same receipt and rejection again: acked and ignored.
	fa, err := b.friend(aID)
	if err != nil {
		t.Fatal(err)
	}
	midb, _ := hex.DecodeString(mid)
	pidb, _ := hex.DecodeString(pid)
	b.sendMailboxReceipt(fa, midb, nil)
	b.sendMailboxReject(fa, pidb)
	waitFor(t, 20*time.Second, func() bool {
		return len(storedNotices(b.Node)) == 0 && pendingAt(t, a.Node, ra.r) == 0 && pendingAt(t, a.Node, rb) == 0
	})
	time.Sleep(200 * time.Millisecond)
	if a.ev.count(EventDelivered) != 1 || a.ev.count(EventDeliveryFailed) != 1 {
		t.Fatalf("a duplicate notice changed something: %+v", a.ev.snapshot())
	}
}

// TestNoticeDroppedAfterRetention: a notice that can never be posted (no
// relay anywhere) is retried with back-off and dropped once the retention
// passed, like the sender's pending copy.
func TestNoticeDroppedAfterRetention(t *testing.T) {
	clock := newTestClock()
	a := newTestNode(t, clock, nil)
	b := newTestNode(t, clock, nil)
	bID, _ := link(t, a, b)
	fb, err := a.friend(bID)
	if err != nil {
		t.Fatal(err)
	}
	_, idb := newItemID()
	a.sendMailboxReceipt(fb, idb[:], nil)
	waitFor(t, 20*time.Second, func() bool {
		ns := storedNotices(a.Node)
		return len(ns) == 1 && ns[0].Attempts > 0 && ns[0].NextTry > clock.Now().Unix()
	})
	clock.Add(DefaultRetention + time.Hour)
	a.wake()
	waitFor(t, 20*time.Second, func() bool { return len(storedNotices(a.Node)) == 0 })
}
