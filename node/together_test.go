package node

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto/geo"
	"github.com/imigee/imigee/relay"
)

// epochsAround returns the epochs of [t-d, t+d] on n's epoch length.
func epochsAround(n *Node, t time.Time, d time.Duration) []uint64 {
	es := int64(n.cfg.EpochSeconds)
	var out []uint64
	for e := (t.Add(-d).Unix()) / es; e <= t.Add(d).Unix()/es; e++ {
		out = append(out, uint64(e))
	}
	return out
}

// outboxFor returns a's outbox items of the file at path (and friend, if
// set).
func outboxFor(n *Node, path, friend string) []Item {
	var out []Item
	for _, it := range n.Pending() {
		if it.Path == path && (friend == "" || slices.Contains(it.To, friend)) {
			out = append(out, it)
		}
	}
	return out
}

// TestTogetherLiveMeeting: in together mode a photo shared without
// recipients goes to the friend met live (a real rendezvous match) at its
// capture time, with the capture time inside the sealed offer; a photo
// taken when nobody was met waits (no item, no error).
func TestTogetherLiveMeeting(t *testing.T) {
	clock, _, a, b, bID, aID := pair(t)
	a.SetAppOpen(true)
	b.SetAppOpen(true)
	if err := a.SetLocation(lat0, lng0, 10); err != nil {
		t.Fatal(err)
	}
	lat1, lng1 := geo.Destination(lat0, lng0, 90, 40)
	if err := b.SetLocation(lat1, lng1, 10); err != nil {
		t.Fatal(err)
	}
	a.ev.wait(t, EventFriendNearby, func(e Event) bool { return e.FriendID == bID }, 10*time.Second)
	waitFor(t, 10*time.Second, func() bool { return len(a.Meetings(0)) > 0 })
	if err := a.SetSharePolicy(SharePolicy{Mode: ShareTogether}); err != nil {
		t.Fatal(err)
	}
	taken := clock.Now().Unix() // the epoch the match was recorded in
	path, _ := writeFile(t, 2000)
	id, err := a.SharePhotoTaken(path, taken, nil)
	if err != nil || id == "" {
		t.Fatalf("share: %q %v", id, err)
	}
	off := b.ev.wait(t, EventItemOffered, func(e Event) bool { return e.ItemID == id }, 10*time.Second)
	if off.FriendID != aID {
		t.Fatalf("offer %+v", off)
	}
	var got int64
	for _, it := range b.Inbox() {
		if it.ID == id {
			got = it.Taken
		}
	}
	if got != taken {
		t.Fatalf("capture time at the recipient %d, want %d", got, taken)
	}
	// Two hours earlier nobody was met: the photo waits.
	path2, _ := writeFile(t, 1000)
	id2, err := a.SharePhotoTaken(path2, clock.Now().Add(-2*time.Hour).Unix(), nil)
	if err != nil || id2 != "" {
		t.Fatalf("share without a meeting: %q %v", id2, err)
	}
	if st := a.TogetherStats(); st.Waiting != 2 {
		t.Fatalf("waiting %+v, want 2", st)
	}
	// The same photo shared again reaches nobody twice and adds no record.
	if again, err := a.SharePhotoTaken(path, taken, nil); err != nil || again != "" {
		t.Fatalf("share again: %q %v", again, err)
	}
	if got := outboxFor(a.Node, path, bID); len(got) != 1 || a.TogetherStats().Waiting != 2 {
		t.Fatalf("after sharing again: outbox %+v, %+v", got, a.TogetherStats())
	}
	// A capture time far in the future is refused.
	if _, err := a.SharePhotoTaken(path2, clock.Now().Add(2*MaxTakenSkew).Unix(), nil); !errors.Is(err, ErrBadArgument) {
		t.Fatalf("future capture time: %v", err)
	}
}

