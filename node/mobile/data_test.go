package mobile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type entry struct {
	ID, FriendID, Type, Text, State, Precision string
	Seq                                        int64
	Seen, Pending                              bool
}

func page(t *testing.T, n *Node, since int64, limit int) []entry {
	t.Helper()
	s, err := n.InboxPage(since, limit)
	if err != nil {
		t.Fatal(err)
	}
	var es []entry
	if err := json.Unmarshal([]byte(s), &es); err != nil || es == nil {
		t.Fatalf("page %q: %v", s, err)
	}
	return es
}

// TestEmptyListsAreArrays: every list is "[]" when empty, never "null".
func TestEmptyListsAreArrays(t *testing.T) {
	n, err := NewNode(&Config{DataDir: t.TempDir(), StoreKey: newKey()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	p, _ := n.InboxPage(0, 10)
	for name, got := range map[string]string{"friends": n.FriendsJSON(), "inbox": n.InboxJSON(),
		"pending": n.PendingJSON(), "quiet zones": n.QuietZonesJSON(), "page": p} {
		if got != "[]" {
			t.Errorf("%s: %q, want []", name, got)
		}
	}
}

// TestDataAPI pages, reads, marks and deletes received items, and deleting
// an offer rejects it at the sender; precision is a string in friend JSON.
func TestDataAPI(t *testing.T) {
	r := startRelay(t, nil)
	addr, _ := relayQUIC(t, r)
	a, ea := newStarted(t, addr)
	b, eb := newStarted(t, addr)
	bid := linkPair(t, a, b)
	aid := a.ID()
	var ids []string
	for _, text := range []string{"one", "two", "three"} {
		id, err := b.SendMessage(aid, text)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		ea.wait(t, EventMessage, func(e Event) bool { return e.ItemID == id }, 15*time.Second)
	}
	p1 := page(t, a, 0, 2)
	p2 := page(t, a, p1[len(p1)-1].Seq, 2)
	p3 := page(t, a, p2[len(p2)-1].Seq, 2)
	if len(p1) != 2 || len(p2) != 1 || len(p3) != 0 || p1[0].Seq >= p1[1].Seq || p1[1].Seq >= p2[0].Seq {
		t.Fatalf("pages %+v %+v %+v", p1, p2, p3)
	}
	got := map[string]bool{}
	for _, e := range append(p1, p2...) {
		got[e.Text] = true
	}
	if len(got) != 3 {
		t.Fatalf("pages hold %v", got)
	}
	if err := a.MarkSeen(ids[0]); err != nil {
		t.Fatal(err)
	}
	s, err := a.Item(ids[0])
	var it entry
	if err != nil || json.Unmarshal([]byte(s), &it) != nil || !it.Seen || it.Text != "one" || it.FriendID != bid {
		t.Fatalf("item %s %v", s, err)
	}
	if err := a.DeleteItem(ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Item(ids[0]); ErrorCode(err) != CodeUnknownItem {
		t.Fatalf("deleted item: %v", err)
	}
	if err := a.MarkSeen("nope"); ErrorCode(err) != CodeUnknownItem {
		t.Fatalf("MarkSeen unknown: %v", err)
	}
	if es := page(t, a, 0, 0); len(es) != 2 {
		t.Fatalf("after delete: %+v", es)
	}

	// Deleting an offer rejects it: the sender learns it.
	photo := filepath.Join(t.TempDir(), "p.jpg")
	if err := os.WriteFile(photo, make([]byte, 5000), 0o600); err != nil {
		t.Fatal(err)
	}
	pid, err := b.SharePhoto(photo, aid)
	if err != nil {
		t.Fatal(err)
	}
	ea.wait(t, EventItemOffered, func(e Event) bool { return e.ItemID == pid }, 15*time.Second)
	if err := a.DeleteItem(pid); err != nil {
		t.Fatal(err)
	}
	eb.wait(t, EventDeliveryFailed, func(e Event) bool { return e.ItemID == pid && e.Err == FailRejected }, 15*time.Second)
	if _, err := a.Item(pid); ErrorCode(err) != CodeUnknownItem {
		t.Fatalf("deleted offer: %v", err)
	}

	// Precision: one representation, a string, in and out.
	if err := a.SetPrecision(bid, PrecisionCasual); err != nil {
		t.Fatal(err)
	}
	fs, err := a.FriendJSON(bid)
	var f entry
	if err != nil || json.Unmarshal([]byte(fs), &f) != nil || f.Precision != PrecisionCasual || f.Pending {
		t.Fatalf("friend %s %v", fs, err)
	}
}

// TestLinkPendingThenConfirmed: with the inviter offline, Link says
// pending (not linked) and so does the friend JSON; once the inviter comes
// back and takes the parked request, friend_linked arrives and the flag
// clears. Before, Link reported friend_linked at once with nothing
// confirmed.
func TestLinkPendingThenConfirmed(t *testing.T) {
	r := startRelay(t, nil)
	addr, _ := relayQUIC(t, r)
	a, ea := newStarted(t, addr)
	b, _ := newStarted(t, addr)
	inv, err := b.Invite()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	res, err := a.Link(inv, 15000)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pending || res.FriendID != b.ID() {
		t.Fatalf("link result %+v", res)
	}
	ea.wait(t, EventFriendPending, nil, time.Second)
	for _, e := range ea.snapshot() {
		if e.Kind == EventFriendLinked {
			t.Fatal("friend_linked before the inviter confirmed")
		}
	}
	fs, _ := a.FriendJSON(res.FriendID)
	var f entry
	if json.Unmarshal([]byte(fs), &f) != nil || !f.Pending {
		t.Fatalf("friend %s", fs)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	ea.wait(t, EventFriendLinked, func(e Event) bool { return e.FriendID == res.FriendID }, 20*time.Second)
	fs, _ = a.FriendJSON(res.FriendID)
	if json.Unmarshal([]byte(fs), &f) != nil || f.Pending {
		t.Fatalf("friend after confirmation %s", fs)
	}
}
