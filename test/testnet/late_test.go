package testnet

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestClassifySynthetic classifies meetings from a hand-made event stream:
// a live one (with its discovery latency), a late one (friend_was_nearby
// three hours later, both sides), a late one raised by one side only, one
// missed, one whose friend_was_nearby covers another time (missed, and a
// false late detection), and a short meeting left out.
func TestClassifySynthetic(t *testing.T) {
	s := scenario(t, "nodes = 6\nduration = \"6h\"\nepoch = \"5m\"\n[graph]\nmodel = \"complete\"\n[metrics]\ndistances = [50]\nfalse_distance = 300\n")
	min := func(x float64) time.Duration { return time.Duration(x * float64(time.Minute)) }
	m := func(a, b int32, d float64, from, to float64) Meeting {
		return Meeting{A: a, B: b, Dist: d, Start: min(from), End: min(to)}
	}
	meetings := []Meeting{
		m(0, 1, 50, 10, 40), // live, seen 60 s in
		m(0, 1, 300, 5, 45),
		m(2, 3, 50, 60, 120), // late, both sides, 3 h after the start
		m(2, 3, 300, 60, 120),
		m(4, 5, 50, 60, 90), // late, side 5 only
		m(4, 5, 300, 60, 90),
		m(1, 2, 50, 200, 230), // missed
		m(1, 2, 300, 200, 230),
		m(0, 5, 50, 250, 280), // missed: its late event covers another time
		m(0, 5, 300, 250, 280),
		m(3, 4, 50, 300, 302), // short (< one epoch)
	}
	ms := func(minutes float64) int64 { return int64(minutes * 60_000) }
	evs := []Event{
		{T: ms(11), Kind: KindNearby, Node: 0, Peer: 1},
		{T: ms(50), Kind: KindGone, Node: 0, Peer: 1},
		{T: ms(55), Kind: KindNoNetwork, Node: 2, Peer: -1},
		{T: ms(55), Kind: KindNoNetwork, Node: 4, Peer: -1},
		{T: ms(130), Kind: KindNetwork, Node: 4, Peer: -1},
		{T: ms(150), Kind: KindWasNearby, Node: 5, Peer: 4, SpanFrom: ms(60), SpanTo: ms(90)},
		{T: ms(180), Kind: KindNetwork, Node: 2, Peer: -1},
		{T: ms(240), Kind: KindWasNearby, Node: 2, Peer: 3, SpanFrom: ms(60), SpanTo: ms(115)},
		{T: ms(241), Kind: KindWasNearby, Node: 3, Peer: 2, SpanFrom: ms(60), SpanTo: ms(115)},
		{T: ms(300), Kind: KindWasNearby, Node: 0, Peer: 5, SpanFrom: ms(100), SpanTo: ms(110)},
		// Items: 3 shares with 2 after the late match (counts), 0 with 1
		// (met live: does not), 4 with 5 before its late match (does not).
		{T: ms(245), Kind: KindShared, Node: 3, Peer: -1, Item: "a", Size: 10, To: []int{2}},
		{T: ms(246), Kind: KindReceived, Node: 2, Peer: 3, Item: "a"},
		{T: ms(245), Kind: KindShared, Node: 0, Peer: -1, Item: "b", Size: 10, To: []int{1}},
		{T: ms(246), Kind: KindReceived, Node: 1, Peer: 0, Item: "b"},
		{T: ms(100), Kind: KindShared, Node: 4, Peer: -1, Item: "c", Size: 10, To: []int{5}},
		{T: ms(131), Kind: KindReceived, Node: 5, Peer: 4, Item: "c"},
		// A node's own share (not the runner's) after the late match counts.
		{T: ms(160), Kind: KindReceived, Node: 4, Peer: 5, Item: "own"},
	}
	slices.SortStableFunc(evs, func(a, b Event) int { return int(a.T - b.T) })
	sum, an := Classify(s, meetings, evs)
	if len(sum.ByDistance) != 1 {
		t.Fatalf("rows: %+v", sum.ByDistance)
	}
	r := sum.ByDistance[0]
	want := LateRow{DistanceM: 50, Meetings: 5, InOutage: 2, Live: 1, Late: 2, LateBoth: 1, Missed: 2,
		LiveShare: 0.2, LateShare: 0.4, MissedShare: 0.4,
		LiveDelayP50S: 60, LiveDelayP90S: 60,
		LateDelayP50S: 90 * 60, LateDelayP90S: 180 * 60, LateDelayMaxS: 180 * 60}
	if r != want {
		t.Fatalf("row\n got %+v\nwant %+v", r, want)
	}
	if sum.Detections != 4 || sum.False != 1 || sum.Outages != 2 || sum.ItemsAfterLate != 2 {
		t.Fatalf("summary %+v", sum)
	}
	got := map[[2]int32]string{}
	for _, o := range an.Outcomes {
		got[[2]int32{o.A, o.B}] = o.Outcome
	}
	if got[[2]int32{0, 1}] != OutcomeLive || got[[2]int32{2, 3}] != OutcomeLate || got[[2]int32{4, 5}] != OutcomeLate ||
		got[[2]int32{1, 2}] != OutcomeMissed || got[[2]int32{0, 5}] != OutcomeMissed {
		t.Fatalf("outcomes %v", got)
	}
	rows := outcomeRows(an.Outcomes)
	if len(rows) != 6 || strings.Join(rows[1], ",") != "0,1,50,600,2400,live,60,0" ||
		strings.Join(rows[2], ",") != "2,3,50,3600,7200,late,10800,1" {
		t.Fatalf("csv rows %q", rows)
	}
}

