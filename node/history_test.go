package node

import (
	"errors"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/crypto/geo"
	"github.com/imigee/imigee/node/localstore"
)

// TestHistoryRecordsOnlyWhatWouldBeAnnounced: the history holds an epoch
// only when the device would have announced (app open or dwelling, outside
// quiet zones), keeps cells and no coordinates, and while the device has no
// network (NetworkNone takes networking down) it still records, epoch by
// epoch, what it would have announced.
func TestHistoryRecordsOnlyWhatWouldBeAnnounced(t *testing.T) {
	clock := newTestClock()
	r := startRelay(t, clock)
	a := newTestNode(t, clock, relayAddrs(r))
	e := a.epochNow()
	// App closed and not dwelling yet: nothing.
	_ = a.SetLocation(lat0, lng0, 10)
	if _, ok := a.historyAt(e); ok {
		t.Fatal("history recorded before the device would announce")
	}
	// In a quiet zone, even with the app open: nothing.
	if _, err := a.AddQuietZone(lat0, lng0, 500); err != nil {
		t.Fatal(err)
	}
	a.SetAppOpen(true)
	_ = a.SetLocation(lat0, lng0, 10)
	if _, ok := a.historyAt(e); ok {
		t.Fatal("history recorded inside a quiet zone")
	}
	for _, z := range a.QuietZones() {
		a.RemoveQuietZone(z.ID)
	}
	_ = a.SetLocation(lat0, lng0, 10)
	rec, ok := a.historyAt(e)
	if !ok || len(rec.S) != 1 || len(rec.S[0]) != len(historyLevels) {
		t.Fatalf("history of the epoch: %+v %v", rec, ok)
	}
	h16, _ := geo.Cells(lat0, lng0, 16)
	if rec.S[0][0].L != 16 || rec.S[0][0].H != h16 {
		t.Fatalf("cells %+v", rec.S[0][0])
	}

	// No network: networking goes down, history goes on.
	if err := a.NetworkChanged(NetworkNone, false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.host(); err == nil {
		t.Fatal("networking still up with no network")
	}
	clock.Add(10 * time.Minute)
	lat1, lng1 := geo.Destination(lat0, lng0, 90, 2000)
	_ = a.SetLocation(lat1, lng1, 10)
	if _, ok := a.historyAt(e + 1); !ok {
		t.Fatal("no history while offline")
	}
	// Moving within one epoch adds a position (capped).
	for i := range 2 * maxCellSetsPerEpoch {
		la, lo := geo.Destination(lat1, lng1, 0, float64(300*(i+1)))
		_ = a.SetLocation(la, lo, 10)
	}
	if rec, _ := a.historyAt(e + 1); len(rec.S) != maxCellSetsPerEpoch {
		t.Fatalf("%d positions in one epoch, want the cap %d", len(rec.S), maxCellSetsPerEpoch)
	}
	if err := a.NetworkChanged(NetworkWifi, false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.host(); err != nil {
		t.Fatalf("networking not back with a network: %v", err)
	}
}

// TestHistoryPrunedAndKeysAdvanced: after the window passes, the history
// and meetings of older epochs are gone and the friends' proximity keys
// of those days are erased (tokens of that time cannot be recomputed);
// inside the window they can.
func TestHistoryPrunedAndKeysAdvanced(t *testing.T) {
	clock, _, a, _, bID, _ := pair(t)
	a.SetAppOpen(true)
	_ = a.SetLocation(lat0, lng0, 10)
	e := a.epochNow()
	a.noteMeeting(bID, MeetingLive, []uint64{e})
	// A claim b never confirmed, for e and for an epoch inside the window
	// at the second prune.
	later := e + uint64(5*24*time.Hour/time.Second)/uint64(a.cfg.EpochSeconds)
	if err := a.putJSON(localstore.History, claimKey(bID), []uint64{e, later}); err != nil {
		t.Fatal(err)
	}
	// No position from now on, so no proximity tick that read the clock
	// before it moves can record epoch e again after the prune.
	a.ClearLocation()
	time.Sleep(300 * time.Millisecond)
	f, _ := a.friend(bID)
	es := uint32(a.cfg.EpochSeconds)
	clock.Add(3 * 24 * time.Hour)
	a.pruneHistory()
	if _, ok := a.historyAt(e); !ok {
		t.Fatal("history inside the window pruned")
	}
	if _, err := f.keys.EpochTokenKey(e, es); err != nil {
		t.Fatalf("key of a day inside the window erased: %v", err)
	}
	clock.Add(5 * 24 * time.Hour)
	a.pruneHistory()
	if _, ok := a.historyAt(e); ok {
		t.Fatalf("history older than the window kept: cut %d, e %d, recs %+v", a.historyCutEpoch(), e, a.historyRecs())
	}
	if len(a.Meetings(0)) != 0 {
		t.Fatal("meetings older than the window kept")
	}
	var claimed []uint64
	if err := a.getJSON(localstore.History, claimKey(bID), &claimed); err != nil || len(claimed) != 1 || claimed[0] != later {
		t.Fatalf("claimed epochs after the prune: %v %v, want only %d", claimed, err, later)
	}
	if _, err := f.keys.EpochTokenKey(e, es); err == nil {
		t.Fatal("the proximity key of a day before the window is still there")
	} else if !isErased(err) {
		t.Fatalf("unexpected error %v", err)
	}
	// Stored too: a restart does not bring the key back.
	a.restart(t, clock, nil)
	f, _ = a.friend(bID)
	if _, err := f.keys.EpochTokenKey(e, es); err == nil {
		t.Fatal("the erased key came back after a restart")
	}
}

func isErased(err error) bool { return errors.Is(err, crypto.ErrKeyErased) }

// TestHistoryCachedEpochKeepsOtherWrites: recordCells keeps the epoch it
// last wrote in memory (histCur) and adds the next position to that copy;
// a flag another writer set in between (updateHistory: the relay
// acknowledged the live announcement) must survive, and positions the
// copy says change nothing (the cap, a kept cell) change nothing stored.
func TestHistoryCachedEpochKeepsOtherWrites(t *testing.T) {
	clock := newTestClock()
	a := newTestNode(t, clock, nil)
	e := a.epochNow()
	at := func(m float64) []cellSet {
		la, lo := geo.Destination(lat0, lng0, 90, m)
		return a.cellsAt(la, lo)
	}
	a.recordCells(e, at(0))
	if err := a.updateHistory([]uint64{e}, func(r *historyRec) { r.Live = true }); err != nil {
		t.Fatal(err)
	}
	a.recordCells(e, at(600))
	rec, ok := a.historyAt(e)
	if !ok || len(rec.S) != 2 || !rec.Live {
		t.Fatalf("after a flag and a second position: %+v", rec)
	}
	a.recordCells(e, at(1200))
	a.recordCells(e, at(1800))
	a.recordCells(e, at(2400)) // over the cap
	a.recordCells(e, at(0))    // kept already
	rec, _ = a.historyAt(e)
	if len(rec.S) != maxCellSetsPerEpoch || !rec.Live {
		t.Fatalf("full epoch: %+v", rec)
	}
	for i, m := range []float64{0, 600, 1200, 1800} {
		if rec.S[i][0].H != at(m)[0].H {
			t.Fatalf("position %d: %+v", i, rec.S[i])
		}
	}
}