// TestTogetherLateMeetingProposes: a photo shared in together mode before
// anyone is known to have been there is proposed once a late meeting
// covering its capture time is recorded; accepting it shares it with
// that friend; neither another span of the same meeting nor a restart
// proposes or shares it again.
func TestTogetherLateMeetingProposes(t *testing.T) {
	clock, ra, a, b, bID, aID := pair(t)
	if err := a.SetSharePolicy(SharePolicy{Mode: ShareTogether}); err != nil {
		t.Fatal(err)
	}
	taken := clock.Now().Add(-3 * time.Hour)
	path, _ := writeFile(t, 1500)
	if id, err := a.SharePhotoTaken(path, taken.Unix(), nil); err != nil || id != "" {
		t.Fatalf("share: %q %v", id, err)
	}
	// Another photo, taken outside the meeting, must not be proposed.
	other, _ := writeFile(t, 1500)
	if _, err := a.SharePhotoTaken(other, taken.Add(-2*time.Hour).Unix(), nil); err != nil {
		t.Fatal(err)
	}
	if len(outboxFor(a.Node, path, "")) != 0 {
		t.Fatal("shared before any meeting was known")
	}
	a.noteMeeting(bID, MeetingLate, epochsAround(a.Node, taken, 20*time.Minute))
	ev := a.ev.wait(t, EventShareProposed, nil, 5*time.Second)
	if ev.FriendID != bID || ev.Path != path || ev.Type != TypePhoto || ev.ItemID == "" ||
		!(ev.From <= taken.Unix() && taken.Unix() < ev.To) {
		t.Fatalf("proposal event %+v", ev)
	}
	ps := a.Proposals()
	if len(ps) != 1 || ps[0].ID != ev.ItemID || ps[0].Taken != taken.Unix() {
		t.Fatalf("proposals %+v", ps)
	}
	// The same meeting extended: no second proposal.
	a.noteMeeting(bID, MeetingLate, epochsAround(a.Node, taken, time.Hour))
	a.tg.busy.Wait()
	if _, err := a.AcceptProposal("00"); !errors.Is(err, ErrUnknownProposal) {
		t.Fatalf("unknown proposal: %v", err)
	}
	id, err := a.AcceptProposal(ev.ItemID)
	if err != nil {
		t.Fatal(err)
	}
	off := b.ev.wait(t, EventItemOffered, func(e Event) bool { return e.ItemID == id }, 10*time.Second)
	if off.FriendID != aID {
		t.Fatalf("offer %+v", off)
	}
	if _, err := a.AcceptProposal(ev.ItemID); !errors.Is(err, ErrUnknownProposal) {
		t.Fatalf("second accept: %v", err)
	}
	a.restart(t, clock, ra)
	a.noteMeeting(bID, MeetingLive, epochsAround(a.Node, taken, 0)) // a live record of the same epoch
	a.tg.busy.Wait()
	if n := a.ev.count(EventShareProposed); n != 1 { // the events log spans restarts
		t.Fatalf("proposed again after restart: %d proposals", n)
	}
	if got := outboxFor(a.Node, path, bID); len(got) != 1 {
		t.Fatalf("outbox for the photo: %+v, want one item", got)
	}
	if len(a.Proposals()) != 0 {
		t.Fatalf("proposals left: %+v", a.Proposals())
	}
	if b.ev.count(EventItemOffered) != 1 {
		t.Fatalf("friend offered %d items, want 1", b.ev.count(EventItemOffered))
	}
}

