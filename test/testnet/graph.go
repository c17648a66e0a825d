package testnet

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/graph/graphs/gen"
	"gonum.org/v1/gonum/graph/simple"
)

// MaxEdges caps a friendship graph: 10,000,000 edges.
const MaxEdges = 10_000_000

// Graph is an undirected friendship graph over nodes 0..N-1.
type Graph struct {
	N int
	// Edges are the friend pairs, each with A < B, sorted.
	Edges []Edge
	// Adj lists each node's friends, sorted.
	Adj [][]int32
}

// Edge is one friend pair with A < B.
type Edge struct{ A, B int32 }

// Key packs the pair into one integer for maps.
func (e Edge) Key() uint64 { return uint64(e.A)<<32 | uint64(e.B) }

// MakeEdge orders a and b.
func MakeEdge(a, b int) Edge {
	if a > b {
		a, b = b, a
	}
	return Edge{int32(a), int32(b)}
}

// NewRand returns the deterministic generator of one stream of a run:
// each use (graph, mobility, workload) gets its own stream so that
// changing one does not reshuffle the others.
func NewRand(seed uint64, stream string) *rand.Rand {
	h := uint64(14695981039346656037)
	for i := 0; i < len(stream); i++ {
		h ^= uint64(stream[i])
		h *= 1099511628211
	}
	return rand.New(rand.NewPCG(seed, h))
}

// GroupOf is the friend group of node i: contiguous equal blocks.
func GroupOf(i, nodes, groups int) int { return i * groups / nodes }

// BuildGraph generates the scenario's friendship graph, deterministic for
// the seed: gonum's generators (graph/graphs/gen) for scale-free
// (PreferentialAttachment), groups (Gnp per block) and complete graphs,
// and Watts–Strogatz written here (see wattsStrogatz).
func BuildGraph(s *Scenario) (*Graph, error) {
	r := NewRand(s.Seed, "graph")
	var edges []Edge
	var err error
	switch s.Graph.Model {
	case GraphSmallWorld:
		edges = wattsStrogatz(s.Nodes, s.Graph.Degree, s.Graph.Rewire, r)
	case GraphScaleFree:
		edges, err = generate(func(g *simple.UndirectedGraph) error {
			return gen.PreferentialAttachment(g, s.Nodes, s.Graph.Degree, r)
		})
	case GraphGroups:
		edges, err = blockModel(s, r)
	case GraphComplete:
		edges, err = generate(func(g *simple.UndirectedGraph) error {
			gen.Complete(g, gen.IDRange{First: 0, Last: int64(s.Nodes - 1)})
			return nil
		})
	case GraphEdges:
		return ReadEdgeList(s.Path(s.Graph.File), s.Nodes)
	default:
		err = fmt.Errorf("%w: graph.model %q", ErrScenario, s.Graph.Model)
	}
	if err != nil {
		return nil, fmt.Errorf("testnet: graph: %w", err)
	}
	return NewGraph(s.Nodes, edges), nil
}

// wattsStrogatz is the Watts–Strogatz model: a ring where each node links
// to its k nearest neighbours on each side, then each edge's far end is
// moved with probability p to a uniform node (no self-loops, no
// duplicates). It is written here because gonum's SmallWorldsBB (v0.17)
// does not yield a ring lattice: at n=200, d=3, p=0.1 its degrees range
// from 1 to 182 (a few hubs), not about 2d.
func wattsStrogatz(n, k int, p float64, r *rand.Rand) []Edge {
	has := make(map[uint64]bool, n*k)
	var edges []Edge
	var from []int // the lattice node each edge leaves from; it keeps its end
	for v := 0; v < n; v++ {
		for i := 1; i <= k; i++ {
			e := MakeEdge(v, (v+i)%n)
			has[e.Key()] = true
			edges = append(edges, e)
			from = append(from, v)
		}
	}
	for x, e := range edges {
		if r.Float64() >= p {
			continue
		}
		v := from[x]
		// Try a few targets; keep the edge when the node is saturated.
		for range 16 {
			w := r.IntN(n)
			ne := MakeEdge(v, w)
			if w == v || has[ne.Key()] {
				continue
			}
			delete(has, e.Key())
			has[ne.Key()] = true
			edges[x] = ne
			break
		}
	}
	return edges
}

