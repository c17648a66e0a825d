package testnet

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func graphOf(t *testing.T, toml string) (*Scenario, *Graph) {
	t.Helper()
	s, err := ParseScenario([]byte(toml), "")
	if err != nil {
		t.Fatal(err)
	}
	g, err := BuildGraph(s)
	if err != nil {
		t.Fatal(err)
	}
	checkGraph(t, g)
	return s, g
}

// checkGraph verifies the invariants: sorted unique edges A<B, symmetric
// sorted adjacency.
func checkGraph(t *testing.T, g *Graph) {
	t.Helper()
	deg := 0
	for i, e := range g.Edges {
		if e.A >= e.B || int(e.B) >= g.N || (i > 0 && e.Key() <= g.Edges[i-1].Key()) {
			t.Fatalf("bad edge %v at %d", e, i)
		}
		if !g.Friends(int(e.A), int(e.B)) || !g.Friends(int(e.B), int(e.A)) {
			t.Fatalf("edge %v missing from adjacency", e)
		}
	}
	for _, a := range g.Adj {
		deg += len(a)
		if !slices.IsSorted(a) {
			t.Fatal("unsorted adjacency")
		}
	}
	if deg != 2*len(g.Edges) {
		t.Fatalf("degree sum %d != 2·%d", deg, len(g.Edges))
	}
}

func TestGraphSmallWorld(t *testing.T) {
	_, g := graphOf(t, "nodes = 200\n[graph]\nmodel = \"small-world\"\ndegree = 3\nrewire = 0.1\n")
	// A ring of k neighbours a side has n·k edges; rewiring moves some.
	if n := len(g.Edges); n != 600 {
		t.Fatalf("%d edges, want n·k = 600", n)
	}
	// Most edges stay on the ring: |a-b| <= 3 (mod n).
	local := 0
	for _, e := range g.Edges {
		if d := int(e.B - e.A); d <= 3 || 200-d <= 3 {
			local++
		}
	}
	if local < len(g.Edges)*7/10 {
		t.Fatalf("only %d of %d edges local; rewiring too strong", local, len(g.Edges))
	}
	_, g2 := graphOf(t, "nodes = 200\n[graph]\nmodel = \"small-world\"\ndegree = 3\nrewire = 0.1\n")
	if !slices.Equal(g.Edges, g2.Edges) {
		t.Fatal("same seed, different graph")
	}
	_, g3 := graphOf(t, "seed = 2\nnodes = 200\n[graph]\nmodel = \"small-world\"\ndegree = 3\nrewire = 0.1\n")
	if slices.Equal(g.Edges, g3.Edges) {
		t.Fatal("different seeds, same graph")
	}
}

func TestGraphScaleFree(t *testing.T) {
	_, g := graphOf(t, "nodes = 500\n[graph]\nmodel = \"scale-free\"\ndegree = 2\n")
	if n := len(g.Edges); n < 900 || n > 1000 {
		t.Fatalf("%d edges, want about m·n = 1000", n)
	}
	maxDeg := 0
	for i := range g.N {
		maxDeg = max(maxDeg, g.Degree(i))
	}
	// Preferential attachment grows hubs far above the mean degree 4.
	if maxDeg < 20 {
		t.Fatalf("largest degree %d: no hubs", maxDeg)
	}
}

func TestGraphGroups(t *testing.T) {
	s, g := graphOf(t, "nodes = 100\n[graph]\nmodel = \"groups\"\ngroups = 4\np_in = 0.4\np_out = 0.01\n")
	in, out := 0, 0
	for _, e := range g.Edges {
		if GroupOf(int(e.A), s.Nodes, 4) == GroupOf(int(e.B), s.Nodes, 4) {
			in++
		} else {
			out++
		}
	}
	// Expected: in ≈ 4·C(25,2)·0.406 ≈ 487, out ≈ 3750·0.01 ≈ 38.
	if in < 400 || in > 580 || out > 80 {
		t.Fatalf("in-group %d, between %d", in, out)
	}
}

func TestGraphComplete(t *testing.T) {
	_, g := graphOf(t, "nodes = 10\n[graph]\nmodel = \"complete\"\n")
	if len(g.Edges) != 45 {
		t.Fatalf("%d edges", len(g.Edges))
	}
}

func TestEdgeListErrors(t *testing.T) {
	dir := t.TempDir()
	for _, bad := range []string{"0,9\n", "0\n", "a,b\n", "0,1,2\n", "-1,0\n"} {
		p := filepath.Join(dir, "e.txt")
		if err := os.WriteFile(p, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := ReadEdgeList(p, 5); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestGraphSmallWorldDegrees(t *testing.T) {
	_, g := graphOf(t, "nodes = 1000\n[graph]\nmodel = \"small-world\"\ndegree = 4\nrewire = 0.2\n")
	lo, hi := 1000, 0
	for i := range g.N {
		lo, hi = min(lo, g.Degree(i)), max(hi, g.Degree(i))
	}
	// Degrees stay near 2k = 8: no hubs, nobody isolated.
	if lo < 3 || hi > 16 {
		t.Fatalf("degrees in [%d, %d], want near 8", lo, hi)
	}
}
