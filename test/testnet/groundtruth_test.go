package testnet

import (
	"math"
	"slices"
	"testing"
	"time"
)

// scripted is a hand-made mobility: positions by step index.
type scripted struct {
	step time.Duration
	at   [][]Point
}

func (sc *scripted) Positions(t time.Duration, pos []Point) {
	copy(pos, sc.at[min(int(t/sc.step), len(sc.at)-1)])
}

func TestGroundTruthHandMade(t *testing.T) {
	s := scenario(t, "nodes = 3\nduration = \"60s\"\nstep = \"10s\"\n[graph]\nmodel = \"complete\"\n[metrics]\ndistances = [50, 150]\nfalse_distance = 300\n")
	g := NewGraph(3, []Edge{{0, 1}, {1, 2}}) // 0 and 2 are not friends
	// Node 1 walks past node 0; node 2 stays next to node 0 (not a friend).
	x1 := []float64{400, 200, 100, 40, 100, 400}
	var at [][]Point
	for _, x := range x1 {
		at = append(at, []Point{{0, 0}, {x, 0}, {1, 0}})
	}
	ms := GroundTruth(s, g, &scripted{10 * time.Second, at}, nil)
	want := []Meeting{
		{A: 0, B: 1, Dist: 50, Start: 30 * time.Second, End: 40 * time.Second, MinDist: 40},
		{A: 0, B: 1, Dist: 150, Start: 20 * time.Second, End: 50 * time.Second, MinDist: 40},
		{A: 1, B: 2, Dist: 50, Start: 30 * time.Second, End: 40 * time.Second, MinDist: 39},
		{A: 1, B: 2, Dist: 150, Start: 20 * time.Second, End: 50 * time.Second, MinDist: 39},
		{A: 0, B: 1, Dist: 300, Start: 10 * time.Second, End: 50 * time.Second, MinDist: 40},
		{A: 1, B: 2, Dist: 300, Start: 10 * time.Second, End: 50 * time.Second, MinDist: 39},
	}
	sortMeetings(want)
	if !slices.Equal(ms, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", ms, want)
	}
}

func TestGroundTruthOpenAtEnd(t *testing.T) {
	s := scenario(t, "nodes = 2\nduration = \"30s\"\nstep = \"10s\"\n[graph]\nmodel = \"complete\"\n[metrics]\ndistances = [50]\nfalse_distance = 50\n")
	g := NewGraph(2, []Edge{{0, 1}})
	ms := GroundTruth(s, g, &scripted{10 * time.Second, [][]Point{{{0, 0}, {10, 0}}}}, nil)
	if len(ms) != 1 || ms[0].Start != 0 || ms[0].End != 30*time.Second {
		t.Fatalf("a meeting lasting the whole run: %+v", ms)
	}
}

// TestGroundTruthMatchesBruteForce compares the grid with an all-pairs
// check on a random waypoint run with dense friendships.
func TestGroundTruthMatchesBruteForce(t *testing.T) {
	s := scenario(t, "nodes = 120\nduration = \"30m\"\nstep = \"15s\"\n[graph]\nmodel = \"groups\"\ngroups = 3\n[mobility]\narea = 800\n")
	g, err := BuildGraph(s)
	if err != nil {
		t.Fatal(err)
	}

	// Brute force with the same interval logic.
	ts := s.Thresholds()
	type pk struct {
		e Edge
		x int
	}
	open := map[pk]Meeting{}
	var want []Meeting
	m2, _ := NewMobility(s)
	pos := make([]Point, s.Nodes)
	for k := range s.Steps() {
		tm := time.Duration(k) * s.Step.Duration
		m2.Positions(tm, pos)
		for _, e := range g.Edges {
			d := pos[e.A].Dist(pos[e.B])
			for x, th := range ts {
				key := pk{e, x}
				cur, isOpen := open[key]
				switch {
				case d <= th && !isOpen:
					open[key] = Meeting{A: e.A, B: e.B, Dist: th, Start: tm, MinDist: d}
				case d <= th:
					cur.MinDist = min(cur.MinDist, d)
					open[key] = cur
				case isOpen:
					cur.End = tm
					want = append(want, cur)
					delete(open, key)
				}
			}
		}
	}
	for _, m := range open {
		m.End = s.Duration.Duration
		want = append(want, m)
	}
	sortMeetings(want)
	if len(want) < 20 {
		t.Fatalf("only %d meetings; the test needs more", len(want))
	}
	for _, mode := range []int{pairsGrid, pairsEdges, pairsAuto} {
		m1, _ := NewMobility(s)
		got := groundTruth(s, g, m1, nil, mode)
		same := len(got) == len(want)
		for i := 0; same && i < len(got); i++ {
			a, b := got[i], want[i]
			same = a.A == b.A && a.B == b.B && a.Dist == b.Dist && a.Start == b.Start && a.End == b.End &&
				math.Abs(a.MinDist-b.MinDist) < 1e-9
		}
		if !same {
			t.Fatalf("mode %d found %d meetings, brute force %d, or they differ", mode, len(got), len(want))
		}
	}
}

func BenchmarkGroundTruth10k(b *testing.B) {
	s, err := ParseScenario([]byte("nodes = 10000\nduration = \"1h\"\nstep = \"10s\"\n[graph]\ndegree = 5\n[mobility]\narea = 10000\n"), "")
	if err != nil {
		b.Fatal(err)
	}
	g, _ := BuildGraph(s)
	for b.Loop() {
		m, _ := NewMobility(s)
		GroundTruth(s, g, m, nil)
	}
}

// sortMeetings sorts by (Dist, Start, A, B) like GroundTruth.
func sortMeetings(ms []Meeting) {
	slices.SortFunc(ms, func(a, b Meeting) int {
		switch {
		case a.Dist != b.Dist:
			return int(a.Dist - b.Dist)
		case a.Start != b.Start:
			return int(a.Start - b.Start)
		case a.A != b.A:
			return int(a.A - b.A)
		}
		return int(a.B - b.B)
	})
}
