package geo

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

var printTable = flag.Bool("table", false, "print the match-probability table in Markdown")

type scheme struct {
	name  string
	cells func(lat, lng float64, level int) (uint64, []uint64)
}

// matchTable samples pairs at each distance (random place, uniform on the
// sphere, random bearing; fixed seed) and returns the share that match.
func matchTable(s scheme, level, samples int, dists []float64) []float64 {
	r := rand.New(rand.NewPCG(16, 2026))
	out := make([]float64, len(dists))
	for di, d := range dists {
		hits := 0
		for range samples {
			lat := math.Asin(2*r.Float64()-1) * 180 / math.Pi
			lng := r.Float64()*360 - 180
			lat2, lng2 := Destination(lat, lng, r.Float64()*360, d)
			ah, an := s.cells(lat, lng, level)
			bh, bn := s.cells(lat2, lng2, level)
			if Match(ah, an, bh, bn) {
				hits++
			}
		}
		out[di] = float64(hits) / float64(samples)
	}
	return out
}

func distances() []float64 {
	var d []float64
	for m := 0.0; m <= 500; m += 25 {
		d = append(d, m)
	}
	return d
}

// TestMatchProbability measures detection by distance at DefaultLevel for
// both schemes and checks the properties the design relies on: everyone
// within 25 m matches, nobody beyond 500 m does, and the probability falls
// with distance. Run with -table to print the table for the docs.
func TestMatchProbability(t *testing.T) {
	samples := 4000
	if testing.Short() {
		samples = 500
	}
	dists := distances()
	schemes := []scheme{{"Cells (here+3 near, 4 tokens)", Cells}, {"AllCells (here+8 near, 9 tokens)", AllCells}}
	tables := make([][]float64, len(schemes))
	for i, s := range schemes {
		tables[i] = matchTable(s, DefaultLevel, samples, dists)
		p := tables[i]
		if p[0] != 1 || p[1] != 1 {
			t.Errorf("%s: match at 0/25 m = %.3f/%.3f, want 1", s.name, p[0], p[1])
		}
		if last := p[len(p)-1]; last != 0 {
			t.Errorf("%s: match at 500 m = %.3f, want 0", s.name, last)
		}
		for j := 1; j < len(p); j++ {
			if p[j] > p[j-1]+0.05 {
				t.Errorf("%s: probability rises from %.3f to %.3f at %v m", s.name, p[j-1], p[j], dists[j])
			}
		}
	}
	if *printTable {
		var b strings.Builder
		fmt.Fprintf(&b, "| distance (m) |")
		for _, s := range schemes {
			fmt.Fprintf(&b, " %s |", s.name)
		}
		b.WriteString("\n| --- |" + strings.Repeat(" --- |", len(schemes)) + "\n")
		for j, d := range dists {
			fmt.Fprintf(&b, "| %.0f |", d)
			for i := range schemes {
				fmt.Fprintf(&b, " %.1f %% |", 100*tables[i][j])
			}
			b.WriteString("\n")
		}
		t.Logf("level %d, %d pairs per distance:\n%s", DefaultLevel, samples, b.String())
	}
}

func TestCellsShape(t *testing.T) {
	h, n := Cells(48.8584, 2.2945, DefaultLevel)
	if h == 0 || len(n) != 3 {
		t.Fatalf("here %x near %d", h, len(n))
	}
	_, all := AllCells(48.8584, 2.2945, DefaultLevel)
	for _, c := range n {
		if c == h || !contains(all, c) {
			t.Fatalf("near cell %x is not a neighbour", c)
		}
	}
	if h, n := Cells(math.NaN(), 0, DefaultLevel); h != 0 || n != nil {
		t.Fatal("NaN gives cells")
	}
	if h, _ := Cells(91, 0, DefaultLevel); h != 0 {
		t.Fatal("latitude 91 gives cells")
	}
	// Levels are clamped.
	a, _ := Cells(1, 1, 99)
	b, _ := Cells(1, 1, MaxLevel)
	if a != b {
		t.Fatal("level not clamped")
	}
}

func contains(s []uint64, v uint64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestDestination(t *testing.T) {
	lat, lng := Destination(0, 0, 90, math.Pi*EarthRadiusMeters/2)
	if math.Abs(lat) > 1e-9 || math.Abs(lng-90) > 1e-9 {
		t.Fatalf("quarter great circle east: %v %v", lat, lng)
	}
}

func BenchmarkCells(b *testing.B) {
	for b.Loop() {
		Cells(48.8584, 2.2945, DefaultLevel)
	}
}
