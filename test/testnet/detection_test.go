package testnet

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWilson(t *testing.T) {
	for _, c := range []struct {
		k, n   int
		lo, hi float64
	}{{0, 10, 0, 0.2775}, {5, 10, 0.2366, 0.7634}, {10, 10, 0.7225, 1}, {40, 40, 0.9124, 1}} {
		_, lo, hi := wilson(c.k, c.n)
		if math.Abs(lo-c.lo) > 1e-4 || math.Abs(hi-c.hi) > 1e-4 {
			t.Errorf("wilson(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", c.k, c.n, lo, hi, c.lo, c.hi)
		}
	}
	if p, _, _ := wilson(0, 0); !math.IsNaN(p) {
		t.Error("wilson(0, 0) is not NaN")
	}
}

// TestReferenceCurve: the sampled cell rule matches everyone within 75 m,
// nobody at 475 m at level 16, falls with distance, and reaches farther at
// level 14 (casual) and with all eight neighbours.
func TestReferenceCurve(t *testing.T) {
	s := DefaultScenario()
	bins := make([]DetectionBin, 0, 20)
	for d := 0.0; d < 500; d += 25 {
		bins = append(bins, DetectionBin{FromM: d, ToM: d + 25})
	}
	ref := ReferenceCurve(&s, bins)
	if ref[0] != 1 || ref[2] != 1 || ref[19] != 0 {
		t.Errorf("level 16 corner rule: %v", ref)
	}
	for i := 1; i < len(ref); i++ {
		if ref[i] > ref[i-1]+0.03 {
			t.Errorf("reference rises from %v to %v at %v m", ref[i-1], ref[i], bins[i].FromM)
		}
	}
	all := s
	all.Proximity.Neighbours = NeighboursAll
	casual := s
	casual.Proximity.Precision = PrecisionCasual
	ra, rc := ReferenceCurve(&all, bins), ReferenceCurve(&casual, bins)
	if !(ra[8] > ref[8]+0.2) || !(rc[12] > 0.9) {
		t.Errorf("200 m: corner %.2f, all %.2f; 300 m casual %.2f", ref[8], ra[8], rc[12])
	}
}

// TestDetectionCurve: trials are scored per side and binned.
func TestDetectionCurve(t *testing.T) {
	s := DefaultScenario()
	ep := s.Epoch.Duration
	trials := []Trial{
		{A: 0, B: 1, Epoch: 0, Len: ep, Dist: 10},       // both see it
		{A: 0, B: 2, Epoch: 0, Len: ep, Dist: 12},       // only 2 sees 0
		{A: 1, B: 2, Epoch: ep, Len: ep, Dist: 20},      // nobody
		{A: 0, B: 1, Epoch: 3 * ep, Len: ep, Dist: 480}, // nobody, far
	}
	dets := []Detection{{0, 1, 0, 60_000}, {1, 0, 30_000, 700_000}, {2, 0, 599_000, 900_000}}
	bins := DetectionCurve(&s, trials, dets)
	if len(bins) != 20 || bins[0].N != 3 || bins[0].Either != 2 || bins[0].Both != 1 || bins[19].N != 1 || bins[19].Either != 0 {
		t.Fatalf("bins %+v", bins[0])
	}
	if bins[0].Reference != 1 || bins[19].Reference != 0 {
		t.Errorf("reference %v %v", bins[0].Reference, bins[19].Reference)
	}
}

// TestTrials: two friends standing 60 m apart for two hours with 10-minute
// epochs give one trial per whole epoch, aligned to the Unix epoch, at 60 m.
func TestTrials(t *testing.T) {
	dir := t.TempDir()
	trace := "node,time,lat,lng\n0,0,52.52,13.405\n1,0,52.52054,13.405\n"
	os.WriteFile(filepath.Join(dir, "t.csv"), []byte(trace), 0o644)
	os.WriteFile(filepath.Join(dir, "s.toml"), []byte("nodes = 2\nduration = \"2h\"\nstart = 2026-06-01T08:05:00Z\n[graph]\nmodel = \"complete\"\n[mobility]\nmodel = \"trace\"\nfile = \"t.csv\"\n[workload]\noffline_fraction = 0\n"), 0o644)
	s, err := LoadScenario(filepath.Join(dir, "s.toml"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := BuildGraph(s)
	if err != nil {
		t.Fatal(err)
	}
	_, trials, err := TruthAndTrials(s, g, Plan(s, g))
	if err != nil {
		t.Fatal(err)
	}
	// 08:05 to 10:05: whole epochs 08:10 .. 10:00, 11 of them.
	if len(trials) != 11 || trials[0].Epoch != 5*time.Minute || math.Abs(trials[0].Dist-60) > 1 {
		t.Fatalf("%d trials, first %+v", len(trials), trials[0])
	}
}
