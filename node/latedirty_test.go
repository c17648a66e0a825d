package node

import (
	"testing"

	"github.com/imigee/imigee/crypto/geo"
)

// TestLateCheckNotOnEveryCellChange: a moving phone records a new cell set
// at every cell change; a record of the current epoch cannot be due for a
// late announcement, so it must not make the next tick decode the whole
// history again (before, every new cell set did: a week of epochs read at
// every cell change). A record of a past epoch still does.
func TestLateCheckNotOnEveryCellChange(t *testing.T) {
	clock := newTestClock()
	a := newTestNode(t, clock, nil)
	dirty := func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.lateDirty
	}
	clear := func() {
		a.mu.Lock()
		a.lateDirty = false
		a.mu.Unlock()
	}
	e := a.epochNow()
	lat, lng := lat0, lng0
	for i := range maxCellSetsPerEpoch {
		clear()
		lat, lng = geo.Destination(lat, lng, 90, 400) // a new cell each time
		a.recordHistory(e, &location{lat: lat, lng: lng})
		if r, ok := a.historyAt(e); !ok || len(r.S) != i+1 {
			t.Fatalf("step %d: history of the epoch %+v", i, r)
		}
		if dirty() {
			t.Fatalf("step %d: a cell set of the current epoch marked the history dirty", i)
		}
	}
	clear()
	a.recordHistory(e-1, &location{lat: lat0, lng: lng0})
	if !dirty() {
		t.Fatal("a record of a past epoch did not mark the history dirty")
	}
}
