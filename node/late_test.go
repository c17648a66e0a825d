package node

import (
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/crypto/geo"
	"github.com/imigee/imigee/node/localstore"
)

// claimFor computes the claim b would send a for epoch e from b's own
// history: b's here token for a at b's first position.
func claimFor(t *testing.T, b *testNode, aID string, e uint64) meetEpoch {
	t.Helper()
	f, err := b.friend(aID)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := b.historyAt(e)
	if !ok {
		t.Fatalf("b has no history for epoch %d", e)
	}
	cs := r.S[0][0]
	ht, _, err := crypto.FriendTokens(f.keys, e, uint32(b.cfg.EpochSeconds), cs.L, cs.H, cs.N)
	if err != nil {
		t.Fatal(err)
	}
	return meetEpoch{E: e, T: hex.EncodeToString(ht[:]), H: true}
}

// TestLateClaimConfirmedEndToEnd: b claims a past epoch with its token;
// a checks it against its own history and raises friend_was_nearby with
// the epoch's times, and so does b once a's confirm arrives. A claim a's
// history does not back (another place, another epoch, a near token
// claimed against a near token) gives nothing on either side: a friend's
// word, or a relay's, is not enough.
func TestLateClaimConfirmedEndToEnd(t *testing.T) {
	clock, _, a, b, bID, aID := pair(t)
	a.SetAppOpen(true)
	b.SetAppOpen(true)
	e := a.epochNow()
	if err := a.SetLocation(lat0, lng0, 10); err != nil {
		t.Fatal(err)
	}
	lat1, lng1 := geo.Destination(lat0, lng0, 90, 30)
	b.recordHistory(e, &location{lat: lat1, lng: lng1})
	// b elsewhere an epoch later (8 km away): a has no history then.
	far1, far2 := geo.Destination(lat0, lng0, 0, 8000)
	b.recordHistory(e+1, &location{lat: far1, lng: far2})
	if _, ok := a.historyAt(e); !ok {
		t.Fatal("a recorded no history while announcing")
	}
	// A lying claim first: a token of another place, and a near token
	// claimed as near (near=near).
	fa, _ := b.friend(aID)
	bogus := claimFor(t, b, aID, e+1)
	bogus.E = e
	hr, _ := a.historyAt(e)
	fb, _ := a.friend(bID)
	_, nts, err := crypto.FriendTokens(fb.keys, e, uint32(a.cfg.EpochSeconds), hr.S[0][0].L, hr.S[0][0].H, hr.S[0][0].N)
	if err != nil || len(nts) == 0 {
		t.Fatalf("near tokens: %v", err)
	}
	nearNear := meetEpoch{E: e, T: hex.EncodeToString(nts[0][:]), H: false}
	b.sendClaim(fa, []meetEpoch{bogus, nearNear})
	// Delivered (and so handled) once b's outbox is empty.
	waitFor(t, 20*time.Second, func() bool { b.wake(); return b.store.Count(localstore.Outbox) == 0 })
	if n := a.ev.count(EventFriendWasNearby) + b.ev.count(EventFriendWasNearby); n != 0 {
		t.Fatalf("%d friend_was_nearby from claims a's history does not back", n)
	}

	b.sendClaim(fa, []meetEpoch{claimFor(t, b, aID, e)})
	es := int64(a.cfg.EpochSeconds)
	wasNearbyAt(t, a.ev.waitRetrying(t, a.Node, clock, EventFriendWasNearby, nil, 20*time.Second), bID, e, es)
	wasNearbyAt(t, b.ev.waitRetrying(t, b.Node, clock, EventFriendWasNearby, nil, 20*time.Second), aID, e, es)
	ms := a.Meetings(0)
	if len(ms) != 1 || ms[0].FriendID != bID || ms[0].Kind != MeetingLate || ms[0].From != int64(e)*es {
		t.Fatalf("a's meetings %+v", ms)
	}
	if got := b.friendsTogetherAt(time.Unix(int64(e)*es+5, 0)); len(got) != 1 || got[0] != aID {
		t.Fatalf("b together at the epoch: %v", got)
	}
}

