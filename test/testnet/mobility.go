package testnet

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// earthRadius is the mean Earth radius in metres (the projection's scale).
const earthRadius = 6_371_008.8

// MaxTraceRows caps a trace file: 50,000,000 rows.
const MaxTraceRows = 50_000_000

// Point is a position in metres east (X) and north (Y) of the area centre.
// A NaN X means "no position" (a trace node before its first sample is
// placed at that sample; a node absent from a trace has none).
type Point struct{ X, Y float64 }

// Valid reports whether p is a position.
func (p Point) Valid() bool { return !math.IsNaN(p.X) }

// Dist is the Euclidean distance in metres.
func (p Point) Dist(q Point) float64 { return math.Hypot(p.X-q.X, p.Y-q.Y) }

// Projection maps metres around a centre to latitude/longitude with an
// equirectangular projection: exact enough (< 0.1 %) over a city.
type Projection struct{ Lat, Lng float64 }

// LatLng converts p to degrees.
func (pr Projection) LatLng(p Point) (lat, lng float64) {
	lat = pr.Lat + p.Y/earthRadius*180/math.Pi
	lng = pr.Lng + p.X/(earthRadius*math.Cos(pr.Lat*math.Pi/180))*180/math.Pi
	return lat, lng
}

// Point converts degrees to metres around the centre.
func (pr Projection) Point(lat, lng float64) Point {
	return Point{
		X: (lng - pr.Lng) * math.Pi / 180 * earthRadius * math.Cos(pr.Lat*math.Pi/180),
		Y: (lat - pr.Lat) * math.Pi / 180 * earthRadius,
	}
}

// Mobility yields every node's position over virtual time. Positions must
// be called with non-decreasing t; the sequence is a pure function of the
// scenario and seed (and of the times asked, for the stateful models: ask
// at the same steps for the same result — the runner and the ground truth
// both use Scenario.Step).
type Mobility interface {
	// Positions writes the position of every node at t (time since the
	// scenario start) into pos, which has one slot per node.
	Positions(t time.Duration, pos []Point)
}

// NewMobility builds the scenario's mobility model.
func NewMobility(s *Scenario) (Mobility, error) {
	m := s.Mobility
	switch m.Model {
	case MobilityStatic:
		return newStatic(s), nil
	case MobilityWaypoint:
		return newWaypoint(s), nil
	case MobilityGatherings:
		return newGatherings(s)
	case MobilityWorkday:
		return newWorkday(s), nil
	case MobilityTrace:
		return LoadTrace(s.Path(m.File), s.Nodes, s.Start, Projection{m.Lat, m.Lng})
	}
	return nil, fmt.Errorf("%w: mobility.model %q", ErrScenario, m.Model)
}

func uniformPoint(r *rand.Rand, area float64) Point {
	return Point{(r.Float64() - 0.5) * area, (r.Float64() - 0.5) * area}
}

type static struct{ at []Point }

func newStatic(s *Scenario) *static {
	r := NewRand(s.Seed, "mobility")
	st := &static{at: make([]Point, s.Nodes)}
	for i := range st.at {
		st.at[i] = uniformPoint(r, s.Mobility.Area)
	}
	return st
}

func (st *static) Positions(_ time.Duration, pos []Point) { copy(pos, st.at) }

// walker is one node of the random waypoint model, with its own random
// stream so that nodes do not perturb each other.
type walker struct {
	r          *rand.Rand
	pos        Point
	target     Point
	speed      float64       // m/s on the current leg
	pauseUntil time.Duration // pausing while t < pauseUntil
	t          time.Duration // time of pos
}

// waypoint is the random waypoint model: pick a point uniformly in the
// area and a speed in [SpeedMin, SpeedMax], walk there in a straight line,
// pause uniformly in [0, PauseMax], repeat.
type waypoint struct {
	cfg MobilityConfig
	w   []walker
}

