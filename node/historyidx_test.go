package node

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto/geo"
)

// lateDueByScan is lateDue as it was: every record of the history read and
// filtered. The index must give the same answer.
func lateDueByScan(n *Node) []uint64 {
	cur, cut := n.epochNow(), n.historyCutEpoch()
	var due []uint64
	for _, r := range n.historyRecs() {
		if !r.Live && !r.Late && r.E < cur && r.E >= cut && len(r.S) > 0 {
			due = append(due, r.E)
		}
	}
	return due
}

func dueEpochs(n *Node) []uint64 {
	var out []uint64
	for _, r := range n.lateDue() {
		out = append(out, r.E)
	}
	return out
}

// TestLateDueIndexMatchesScan: lateDue through the in-memory index of
// settled epochs (historyidx.go) finds exactly the epochs a full read of
// the history finds, across new records of past epochs, epochs marked live
// and late, the clock moving and a prune, and after a restart (index read
// anew). Once read, the index opens only unsettled records: with 150
// epochs of history of which 3 are unsettled, lateDue reads 3.
func TestLateDueIndexMatchesScan(t *testing.T) {
	clock := newTestClock()
	a := newTestNode(t, clock, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	cur := a.epochNow()
	check := func(step string) {
		t.Helper()
		want, got := lateDueByScan(a.Node), dueEpochs(a.Node)
		if !slices.Equal(got, want) {
			t.Fatalf("%s: lateDue %v, full read %v", step, got, want)
		}
	}
	lat, lng := lat0, lng0
	record := func(e uint64) {
		lat, lng = geo.Destination(lat, lng, 90, 400)
		a.recordHistory(e, &location{lat: lat, lng: lng})
	}
	var epochs []uint64
	for e := cur - 150; e < cur; e++ {
		record(e)
		epochs = append(epochs, e)
	}
	check("before the index is read")
	var live, late []uint64
	for _, e := range epochs[:len(epochs)-3] {
		if rng.IntN(2) == 0 {
			live = append(live, e)
		} else {
			late = append(late, e)
		}
	}
	if err := a.updateHistory(live, func(r *historyRec) { r.Live = true }); err != nil {
		t.Fatal(err)
	}
	check("after marking live")
	if err := a.updateHistory(late, func(r *historyRec) { r.Late = true }); err != nil {
		t.Fatal(err)
	}
	check("after marking late")
	a.mu.Lock()
	n := len(a.histIdx)
	a.mu.Unlock()
	if n != len(epochs) {
		t.Fatalf("index holds %d epochs, want %d", n, len(epochs))
	}
	if u := unsettledEpochs(a.historyIndex(), 0, cur); len(u) != 3 {
		t.Fatalf("lateDue would open %d records, want the 3 unsettled", len(u))
	}
	// What a repeated live announcement checks before writing.
	if !a.historySettled(live[0]) || !a.historySettled(late[0]) || a.historySettled(cur-1) || a.historySettled(cur+5) {
		t.Fatal("historySettled disagrees with the records")
	}
	// A record of a past epoch added (a tick computed before the clock
	// moved on), a second position in a settled epoch, the clock moving.
	record(cur - 200)
	record(epochs[0])
	clock.Add(30 * time.Minute)
	check("after new records and an hour")
	// The window passes over the oldest epochs, and the daily prune drops
	// them.
	clock.Add(a.cfg.History.window() - 150*time.Duration(a.cfg.EpochSeconds)*time.Second + 2*time.Hour)
	check("window moved")
	a.pruneHistory()
	check("after the prune")
	// A fresh index (as after a restart) reads the history again.
	a.mu.Lock()
	a.histIdx = nil
	a.mu.Unlock()
	check("index read again")
}
