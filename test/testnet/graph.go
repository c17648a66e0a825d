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

// BuildGraph generates the scenario's friendship graph with gonum's
// generators (graph/graphs/gen), deterministic for the seed.
func BuildGraph(s *Scenario) (*Graph, error) {
	r := NewRand(s.Seed, "graph")
	g := simple.NewUndirectedGraph()
	for i := 0; i < s.Nodes; i++ {
		g.AddNode(simple.Node(i))
	}
	var err error
	switch s.Graph.Model {
	case GraphSmallWorld:
		// Batagelj–Brandes' O(nd) form of the Watts–Strogatz model: a ring
		// lattice of degree d with each edge rewired with probability p.
		err = gen.SmallWorldsBB(g, s.Nodes, s.Graph.Degree, s.Graph.Rewire, r)
	case GraphScaleFree:
		err = gen.PreferentialAttachment(g, s.Nodes, s.Graph.Degree, r)
	case GraphGroups:
		err = blockModel(g, s, r)
	case GraphComplete:
		gen.Complete(g, gen.IDRange{First: 0, Last: int64(s.Nodes - 1)})
	case GraphEdges:
		return ReadEdgeList(s.Path(s.Graph.File), s.Nodes)
	default:
		err = fmt.Errorf("%w: graph.model %q", ErrScenario, s.Graph.Model)
	}
	if err != nil {
		return nil, fmt.Errorf("testnet: graph: %w", err)
	}
	var edges []Edge
	it := g.Edges()
	for it.Next() {
		e := it.Edge()
		a, b := int(e.From().ID()), int(e.To().ID())
		if a == b || a >= s.Nodes || b >= s.Nodes {
			continue
		}
		edges = append(edges, MakeEdge(a, b))
	}
	return NewGraph(s.Nodes, edges), nil
}

// blockModel is a stochastic block model built from gonum's G(n,p): a
// G(n, p_out) over everyone plus a G(k, p_in) inside each block. A pair in
// one block is thus linked with probability 1-(1-p_in)(1-p_out).
func blockModel(g *simple.UndirectedGraph, s *Scenario, r *rand.Rand) error {
	if s.Graph.POut > 0 {
		if err := gen.Gnp(g, s.Nodes, s.Graph.POut, r); err != nil {
			return err
		}
	}
	if s.Graph.PIn <= 0 {
		return nil
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
		sub := simple.NewUndirectedGraph()
		if err := gen.Gnp(sub, len(members), s.Graph.PIn, r); err != nil {
			return err
		}
		it := sub.Edges()
		for it.Next() {
			e := it.Edge()
			u, v := members[e.From().ID()], members[e.To().ID()]
			if !g.HasEdgeBetween(int64(u), int64(v)) {
				g.SetEdge(g.NewEdge(simple.Node(u), simple.Node(v)))
			}
		}
	}
	return nil
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
