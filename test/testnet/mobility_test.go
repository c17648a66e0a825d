package testnet

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func scenario(t *testing.T, toml string) *Scenario {
	t.Helper()
	s, err := ParseScenario([]byte(toml), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func walk(t *testing.T, s *Scenario) [][]Point {
	t.Helper()
	m, err := NewMobility(s)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]Point
	for k := range s.Steps() {
		pos := make([]Point, s.Nodes)
		m.Positions(time.Duration(k)*s.Step.Duration, pos)
		out = append(out, pos)
	}
	return out
}

func TestWaypointDeterministicAndBounded(t *testing.T) {
	s := scenario(t, "nodes = 50\nduration = \"2h\"\nstep = \"10s\"\n[mobility]\narea = 1000\nspeed_min = 1\nspeed_max = 2\npause_max = \"1m\"\n")
	a, b := walk(t, s), walk(t, s)
	moved := 0.0
	for k := range a {
		for i := range a[k] {
			if a[k][i] != b[k][i] {
				t.Fatalf("step %d node %d differs between runs", k, i)
			}
			p := a[k][i]
			if math.Abs(p.X) > 500 || math.Abs(p.Y) > 500 {
				t.Fatalf("node %d left the area: %v", i, p)
			}
			if k > 0 {
				d := p.Dist(a[k-1][i])
				if d > 2*10+1e-6 {
					t.Fatalf("node %d moved %v m in one 10 s step at ≤ 2 m/s", i, d)
				}
				moved += d
			}
		}
	}
	if moved < 50*3600 { // ≥ 0.5 m/s average over 2 h for 50 nodes
		t.Fatalf("nodes barely moved: %v m", moved)
	}
	s2 := scenario(t, "seed = 9\nnodes = 50\nduration = \"2h\"\n[mobility]\narea = 1000\n")
	if walk(t, s2)[100][0] == a[100][0] {
		t.Fatal("another seed gave the same walk")
	}
}

func TestGatherings(t *testing.T) {
	s := scenario(t, `nodes = 20
duration = "1h"
[mobility]
model = "gatherings"
[[mobility.gathering]]
x = 100
y = -50
radius = 10
at = "20m"
for = "10m"
nodes = [3, 4, 5]
`)
	ps := walk(t, s)
	for k, pos := range ps {
		tm := time.Duration(k) * s.Step.Duration
		in := tm >= 20*time.Minute && tm < 30*time.Minute
		for _, n := range []int{3, 4, 5} {
			d := pos[n].Dist(Point{100, -50})
			if in && d > 10+1e-9 {
				t.Fatalf("t=%v node %d is %v m from the gathering", tm, n, d)
			}
		}
	}
	// After it ends they walk on from the place, not teleport.
	k := int(30 * time.Minute / s.Step.Duration)
	if d := ps[k][3].Dist(ps[k-1][3]); d > s.Mobility.SpeedMax*s.Step.Seconds()+1e-6 {
		t.Fatalf("jumped %v m leaving the gathering", d)
	}
}

func TestTraceReplay(t *testing.T) {
	dir := t.TempDir()
	csv := "node,time,lat,lng\n0,0,52.52,13.405\n0,60,52.521,13.405\n1,30,52.52,13.406\n0,2026-06-01T08:02:00Z,52.522,13.405\n"
	if err := os.WriteFile(filepath.Join(dir, "t.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := ParseScenario([]byte("nodes = 3\nduration = \"5m\"\n[graph]\nmodel = \"complete\"\n[mobility]\nmodel = \"trace\"\nfile = \"t.csv\"\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewMobility(s)
	if err != nil {
		t.Fatal(err)
	}
	pr := Projection{s.Mobility.Lat, s.Mobility.Lng}
	pos := make([]Point, 3)
	check := func(tm time.Duration, n int, lat, lng float64) {
		t.Helper()
		m.Positions(tm, pos)
		if d := pos[n].Dist(pr.Point(lat, lng)); d > 0.01 {
			t.Fatalf("t=%v node %d off by %v m", tm, n, d)
		}
	}
	check(0, 1, 52.52, 13.406) // before its first sample: at the first sample
	check(59*time.Second, 0, 52.52, 13.405)
	check(60*time.Second, 0, 52.521, 13.405)
	check(3*time.Minute, 0, 52.522, 13.405) // RFC 3339 time
	if pos[2].Valid() {
		t.Fatal("node absent from the trace has a position")
	}
	lat, lng := pr.LatLng(pr.Point(52.53, 13.41))
	if math.Abs(lat-52.53) > 1e-9 || math.Abs(lng-13.41) > 1e-9 {
		t.Fatal("projection does not round-trip")
	}
	for _, bad := range []string{"0,0,52\n", "7,0,52,13\n", "0,x,52,13\n", "0,0,95,13\n"} {
		os.WriteFile(filepath.Join(dir, "b.csv"), []byte(bad), 0o644)
		if _, err := LoadTrace(filepath.Join(dir, "b.csv"), 3, s.Start, pr); err == nil {
			t.Errorf("trace %q accepted", bad)
		}
	}
}
