package simnet

import (
	"path/filepath"
	"testing"

	"github.com/imigee/imigee/test/testnet"
)

// TestSimLate runs testdata/late.toml: three friends meet for 40 minutes
// while node 1 has no reception, from before the meeting until two hours
// later. Nodes 0 and 2 must find each other live; node 1's meetings with
// both must be found after the fact (friend_was_nearby on both sides of
// each pair, with a span covering the meeting) once node 1 is back, hours
// after the meeting began, and none of them live (node 1 had no network).
// Photos taken during the meeting go, by the taken-while-together policy,
// to the friends found late once the meeting is confirmed, and are counted
// as items after a late match.
func TestSimLate(t *testing.T) {
	s, err := testnet.LoadScenario(filepath.Join("testdata", "late.toml"))
	if err != nil {
		t.Fatal(err)
	}
	// Everyone takes photos (six an hour) shared by the pre-approved
	// taken-while-together policy: node 1's photos of the meeting reach 0
	// and 2 only once the late meeting is confirmed, and theirs reach it.
	s.Workload.Policy, s.Workload.ItemsPerHour = testnet.PolicyTogether, 6
	s.Workload.SizeMin, s.Workload.SizeMax = 2000, 20000
	res, err := RunScenario(t, s, testnet.Options{Out: t.TempDir(), NoPlots: true})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Summary.Late
	t.Logf("late %+v", l)
	_, an := testnet.Classify(s, res.Meetings, res.Events)
	const back = 130 * 60 // node 1 regains reception at 2h10m
	seen := map[[2]int32]testnet.Outcome{}
	for _, o := range an.Outcomes {
		seen[[2]int32{o.A, o.B}] = o
	}
	if o := seen[[2]int32{0, 2}]; o.Outcome != testnet.OutcomeLive {
		t.Errorf("0-2 met with reception: %+v", o)
	}
	for _, p := range [][2]int32{{0, 1}, {1, 2}} {
		o, ok := seen[p]
		if !ok || o.Outcome != testnet.OutcomeLate {
			t.Errorf("%v: want late, got %+v", p, o)
			continue
		}
		if d := o.Delay / 1000; d < back-int64(o.Start.Seconds()) {
			t.Errorf("%v: late detection %d s after the meeting began, before node 1 was back", p, d)
		}
	}
	if r := l.ByDistance[0]; r.LateBoth != 2 || r.Missed != 0 {
		t.Errorf("both sides of both late pairs should raise friend_was_nearby: %+v", r)
	}
	if l.False != 0 {
		t.Errorf("%d false late detections", l.False)
	}
	fromLate := 0
	for _, e := range res.Events {
		if e.Kind == testnet.KindNearby && (e.Node == 1 || e.Peer == 1) && e.T < back*1000 {
			t.Errorf("live friend_nearby %+v while node 1 had no network", e)
		}
		if e.Kind == testnet.KindReceived && (e.Node == 1 || e.Peer == 1) {
			if e.T < back*1000 {
				t.Errorf("item %+v between node 1 and a friend while node 1 had no network", e)
			}
			fromLate++
		}
	}
	if fromLate == 0 || l.ItemsAfterLate != fromLate {
		t.Errorf("photos of the late meeting: %d received between node 1 and its friends, %d counted as after a late match", fromLate, l.ItemsAfterLate)
	}
}

// TestSimLateHistoryOff is TestSimLate's control: with the relays'
// history off (history.relay_window = 0) the late announcements find
// nothing, so node 1's two meetings are missed, and nobody raises
// friend_was_nearby.
func TestSimLateHistoryOff(t *testing.T) {
	s, err := testnet.LoadScenario(filepath.Join("testdata", "late.toml"))
	if err != nil {
		t.Fatal(err)
	}
	s.History.RelayWindow = testnet.D(0)
	res, err := RunScenario(t, s, testnet.Options{Out: t.TempDir(), NoPlots: true})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Summary.Late
	if r := l.ByDistance[0]; r.Live != 1 || r.Late != 0 || r.Missed != 2 || l.Detections != 0 {
		t.Errorf("history off: want 0-2 live and node 1's meetings missed, got %+v", l)
	}
}

// TestSimLateTogether runs testdata/latetogether.toml: two friends, each
// on its own relay, meet while neither has reception and get it back at
// the same instant. Each late announcement is matched by its relay before
// the relays' gossip has brought it the other's, so that first match
// finds nothing (the race behind the festival example's missed pair);
// both must still raise friend_was_nearby for the meeting, after they
// were back, and nothing live.
func TestSimLateTogether(t *testing.T) {
	s, err := testnet.LoadScenario(filepath.Join("testdata", "latetogether.toml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunScenario(t, s, testnet.Options{Out: t.TempDir(), NoPlots: true})
	if err != nil {
		t.Fatal(err)
	}
	_, an := testnet.Classify(s, res.Meetings, res.Events)
	if len(an.Outcomes) != 1 || an.Outcomes[0].Outcome != testnet.OutcomeLate {
		t.Fatalf("want one late meeting, got %+v", an.Outcomes)
	}
	if r := res.Summary.Late.ByDistance[0]; r.LateBoth != 1 || r.Missed != 0 || res.Summary.Late.False != 0 {
		t.Errorf("both sides should raise friend_was_nearby: %+v (false %d)", r, res.Summary.Late.False)
	}
	const back = 130 * 60 // both regain reception at 2h10m
	for _, e := range res.Events {
		if e.Kind == testnet.KindNearby && e.T < back*1000 {
			t.Errorf("live friend_nearby %+v while neither had network", e)
		}
	}
}
