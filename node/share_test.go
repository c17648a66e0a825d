package node

import (
	"errors"
	"os"
	"testing"
	"time"
)

// pair starts a relay and two linked nodes.
func pair(t *testing.T) (*testClock, []string, *testNode, *testNode, string, string) {
	clock := newTestClock()
	r := startRelay(t, clock)
	ra := relayAddrs(r)
	a := newTestNode(t, clock, ra)
	b := newTestNode(t, clock, ra)
	bID, aID := link(t, a, b)
	return clock, ra, a, b, bID, aID
}

func TestShareDirectAccept(t *testing.T) {
	_, _, a, b, bID, aID := pair(t)
	id, data := sharePhoto(t, a, []string{bID}, 300<<10+17)
	off := b.ev.wait(t, EventItemOffered, nil, 10*time.Second)
	if off.ItemID != id || off.FriendID != aID || off.Type != TypePhoto || off.Total != int64(len(data)) {
		t.Fatalf("offer event %+v", off)
	}
	if err := b.Accept(id); err != nil {
		t.Fatal(err)
	}
	got := b.ev.wait(t, EventItemReceived, nil, 10*time.Second)
	sameFile(t, got.Path, data)
	dv := a.ev.wait(t, EventDelivered, func(e Event) bool { return e.ItemID == id && e.FriendID == bID }, 10*time.Second)
	if got.Via != ViaDirect || dv.Via != ViaDirect {
		t.Errorf("via: received %q, delivered %q; want %q", got.Via, dv.Via, ViaDirect)
	}
	// P11: the sender's pending copy is gone once every recipient has it:
	// the outbox record at the event, the file right after it (the
	// delivering goroutine unlinks it once the app is told).
	if len(a.Pending()) != 0 {
		t.Fatalf("pending after delivery: %+v", a.Pending())
	}
	waitFor(t, 5*time.Second, func() bool {
		ents, _ := os.ReadDir(a.outdir)
		return len(ents) == 0
	})
	inbox := b.Inbox()
	if len(inbox) != 1 || inbox[0].State != StateReceived || inbox[0].Path != got.Path {
		t.Fatalf("inbox %+v", inbox)
	}
	if b.ev.count(EventItemReceived) != 1 {
		t.Fatal("delivered twice")
	}
}

func TestShareDirectReject(t *testing.T) {
	_, _, a, b, bID, _ := pair(t)
	id, _ := sharePhoto(t, a, []string{bID}, 10<<10)
	b.ev.wait(t, EventItemOffered, nil, 10*time.Second)
	if err := b.Reject(id); err != nil {
		t.Fatal(err)
	}
	ev := a.ev.wait(t, EventDeliveryFailed, func(e Event) bool { return e.ItemID == id }, 10*time.Second)
	if ev.Err != FailRejected || ev.FriendID != bID {
		t.Fatalf("failure event %+v", ev)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(a.Pending()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("rejected item still pending: %+v", a.Pending())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if b.ev.count(EventItemReceived) != 0 || a.ev.count(EventDelivered) != 0 {
		t.Fatal("a rejected item was delivered")
	}
}

func TestShareAutoAcceptLikesMessages(t *testing.T) {
	_, _, a, b, bID, aID := pair(t)
	if err := b.SetAutoAccept(aID, true); err != nil {
		t.Fatal(err)
	}
	path, data := writeFile(t, 64<<10) // exactly one full chunk
	id, err := a.ShareVideo(path, []string{bID})
	if err != nil {
		t.Fatal(err)
	}
	got := b.ev.wait(t, EventItemReceived, nil, 10*time.Second)
	sameFile(t, got.Path, data)
	if got.Type != TypeVideo || b.ev.count(EventItemOffered) != 0 {
		t.Fatalf("auto-accept asked: %+v", b.ev.snapshot())
	}
	lid, err := b.Like(aID, id)
	if err != nil {
		t.Fatal(err)
	}
	like := a.ev.wait(t, EventLike, nil, 10*time.Second)
	if like.ItemID != lid || like.Text != id || like.FriendID != bID {
		t.Fatalf("like %+v", like)
	}
	mid, err := a.SendMessage(bID, "see you at the fountain")
	if err != nil {
		t.Fatal(err)
	}
	msg := b.ev.wait(t, EventMessage, nil, 10*time.Second)
	if msg.ItemID != mid || msg.Text != "see you at the fountain" {
		t.Fatalf("message %+v", msg)
	}
	a.ev.wait(t, EventDelivered, func(e Event) bool { return e.ItemID == mid }, 10*time.Second)
	if _, err := a.SendMessage(bID, ""); !errors.Is(err, ErrBadArgument) {
		t.Fatalf("empty message: %v", err)
	}
	if _, err := a.SharePhoto(path, nil); !errors.Is(err, ErrNoRecipients) {
		t.Fatalf("ask mode without recipients: %v", err)
	}
}
