package node

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/imigee/imigee/node/localstore"
)

func TestLinkTwoNodes(t *testing.T) {
	clock := newTestClock()
	r := startRelay(t, clock)
	a := newTestNode(t, clock, relayAddrs(r))
	b := newTestNode(t, clock, relayAddrs(r))
	bID, aID := link(t, a, b)
	if aID != a.ID() || bID != b.ID() {
		t.Fatalf("ids: %s/%s vs %s/%s", aID, bID, a.ID(), b.ID())
	}
	b.ev.wait(t, EventFriendLinked, nil, time.Second)
	if len(a.Friends()) != 1 || len(b.Friends()) != 1 {
		t.Fatalf("friends: %d %d", len(a.Friends()), len(b.Friends()))
	}
	sa, err := a.SafetyNumber(bID)
	if err != nil {
		t.Fatal(err)
	}
	sb, _ := b.SafetyNumber(aID)
	if sa != sb || sa == "" {
		t.Fatalf("safety numbers differ: %q %q", sa, sb)
	}
	// The invite is single use.
	inv, _ := a.Invite()
	c := newTestNode(t, clock, relayAddrs(r))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Link(ctx, inv); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Link(ctx, inv); err == nil {
		t.Fatal("a used invite linked again")
	}
	// Unfriend deletes the pair keys, and the friend's pending late claim
	// (past times of meetings with someone no longer a friend).
	if err := a.putJSON(localstore.History, claimKey(bID), []uint64{a.epochNow()}); err != nil {
		t.Fatal(err)
	}
	if err := a.Unfriend(bID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SafetyNumber(bID); !errors.Is(err, ErrUnknownFriend) {
		t.Fatalf("after unfriend: %v", err)
	}
	if _, err := a.store.Get(localstore.History, claimKey(bID)); err == nil {
		t.Fatal("after unfriend: the friend's pending late claim is kept")
	}
	// Friends survive a restart (the store is read back with the key).
	a.restart(t, clock, relayAddrs(r))
	if len(a.Friends()) != 1 {
		t.Fatalf("friends after restart: %d", len(a.Friends()))
	}
}

func TestBadInvites(t *testing.T) {
	clock := newTestClock()
	a := newTestNode(t, clock, nil)
	ctx := context.Background()
	for _, inv := range []string{"", "hello", "imigee1:!!!", "imigee1:e30", "imigee1:" + string(make([]byte, MaxInviteLen))} {
		if _, err := a.Link(ctx, inv); !errors.Is(err, ErrBadInvite) {
			t.Errorf("invite %.20q: %v", inv, err)
		}
	}
	own, _ := a.Invite()
	if _, err := a.Link(ctx, own); !errors.Is(err, ErrBadInvite) {
		t.Errorf("own invite: %v", err)
	}
	// Expired.
	b := newTestNode(t, clock, nil)
	inv, _ := b.Invite()
	clock.Add(InviteTTL + time.Minute)
	if _, err := a.Link(ctx, inv); !errors.Is(err, ErrBadInvite) {
		t.Errorf("expired invite: %v", err)
	}
}

// linkWhileAway has b link with a from a's invite after a went offline
// (the link request waits in a's mailbox) and returns a's friend ID.
func linkWhileAway(t *testing.T, a, b *testNode) string {
	t.Helper()
	inv, err := a.Invite()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	aID, err := b.Link(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	return aID
}

// TestLinkViaMailbox: the inviter is offline; the request is parked in the
// invite's mailbox at the relay, the requester has the friend at once and
// can already send; the inviter completes the link when it comes back and
// receives what was sent meanwhile.
func TestLinkViaMailbox(t *testing.T) {
	clock := newTestClock()
	r := startRelay(t, clock)
	ra := relayAddrs(r)
	a := newTestNode(t, clock, ra)
	b := newTestNode(t, clock, ra)
	aID := linkWhileAway(t, a, b)
	// Nothing is confirmed yet: pending, not linked.
	b.ev.wait(t, EventFriendPending, func(e Event) bool { return e.FriendID == aID }, 5*time.Second)
	if f, err := b.Friend(aID); err != nil || !f.Pending || b.ev.count(EventFriendLinked) != 0 {
		t.Fatalf("friend %+v, %v; %d linked events", f, err, b.ev.count(EventFriendLinked))
	}
	mid, err := b.SendMessage(aID, "linked while you were away")
	if err != nil {
		t.Fatal(err)
	}
	b.ev.waitRetrying(t, b.Node, clock, EventQueued, func(e Event) bool { return e.ItemID == mid }, 30*time.Second)
	a.restart(t, clock, ra)
	a.ev.wait(t, EventFriendLinked, func(e Event) bool { return e.FriendID == b.ID() }, 20*time.Second)
	msg := a.ev.wait(t, EventMessage, func(e Event) bool { return e.ItemID == mid }, 20*time.Second)
	if msg.Text != "linked while you were away" {
		t.Fatalf("message %+v", msg)
	}
	// a took the request and posted its confirmation: b is linked now.
	b.ev.wait(t, EventFriendLinked, func(e Event) bool { return e.FriendID == aID }, 20*time.Second)
	if f, _ := b.Friend(aID); f.Pending {
		t.Fatal("still pending after the inviter confirmed")
	}
}