func newWaypoint(s *Scenario) *waypoint {
	wp := &waypoint{cfg: s.Mobility, w: make([]walker, s.Nodes)}
	for i := range wp.w {
		r := rand.New(rand.NewPCG(s.Seed, uint64(i)+0x9e3779b97f4a7c15))
		w := &wp.w[i]
		w.r = r
		w.pos = uniformPoint(r, s.Mobility.Area)
		wp.newLeg(w)
		// Start mid-pause or mid-leg, not all walking at t=0.
		w.pauseUntil = time.Duration(r.Float64() * float64(s.Mobility.PauseMax.Duration))
	}
	return wp
}

func (wp *waypoint) newLeg(w *walker) {
	w.target = uniformPoint(w.r, wp.cfg.Area)
	w.speed = wp.cfg.SpeedMin + w.r.Float64()*(wp.cfg.SpeedMax-wp.cfg.SpeedMin)
}

// advance moves w to time t.
func (wp *waypoint) advance(w *walker, t time.Duration) {
	for w.t < t {
		if w.t < w.pauseUntil {
			w.t = min(t, w.pauseUntil)
			continue
		}
		d := w.pos.Dist(w.target)
		need := time.Duration(d / w.speed * float64(time.Second))
		if w.t+need <= t {
			w.t += need
			w.pos = w.target
			w.pauseUntil = w.t + time.Duration(w.r.Float64()*float64(wp.cfg.PauseMax.Duration))
			wp.newLeg(w)
			continue
		}
		f := float64(t-w.t) / float64(need)
		w.pos = Point{w.pos.X + (w.target.X-w.pos.X)*f, w.pos.Y + (w.target.Y-w.pos.Y)*f}
		w.t = t
	}
}

func (wp *waypoint) Positions(t time.Duration, pos []Point) {
	for i := range wp.w {
		wp.advance(&wp.w[i], t)
		pos[i] = wp.w[i].pos
	}
}

// gatherings is random waypoint plus meetings: during a gathering its
// attendees stand at the place (each at a fixed offset within Radius);
// afterwards they walk on from there. Attendees appear at the place
// without travelling to it (the model is about who is where, not routes).
type gatherings struct {
	*waypoint
	events []gatheringSpan
	walkIn bool    // MobilityConfig.WalkIn
	speed  float64 // walking-in speed, m/s
}

type gatheringSpan struct {
	from, to time.Duration
	at       map[int]Point // attendee -> spot
	// walk-in: where and when each attendee started towards its spot
	enter  map[int]Point
	enterT map[int]time.Duration
}

func newGatherings(s *Scenario) (*gatherings, error) {
	g := &gatherings{waypoint: newWaypoint(s), walkIn: s.Mobility.WalkIn, speed: s.Mobility.SpeedMax}
	r := NewRand(s.Seed, "gatherings")
	for _, ga := range s.Mobility.Gatherings {
		span := gatheringSpan{from: ga.At.Duration, to: ga.At.Duration + ga.For.Duration, at: map[int]Point{}}
		nodes := ga.Nodes
		if len(nodes) == 0 {
			for i := 0; i < s.Nodes; i++ {
				if GroupOf(i, s.Nodes, s.Graph.Groups) == ga.Group {
					nodes = append(nodes, i)
				}
			}
		}
		for _, n := range nodes {
			// Uniform in the disc of the radius.
			rad := ga.Radius * math.Sqrt(r.Float64())
			th := 2 * math.Pi * r.Float64()
			span.at[n] = Point{ga.X + rad*math.Cos(th), ga.Y + rad*math.Sin(th)}
		}
		g.events = append(g.events, span)
	}
	return g, nil
}

func (g *gatherings) Positions(t time.Duration, pos []Point) {
	g.waypoint.Positions(t, pos)
	for i := range g.events {
		ev := &g.events[i]
		if t < ev.from || t >= ev.to {
			continue
		}
		for n, p := range ev.at {
			if g.walkIn {
				p = ev.walk(n, p, t, pos[n], g.speed)
			}
			pos[n] = p
			w := &g.w[n]
			// Walk on from the place when the gathering ends.
			w.pos, w.t, w.pauseUntil = p, t, ev.to
		}
	}
}