// generate runs a gonum generator on an empty graph and returns its edges
// with node IDs relabelled 0..n-1 in ID order (some generators pick their
// own IDs with NewNode).
func generate(fn func(g *simple.UndirectedGraph) error) ([]Edge, error) {
	g := simple.NewUndirectedGraph()
	if err := fn(g); err != nil {
		return nil, err
	}
	var ids []int64
	for it := g.Nodes(); it.Next(); {
		ids = append(ids, it.Node().ID())
	}
	slices.Sort(ids)
	idx := make(map[int64]int, len(ids))
	for i, id := range ids {
		idx[id] = i
	}
	var edges []Edge
	for it := g.Edges(); it.Next(); {
		e := it.Edge()
		edges = append(edges, MakeEdge(idx[e.From().ID()], idx[e.To().ID()]))
	}
	return edges, nil
}

// blockModel is a stochastic block model built from gonum's G(n,p): a
// G(n, p_out) over everyone plus a G(k, p_in) inside each block. A pair in
// one block is thus linked with probability 1-(1-p_in)(1-p_out).
func blockModel(s *Scenario, r *rand.Rand) ([]Edge, error) {
	var edges []Edge
	if s.Graph.POut > 0 {
		out, err := generate(func(g *simple.UndirectedGraph) error { return gen.Gnp(g, s.Nodes, s.Graph.POut, r) })
		if err != nil {
			return nil, err
		}
		edges = out
	}
	if s.Graph.PIn <= 0 {
		return edges, nil
	}
	for b := 0; b < s.Graph.Groups; b++ {
		var members []int
		for i := 0; i < s.Nodes; i++ {
			if GroupOf(i, s.Nodes, s.Graph.Groups) == b {
				members = append(members, i)
			}
		}
		if len(members) < 2 {
			continue
		}
		in, err := generate(func(g *simple.UndirectedGraph) error { return gen.Gnp(g, len(members), s.Graph.PIn, r) })
		if err != nil {
			return nil, err
		}
		for _, e := range in {
			edges = append(edges, MakeEdge(members[e.A], members[e.B]))
		}
	}
	return edges, nil
}

// NewGraph builds a Graph from pairs, dropping self-loops and duplicates.
func NewGraph(n int, edges []Edge) *Graph {
	slices.SortFunc(edges, func(x, y Edge) int {
		if x.A != y.A {
			return int(x.A - y.A)
		}
		return int(x.B - y.B)
	})
	edges = slices.CompactFunc(edges, func(x, y Edge) bool { return x == y })
	out := edges[:0]
	for _, e := range edges {
		if e.A != e.B {
			out = append(out, e)
		}
	}
	g := &Graph{N: n, Edges: out, Adj: make([][]int32, n)}
	for _, e := range out {
		g.Adj[e.A] = append(g.Adj[e.A], e.B)
		g.Adj[e.B] = append(g.Adj[e.B], e.A)
	}
	for _, a := range g.Adj {
		slices.Sort(a)
	}
	return g
}

// Friends reports whether a and b are friends.
func (g *Graph) Friends(a, b int) bool {
	_, ok := slices.BinarySearch(g.Adj[a], int32(b))
	return ok
}

// Degree is the number of friends of node i.
func (g *Graph) Degree(i int) int { return len(g.Adj[i]) }

// ReadEdgeList reads "a,b" or "a b" lines of 0-based node indices; blank
// lines and # comments are skipped.
func ReadEdgeList(path string, n int) (*Graph, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("testnet: edge list: %w", err)
	}
	defer f.Close()
	var edges []Edge
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		fs := strings.FieldsFunc(t, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
		if len(fs) != 2 {
			return nil, fmt.Errorf("%w: %s:%d: want two node indices", ErrScenario, path, line)
		}
		a, err1 := strconv.Atoi(fs[0])
		b, err2 := strconv.Atoi(fs[1])
		if err1 != nil || err2 != nil || a < 0 || b < 0 || a >= n || b >= n {
			return nil, fmt.Errorf("%w: %s:%d: node indices must be integers in [0, %d)", ErrScenario, path, line, n)
		}
		if len(edges) >= MaxEdges {
			return nil, fmt.Errorf("%w: %s: more than %d edges", ErrScenario, path, MaxEdges)
		}
		edges = append(edges, MakeEdge(a, b))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("testnet: edge list: %w", err)
	}
	return NewGraph(n, edges), nil
}