// TestClassifyLiveWins: a meeting seen live by one side and late by the
// other is live, and its delay is the live one.
func TestClassifyLiveWins(t *testing.T) {
	s := scenario(t, "nodes = 2\nduration = \"3h\"\nepoch = \"5m\"\n[graph]\nmodel = \"complete\"\n[metrics]\ndistances = [50]\n")
	meetings := []Meeting{{A: 0, B: 1, Dist: 50, Start: 10 * time.Minute, End: 30 * time.Minute}}
	evs := []Event{
		{T: 12 * 60_000, Kind: KindNearby, Node: 0, Peer: 1},
		{T: 120 * 60_000, Kind: KindWasNearby, Node: 1, Peer: 0, SpanFrom: 10 * 60_000, SpanTo: 30 * 60_000},
	}
	sum, _ := Classify(s, meetings, evs)
	if r := sum.ByDistance[0]; r.Live != 1 || r.Late != 0 || r.LiveDelayP50S != 120 {
		t.Fatalf("%+v", r)
	}
}

func TestReceptionScenario(t *testing.T) {
	s := scenario(t, `nodes = 6
duration = "2h"
[workload]
offline_for = "20m"
[[workload.outage]]
node = 1
at = "10m"
[[workload.outage]]
node = 2
at = "30m"
for = "1h"
[[workload.dead_zone]]
x = 100
y = -50
radius = 80
at = "1h"
[history]
relay_window = "0s"
`)
	w := s.Workload
	if w.Outages[0].For.Duration != 20*time.Minute || w.Outages[1].For.Duration != time.Hour {
		t.Fatalf("outage lengths %+v", w.Outages)
	}
	if z := w.DeadZones[0]; z.For.Duration != time.Hour {
		t.Fatalf("dead zone runs to the end: %+v", z)
	}
	if s.History.RelayWindow.Duration != 0 || s.History.NodeWindow.Duration != DefaultNodeHistory {
		t.Fatalf("history %+v", s.History)
	}
	rx := NewReception(s)
	in, out := Point{120, -40}, Point{300, 300}
	for _, c := range []struct {
		n    int
		t    time.Duration
		p    Point
		want bool
	}{
		{1, 9 * time.Minute, out, true},
		{1, 10 * time.Minute, out, false},
		{1, 30 * time.Minute, out, true}, // [at, at+for)
		{2, 89 * time.Minute, out, false},
		{0, 59 * time.Minute, in, true},
		{0, 60 * time.Minute, in, false},
		{0, 60 * time.Minute, out, true},
		{0, 60 * time.Minute, Point{math.NaN(), math.NaN()}, true},
	} {
		if got := rx.Up(c.n, c.t, c.p); got != c.want {
			t.Errorf("Up(%d, %v, %v) = %v, want %v", c.n, c.t, c.p, got, c.want)
		}
	}
	if NewReception(scenario(t, "")) != nil {
		t.Fatal("a scenario without outages has a reception model")
	}
	if def := scenario(t, ""); def.History.RelayWindow.Duration != DefaultRelayHistory {
		t.Fatalf("relay history default %v", def.History.RelayWindow)
	}
}

func TestReceptionValidation(t *testing.T) {
	for _, c := range []struct{ toml, key string }{
		{"[[workload.outage]]\nnode = 20\nat = \"1m\"", "workload.outage[0]"},
		{"[[workload.outage]]\nnode = 1\nat = \"50m\"\nfor = \"20m\"", "workload.outage[0]"},
		{"[[workload.outage]]\nnode = 1\nat = \"-1m\"", "workload.outage[0]"},
		{"[[workload.dead_zone]]\nx = 0\ny = 0", "workload.dead_zone[0]"},
		{"[[workload.dead_zone]]\nx = 5000\ny = 0\nradius = 10", "workload.dead_zone[0]"},
		{"[[workload.dead_zone]]\nradius = 10\nat = \"2h\"", "workload.dead_zone[0]"},
		{"[history]\nrelay_window = \"721h\"", "history.relay_window"},
		{"[history]\nnode_window = \"-1h\"", "history.node_window"},
		{"[[workload.outage]]\nnode = 1\nwhen = \"1m\"", "when"},
	} {
		_, err := ParseScenario([]byte(c.toml), "")
		if !errors.Is(err, ErrScenario) || !strings.Contains(err.Error(), c.key) {
			t.Errorf("%q: %v, want an error naming %s", c.toml, err, c.key)
		}
	}
}

