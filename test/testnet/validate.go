package testnet

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Validate checks a scenario (with defaults applied) and returns every
// problem found, joined, each wrapping ErrScenario and naming its key.
func (s *Scenario) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrScenario, key, fmt.Sprintf(format, args...)))
	}
	if s.Nodes < 2 || s.Nodes > MaxNodes {
		bad("nodes", "%d not in [2, %d]", s.Nodes, MaxNodes)
	}
	if s.Relays < 1 || s.Relays > MaxRelays {
		bad("relays", "%d not in [1, %d]", s.Relays, MaxRelays)
	}
	if s.Duration.Duration <= 0 || s.Duration.Duration > MaxDuration {
		bad("duration", "%v not in (0, %v]", s.Duration, MaxDuration)
	}
	if e := s.Epoch.Duration; e < time.Minute || e > 24*time.Hour || e%time.Second != 0 {
		bad("epoch", "%v must be whole seconds in [1m, 24h] (the relay's accepted range)", e)
	}
	if s.Step.Duration < 100*time.Millisecond {
		bad("step", "%v below 100ms", s.Step)
	} else if s.Duration.Duration/s.Step.Duration > MaxSteps {
		bad("step", "duration/step = %d steps, more than %d", s.Duration.Duration/s.Step.Duration, MaxSteps)
	}
	s.validateGraph(bad)
	s.validateMobility(bad)
	s.validateWorkload(bad)
	s.validateReception(bad)
	n := s.Network
	if n.Latency.Duration < 0 || n.Latency.Duration > 10*time.Second {
		bad("network.latency", "%v not in [0, 10s]", n.Latency)
	}
	if !(n.BandwidthMbps > 0) || n.BandwidthMbps > 100_000 {
		bad("network.bandwidth_mbps", "%v not in (0, 100000]", n.BandwidthMbps)
	}
	if !(n.Speedup >= 1) || n.Speedup > 1_000_000 {
		bad("network.speedup", "%v not in [1, 1000000]", n.Speedup)
	}
	if !(n.LatencySpread >= 0) || n.LatencySpread > 3 {
		bad("network.latency_spread", "%v not in [0, 3]", n.LatencySpread)
	}
	if n.Jitter.Duration < 0 || n.Jitter.Duration > 10*time.Second {
		bad("network.jitter", "%v not in [0, 10s]", n.Jitter)
	}
	if !(n.Loss >= 0) || n.Loss > 0.5 {
		bad("network.loss", "%v not in [0, 0.5]", n.Loss)
	}
	if n.Transport != "quic" && n.Transport != "lite" {
		bad("network.transport", "%q is not quic or lite", n.Transport)
	}
	if !(n.NATFraction >= 0) || n.NATFraction > 1 {
		bad("network.nat_fraction", "%v not in [0, 1]", n.NATFraction)
	}
	m := s.Metrics
	for _, d := range m.Distances {
		if !(d > 0) || d > 100_000 {
			bad("metrics.distances", "%v not in (0, 100000] m", d)
		}
	}
	for i := 1; i < len(m.Distances); i++ {
		if m.Distances[i] <= m.Distances[i-1] {
			bad("metrics.distances", "must be strictly increasing")
			break
		}
	}
	if len(m.Distances) > 0 && m.FalseDistance < m.Distances[len(m.Distances)-1] {
		bad("metrics.false_distance", "%v below the largest distance", m.FalseDistance)
	}
	if m.Sample.Duration < s.Step.Duration {
		bad("metrics.sample", "%v below step %v", m.Sample, s.Step)
	}
	if m.MinMeeting.Duration < 0 || m.Slack.Duration < 0 {
		bad("metrics", "min_meeting and slack must not be negative")
	}
	if !(m.Bin >= 1) || m.Bin > 10_000 {
		bad("metrics.bin", "%v not in [1, 10000] m", m.Bin)
	}
	if !(m.BinMax > 0) || m.BinMax > 100_000 || m.BinMax/m.Bin > 1000 {
		bad("metrics.bin_max", "%v not in (0, 100000] m or more than 1000 bins", m.BinMax)
	}
	switch s.Proximity.Precision {
	case PrecisionClose, PrecisionCasual:
	default:
		bad("proximity.precision", "%q is not close or casual", s.Proximity.Precision)
	}
	switch s.Proximity.Neighbours {
	case NeighboursCorner, NeighboursAll:
	default:
		bad("proximity.neighbours", "%q is not corner or all", s.Proximity.Neighbours)
	}
	s.validateAnalytics(bad)
	return errors.Join(errs...)
}

type badFunc func(key, format string, args ...any)

func (s *Scenario) validateGraph(bad badFunc) {
	g := s.Graph
	switch g.Model {
	case GraphSmallWorld:
		if g.Degree < 1 || g.Degree > (s.Nodes-1)/2 {
			bad("graph.degree", "%d not in [1, (nodes-1)/2 = %d] for small-world", g.Degree, (s.Nodes-1)/2)
		}
		if !(g.Rewire > 0 && g.Rewire < 1) {
			bad("graph.rewire", "%v not in (0, 1)", g.Rewire)
		}
	case GraphScaleFree:
		if g.Degree < 1 || g.Degree >= s.Nodes {
			bad("graph.degree", "%d not in [1, nodes) for scale-free", g.Degree)
		}
	case GraphGroups:
		if g.Groups < 1 || g.Groups > s.Nodes {
			bad("graph.groups", "%d not in [1, nodes]", g.Groups)
		}
		if !(g.PIn >= 0 && g.PIn <= 1) || !(g.POut >= 0 && g.POut <= 1) {
			bad("graph.p_in/p_out", "probabilities must be in [0, 1]")
		}
	case GraphEdges:
		if g.File == "" {
			bad("graph.file", "required for model edges")
		}
	case GraphComplete:
		if s.Nodes > 2000 {
			bad("graph.model", "complete graph of %d nodes is too large (max 2000)", s.Nodes)
		}
	default:
		bad("graph.model", "%q is not one of small-world, scale-free, groups, edges, complete", g.Model)
	}
}

