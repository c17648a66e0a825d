package testnet

import (
	"reflect"
	"testing"
	"time"
)

func sec(x float64) int64 { return int64(x * 1000) }

func TestAnalyzeSynthetic(t *testing.T) {
	s := scenario(t, "nodes = 4\nduration = \"1h\"\nepoch = \"1m\"\n[graph]\nmodel = \"complete\"\n[metrics]\ndistances = [50, 150]\nfalse_distance = 300\n")
	g, _ := BuildGraph(s)
	m := func(a, b int32, d float64, from, to time.Duration) Meeting {
		return Meeting{A: a, B: b, Dist: d, Start: from, End: to}
	}
	meetings := []Meeting{
		// 0-1 meet for 10 min within 50 m (and so within 150, 300).
		m(0, 1, 50, 10*time.Minute, 20*time.Minute),
		m(0, 1, 150, 9*time.Minute, 21*time.Minute),
		m(0, 1, 300, 8*time.Minute, 22*time.Minute),
		// 2-3 meet for 5 min within 150 m; nobody notices.
		m(2, 3, 150, 30*time.Minute, 35*time.Minute),
		m(2, 3, 300, 30*time.Minute, 35*time.Minute),
		// 1-2 pass by for 20 s: short.
		m(1, 2, 150, 40*time.Minute, 40*time.Minute+20*time.Second),
		m(1, 2, 300, 40*time.Minute, 40*time.Minute+20*time.Second),
	}
	evs := []Event{
		{T: sec(630), Kind: KindNearby, Node: 0, Peer: 1}, // 30 s after the 50 m meeting began
		{T: sec(660), Kind: KindNearby, Node: 1, Peer: 0},
		{T: sec(1500), Kind: KindGone, Node: 0, Peer: 1},
		{T: sec(1500), Kind: KindGone, Node: 1, Peer: 0},
		{T: sec(3000), Kind: KindNearby, Node: 0, Peer: 3}, // never near: false
		// Items: one to 1 and 2 (2 gets it via the relay late), one to 3 expires.
		{T: sec(100), Kind: KindShared, Node: 0, Peer: -1, Item: "a", Size: 10, To: []int{1, 2}},
		{T: sec(101), Kind: KindReceived, Node: 1, Peer: 0, Item: "a", Via: "direct"},
		{T: sec(400), Kind: KindReceived, Node: 2, Peer: 0, Item: "a", Via: "mailbox"},
		{T: sec(401), Kind: KindReceived, Node: 2, Peer: 0, Item: "a"}, // duplicate: ignored
		{T: sec(200), Kind: KindShared, Node: 0, Peer: -1, Item: "b", Size: 10, To: []int{3}},
		{T: sec(3500), Kind: KindFailed, Node: 0, Peer: 3, Item: "b"},
		{T: sec(210), Kind: KindShareError, Node: 2, Peer: -1, Err: "x"},
		// The receipt for 1's copy of "a" came back; 2's did not.
		{T: sec(102), Kind: KindDelivered, Node: 0, Peer: 1, Item: "a"},
		// Undelivered without a failure: 3 is offline at the end ("c"),
		// "d" was shared 30 s before the end (in flight), "e" is lost.
		{T: sec(3300), Kind: KindOffline, Node: 3, Peer: -1},
		{T: sec(1000), Kind: KindShared, Node: 0, Peer: -1, Item: "c", Size: 10, To: []int{3}},
		{T: sec(3570), Kind: KindShared, Node: 0, Peer: -1, Item: "d", Size: 10, To: []int{1}},
		{T: sec(500), Kind: KindShared, Node: 0, Peer: -1, Item: "e", Size: 10, To: []int{2}},
	}
	samples := []Sample{
		{T: 0, NodeIn: make([]int64, 4), NodeOut: make([]int64, 4), Relays: []RelayStats{{StoredBytes: 5}}},
		{T: sec(3600), NodeIn: []int64{100, 200, 300, 400}, NodeOut: []int64{10, 10, 10, 10}, Relays: []RelayStats{{StoredBytes: 50, RecordBytes: 7}}},
		{T: sec(3600), NodeIn: []int64{100, 200, 300, 400}, NodeOut: []int64{10, 10, 10, 10}, Relays: []RelayStats{{StoredBytes: 20}}},
	}
	res := NewResult(s, g, meetings, evs, samples)
	sum := res.Summary
	r50, r150 := sum.Meetings.ByDistance[0], sum.Meetings.ByDistance[1]
	if r50.Meetings != 1 || r50.DetectedBoth != 1 || r50.LatencyP50S != 30 || r50.Rate != 1 {
		t.Errorf("50 m: %+v", r50)
	}
	if r150.Meetings != 2 || r150.Detected != 1 || r150.Missed != 1 || r150.Short != 1 || r150.ShortSeen != 0 || r150.Rate != 0.5 {
		t.Errorf("150 m: %+v", r150)
	}
	// The 150 m meeting began at 9 min: latency 90 s.
	if r150.LatencyP50S != 90 {
		t.Errorf("150 m latency %v", r150.LatencyP50S)
	}
	if sum.Meetings.Detections != 3 || sum.Meetings.False != 1 {
		t.Errorf("detections %d, false %d", sum.Meetings.Detections, sum.Meetings.False)
	}
	d := sum.Delivery
	want := DeliverySummary{Items: 5, Recipients: 6, Delivered: 2, Ratio: 0.333333,
		Expired: 1, Undelivered: 4, UndeliveredOfflineAtEnd: 1, UndeliveredInFlight: 1, Lost: 1,
		ReceiptsPending: 1, ShareErrors: 1, TTDP50S: 1, TTDP90S: 300, TTDP99S: 300,
		ByPath: []PathSummary{
			{Path: PathDirect, Delivered: 1, TTDP50S: 1, TTDP90S: 1, TTDP99S: 1},
			{Path: PathMailbox, Delivered: 1, TTDP50S: 300, TTDP90S: 300, TTDP99S: 300},
		}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("delivery\n%+v\nwant\n%+v", d, want)
	}
	if sum.Traffic.InMeanPerNodeHour != 250 || sum.Traffic.OutMeanPerNodeHour != 10 || sum.Traffic.InP99PerNodeHour != 400 {
		t.Errorf("traffic %+v", sum.Traffic)
	}
	if sum.Relay.PeakStoredBytes != 50 || sum.Relay.FinalStoredBytes != 20 || sum.Relay.PeakRecordBytes != 7 {
		t.Errorf("relay %+v", sum.Relay)
	}
}

