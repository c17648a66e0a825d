package testnet

import (
	"slices"
	"testing"
)

// TestDetectionsAndDeliveries: a nearby interval ends at friend_gone, at
// the node going offline, or at the run's end; a repeated friend_nearby
// does not restart it. A copy is received once (the first receipt counts),
// copies never received say -1, and a receipt of a copy nobody shared is
// ignored.
func TestDetectionsAndDeliveries(t *testing.T) {
	evs := []Event{
		{T: 1000, Kind: KindNearby, Node: 0, Peer: 1},
		{T: 2000, Kind: KindNearby, Node: 0, Peer: 1}, // still the same interval
		{T: 1500, Kind: KindNearby, Node: 1, Peer: 0},
		{T: 3000, Kind: KindNearby, Node: 0, Peer: 2},
		{T: 4000, Kind: KindGone, Node: 0, Peer: 1},
		{T: 5000, Kind: KindOffline, Node: 0, Peer: -1}, // closes 0→2
		{T: 6000, Kind: KindShared, Node: 2, Peer: -1, Item: "a", Size: 9, To: []int{0, 1}},
		{T: 7000, Kind: KindReceived, Node: 1, Peer: 2, Item: "a", Via: "direct"},
		{T: 8000, Kind: KindReceived, Node: 1, Peer: 2, Item: "a", Via: "mailbox"}, // a second copy: ignored
		{T: 8500, Kind: KindReceived, Node: 1, Peer: 2, Item: "zz"},                // never shared
	}
	got := Detections(evs, 10_000)
	want := []Detection{{0, 1, 1000, 4000}, {0, 2, 3000, 5000}, {1, 0, 1500, 10_000}}
	if !slices.Equal(got, want) {
		t.Errorf("detections %+v, want %+v", got, want)
	}
	dels := Deliveries(evs)
	wantD := []Delivery{
		{Item: "a", From: 2, To: 0, Size: 9, Shared: 6000, Received: -1},
		{Item: "a", From: 2, To: 1, Size: 9, Shared: 6000, Received: 7000, Via: "direct"},
	}
	if !slices.Equal(dels, wantD) {
		t.Errorf("deliveries %+v, want %+v", dels, wantD)
	}
}