// TestRunReception drives the fake backend through a phone outage and a
// dead zone at a gathering: the runner tells the nodes when reception
// goes and comes back, records it, and keeps the outage phones' meetings
// in the ground truth (they are there) while the oracle, like a node
// without network, reports nothing live for them.
func TestRunReception(t *testing.T) {
	s := scenario(t, `nodes = 12
duration = "2h"
epoch = "5m"
[graph]
model = "groups"
groups = 2
p_in = 1.0
p_out = 0.0
[mobility]
model = "gatherings"
area = 3000
[[mobility.gathering]]
group = 0
x = -500
at = "30m"
for = "40m"
[workload]
items_per_hour = 0
offline_fraction = 0
[[workload.outage]]
node = 7
at = "10m"
for = "20m"
[[workload.offline]]
node = 8
at = "40m"
for = "10m"
[[workload.dead_zone]]
x = -500
radius = 60
at = "20m"
for = "1h"
`)
	fb := &fakeBackend{}
	out := t.TempDir()
	res, err := Run(t.Context(), s, Options{Backend: fb, Out: out, Mode: "sim", Stepped: true})
	if err != nil {
		t.Fatal(err)
	}
	lost, back := map[int]int64{}, map[int]int64{}
	for _, e := range res.Events {
		switch e.Kind {
		case KindNoNetwork:
			lost[e.Node] = e.T
		case KindNetwork:
			back[e.Node] = e.T
		}
	}
	if lost[7] != 10*60_000 || back[7] != 30*60_000 {
		t.Fatalf("outage of node 7: lost %d back %d", lost[7], back[7])
	}
	// Group 0 (nodes 0-5) stands in the dead zone during the gathering.
	for n := range 6 {
		if _, ok := lost[n]; !ok || back[n] <= lost[n] {
			t.Fatalf("node %d: lost %v back %v", n, lost, back)
		}
	}
	if fb.calls["net_down"] != len(lost) || fb.calls["net_up"] != len(back) {
		t.Fatalf("SetNetwork calls %v, events lost %v back %v", fb.calls, lost, back)
	}
	l := res.Summary.Late
	if l.Outages != len(lost) {
		t.Fatalf("late summary %+v", l)
	}
	r := l.ByDistance[0]
	// Pairs that stay close after walking out of the zone are still
	// found live; the rest is missed (the oracle has no late path).
	if r.Meetings == 0 || r.InOutage == 0 || r.Missed <= r.Live || r.Late != 0 {
		t.Fatalf("gathering in a dead zone: %+v", r)
	}
	for _, f := range []string{FileOutcomes, PlotLateShares} {
		if st, err := os.Stat(filepath.Join(out, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	if u := UnexplainedPlots(out); len(u) > 0 {
		t.Fatalf("plots neither drawn nor explained: %v", u)
	}
}

// TestPlanTogether: under policy together every item is a photo the node
// shares by its taken-while-together policy (no recipients from the plan).
func TestPlanTogether(t *testing.T) {
	s := scenario(t, "nodes = 6\n[graph]\nmodel = \"complete\"\n[workload]\npolicy = \"together\"\nitems_per_hour = 4\nsize_min = 10\nsize_max = 5000\n")
	g, err := BuildGraph(s)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, a := range Plan(s, g) {
		if a.Kind != ActShare {
			continue
		}
		n++
		if !a.Spec.Together || !a.Spec.Nearby || a.Spec.Message || len(a.Spec.To) != 0 {
			t.Fatalf("together share %+v", a.Spec)
		}
	}
	if n == 0 {
		t.Fatal("no share planned")
	}
}

// TestUndeliveredWithoutReception: a copy for a friend still without
// reception at the end is undelivered because it was unreachable, not
// lost; one whose friend got reception back long before is lost, and one
// whose friend was stopped while without reception and started again
// (still without it) is unreachable too.
func TestUndeliveredWithoutReception(t *testing.T) {
	s := scenario(t, "nodes = 4\nduration = \"1h\"\nepoch = \"1m\"\n[graph]\nmodel = \"complete\"\n")
	g, _ := BuildGraph(s)
	ms := func(m float64) int64 { return int64(m * 60_000) }
	evs := []Event{
		{T: ms(10), Kind: KindNoNetwork, Node: 1, Peer: -1},
		{T: ms(10), Kind: KindNoNetwork, Node: 2, Peer: -1},
		{T: ms(10), Kind: KindNoNetwork, Node: 3, Peer: -1},
		{T: ms(12), Kind: KindShared, Node: 0, Peer: -1, Item: "a", Size: 10, To: []int{1, 2, 3}},
		{T: ms(20), Kind: KindNetwork, Node: 2, Peer: -1},
		{T: ms(30), Kind: KindOffline, Node: 3, Peer: -1},
		{T: ms(40), Kind: KindOnline, Node: 3, Peer: -1},
	}
	sum := Summarize(s, g, nil, evs, nil)
	if d := sum.Delivery; d.Recipients != 3 || d.UndeliveredOfflineAtEnd != 2 || d.Lost != 1 || d.UndeliveredInFlight != 0 {
		t.Fatalf("%+v", d)
	}
}