func (s *Scenario) validateMobility(bad badFunc) {
	m := s.Mobility
	switch m.Model {
	case MobilityStatic, MobilityWaypoint, MobilityGatherings:
	case MobilityWorkday:
		wd := m.Workday
		if wd.Offices < 1 || wd.Offices > MaxNodes || wd.Places < 0 || wd.Places > MaxNodes {
			bad("mobility.workday", "offices in [1, %d], places in [0, %d]", MaxNodes, MaxNodes)
		}
		if !(wd.CommuteSpeed > 0) || wd.CommuteSpeed > 100 || wd.EveningFraction < 0 || wd.EveningFraction > 1 || wd.Radius < 0 {
			bad("mobility.workday", "need 0 < commute_speed <= 100, evening_fraction in [0, 1], radius >= 0")
		}
	case MobilityTrace:
		if m.File == "" {
			bad("mobility.file", "required for model trace")
		}
	default:
		bad("mobility.model", "%q is not one of static, waypoint, gatherings, workday, trace", m.Model)
	}
	if math.Abs(m.Lat) > 85 || math.Abs(m.Lng) > 180 {
		bad("mobility.lat/lng", "(%v, %v) out of range", m.Lat, m.Lng)
	}
	if !(m.Area > 0) || m.Area > 1_000_000 {
		bad("mobility.area", "%v not in (0, 1000000] m", m.Area)
	}
	if !(m.SpeedMin > 0) || m.SpeedMax < m.SpeedMin || m.SpeedMax > 100 {
		bad("mobility.speed_min/speed_max", "need 0 < speed_min <= speed_max <= 100 m/s")
	}
	if m.PauseMax.Duration < 0 {
		bad("mobility.pause_max", "negative")
	}
	if !(m.GPSNoise >= 0) || m.GPSNoise > 10_000 {
		bad("mobility.gps_noise", "%v not in [0, 10000] m", m.GPSNoise)
	}
	for i, g := range m.Gatherings {
		key := fmt.Sprintf("mobility.gathering[%d]", i)
		if g.For.Duration <= 0 || g.At.Duration < 0 || g.Radius < 0 {
			bad(key, "need at >= 0, for > 0, radius >= 0")
		}
		if math.Abs(g.X) > m.Area/2 || math.Abs(g.Y) > m.Area/2 {
			bad(key, "place (%v, %v) outside the area", g.X, g.Y)
		}
		for _, n := range g.Nodes {
			if n < 0 || n >= s.Nodes {
				bad(key, "node %d out of range", n)
			}
		}
		if len(g.Nodes) == 0 && (g.Group < 0 || g.Group >= s.Graph.Groups) {
			bad(key, "group %d not in [0, graph.groups)", g.Group)
		}
	}
	if len(m.Gatherings) > 0 && m.Model != MobilityGatherings {
		bad("mobility.gathering", "given but model is %q", m.Model)
	}
}

func (s *Scenario) validateWorkload(bad badFunc) {
	w := s.Workload
	if w.ItemsPerHour < 0 || w.ItemsPerHour > 3600 {
		bad("workload.items_per_hour", "%v not in [0, 3600]", w.ItemsPerHour)
	}
	if w.SizeMin < 1 || w.SizeMax < w.SizeMin || w.SizeMax > MaxItemSize {
		bad("workload.size_min/size_max", "need 1 <= size_min <= size_max <= %d", MaxItemSize)
	}
	switch w.Policy {
	case PolicyAllFriends, PolicyOneFriend, PolicyNearby, PolicyTogether:
	default:
		bad("workload.policy", "%q is not one of all-friends, one-friend, nearby, together", w.Policy)
	}
	if w.OfflineFraction < 0 || w.OfflineFraction > 1 {
		bad("workload.offline_fraction", "%v not in [0, 1]", w.OfflineFraction)
	}
	if w.AppOpenFraction < 0 || w.AppOpenFraction > 1 {
		bad("workload.app_open_fraction", "%v not in [0, 1]", w.AppOpenFraction)
	}
	if w.QuietEnd.Duration < 0 || w.QuietEnd.Duration > s.Duration.Duration {
		bad("workload.quiet_end", "not in [0, duration]")
	}
	if w.OfflineFor.Duration <= 0 {
		bad("workload.offline_for", "must be positive")
	}
	for i, o := range w.Offline {
		key := fmt.Sprintf("workload.offline[%d]", i)
		if o.Node < 0 || o.Node >= s.Nodes {
			bad(key, "node %d not in [0, nodes)", o.Node)
		}
		if o.At.Duration < 0 || o.For.Duration <= 0 || o.At.Duration+o.For.Duration > s.Duration.Duration {
			bad(key, "need at >= 0, for > 0 and at+for <= duration")
		}
	}
	for i, r := range w.RelayRestarts {
		key := fmt.Sprintf("workload.relay_restart[%d]", i)
		if r.Relay < 0 || r.Relay >= s.Relays {
			bad(key, "relay %d not in [0, relays)", r.Relay)
		}
		if r.At.Duration < 0 || r.At.Duration >= s.Duration.Duration || r.Down.Duration <= 0 {
			bad(key, "need 0 <= at < duration and down > 0")
		}
	}
}
