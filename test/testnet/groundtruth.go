package testnet

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Meeting is one ground-truth interval during which friends A < B were
// within Dist metres of each other, sampled every Step: [Start, End).
type Meeting struct {
	A, B       int32
	Dist       float64       // threshold in metres
	Start, End time.Duration // since the scenario start
	MinDist    float64       // closest approach during the interval
}

// Duration is End-Start.
func (m Meeting) Duration() time.Duration { return m.End - m.Start }

// Thresholds are the distances ground truth is computed for: the metric
// distances plus the false-detection distance, increasing.
func (s *Scenario) Thresholds() []float64 {
	ts := slices.Clone(s.Metrics.Distances)
	if !slices.Contains(ts, s.Metrics.FalseDistance) {
		ts = append(ts, s.Metrics.FalseDistance)
	}
	slices.Sort(ts)
	return ts
}

// openPair is a friend pair currently within the largest threshold.
type openPair struct {
	start   []time.Duration // per threshold; -1 when not within it
	minDist []float64
	seen    int // last step the pair was found close
}

// GroundTruth walks the mobility model over the scenario's steps and
// returns every friend meeting at every threshold, sorted by (Dist, Start,
// A, B). Candidate pairs come from a uniform grid whose cell is the
// largest threshold: each node is compared with the nodes of its own and
// the 8 neighbouring cells only, so a step costs O(n + nearby pairs), not
// O(n²); when the friend list is shorter than the grid's candidate list
// (sparse friendships, dense crowds) the step walks the friend pairs
// instead, O(|E|). onStep, if not nil, is called after each step with its positions.
func GroundTruth(s *Scenario, g *Graph, mob Mobility, onStep func(step int, t time.Duration, pos []Point)) []Meeting {
	return groundTruth(s, g, mob, onStep, pairsAuto)
}

// Pair-finding strategies of a truth (tests force each).
const (
	pairsAuto = iota
	pairsGrid
	pairsEdges
)

func groundTruth(s *Scenario, g *Graph, mob Mobility, onStep func(step int, t time.Duration, pos []Point), mode int) []Meeting {
	ts := s.Thresholds()
	gt := newTruth(ts, g)
	gt.mode = mode
	pos := make([]Point, s.Nodes)
	steps := s.Steps()
	for k := 0; k < steps; k++ {
		t := time.Duration(k) * s.Step.Duration
		mob.Positions(t, pos)
		gt.step(k, t, pos)
		if onStep != nil {
			onStep(k, t, pos)
		}
	}
	return gt.finish(s.Duration.Duration)
}

// truth is the incremental ground-truth computation.
type truth struct {
	ts    []float64
	cell  float64
	g     *Graph
	grid  map[[2]int32][]int32
	keys  []([2]int32)
	open  map[uint64]*openPair
	mode  int
	out   []Meeting
	freed []*openPair
}

func newTruth(ts []float64, g *Graph) *truth {
	return &truth{ts: ts, cell: ts[len(ts)-1], g: g, grid: map[[2]int32][]int32{}, open: map[uint64]*openPair{}}
}

func (gt *truth) cellOf(p Point) [2]int32 {
	return [2]int32{int32(math.Floor(p.X / gt.cell)), int32(math.Floor(p.Y / gt.cell))}
}