// TestLateConfirmOnlyForClaimedEpochs: a friend that lies with a confirm
// for epochs this device never claimed raises nothing and records no
// meeting; a confirm of a pending claim raises friend_was_nearby once,
// and the same confirm again (the claim is no longer pending) nothing
// more.
func TestLateConfirmOnlyForClaimedEpochs(t *testing.T) {
	clock, _, a, b, bID, aID := pair(t)
	a.SetAppOpen(true)
	b.SetAppOpen(true)
	es := int64(a.cfg.EpochSeconds)
	e := a.epochNow() - 3
	if err := a.putJSON(localstore.History, claimKey(bID), []uint64{e}); err != nil {
		t.Fatal(err)
	}
	confirm := func(eps ...uint64) {
		t.Helper()
		m := meetMsg{K: "confirm"}
		for _, x := range eps {
			m.E = append(m.E, meetEpoch{E: x})
		}
		js, _ := json.Marshal(m)
		if _, err := b.sendSmall(aID, TypeMeet, string(js)); err != nil {
			t.Fatal(err)
		}
	}
	// b's outbox is empty once a has acknowledged every item.
	delivered := func() {
		t.Helper()
		waitFor(t, 20*time.Second, func() bool { b.wake(); return b.store.Count(localstore.Outbox) == 0 })
	}
	confirm(e-1, e+1) // never claimed
	delivered()
	confirm(e, e+2) // e claimed, e+2 not
	wasNearbyAt(t, a.ev.waitRetrying(t, a.Node, clock, EventFriendWasNearby, nil, 20*time.Second), bID, e, es)
	delivered()
	confirm(e) // again: no longer pending
	delivered()
	if n := a.ev.count(EventFriendWasNearby); n != 1 {
		t.Fatalf("%d friend_was_nearby, want 1: %+v", n, a.ev.snapshot())
	}
	if ms := a.Meetings(0); len(ms) != 1 || ms[0].From != int64(e)*es || ms[0].To != int64(e+1)*es {
		t.Fatalf("a's meetings %+v, want only epoch %d", ms, e)
	}
}

// TestLateClaimKeepsPrecision: a friend a device does not announce to
// (precision off), or announces to only at casual precision, cannot learn
// from a late claim what live announcements would not have told it: a
// true claim at close precision — which the friend can make up for any
// place, since it holds the pair keys — is confirmed only while the
// precision for that friend is close.
func TestLateClaimKeepsPrecision(t *testing.T) {
	clock, _, a, b, bID, aID := pair(t)
	a.SetAppOpen(true)
	b.SetAppOpen(true)
	e := a.epochNow()
	if err := a.SetLocation(lat0, lng0, 10); err != nil {
		t.Fatal(err)
	}
	lat1, lng1 := geo.Destination(lat0, lng0, 90, 30)
	b.recordHistory(e, &location{lat: lat1, lng: lng1})
	fa, _ := b.friend(aID)
	claim := claimFor(t, b, aID, e)
	if lvl := PrecisionClose.level(); b.historyRecs()[0].S[0][0].L != lvl {
		t.Fatalf("claim not at close precision")
	}
	for _, p := range []Precision{PrecisionOff, PrecisionCasual} {
		if err := a.SetPrecision(bID, p); err != nil {
			t.Fatal(err)
		}
		b.sendClaim(fa, []meetEpoch{claim})
		// Delivered once b's outbox is empty.
		waitFor(t, 20*time.Second, func() bool { b.wake(); return b.store.Count(localstore.Outbox) == 0 })
		if n := a.ev.count(EventFriendWasNearby); n != 0 || len(a.Meetings(0)) != 0 {
			t.Fatalf("precision %v: a confirmed a close-precision claim (%d events)", p, n)
		}
	}
	// Positive control: the same claim at close precision is confirmed.
	if err := a.SetPrecision(bID, PrecisionClose); err != nil {
		t.Fatal(err)
	}
	b.sendClaim(fa, []meetEpoch{claim})
	wasNearbyAt(t, a.ev.waitRetrying(t, a.Node, clock, EventFriendWasNearby, nil, 20*time.Second), bID, e, int64(a.cfg.EpochSeconds))
}

// TestUnclaimedDropsKnownEpochs: a late round announced again finds the
// first announcement's matches too; epochs already claimed from the
// friend (waiting for its confirm) or already a meeting with it are not
// claimed again, other friends' are.
func TestUnclaimedDropsKnownEpochs(t *testing.T) {
	rig := newFuzzRig(t)
	n := rig.n
	if err := n.putJSON(localstore.History, claimKey(rig.f.id), []uint64{10}); err != nil {
		t.Fatal(err)
	}
	if err := n.store.Put(localstore.Meetings, meetingKey(rig.f.id, 11), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := n.store.Put(localstore.Meetings, meetingKey("someone-else", 12), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	got := n.unclaimed(rig.f, []meetEpoch{{E: 10}, {E: 11}, {E: 12}, {E: 13}})
	if len(got) != 2 || got[0].E != 12 || got[1].E != 13 {
		t.Fatalf("unclaimed kept %+v, want epochs 12 and 13", got)
	}
}
