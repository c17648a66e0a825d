package testnet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/imigee/imigee/crypto/geo"
)

// Detection science: the probability that friends at a given true
// distance find each other, per distance bin, against the reference curve
// of the cell rule the nodes run.
//
// A trial is one friend pair during one proximity epoch (aligned as the
// nodes align them: multiples of the epoch since the Unix epoch) in which
// both were online at every step. It counts as detected by a side when
// that side had a "nearby" interval (detections.csv) overlapping the
// epoch. A node keeps a friend "nearby" for two epochs after the last
// match, and re-announces whenever it changes cell, so what the side
// shows in epoch k can come from a match at any moment of k−2, k−1 or k:
// the trial's distance is the pair's closest approach (sampled every
// step) over those three epochs (Trial.Dist; the epoch's own mean is
// Trial.Mean). For standing pairs the two are equal. For walking pairs a
// closest approach is brief, so the measured curve lies at or below the
// reference: the reference is what a pair standing at that distance for
// an epoch gets.
//
// The reference is what the shipped cell rule (crypto/geo.Cells, at the
// scenario's level) gives for two points at the bin's mid distance:
// RefSamples pairs per bin, each a uniform point of the scenario's area
// around its centre and a uniform bearing, seeded from the scenario seed.
// Cell sizes vary with latitude, so this is the curve for this city.

// RefSamples is the number of point pairs per bin of the reference curve:
// 2,000 (a 95 % half-width of at most 2.2 points).
const RefSamples = 2000

// Neighbour rules of ProximityConfig.Neighbours.
const (
	NeighboursCorner = "corner" // geo.Cells: here + the 3 cells at the nearest corner (what nodes run)
	NeighboursAll    = "all"    // geo.AllCells: here + all 8 neighbours (reference only)
)

// Precisions of ProximityConfig.Precision: node.PrecisionClose and
// node.PrecisionCasual, S2 levels 16 and 14.
const (
	PrecisionClose  = "close"
	PrecisionCasual = "casual"
)

// Level is the S2 cell level of the scenario's proximity precision.
func (p ProximityConfig) Level() int {
	if p.Precision == PrecisionCasual {
		return 14
	}
	return geo.DefaultLevel
}

// Trial is one pair-epoch (see above).
type Trial struct {
	A, B  int32
	Epoch time.Duration // start, from the scenario start
	Len   time.Duration // epoch length (shorter at the ends are dropped)
	Dist  float64       // closest approach over this epoch and the two before, metres
	Mean  float64       // this epoch's mean distance, metres
}

// trialAcc collects trials from the ground-truth walk (GroundTruth's
// onStep): for every edge, the sum of distances over the current epoch.
type trialAcc struct {
	s      *Scenario
	g      *Graph
	maxD   float64
	off    time.Duration // first epoch boundary after the start
	cur    int           // current epoch index (-1 before the first boundary)
	sum    []float64
	n      []int
	bad    []bool
	min    []float64    // closest approach this epoch
	prev   [2][]float64 // closest approach in the two epochs before (NaN: not both online throughout)
	steps  int
	trials []Trial
}

func newTrialAcc(s *Scenario, g *Graph) *trialAcc {
	ep := s.Epoch.Duration
	since := time.Duration(s.Start.UnixNano()) % ep
	off := time.Duration(0)
	if since != 0 {
		off = ep - since
	}
	ta := &trialAcc{s: s, g: g, maxD: s.Metrics.BinMax, off: off, cur: -1,
		sum: make([]float64, len(g.Edges)), n: make([]int, len(g.Edges)), bad: make([]bool, len(g.Edges)),
		min: make([]float64, len(g.Edges))}
	for i := range ta.min {
		ta.min[i] = math.Inf(1)
	}
	for i := range ta.prev {
		ta.prev[i] = make([]float64, len(g.Edges))
		for j := range ta.prev[i] {
			ta.prev[i][j] = math.NaN()
		}
	}
	return ta
}

func (ta *trialAcc) epochOf(t time.Duration) int {
	if t < ta.off {
		return -1
	}
	return int((t - ta.off) / ta.s.Epoch.Duration)
}

func (ta *trialAcc) step(_ int, t time.Duration, pos []Point) {
	if k := ta.epochOf(t); k != ta.cur {
		ta.flush()
		ta.cur = k
	}
	if ta.cur < 0 {
		return
	}
	ta.steps++
	for i, e := range ta.g.Edges {
		a, b := pos[e.A], pos[e.B]
		if !a.Valid() || !b.Valid() {
			ta.bad[i] = true
			continue
		}
		d := a.Dist(b)
		ta.sum[i] += d
		ta.min[i] = math.Min(ta.min[i], d)
		ta.n[i]++
	}
}

// flush ends the current epoch: a whole epoch of steps gives trials.
func (ta *trialAcc) flush() {
	ep := ta.s.Epoch.Duration
	want := int(ep / ta.s.Step.Duration)
	whole := ta.cur >= 0 && ta.steps >= want
	start := ta.off + time.Duration(ta.cur)*ep
	for i, e := range ta.g.Edges {
		closest := math.NaN()
		if whole && !ta.bad[i] && ta.n[i] > 0 {
			mean := ta.sum[i] / float64(ta.n[i])
			closest = ta.min[i]
			d := closest
			for _, p := range ta.prev {
				if p[i] < d { // NaN compares false
					d = p[i]
				}
			}
			if d < ta.maxD {
				ta.trials = append(ta.trials, Trial{A: int32(e.A), B: int32(e.B), Epoch: start, Len: ep, Dist: d, Mean: mean})
			}
		}
		ta.prev[1][i], ta.prev[0][i] = ta.prev[0][i], closest
		ta.min[i] = math.Inf(1)
	}
	clear(ta.sum)
	clear(ta.n)
	clear(ta.bad)
	ta.steps = 0
}