func TestNearbyStillOnAtEndAndOffline(t *testing.T) {
	s := scenario(t, "nodes = 2\nduration = \"1h\"\nepoch = \"1m\"\n[graph]\nmodel = \"complete\"\n[metrics]\ndistances = [50]\nfalse_distance = 50\n")
	g, _ := BuildGraph(s)
	meetings := []Meeting{{A: 0, B: 1, Dist: 50, Start: 50 * time.Minute, End: time.Hour}}
	evs := []Event{
		// Node 1's nearby state from an earlier (unrecorded) match ends
		// when it goes offline, long before the meeting.
		{T: sec(60), Kind: KindNearby, Node: 1, Peer: 0},
		{T: sec(120), Kind: KindOffline, Node: 1, Peer: -1},
		// Node 0 sees 1 at 55 min and is still "nearby" at the end.
		{T: sec(3300), Kind: KindNearby, Node: 0, Peer: 1},
	}
	sum := Summarize(s, g, meetings, evs, nil)
	r := sum.Meetings.ByDistance[0]
	if r.Detected != 1 || r.DetectedBoth != 0 || r.LatencyP50S != 300 {
		t.Fatalf("%+v", r)
	}
	if sum.Meetings.False != 1 { // the match at 1 min had no meeting
		t.Fatalf("false %d", sum.Meetings.False)
	}
}

func TestRoundAndQuantile(t *testing.T) {
	if round(2.0/3) != 0.666667 || round(123456789) != 123457000 || round(0) != 0 {
		t.Fatal("round")
	}
	xs := []float64{1, 2, 3, 4}
	if quantile(xs, 0.5) != 2 || quantile(xs, 1) != 4 || quantile(nil, 0.5) != 0 || quantile(xs, 0) != 1 {
		t.Fatal("quantile")
	}
}