func (gt *truth) step(k int, t time.Duration, pos []Point) {
	for key, v := range gt.grid {
		gt.grid[key] = v[:0]
	}
	gt.keys = gt.keys[:0]
	for i, p := range pos {
		if !p.Valid() {
			continue
		}
		c := gt.cellOf(p)
		if len(gt.grid[c]) == 0 {
			gt.keys = append(gt.keys, c)
		}
		gt.grid[c] = append(gt.grid[c], int32(i))
	}
	// The grid compares about 9·Σ count² / 2 pairs; walking the friend
	// list compares |E|. Take the cheaper; both find the same pairs.
	var pairs int
	for _, c := range gt.keys {
		n := len(gt.grid[c])
		pairs += 9 * n * n / 2
	}
	max2 := gt.cell * gt.cell
	if gt.mode == pairsEdges || (gt.mode == pairsAuto && len(gt.g.Edges) < pairs) {
		for _, e := range gt.g.Edges {
			p, q := pos[e.A], pos[e.B]
			if !p.Valid() || !q.Valid() {
				continue
			}
			dx, dy := p.X-q.X, p.Y-q.Y
			if d2 := dx*dx + dy*dy; d2 <= max2 {
				gt.observe(k, t, e, math.Sqrt(d2))
			}
		}
	} else {
		gt.gridPairs(k, t, pos, max2)
	}
	// Pairs not seen close this step left every threshold.
	for key, op := range gt.open {
		if op.seen != k {
			gt.closeAll(key, op, t)
		}
	}
	// Drop emptied cells now and then so a long run's map stays small.
	if len(gt.grid) > 4*len(gt.keys)+1024 {
		clear(gt.grid)
	}
}

// gridPairs finds close friend pairs through the grid: each node against
// the nodes of its own and the 8 neighbouring cells.
func (gt *truth) gridPairs(k int, t time.Duration, pos []Point, max2 float64) {
	for i, p := range pos {
		if !p.Valid() || len(gt.g.Adj[i]) == 0 {
			continue
		}
		c := gt.cellOf(p)
		for dx := int32(-1); dx <= 1; dx++ {
			for dy := int32(-1); dy <= 1; dy++ {
				for _, j := range gt.grid[[2]int32{c[0] + dx, c[1] + dy}] {
					if int(j) <= i {
						continue
					}
					ex, ey := p.X-pos[j].X, p.Y-pos[j].Y
					d2 := ex*ex + ey*ey
					if d2 > max2 || !gt.g.Friends(i, int(j)) {
						continue
					}
					gt.observe(k, t, Edge{int32(i), j}, math.Sqrt(d2))
				}
			}
		}
	}
}

func (gt *truth) observe(k int, t time.Duration, e Edge, d float64) {
	key := e.Key()
	op := gt.open[key]
	if op == nil {
		if n := len(gt.freed); n > 0 {
			op, gt.freed = gt.freed[n-1], gt.freed[:n-1]
		} else {
			op = &openPair{start: make([]time.Duration, len(gt.ts)), minDist: make([]float64, len(gt.ts))}
		}
		for x := range op.start {
			op.start[x] = -1
		}
		gt.open[key] = op
	}
	op.seen = k
	for x, th := range gt.ts {
		switch {
		case d <= th && op.start[x] < 0:
			op.start[x], op.minDist[x] = t, d
		case d <= th:
			op.minDist[x] = min(op.minDist[x], d)
		case op.start[x] >= 0:
			gt.emit(e, x, op, t)
		}
	}
}

func (gt *truth) emit(e Edge, x int, op *openPair, end time.Duration) {
	gt.out = append(gt.out, Meeting{A: e.A, B: e.B, Dist: gt.ts[x], Start: op.start[x], End: end, MinDist: op.minDist[x]})
	op.start[x] = -1
}

func (gt *truth) closeAll(key uint64, op *openPair, end time.Duration) {
	e := Edge{int32(key >> 32), int32(key & 0xffffffff)}
	for x := range op.start {
		if op.start[x] >= 0 {
			gt.emit(e, x, op, end)
		}
	}
	delete(gt.open, key)
	gt.freed = append(gt.freed, op)
}

func (gt *truth) finish(end time.Duration) []Meeting {
	for key, op := range gt.open {
		gt.closeAll(key, op, end)
	}
	slices.SortFunc(gt.out, func(a, b Meeting) int {
		return cmp.Or(cmp.Compare(a.Dist, b.Dist), cmp.Compare(a.Start, b.Start),
			cmp.Compare(a.A, b.A), cmp.Compare(a.B, b.B))
	})
	return gt.out
}