// walk is attendee n's position at t while walking in: from where it was
// when the gathering began for it, straight to its spot at speed.
func (ev *gatheringSpan) walk(n int, spot Point, t time.Duration, cur Point, speed float64) Point {
	if ev.enter == nil {
		ev.enter, ev.enterT = map[int]Point{}, map[int]time.Duration{}
	}
	from, ok := ev.enter[n]
	if !ok {
		ev.enter[n], ev.enterT[n] = cur, t
		from = cur
	}
	d := from.Dist(spot)
	gone := speed * (t - ev.enterT[n]).Seconds()
	if d == 0 || gone >= d {
		return spot
	}
	f := gone / d
	return Point{from.X + (spot.X-from.X)*f, from.Y + (spot.Y-from.Y)*f}
}

// Trace replays recorded positions: each node holds its last sample until
// the next one (before its first sample it is at the first sample).
type Trace struct {
	samples [][]traceSample // per node, sorted by time
	next    []int           // per node: index of the first sample after the last t asked
}

type traceSample struct {
	t time.Duration
	p Point
}

// LoadTrace reads a CSV trace "node,time,lat,lng" (an optional header line
// is skipped); time is seconds since start or an RFC 3339 timestamp.
func LoadTrace(path string, nodes int, start time.Time, pr Projection) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("testnet: trace: %w", err)
	}
	defer f.Close()
	tr := &Trace{samples: make([][]traceSample, nodes), next: make([]int, nodes)}
	sc := bufio.NewScanner(f)
	line, rows := 0, 0
	for sc.Scan() {
		line++
		txt := strings.TrimSpace(sc.Text())
		if txt == "" || strings.HasPrefix(txt, "#") || (line == 1 && strings.HasPrefix(txt, "node")) {
			continue
		}
		fs := strings.Split(txt, ",")
		if len(fs) != 4 {
			return nil, fmt.Errorf("%w: %s:%d: want node,time,lat,lng", ErrScenario, path, line)
		}
		n, err := strconv.Atoi(strings.TrimSpace(fs[0]))
		if err != nil || n < 0 || n >= nodes {
			return nil, fmt.Errorf("%w: %s:%d: node must be an integer in [0, %d)", ErrScenario, path, line, nodes)
		}
		at, err := parseTraceTime(strings.TrimSpace(fs[1]), start)
		if err != nil {
			return nil, fmt.Errorf("%w: %s:%d: time: %v", ErrScenario, path, line, err)
		}
		lat, err1 := strconv.ParseFloat(strings.TrimSpace(fs[2]), 64)
		lng, err2 := strconv.ParseFloat(strings.TrimSpace(fs[3]), 64)
		if err1 != nil || err2 != nil || math.Abs(lat) > 90 || math.Abs(lng) > 180 {
			return nil, fmt.Errorf("%w: %s:%d: bad lat/lng", ErrScenario, path, line)
		}
		if rows++; rows > MaxTraceRows {
			return nil, fmt.Errorf("%w: %s: more than %d rows", ErrScenario, path, MaxTraceRows)
		}
		tr.samples[n] = append(tr.samples[n], traceSample{at, pr.Point(lat, lng)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("testnet: trace: %w", err)
	}
	for _, s := range tr.samples {
		slices.SortStableFunc(s, func(a, b traceSample) int { return int((a.t - b.t) / time.Millisecond) })
	}
	return tr, nil
}

func parseTraceTime(s string, start time.Time) (time.Duration, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(v * float64(time.Second)), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return 0, err
	}
	return t.Sub(start), nil
}

// Positions implements Mobility.
func (tr *Trace) Positions(t time.Duration, pos []Point) {
	for n, ss := range tr.samples {
		if len(ss) == 0 {
			pos[n] = Point{math.NaN(), math.NaN()}
			continue
		}
		i := tr.next[n]
		for i < len(ss) && ss[i].t <= t {
			i++
		}
		tr.next[n] = i
		if i == 0 {
			pos[n] = ss[0].p
		} else {
			pos[n] = ss[i-1].p
		}
	}
}
