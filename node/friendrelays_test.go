package node

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/imigee/imigee/relay"
)

// pendingAt counts blobs waiting at relay r in every mailbox n can derive
// (both directions, the whole retention window), asking through n's own
// transport as a friend's relay is asked.
func pendingAt(t *testing.T, n *Node, r *relay.Relay) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, release, err := n.relayClientFor(peer.AddrInfo{ID: r.ID(), Addrs: r.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	keys := n.allMailboxKeys()
	total := 0
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 1024)]
		keys = keys[len(batch):]
		bs, err := c.List(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		total += len(bs)
	}
	return total
}

// splitPair links a (only at relay ra) and b (only at relay rb): no relay
// is shared.
func splitPair(t *testing.T) (clock *testClock, ra, rb *relay.Relay, a, b *testNode, bID, aID string) {
	clock = newTestClock()
	ra, rb = startRelay(t, clock), startRelay(t, clock)
	a = newTestNode(t, clock, relayAddrs(ra))
	b = newTestNode(t, clock, relayAddrs(rb))
	bID, aID = link(t, a, b)
	// Each learned where the other reads its mailboxes.
	fb, _ := a.friend(bID)
	fa, _ := b.friend(aID)
	if got := a.friendRelays(fb); len(got) != 1 || got[0].ID != rb.ID() {
		t.Fatalf("a has b's relays %v, want %s", got, rb.ID())
	}
	if got := b.friendRelays(fa); len(got) != 1 || got[0].ID != ra.ID() {
		t.Fatalf("b has a's relays %v, want %s", got, ra.ID())
	}
	return
}

// TestOfflineAcrossRelays: the recipient is offline and reads only at its
// own relay; the sender posts there, the receipt comes back through the
// sender's relay, and afterwards neither relay holds anything.
func TestOfflineAcrossRelays(t *testing.T) {
	clock, ra, rb, a, b, bID, aID := splitPair(t)
	id, mid, data := leaveForAbsent(t, a, b, bID)
	a.ev.waitRetrying(t, a.Node, clock, EventQueued, func(e Event) bool { return e.ItemID == id }, 30*time.Second)
	a.ev.waitRetrying(t, a.Node, clock, EventQueued, func(e Event) bool { return e.ItemID == mid }, 30*time.Second)
	if got := pendingAt(t, a.Node, rb); got < 4 {
		t.Fatalf("b's relay holds %d blobs, want offer + 2 chunk blobs + message", got)
	}
	if got := pendingAt(t, a.Node, ra); got != 0 {
		t.Fatalf("a's own relay holds %d blobs b never reads", got)
	}
	b.restart(t, clock, relayAddrs(rb))
	// The receipts travel to a's relay, where a is subscribed.
	acceptOffline(t, a, b, aID, id, mid, data)
	waitFor(t, 10*time.Second, func() bool { return pendingAt(t, a.Node, ra)+pendingAt(t, a.Node, rb) == 0 })
	if len(a.Pending()) != 0 {
		t.Fatalf("pending copy kept: %+v", a.Pending())
	}
}

// TestOfflineRejectAcrossRelays: both offline in turn; the rejection goes
// to the sender's relay, which the recipient does not use.
func TestOfflineRejectAcrossRelays(t *testing.T) {
	clock, ra, rb, a, b, bID, _ := splitPair(t)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	id, _ := sharePhoto(t, a, []string{bID}, 10<<10)
	a.ev.waitRetrying(t, a.Node, clock, EventQueued, func(e Event) bool { return e.ItemID == id }, 30*time.Second)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b.restart(t, clock, relayAddrs(rb))
	b.ev.wait(t, EventItemOffered, func(e Event) bool { return e.ItemID == id }, 20*time.Second)
	if err := b.Reject(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool { return pendingAt(t, b.Node, ra) == 1 })
	a.restart(t, clock, relayAddrs(ra))
	ev := a.ev.wait(t, EventDeliveryFailed, func(e Event) bool { return e.ItemID == id }, 20*time.Second)
	if ev.Err != FailRejected || ev.FriendID != bID {
		t.Fatalf("failure event %+v", ev)
	}
	waitFor(t, 10*time.Second, func() bool { return len(a.Pending()) == 0 })
	waitFor(t, 10*time.Second, func() bool { return pendingAt(t, a.Node, ra)+pendingAt(t, a.Node, rb) == 0 })
}