// TruthAndTrials is Truth plus the detection trials, in one walk of the
// mobility model.
func TruthAndTrials(s *Scenario, g *Graph, plan []Action) ([]Meeting, []Trial, error) {
	mob, err := NewMobility(s)
	if err != nil {
		return nil, nil, err
	}
	ta := newTrialAcc(s, g)
	ms := GroundTruth(s, g, MaskOffline(mob, plan), NewReception(s).maskTrials(ta.step))
	ta.flush()
	return ms, ta.trials, nil
}

// DetectionBin is one distance bin of the detection curve.
type DetectionBin struct {
	FromM, ToM float64
	N          int // trials
	Either     int // detected by at least one side
	Both       int // detected by both sides
	// Rates with 95 % Wilson score intervals; NaN when N = 0.
	EitherRate, EitherLo, EitherHi float64
	BothRate, BothLo, BothHi       float64
	// Reference is the cell rule's match probability at the bin's middle.
	Reference float64
}

// DetectionCurve bins the trials by distance and scores them against the
// detections of the run.
func DetectionCurve(s *Scenario, trials []Trial, dets []Detection) []DetectionBin {
	w, maxD := s.Metrics.Bin, s.Metrics.BinMax
	nb := int(math.Ceil(maxD / w))
	bins := make([]DetectionBin, nb)
	for i := range bins {
		bins[i].FromM, bins[i].ToM = float64(i)*w, math.Min(float64(i+1)*w, maxD)
	}
	near := map[[2]int][]Detection{}
	for _, d := range dets {
		k := [2]int{d.Node, d.Peer}
		near[k] = append(near[k], d)
	}
	seen := func(a, b int, from, to int64) bool {
		for _, d := range near[[2]int{a, b}] {
			if d.From < to && d.To > from {
				return true
			}
		}
		return false
	}
	for _, t := range trials {
		i := int(t.Dist / w)
		if i >= nb {
			continue
		}
		from, to := t.Epoch.Milliseconds(), (t.Epoch + t.Len).Milliseconds()
		sa, sb := seen(int(t.A), int(t.B), from, to), seen(int(t.B), int(t.A), from, to)
		bins[i].N++
		if sa || sb {
			bins[i].Either++
		}
		if sa && sb {
			bins[i].Both++
		}
	}
	ref := ReferenceCurve(s, bins)
	for i := range bins {
		b := &bins[i]
		b.EitherRate, b.EitherLo, b.EitherHi = wilson(b.Either, b.N)
		b.BothRate, b.BothLo, b.BothHi = wilson(b.Both, b.N)
		b.Reference = ref[i]
	}
	return bins
}

// ReferenceCurve is the cell rule's match probability at each bin's
// middle distance, for the scenario's area, level and neighbour rule.
func ReferenceCurve(s *Scenario, bins []DetectionBin) []float64 {
	rng := rand.New(rand.NewPCG(s.Seed, 0x6765_6f72_6566)) // "georef"
	pr := Projection{s.Mobility.Lat, s.Mobility.Lng}
	cells := geo.Cells
	if s.Proximity.Neighbours == NeighboursAll {
		cells = geo.AllCells
	}
	lvl := s.Proximity.Level()
	out := make([]float64, len(bins))
	for i, b := range bins {
		d := (b.FromM + b.ToM) / 2
		hit := 0
		for range RefSamples {
			p := Point{(rng.Float64() - 0.5) * s.Mobility.Area, (rng.Float64() - 0.5) * s.Mobility.Area}
			lat, lng := pr.LatLng(p)
			lat2, lng2 := geo.Destination(lat, lng, rng.Float64()*360, d)
			ah, an := cells(lat, lng, lvl)
			bh, bn := cells(lat2, lng2, lvl)
			if geo.Match(ah, an, bh, bn) {
				hit++
			}
		}
		out[i] = float64(hit) / RefSamples
	}
	return out
}

// wilson is the proportion k/n and its 95 % Wilson score interval.
func wilson(k, n int) (p, lo, hi float64) {
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	const z = 1.959963984540054
	nf := float64(n)
	p = float64(k) / nf
	den := 1 + z*z/nf
	c := (p + z*z/(2*nf)) / den
	h := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / den
	return p, math.Max(0, c-h), math.Min(1, c+h)
}

// FileDetectionBins is detection_by_distance.csv: one row per bin.
const FileDetectionBins = "detection_by_distance.csv"

func detectionBinRows(bins []DetectionBin) [][]string {
	rows := [][]string{{"from_m", "to_m", "n", "either", "either_rate", "either_lo", "either_hi", "both", "both_rate", "both_lo", "both_hi", "reference"}}
	for _, b := range bins {
		rows = append(rows, []string{ftoa(b.FromM), ftoa(b.ToM), fmt.Sprint(b.N), fmt.Sprint(b.Either), fnum(b.EitherRate), fnum(b.EitherLo), fnum(b.EitherHi),
			fmt.Sprint(b.Both), fnum(b.BothRate), fnum(b.BothLo), fnum(b.BothHi), fnum(b.Reference)})
	}
	return rows
}
