package testnet

import (
	"math"
	"testing"
	"time"
)

// TestWorkday: at 3:00 everyone is home; at noon on a weekday everyone
// is within the radius of an office; at noon on Saturday nobody is; the
// model repeats for a seed whatever times are asked.
func TestWorkday(t *testing.T) {
	// 2026-06-05 is a Friday.
	s := scenario(t, "nodes = 50\nduration = \"48h\"\nstart = 2026-06-05T00:00:00Z\n[mobility]\nmodel = \"workday\"\narea = 5000\n[mobility.workday]\noffices = 3\nradius = 20\n")
	m, err := NewMobility(s)
	if err != nil {
		t.Fatal(err)
	}
	w := m.(*workday)
	pos := make([]Point, s.Nodes)
	m.Positions(3*time.Hour, pos)
	for i, p := range pos {
		if p != w.home[i] {
			t.Fatalf("node %d not home at 3:00", i)
		}
	}
	m.Positions(12*time.Hour, pos)
	for i, p := range pos {
		if d := p.Dist(w.offices[w.office[i]]); d > 20 {
			t.Fatalf("node %d %.0f m from its office at noon on a weekday", i, d)
		}
	}
	m.Positions(36*time.Hour, pos) // Saturday noon
	for i, p := range pos {
		if d := p.Dist(w.offices[w.office[i]]); d <= 20 && p != w.home[i] {
			t.Fatalf("node %d at the office on Saturday", i)
		}
	}
	m2, _ := NewMobility(s)
	pos2 := make([]Point, s.Nodes)
	m2.Positions(12*time.Hour, pos2)
	m.Positions(12*time.Hour, pos)
	for i := range pos {
		if pos[i] != pos2[i] {
			t.Fatal("the model does not repeat for a seed")
		}
	}
}

// TestWalkIn: with walk_in, attendees are not at the place the moment a
// gathering begins, and are once they had time to walk there.
func TestWalkIn(t *testing.T) {
	base := "nodes = 4\n[graph]\nmodel = \"groups\"\ngroups = 1\n[mobility]\nmodel = \"gatherings\"\narea = 2000\nspeed_min = 1\nspeed_max = 1\n%s[[mobility.gathering]]\ngroup = 0\nat = \"10m\"\nfor = \"50m\"\nradius = 5\n"
	for _, walk := range []bool{false, true} {
		extra := ""
		if walk {
			extra = "walk_in = true\n"
		}
		s := scenario(t, fmtS(base, extra))
		m, _ := NewMobility(s)
		pos := make([]Point, s.Nodes)
		far := 0
		for k := 0; k <= 360; k++ {
			tm := time.Duration(k) * 10 * time.Second
			m.Positions(tm, pos)
			if tm == 10*time.Minute {
				for _, p := range pos {
					if p.Dist(Point{0, 0}) > 5 {
						far++
					}
				}
			}
			if tm == 59*time.Minute {
				for i, p := range pos {
					if p.Dist(Point{0, 0}) > 5 {
						t.Fatalf("walk_in %v: node %d not at the place after 49 minutes", walk, i)
					}
				}
			}
		}
		if walk != (far > 0) {
			t.Errorf("walk_in %v: %d attendees away from the place as it began", walk, far)
		}
	}
}

func fmtS(f, a string) string {
	for i := 0; i+1 < len(f); i++ {
		if f[i] == '%' && f[i+1] == 's' {
			return f[:i] + a + f[i+2:]
		}
	}
	return f
}

// TestGPSNoise: the fed error has the configured spread and drifts
// slowly (consecutive 10 s errors correlate).
func TestGPSNoise(t *testing.T) {
	s := scenario(t, "nodes = 200\n[mobility]\ngps_noise = 10\n")
	g := newGPSNoise(s)
	var ss, prod, n float64
	for range 100 {
		prev := append([]Point(nil), g.e...)
		g.step()
		for i, e := range g.e {
			ss += e.X * e.X
			prod += e.X * prev[i].X
			n++
		}
	}
	sd, corr := math.Sqrt(ss/n), prod/ss
	if sd < 9 || sd > 11 || corr < 0.75 || corr > 0.95 {
		t.Errorf("sd %.2f m (want 10), lag-1 correlation %.2f (want exp(-10/60) = 0.85)", sd, corr)
	}
}
