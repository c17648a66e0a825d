package mobile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imigee/imigee/node"
)

// TestTogetherFacade: a live meeting shows in MeetingsJSON (times and
// kind only), the together policy set as JSON shares a photo with the
// friend met at its capture time (the capture time reaches the friend's
// inbox JSON), a photo taken when nobody was met waits (""), proposals
// list as "[]", an unknown proposal has its code, and time zones are set
// by IANA name.
func TestTogetherFacade(t *testing.T) {
	r := startRelay(t, nil)
	addr, _ := relayQUIC(t, r)
	a, ea := newStarted(t, addr)
	b, eb := newStarted(t, addr)
	bid := linkPair(t, a, b)
	a.SetAppOpen(true)
	b.SetAppOpen(true)
	if err := a.SetLocation(48.8566, 2.3522, 10); err != nil {
		t.Fatal(err)
	}
	if err := b.SetLocation(48.8566, 2.3523, 10); err != nil {
		t.Fatal(err)
	}
	ea.wait(t, EventFriendNearby, nil, 15*time.Second)
	var ms []map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for len(ms) == 0 && time.Now().Before(deadline) {
		if err := json.Unmarshal([]byte(a.MeetingsJSON(0)), &ms); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(ms) != 1 || ms[0]["FriendID"] != bid || ms[0]["Kind"] != "live" || len(ms[0]) != 4 {
		t.Fatalf("meetings %v", ms)
	}
	if got := a.MeetingsJSON(time.Now().Add(time.Hour).Unix()); got != "[]" {
		t.Fatalf("meetings since later: %s", got)
	}
	if err := a.SetSharePolicyJSON(`{"Mode":"together"}`); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "p.jpg")
	if err := os.WriteFile(p, []byte("not really a jpeg"), 0o600); err != nil {
		t.Fatal(err)
	}
	taken := int64(ms[0]["From"].(float64)) // inside the meeting, whatever the clock did since
	id, err := a.SharePhotoTaken(p, taken, "")
	if err != nil || id == "" {
		t.Fatalf("share: %q %v", id, err)
	}
	eb.wait(t, EventItemOffered, func(e Event) bool { return e.ItemID == id }, 10*time.Second)
	var inbox []struct {
		ID    string
		Taken int64
	}
	if err := json.Unmarshal([]byte(b.InboxJSON()), &inbox); err != nil || len(inbox) != 1 || inbox[0].Taken != taken {
		t.Fatalf("inbox %s: %v", b.InboxJSON(), err)
	}
	if id, err := a.SharePhotoTogether(p, taken-86400, false); err != nil || id != "" {
		t.Fatalf("share without a meeting: %q %v", id, err)
	}
	if got := a.ProposalsJSON(); got != "[]" {
		t.Fatalf("proposals %s", got)
	}
	if _, err := a.AcceptProposal("nope"); ErrorCode(err) != CodeUnknownProposal {
		t.Fatalf("unknown proposal: %v", err)
	}
	if err := a.SetTimeZone("Asia/Kolkata"); err != nil {
		t.Fatal(err)
	}
	if err := a.SetTimeZone("Nowhere/Atlantis"); ErrorCode(err) != CodeBadArgument {
		t.Fatalf("bad zone: %v", err)
	}
	if _, err := NewNode(&Config{DataDir: t.TempDir(), StoreKey: newKey(), TimeZone: "Nowhere/Atlantis"}, nil); ErrorCode(err) != CodeBadArgument {
		t.Fatalf("bad zone in config: %v", err)
	}
}

// TestEventCarriesMeetingTimes: friend_was_nearby and share_proposed reach
// the app with their meeting's From and To (and nothing placing it).
func TestEventCarriesMeetingTimes(t *testing.T) {
	e := newEvs()
	handler{e}.OnEvent(&node.Event{Kind: node.EventShareProposed, FriendID: "f", ItemID: "p", Path: "/x.jpg", Type: "photo", From: 1_800_000_000, To: 1_800_000_600})
	handler{e}.OnEvent(&node.Event{Kind: node.EventFriendWasNearby, FriendID: "f", From: 1_800_000_000, To: 1_800_000_600})
	for _, ev := range e.snapshot() {
		if ev.From != 1_800_000_000 || ev.To != 1_800_000_600 || ev.FriendID != "f" {
			t.Fatalf("%+v", ev)
		}
	}
	if len(e.snapshot()) != 2 || e.snapshot()[0].Kind != EventShareProposed || e.snapshot()[1].Kind != EventFriendWasNearby {
		t.Fatalf("%+v", e.snapshot())
	}
}
