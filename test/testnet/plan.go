package testnet

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Action kinds of a Plan.
const (
	ActShare     = "share"
	ActOffline   = "offline"
	ActOnline    = "online"
	ActRelayDown = "relay_down"
	ActRelayUp   = "relay_up"
)

// Action is one scheduled workload step.
type Action struct {
	At   time.Duration
	Kind string
	// Node is the node (or relay, for relay actions).
	Node int
	Spec ShareSpec
}

// Plan returns the scenario's workload schedule, sorted by time, a pure
// function of the scenario, graph and seed: items (Poisson arrivals per
// node), offline periods and relay restarts. A text message goes to one
// friend, so an all-friends message becomes one action per friend.
func Plan(s *Scenario, g *Graph) []Action {
	var acts []Action
	w := s.Workload
	r := NewRand(s.Seed, "workload")
	end := s.Duration.Duration
	itemsEnd := end - w.QuietEnd.Duration
	if w.ItemsPerHour > 0 {
		mean := float64(time.Hour) / w.ItemsPerHour
		for n := 0; n < s.Nodes; n++ {
			t := time.Duration(r.ExpFloat64() * mean)
			for ; t < itemsEnd; t += time.Duration(r.ExpFloat64() * mean) {
				size := w.SizeMin + r.IntN(w.SizeMax-w.SizeMin+1)
				spec := ShareSpec{Size: size, Message: size <= w.MessageMax}
				friends := g.Adj[n]
				if len(friends) == 0 {
					continue
				}
				switch w.Policy {
				case PolicyNearby:
					spec.Nearby = true
					spec.Message = false
				case PolicyTogether:
					spec.Nearby, spec.Together = true, true
					spec.Message = false
				case PolicyOneFriend:
					spec.To = []int{int(friends[r.IntN(len(friends))])}
				default:
					for _, f := range friends {
						spec.To = append(spec.To, int(f))
					}
				}
				if spec.Message && len(spec.To) > 1 {
					for _, f := range spec.To {
						acts = append(acts, Action{At: t, Kind: ActShare, Node: n, Spec: ShareSpec{Size: size, Message: true, To: []int{f}}})
					}
					continue
				}
				acts = append(acts, Action{At: t, Kind: ActShare, Node: n, Spec: spec})
			}
		}
	}
	if off := int(math.Round(w.OfflineFraction * float64(s.Nodes))); off > 0 && w.OfflineFor.Duration < end {
		perm := r.Perm(s.Nodes)[:off]
		slices.Sort(perm)
		for _, n := range perm {
			at := time.Duration(r.Int64N(int64(end - w.OfflineFor.Duration)))
			acts = append(acts, Action{At: at, Kind: ActOffline, Node: n},
				Action{At: at + w.OfflineFor.Duration, Kind: ActOnline, Node: n})
		}
	}
	for _, o := range w.Offline {
		acts = append(acts, Action{At: o.At.Duration, Kind: ActOffline, Node: o.Node},
			Action{At: o.At.Duration + o.For.Duration, Kind: ActOnline, Node: o.Node})
	}
	for _, rr := range w.RelayRestarts {
		acts = append(acts, Action{At: rr.At.Duration, Kind: ActRelayDown, Node: rr.Relay},
			Action{At: rr.At.Duration + rr.Down.Duration, Kind: ActRelayUp, Node: rr.Relay})
	}
	slices.SortStableFunc(acts, func(a, b Action) int {
		return cmp.Or(cmp.Compare(a.At, b.At), cmp.Compare(a.Node, b.Node))
	})
	return acts
}

// offlineMask hides nodes while the plan has them offline: a phone that
// is off cannot meet anyone, so its meetings are not ground truth.
type offlineMask struct {
	Mobility
	spans map[int][][2]time.Duration // node -> [from, to) offline
}

// MaskOffline wraps m so that nodes have no position while plan has them
// offline.
func MaskOffline(m Mobility, plan []Action) Mobility {
	om := &offlineMask{Mobility: m, spans: map[int][][2]time.Duration{}}
	from := map[int]time.Duration{}
	for _, a := range plan {
		switch a.Kind {
		case ActOffline:
			from[a.Node] = a.At
		case ActOnline:
			if f, ok := from[a.Node]; ok {
				om.spans[a.Node] = append(om.spans[a.Node], [2]time.Duration{f, a.At})
				delete(from, a.Node)
			}
		}
	}
	if len(om.spans) == 0 {
		return m
	}
	return om
}

func (om *offlineMask) Positions(t time.Duration, pos []Point) {
	om.Mobility.Positions(t, pos)
	for n, ss := range om.spans {
		for _, sp := range ss {
			if t >= sp[0] && t < sp[1] {
				pos[n] = Point{math.NaN(), math.NaN()}
			}
		}
	}
}

// Truth is the ground truth of a scenario run with plan: the meetings of
// friends while both are online.
func Truth(s *Scenario, g *Graph, plan []Action) ([]Meeting, error) {
	mob, err := NewMobility(s)
	if err != nil {
		return nil, err
	}
	return GroundTruth(s, g, MaskOffline(mob, plan), nil), nil
}
