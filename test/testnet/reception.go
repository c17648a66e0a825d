package testnet

// Reception outages (issue 10): phones that are on, carried around and fed
// their positions, but have no network — a festival field, a stadium, a
// valley. Unlike an offline period (the process stops, the phone is not
// there for ground truth), a phone without reception still meets its
// friends; it can only learn of it after the fact, through its own cell
// history and a late announcement when reception comes back. The runner
// tells the node with NodeDriver.SetNetwork (node.NetworkChanged with
// node.NetworkNone, then a real kind) and records reception_lost and
// reception_back events; the late section of summary.json (late.go) then
// classifies every ground-truth meeting as detected live, late or missed.

import (
	"fmt"
	"math"
	"time"
)

// Outage takes node Node's reception away during [At, At+For).
type Outage struct {
	Node int      `toml:"node"`
	At   Duration `toml:"at"`
	// For defaults to workload.offline_for.
	For Duration `toml:"for"`
}

// DeadZone is a place without reception: a phone whose true position is
// within Radius metres of (X, Y) during [At, At+For) has no network.
type DeadZone struct {
	// X and Y are metres from the area centre (east, north).
	X float64 `toml:"x"`
	Y float64 `toml:"y"`
	// Radius of the zone, metres. Required (> 0).
	Radius float64 `toml:"radius"`
	// At is the start (default 0); For the length (default: to the end of
	// the run).
	At  Duration `toml:"at"`
	For Duration `toml:"for"`
}

// HistoryConfig is the after-the-fact path of every node and relay.
type HistoryConfig struct {
	// RelayWindow is how long relays keep past announcements for late
	// matching (the relay's [history] window): default 72h, at most
	// 720h, 0 turns it off.
	RelayWindow Duration `toml:"relay_window"`
	// NodeWindow is how long each phone keeps its own cell history and
	// meetings (node.Config.History.Window): default 168h (7 days), at
	// most 720h, 0 turns it off.
	NodeWindow Duration `toml:"node_window"`
}

// History defaults and bounds (the relay's and the node's).
const (
	DefaultRelayHistory = 72 * time.Hour
	DefaultNodeHistory  = 7 * 24 * time.Hour
	MaxHistory          = 720 * time.Hour
	// MaxOutages caps workload.outage and workload.dead_zone entries each:
	// 100,000.
	MaxOutages = 100_000
)

// Reception answers whether a phone has network at a time and place: a
// pure function of the scenario (outages by time, dead zones by the true
// position), so ground truth, trials and the runner agree.
type Reception struct {
	byNode map[int][][2]time.Duration // node -> [from, to) without reception
	zones  []DeadZone
}

// NewReception returns the reception model of s, or nil when s has no
// outage and no dead zone (every phone always has reception).
func NewReception(s *Scenario) *Reception {
	w := s.Workload
	if len(w.Outages) == 0 && len(w.DeadZones) == 0 {
		return nil
	}
	r := &Reception{byNode: map[int][][2]time.Duration{}, zones: w.DeadZones}
	for _, o := range w.Outages {
		r.byNode[o.Node] = append(r.byNode[o.Node], [2]time.Duration{o.At.Duration, o.At.Duration + o.For.Duration})
	}
	return r
}

// Up reports whether node n at true position p has reception at t. A nil
// Reception always has it; a phone without a position is outside every
// zone.
func (r *Reception) Up(n int, t time.Duration, p Point) bool {
	if r == nil {
		return true
	}
	for _, sp := range r.byNode[n] {
		if t >= sp[0] && t < sp[1] {
			return false
		}
	}
	if !p.Valid() {
		return true
	}
	for _, z := range r.zones {
		if t >= z.At.Duration && t < z.At.Duration+z.For.Duration && p.Dist(Point{z.X, z.Y}) <= z.Radius {
			return false
		}
	}
	return true
}

// maskTrials wraps a ground-truth step callback so it sees phones without
// reception as absent: a pair-epoch of the live detection curve needs
// both phones reachable throughout (ground truth itself keeps them: they
// still meet).
func (r *Reception) maskTrials(f func(int, time.Duration, []Point)) func(int, time.Duration, []Point) {
	if r == nil {
		return f
	}
	var buf []Point
	return func(k int, t time.Duration, pos []Point) {
		buf = append(buf[:0], pos...)
		for i, p := range buf {
			if !r.Up(i, t, p) {
				buf[i] = Point{math.NaN(), math.NaN()}
			}
		}
		f(k, t, buf)
	}
}

func (s *Scenario) validateReception(bad badFunc) {
	w := s.Workload
	if len(w.Outages) > MaxOutages || len(w.DeadZones) > MaxOutages {
		bad("workload.outage/dead_zone", "more than %d entries", MaxOutages)
	}
	for i, o := range w.Outages {
		key := fmt.Sprintf("workload.outage[%d]", i)
		if o.Node < 0 || o.Node >= s.Nodes {
			bad(key, "node %d not in [0, nodes)", o.Node)
		}
		if o.At.Duration < 0 || o.For.Duration <= 0 || o.At.Duration+o.For.Duration > s.Duration.Duration {
			bad(key, "need at >= 0, for > 0 and at+for <= duration")
		}
	}
	half := s.Mobility.Area / 2
	for i, z := range w.DeadZones {
		key := fmt.Sprintf("workload.dead_zone[%d]", i)
		if !(z.Radius > 0) || z.Radius > s.Mobility.Area {
			bad(key, "radius %v not in (0, area]", z.Radius)
		}
		if !(math.Abs(z.X) <= half) || !(math.Abs(z.Y) <= half) {
			bad(key, "place (%v, %v) outside the area", z.X, z.Y)
		}
		if z.At.Duration < 0 || z.For.Duration <= 0 || z.At.Duration+z.For.Duration > s.Duration.Duration {
			bad(key, "need at >= 0, for > 0 and at+for <= duration")
		}
	}
	h := s.History
	if h.RelayWindow.Duration < 0 || h.RelayWindow.Duration > MaxHistory {
		bad("history.relay_window", "%v not in [0, %v]", h.RelayWindow, MaxHistory)
	}
	if h.NodeWindow.Duration < 0 || h.NodeWindow.Duration > MaxHistory {
		bad("history.node_window", "%v not in [0, %v]", h.NodeWindow, MaxHistory)
	}
}
