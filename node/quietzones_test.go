package node

import (
	"sync"
	"testing"
)

// TestQuietZonesKeptAndNoLostAdds: quiet zones are stored (a restart
// reads them back, in order, and the in-memory copy announcing uses
// agrees with the store), a removal is seen at once, and zones added
// concurrently are all kept (each add reads, extends and writes the list;
// before the copy's lock two adds could overwrite each other's).
func TestQuietZonesKeptAndNoLostAdds(t *testing.T) {
	clock := newTestClock()
	r := startRelay(t, clock)
	a := newTestNode(t, clock, relayAddrs(r))
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := a.AddQuietZone(lat0+float64(i)*0.01, lng0, 100); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := len(a.QuietZones()); got != n {
		t.Fatalf("%d quiet zones after %d concurrent adds", got, n)
	}
	first := a.QuietZones()[0]
	a.RemoveQuietZone(first.ID)
	if got := len(a.QuietZones()); got != n-1 {
		t.Fatalf("%d quiet zones after a removal", got)
	}
	before := a.QuietZones()
	a.restart(t, clock, relayAddrs(r))
	after := a.QuietZones()
	if len(after) != len(before) {
		t.Fatalf("after a restart %d zones, before %d", len(after), len(before))
	}
	for i := range after {
		if after[i] != before[i] {
			t.Fatalf("zone %d after a restart %+v, before %+v", i, after[i], before[i])
		}
	}
	// A caller changing its copy changes nothing.
	after[0].RadiusMeters = 1
	if a.QuietZones()[0].RadiusMeters == 1 {
		t.Fatal("QuietZones handed out the cached list itself")
	}
}

// TestQuietZonesUnreadableFailClosed: when the stored quiet zones cannot be
// read (a damaged record), the node announces nothing at all rather than
// announcing as if there were none (it might be inside one), and a new
// zone does not overwrite the record with a list built from nothing.
// Before, the read error was ignored: no zones, announcing as usual.
func TestQuietZonesUnreadableFailClosed(t *testing.T) {
	clock := newTestClock()
	a := newTestNode(t, clock, nil)
	bad := []byte(`[{"ID":"damaged"`)
	if err := a.store.Put("settings", "quiet-zones", bad); err != nil {
		t.Fatal(err)
	}
	a.restart(t, clock, nil) // nothing cached yet
	a.SetAppOpen(true)
	if err := a.SetLocation(lat0, lng0, 10); err != nil {
		t.Fatal(err)
	}
	if loc := a.announcing(); loc != nil {
		t.Fatal("announcing although the quiet zones cannot be read")
	}
	if _, err := a.AddQuietZone(lat0, lng0, 100); err == nil {
		t.Fatal("a zone added over an unreadable list")
	}
	if got, err := a.store.Get("settings", "quiet-zones"); err != nil || string(got) != string(bad) {
		t.Fatalf("the stored list was overwritten: %q, %v", got, err)
	}
	// The same node with a readable, empty list announces from there.
	if err := a.store.Put("settings", "quiet-zones", []byte(`[]`)); err != nil {
		t.Fatal(err)
	}
	a.restart(t, clock, nil)
	a.SetAppOpen(true)
	if err := a.SetLocation(lat0, lng0, 10); err != nil {
		t.Fatal(err)
	}
	if a.announcing() == nil {
		t.Fatal("no announcing with readable zones: the check above proves nothing")
	}
}