// TestTogetherAutoExactlyOnce: with Auto the photo is shared as soon as
// the meeting is known, including a meeting recorded just before a crash
// whose meetingKnown never ran (found by the catch-up at the next New),
// and never twice across restarts.
func TestTogetherAutoExactlyOnce(t *testing.T) {
	clock, ra, a, b, bID, _ := pair(t)
	taken := clock.Now().Add(-5 * time.Hour)
	path, _ := writeFile(t, 1500)
	if id, err := a.SharePhotoTogether(path, taken.Unix(), true); err != nil || id != "" {
		t.Fatalf("share: %q %v", id, err)
	}
	// The meeting reaches the log, then the process dies before the hook.
	if _, err := a.recordMeeting(bID, MeetingLate, epochsAround(a.Node, taken, 10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if len(outboxFor(a.Node, path, bID)) != 0 {
		t.Fatal("shared without the hook")
	}
	a.restart(t, clock, ra)
	b.ev.wait(t, EventItemOffered, nil, 10*time.Second)
	for range 2 {
		a.restart(t, clock, ra)
		a.noteMeeting(bID, MeetingLate, epochsAround(a.Node, taken, 30*time.Minute))
	}
	a.tg.busy.Wait()
	time.Sleep(300 * time.Millisecond) // an offer the friend would get twice
	if got := outboxFor(a.Node, path, bID); len(got) != 1 || got[0].Taken != taken.Unix() {
		t.Fatalf("outbox for the photo: %+v, want one item", got)
	}
	if n := b.ev.count(EventItemOffered); n != 1 {
		t.Fatalf("friend offered %d items, want 1", n)
	}
	if a.ev.count(EventShareProposed) != 0 {
		t.Fatal("auto mode proposed")
	}
}

// TestTogetherWindowAndCap: a photo whose capture time left the history
// window is not kept (nothing to wait for: ErrNoRecipients), a waiting
// photo expires with the window so a later meeting finds nothing, a
// dismissed proposal stays dismissed, and the waiting list is capped with
// a counter.
func TestTogetherWindowAndCap(t *testing.T) {
	clock, _, a, _, bID, _ := pair(t)
	path, _ := writeFile(t, 1000)
	if _, err := a.SharePhotoTogether(path, clock.Now().Add(-DefaultHistoryWindow-time.Hour).Unix(), false); !errors.Is(err, ErrNoRecipients) {
		t.Fatalf("outside the window: %v", err)
	}
	taken := clock.Now().Add(-time.Hour)
	if _, err := a.SharePhotoTogether(path, taken.Unix(), false); err != nil {
		t.Fatal(err)
	}
	clock.Add(DefaultHistoryWindow)
	a.noteMeeting(bID, MeetingLate, epochsAround(a.Node, taken, 0))
	a.tg.busy.Wait()
	if st := a.TogetherStats(); st.Waiting != 0 || a.ev.count(EventShareProposed) != 0 {
		t.Fatalf("expired photo still waiting or proposed: %+v", st)
	}
	// Dismiss.
	taken = clock.Now().Add(-time.Hour)
	if _, err := a.SharePhotoTogether(path, taken.Unix(), false); err != nil {
		t.Fatal(err)
	}
	a.noteMeeting(bID, MeetingLate, epochsAround(a.Node, taken, 0))
	ev := a.ev.wait(t, EventShareProposed, nil, 5*time.Second)
	if err := a.DismissProposal(ev.ItemID); err != nil {
		t.Fatal(err)
	}
	a.noteMeeting(bID, MeetingLive, epochsAround(a.Node, taken, 0))
	a.tg.busy.Wait()
	if len(a.Proposals()) != 0 || a.ev.count(EventShareProposed) != 1 {
		t.Fatalf("dismissed proposal came back: %+v", a.Proposals())
	}
	// Cap: the oldest capture time goes first, and is counted.
	a.tg.max = 3
	for i := range 4 {
		if _, err := a.SharePhotoTogether(path, clock.Now().Add(-time.Duration(10-i)*time.Minute).Unix(), true); err != nil {
			t.Fatal(err)
		}
	}
	if st := a.TogetherStats(); st.Waiting != 3 || st.Dropped != 2 {
		t.Fatalf("stats at the cap %+v, want 3 waiting, 2 dropped", st)
	}
	// A photo older than every waiting one is the one not kept.
	if _, err := a.SharePhotoTogether(path, clock.Now().Add(-5*time.Hour).Unix(), true); err != nil {
		t.Fatal(err)
	}
	var oldest int64
	for _, r := range a.takenRecs() {
		if oldest == 0 || r.Taken < oldest {
			oldest = r.Taken
		}
	}
	if st := a.TogetherStats(); st.Waiting != 3 || st.Dropped != 3 || oldest != clock.Now().Add(-9*time.Minute).Unix() {
		t.Fatalf("stats %+v, oldest kept %d", st, oldest)
	}
}

// TestShareWindowsLocalTime: share-policy windows are read in the
// device's zone, across midnight. The zone is 5 h 30 ahead of UTC: a
// 23:00–01:00 window is open at 23:30 and 00:30 local (18:00 and 19:00
// UTC) and shut at 01:30 local. Read in UTC (the old behaviour) the
// window would be shut at 23:30 local.
func TestShareWindowsLocalTime(t *testing.T) {
	clock := newTestClock()
	zone := time.FixedZone("UTC+05:30", 5*3600+1800)
	a := newTestNode(t, clock, nil, func(c *Config) { c.TimeZone = zone })
	ws := []Window{{StartMinute: 23 * 60, EndMinute: 60}}
	day := time.Date(2027, 3, 14, 0, 0, 0, 0, zone)
	for _, c := range []struct {
		local time.Duration
		open  bool
	}{
		{23*time.Hour + 30*time.Minute, true},
		{24*time.Hour + 30*time.Minute, true},
		{25*time.Hour + 30*time.Minute, false},
		{22*time.Hour + 59*time.Minute, false},
	} {
		at := day.Add(c.local).UTC() // the clock gives UTC times
		if got := a.inShareWindow(ws, at); got != c.open {
			t.Errorf("at %s local (%s UTC): open=%v, want %v", at.In(zone).Format("15:04"), at.Format("15:04"), got, c.open)
		}
	}
	// SetTimeZone wins over the config: in UTC, 18:00 is outside.
	a.SetTimeZone(time.UTC)
	if a.inShareWindow(ws, day.Add(23*time.Hour+30*time.Minute)) {
		t.Error("SetTimeZone(UTC) ignored")
	}
	a.SetTimeZone(nil)
	if !a.inShareWindow(ws, day.Add(23*time.Hour+30*time.Minute)) {
		t.Error("SetTimeZone(nil) did not go back to Config.TimeZone")
	}
}

// TestTogetherAfterOutage (issue 10, over the real late path): b, without
// reception at the place where a is, takes two photos and shares them in
// together mode, one with Auto and one to be proposed; nobody is known
// then, so both wait. Three hours later b's network comes back, the late
// meeting is found and confirmed, and: the auto photo reaches a without
// asking, the other is proposed (share_proposed with the meeting's times)
// and reaches a once accepted. A restart of b shares neither again.
func TestTogetherAfterOutage(t *testing.T) {
	clock := newTestClock()
	r := startRelayWith(t, clock, func(*relay.Config) {})
	ra := relayAddrs(r)
	a := newTestNode(t, clock, ra)
	b := newTestNode(t, clock, ra)
	bID, aID := link(t, a, b)
	if err := a.SetAutoAccept(bID, true); err != nil {
		t.Fatal(err)
	}
	taken := clock.Now().Unix()
	autoPath, autoData := writeFile(t, 40<<10)
	askPath, askData := writeFile(t, 50<<10)
	for _, p := range []struct {
		path string
		auto bool
	}{{autoPath, true}, {askPath, false}} {
		if id, err := b.SharePhotoTogether(p.path, taken, p.auto); err != nil || id != "" {
			t.Fatalf("share before the meeting is known: %q %v", id, err)
		}
	}
	e := outage(t, clock, a, b, 3*time.Hour)
	es := int64(b.cfg.EpochSeconds)
	b.ev.waitRetrying(t, b.Node, clock, EventFriendWasNearby, nil, 30*time.Second)
	got := a.ev.waitRetrying(t, a.Node, clock, EventItemReceived, func(e Event) bool { return e.FriendID == bID }, 30*time.Second)
	sameFile(t, got.Path, autoData)
	prop := b.ev.wait(t, EventShareProposed, nil, 10*time.Second)
	if prop.FriendID != aID || prop.Path != askPath || prop.From != int64(e)*es || prop.To != int64(e+1)*es {
		t.Fatalf("proposal %+v, want friend %s, %s, epoch %d", prop, aID, askPath, e)
	}
	id, err := b.AcceptProposal(prop.ItemID)
	if err != nil {
		t.Fatal(err)
	}
	got = a.ev.waitRetrying(t, a.Node, clock, EventItemReceived, func(e Event) bool { return e.ItemID == id }, 30*time.Second)
	sameFile(t, got.Path, askData)
	for _, it := range a.Inbox() {
		if it.FriendID == bID && it.Taken != taken {
			t.Fatalf("received item %s carries capture time %d, want %d", it.ID, it.Taken, taken)
		}
	}
	b.restart(t, clock, ra)
	time.Sleep(500 * time.Millisecond)
	if n := a.ev.count(EventItemOffered) + a.ev.count(EventItemReceived); n != 2 {
		t.Fatalf("a got %d offers and receptions, want the 2 receptions", n)
	}
	if b.ev.count(EventShareProposed) != 1 || len(b.Proposals()) != 0 {
		t.Fatalf("proposals after restart: %d events, %+v open", b.ev.count(EventShareProposed), b.Proposals())
	}
}

// TestTakenFromALiarIsUnknown: a sender whose offer claims a capture time
// in the far future (or before 1970) gets it dropped to 0 (unknown) at
// the recipient, which still receives the photo; a sane one is kept.
func TestTakenFromALiarIsUnknown(t *testing.T) {
	clock, _, a, b, bID, _ := pair(t)
	if err := b.SetAutoAccept(a.ID(), true); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	for _, taken := range []int64{clock.Now().Add(10 * MaxTakenSkew).Unix(), -5, clock.Now().Add(-time.Hour).Unix()} {
		path, _ := writeFile(t, 1000)
		st, _ := statShareable(path)
		// shareSource skips the check SharePhotoTaken makes: the lying sender.
		id, err := a.shareSource(TypePhoto, "x.jpg", path, st.Size(), taken, []string{bID}, fileSource(path), nil)
		if err != nil {
			t.Fatal(err)
		}
		want[id] = taken
		if !takenValid(taken, clock.Now()) {
			want[id] = 0
		}
	}
	for id := range want {
		b.ev.waitRetrying(t, b.Node, clock, EventItemReceived, func(e Event) bool { return e.ItemID == id }, 20*time.Second)
	}
	found := 0
	for _, it := range b.Inbox() {
		w, ok := want[it.ID]
		if !ok {
			continue
		}
		found++
		if it.Taken != w {
			t.Errorf("item %s: capture time %d at the recipient, want %d", it.ID, it.Taken, w)
		}
	}
	if found != len(want) {
		t.Fatalf("%d of the %d items in the recipient's inbox", found, len(want))
	}
}

// TestMeetingScanKeptUntilWrite: offerMeeting keeps the waiting records it
// read for the next meeting while nothing wrote the bucket. A photo
// registered after a meeting that found nothing must still be found by
// the next one (fails when the bucket's version is not checked), and a
// photo aged out of the window meanwhile must go (fails when the age of
// the kept records is not checked).
func TestMeetingScanKeptUntilWrite(t *testing.T) {
	clock, _, a, _, bID, _ := pair(t)
	path, _ := writeFile(t, 1000)
	old := clock.Now().Add(-DefaultHistoryWindow + time.Hour)
	if _, err := a.SharePhotoTogether(path, old.Unix(), false); err != nil {
		t.Fatal(err)
	}
	m := Meeting{FriendID: bID, From: clock.Now().Add(-time.Minute).Unix(), To: clock.Now().Add(10 * time.Minute).Unix(), Kind: MeetingLive}
	a.offerMeeting(m) // nothing taken then: the scan is kept
	if len(a.Proposals()) != 0 {
		t.Fatalf("proposed with nothing taken in the meeting: %+v", a.Proposals())
	}
	if _, err := a.SharePhotoTogether(path, clock.Now().Unix(), false); err != nil {
		t.Fatal(err)
	}
	a.offerMeeting(m)
	if len(a.Proposals()) != 1 {
		t.Fatalf("a photo registered after the kept scan was not offered: %+v", a.Proposals())
	}
	a.offerMeeting(Meeting{FriendID: bID, From: clock.Now().Add(time.Hour).Unix(), To: clock.Now().Add(2 * time.Hour).Unix()})
	clock.Add(2 * time.Hour) // the first photo leaves the window
	a.offerMeeting(Meeting{FriendID: bID, From: clock.Now().Add(time.Hour).Unix(), To: clock.Now().Add(2 * time.Hour).Unix()})
	for _, r := range a.takenRecs() {
		if r.Taken == old.Unix() {
			t.Fatal("a photo out of the window kept by a meeting's scan")
		}
	}
}