// TestLinkViaMailboxAcrossRelays: the requester parks its link request at
// the inviter's relay (from the invite), and each side learns where the
// other reads: a message from the inviter reaches the requester's relay.
func TestLinkViaMailboxAcrossRelays(t *testing.T) {
	clock := newTestClock()
	ra, rb := startRelay(t, clock), startRelay(t, clock)
	a := newTestNode(t, clock, relayAddrs(ra))
	b := newTestNode(t, clock, relayAddrs(rb))
	aID := linkWhileAway(t, a, b)
	mid, err := b.SendMessage(aID, "linked across relays")
	if err != nil {
		t.Fatal(err)
	}
	b.ev.waitRetrying(t, b.Node, clock, EventQueued, func(e Event) bool { return e.ItemID == mid }, 30*time.Second)
	a.restart(t, clock, relayAddrs(ra))
	a.ev.wait(t, EventFriendLinked, func(e Event) bool { return e.FriendID == b.ID() }, 20*time.Second)
	a.ev.wait(t, EventMessage, func(e Event) bool { return e.ItemID == mid }, 20*time.Second)
	b.ev.wait(t, EventDelivered, func(e Event) bool { return e.ItemID == mid }, 20*time.Second)
	// The other way: b offline, a posts to b's relay.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	back, err := a.SendMessage(b.ID(), "got it")
	if err != nil {
		t.Fatal(err)
	}
	a.ev.waitRetrying(t, a.Node, clock, EventQueued, func(e Event) bool { return e.ItemID == back }, 30*time.Second)
	b.restart(t, clock, relayAddrs(rb))
	b.ev.wait(t, EventMessage, func(e Event) bool { return e.ItemID == back }, 20*time.Second)
	a.ev.wait(t, EventDelivered, func(e Event) bool { return e.ItemID == back }, 20*time.Second)
	waitFor(t, 10*time.Second, func() bool { return pendingAt(t, a.Node, ra)+pendingAt(t, a.Node, rb) == 0 })
}

// TestRelayChangeToldOnMailbox: a node that moved to another relay tells
// a friend through the next mailbox item, so the receipt finds the new one.
func TestRelayChangeToldOnMailbox(t *testing.T) {
	clock, ra, rb, a, b, bID, _ := splitPair(t)
	rc := startRelay(t, clock)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	// a moves from ra to rc; b still believes a reads at ra.
	a.restart(t, clock, relayAddrs(rc))
	mid, err := a.SendMessage(bID, "moved")
	if err != nil {
		t.Fatal(err)
	}
	a.ev.waitRetrying(t, a.Node, clock, EventQueued, func(e Event) bool { return e.ItemID == mid }, 30*time.Second)
	b.restart(t, clock, relayAddrs(rb))
	b.ev.wait(t, EventMessage, func(e Event) bool { return e.ItemID == mid }, 20*time.Second)
	a.ev.wait(t, EventDelivered, func(e Event) bool { return e.ItemID == mid }, 20*time.Second)
	if pendingAt(t, a.Node, ra) != 0 {
		t.Fatal("the receipt went to the relay a left")
	}
}

// FuzzRelayHints feeds peer-supplied relay lists (from link payloads and
// contact envelopes) through the cleaning and grouping: no panic, at most
// MaxRelayHints kept, every kept one a relay address with /p2p/.
func FuzzRelayHints(f *testing.F) {
	f.Add(`["/ip4/127.0.0.1/udp/4001/quic-v1/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq","/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq"]`)
	f.Add(`["/ip4/1.2.3.4/tcp/1/p2p/12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq/p2p-circuit","garbage",""]`)
	f.Add(`not json`)
	f.Fuzz(func(t *testing.T, s string) {
		var hints []string
		if err := jsonUnmarshalString(s, &hints); err != nil {
			hints = []string{s}
		}
		kept := cleanRelayHints(hints)
		if len(kept) > MaxRelayHints {
			t.Fatalf("kept %d hints", len(kept))
		}
		if ais := hintsToAddrInfos(kept); len(kept) > 0 && len(ais) == 0 {
			t.Fatalf("kept hints %q name no relay", kept)
		}
	})
}

func jsonUnmarshalString(s string, v any) error { return json.Unmarshal([]byte(s), v) }
