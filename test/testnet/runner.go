package testnet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"
)

// Options configure Run.
type Options struct {
	// Backend runs the nodes and relays. Required.
	Backend Backend
	// Out is the results directory (created). Required.
	Out string
	// Mode labels the summary ("sim" or "procs").
	Mode string
	// Progress receives a progress bar (os.Stderr); nil for none.
	Progress io.Writer
	// Log receives run logs; nil discards them.
	Log *slog.Logger
	// NoPlots skips the PNG plots.
	NoPlots bool
	// Stepped runs on a stepped clock (see NewSteppedClock) instead of
	// real time compressed by network.speedup: for backends that do not
	// need wall time to pass (fakes, or a simulated network under
	// testing/synctest).
	Stepped bool
	// Resolution, when set, floors every event's virtual time to a
	// multiple of it. The simulated network uses 10 ms: what is left of
	// run-to-run variation there is a few milliseconds of jitter (see
	// package simnet, "Determinism"), and a coarser clock keeps it out of
	// summary.json in most runs.
	Resolution time.Duration
	// Wall, when set, is the progress bar's wall clock (time since the
	// run began). Inside a testing/synctest bubble time.Since is virtual,
	// so the simulated mode measures wall time from outside and passes it.
	Wall func() time.Duration
	// ScratchDir is where the run's scratch directory (node and relay
	// data, deleted at the end) is made; empty means os.TempDir(). A
	// tmpfs such as /dev/shm saves disk I/O, at the price of memory.
	ScratchDir string
	// Provenance, when set, is written with the resolved scenario and its
	// inputs before the run starts (WriteProvenance); Mode and the rest
	// are filled in. Nil writes none (the caller wrote it already).
	Provenance *Provenance
}

// Result is everything a run measured.
type Result struct {
	Summary  *Summary
	Meetings []Meeting
	Events   []Event
	Samples  []Sample
	Run      RunInfo

	// Trials are the pair-epochs of the detection curve (detection.go).
	Trials []Trial
	// Network is what the simulated network did (network.json), nil for
	// other backends.
	Network *NetworkSummary

	scenario *Scenario
	graph    *Graph
}

// Sample is one periodic measurement: per node bytes and per relay state.
type Sample struct {
	T         int64        `json:"t_ms"`
	NodeIn    []int64      `json:"node_in"`
	NodeOut   []int64      `json:"node_out"`
	Relays    []RelayStats `json:"relays"`
	HeapBytes int64        `json:"heap_bytes"`
}

// NewResult sorts events by time (events of one millisecond by kind,
// node, peer and item, so their order does not depend on which goroutine
// reported first) and computes the summary.
func NewResult(s *Scenario, g *Graph, meetings []Meeting, events []Event, samples []Sample) *Result {
	slices.SortStableFunc(events, func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.T, b.T), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Node, b.Node),
			cmp.Compare(a.Peer, b.Peer), cmp.Compare(a.Item, b.Item))
	})
	return &Result{Meetings: meetings, Events: events, Samples: samples, scenario: s, graph: g,
		Summary: Summarize(s, g, meetings, events, samples)}
}

// recorder collects events stamped with virtual time.
type recorder struct {
	clock *VClock
	res   int64      // Options.Resolution in ms; 0 = 1 ms
	mu    sync.Mutex // guards events
	evs   []Event
}

func (r *recorder) emit(e Event) {
	if e.T == 0 {
		e.T = r.clock.Elapsed().Milliseconds()
		if r.res > 1 {
			e.T -= e.T % r.res
		}
	}
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
}

func (r *recorder) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

// Run executes a scenario on a backend and writes the results directory:
// summary.json, events.jsonl, meetings.csv, samples.csv, relays.csv and
// the plots (see docs/testnet.md).
func Run(ctx context.Context, s *Scenario, opt Options) (*Result, error) {
	if opt.Backend == nil || opt.Out == "" {
		return nil, errors.New("testnet: run: backend and out are required")
	}
	log := opt.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return nil, fmt.Errorf("testnet: run: %w", err)
	}
	if p := opt.Provenance; p != nil {
		pv := *p
		pv.Mode = opt.Mode
		if err := WriteProvenance(opt.Out, s, pv); err != nil {
			return nil, err
		}
	}
	g, err := BuildGraph(s)
	if err != nil {
		return nil, err
	}
	plan := Plan(s, g)
	meetings, trials, err := TruthAndTrials(s, g, plan)
	if err != nil {
		return nil, err
	}
	scratch, err := os.MkdirTemp(opt.ScratchDir, "imigee-testnet-")
	if err != nil {
		return nil, fmt.Errorf("testnet: run: %w", err)
	}
	defer os.RemoveAll(scratch)

	wall0 := time.Now()
	clock := NewVClock(s.Start, s.Network.Speedup)
	if opt.Stepped {
		clock = NewSteppedClock(s.Start)
	}
	rec := &recorder{clock: clock, res: opt.Resolution.Milliseconds()}
	env := &Env{Scenario: s, Graph: g, Now: clock.Now, Emit: rec.emit, Dir: scratch, Log: log}
	log.Info("opening network", "nodes", s.Nodes, "relays", s.Relays, "friendships", len(g.Edges))
	if opt.Progress != nil {
		fmt.Fprintf(opt.Progress, "%s: starting %d relays and %d nodes, linking %d friendships...\n", s.Name, s.Relays, s.Nodes, len(g.Edges))
	}
	net, err := opt.Backend.Open(ctx, env)
	if err != nil {
		return nil, fmt.Errorf("testnet: open network: %w", err)
	}
	samples, lag, runErr := drive(ctx, s, g, plan, net, clock, rec, opt.Progress, opt.Wall)
	if runErr == nil && s.Analytics.Enabled {
		runErr = reportAnalytics(ctx, s, net, rec.events, opt.Out)
	}
	var netStats *NetworkSummary
	if ns, ok := net.(NetStater); ok {
		st := ns.NetStats()
		netStats = &st
	}
	if err := net.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("testnet: close network: %w", err)
	}
	if runErr != nil {
		return nil, runErr
	}
	res := NewResult(s, g, meetings, rec.events(), samples)
	res.Trials = trials
	res.Network = netStats
	res.Summary.Mode = opt.Mode
	res.Run = RunInfo{WallSeconds: round(time.Since(wall0).Seconds()), GoVersion: runtime.Version(), MaxLagSeconds: round(lag.Seconds())}
	if lag > s.Step.Duration && opt.Progress != nil {
		fmt.Fprintf(opt.Progress, "warning: the run fell up to %v of virtual time behind its clock (more than a step): lower network.speedup\n", lag.Round(time.Second))
	}
	for _, sm := range samples {
		res.Run.PeakHeapBytes = max(res.Run.PeakHeapBytes, sm.HeapBytes)
	}
	if err := WriteResults(opt.Out, res, !opt.NoPlots); err != nil {
		return nil, err
	}
	return res, nil
}

// drive walks virtual time step by step: positions to nodes, due
// workload actions, periodic samples.
//
// It returns the largest lag seen: how far the virtual clock had run past
// a step's time when the step's work ended. A lag above a step means the
// machine could not keep up with network.speedup: nodes then saw
// positions late and detection latencies are inflated.
func drive(ctx context.Context, s *Scenario, g *Graph, plan []Action, net Network, clock *VClock, rec *recorder, pw io.Writer, wall func() time.Duration) ([]Sample, time.Duration, error) {
	var lag time.Duration
	mob, err := NewMobility(s)
	if err != nil {
		return nil, 0, err
	}
	pr := Projection{s.Mobility.Lat, s.Mobility.Lng}
	pos := make([]Point, s.Nodes)
	sent := make([]Point, s.Nodes)
	online := make([]bool, s.Nodes)
	appRand := NewRand(s.Seed, "app")
	gps := newGPSNoise(s)
	rx := NewReception(s)
	hasNet := make([]bool, s.Nodes) // what the runner last told each node
	for i := range sent {
		sent[i] = Point{math.NaN(), math.NaN()}
		online[i] = true
		hasNet[i] = true
		net.Node(i).SetAppOpen(appRand.Float64() < s.Workload.AppOpenFraction)
	}
	settle := func() {}
	if st, ok := net.(Settler); ok {
		settle = st.Settle
	}
	steps := s.Steps()
	bar := NewProgress(pw, s.Name, steps)
	if bar != nil && wall != nil {
		bar.Wall = wall
	}
	defer bar.Done()
	var samples []Sample
	sampleEvery := max(1, int(s.Metrics.Sample.Duration/s.Step.Duration))
	next := 0
	clock.Begin()
	for k := 0; k < steps; k++ {
		t := time.Duration(k) * s.Step.Duration
		if err := clock.WaitUntil(ctx, t); err != nil {
			return samples, lag, err
		}
		settle()
		mob.Positions(t, pos)
		gps.step()
		// Reception first: a phone entering a dead zone must not announce
		// from inside it on the position that took it there.
		if rx != nil && reception(rx, t, pos, net, online, hasNet, rec) {
			// A node coming back starts networking: let it settle before
			// positions arrive, or their order against its start depends
			// on scheduling (simnet's same-seed check).
			settle()
		}
		for i, p := range pos {
			if !online[i] {
				continue
			}
			if !p.Valid() {
				if sent[i].Valid() {
					_ = net.Node(i).SetLocation(math.NaN(), math.NaN())
					sent[i] = p
				}
				continue
			}
			// Every step, moved or not, as a location service would: it
			// also wakes the node loop, which keeps epoch turns on time
			// when virtual time runs faster than the node's timers.
			lat, lng := pr.LatLng(gps.apply(i, p))
			if err := net.Node(i).SetLocation(lat, lng); err == nil {
				sent[i] = p
			}
		}
		settle()
		for ; next < len(plan) && plan[next].At <= t; next++ {
			act(ctx, plan[next], net, online, sent, rec)
			settle()
		}
		if k%sampleEvery == 0 {
			samples = append(samples, sample(t, s, net))
		}
		bar.Update(k+1, t+s.Step.Duration)
		lag = max(lag, clock.Elapsed()-t)
	}
	if err := clock.WaitUntil(ctx, s.Duration.Duration); err != nil {
		return samples, lag, err
	}
	settle()
	samples = append(samples, sample(s.Duration.Duration, s, net))
	return samples, lag, nil
}

// reception tells each online phone whose reception changed at step t
// and reports whether any did; a stopped phone's driver keeps the last
// state and applies it when it starts again, and is told of changes once
// it is back.
func reception(rx *Reception, t time.Duration, pos []Point, net Network, online, hasNet []bool, rec *recorder) bool {
	changed := false
	for i, p := range pos {
		up := rx.Up(i, t, p)
		if !online[i] || up == hasNet[i] {
			continue
		}
		e := Event{Kind: KindNoNetwork, Node: i, Peer: -1}
		if up {
			e.Kind = KindNetwork
		}
		if err := net.Node(i).SetNetwork(up); err != nil {
			e.Err = err.Error() // not retried: one event, not one a step
		}
		hasNet[i] = up
		changed = true
		rec.emit(e)
	}
	return changed
}

func act(ctx context.Context, a Action, net Network, online []bool, sent []Point, rec *recorder) {
	switch a.Kind {
	case ActShare:
		if !online[a.Node] {
			return
		}
		id, err := net.Node(a.Node).Share(ctx, a.Spec)
		if err != nil {
			rec.emit(Event{Kind: KindShareError, Node: a.Node, Peer: -1, Err: err.Error()})
			return
		}
		rec.emit(Event{Kind: KindShared, Node: a.Node, Peer: -1, Item: id, Size: int64(a.Spec.Size), To: a.Spec.To})
	case ActOffline:
		if online[a.Node] {
			online[a.Node] = false
			sent[a.Node] = Point{math.NaN(), math.NaN()}
			rec.emit(Event{Kind: KindOffline, Node: a.Node, Peer: -1})
			if err := net.Node(a.Node).Stop(); err != nil {
				rec.emit(Event{Kind: KindOffline, Node: a.Node, Peer: -1, Err: err.Error()})
			}
		}
	case ActOnline:
		if !online[a.Node] {
			err := net.Node(a.Node).Start(ctx)
			e := Event{Kind: KindOnline, Node: a.Node, Peer: -1}
			if err != nil {
				e.Err = err.Error()
			} else {
				online[a.Node] = true
			}
			rec.emit(e)
		}
	case ActRelayDown:
		e := Event{Kind: KindRelayDown, Node: a.Node, Peer: -1}
		if err := net.Relay(a.Node).Stop(); err != nil {
			e.Err = err.Error()
		}
		rec.emit(e)
	case ActRelayUp:
		e := Event{Kind: KindRelayUp, Node: a.Node, Peer: -1}
		if err := net.Relay(a.Node).Start(ctx); err != nil {
			e.Err = err.Error()
		}
		rec.emit(e)
	}
}

// sample measures at scheduled virtual time t (the clock may be a little
// past it).
func sample(t time.Duration, s *Scenario, net Network) Sample {
	sm := Sample{T: t.Milliseconds(), NodeIn: make([]int64, s.Nodes), NodeOut: make([]int64, s.Nodes)}
	for i := range s.Nodes {
		st := net.Node(i).Stats()
		sm.NodeIn[i], sm.NodeOut[i] = st.BytesIn, st.BytesOut
	}
	for i := range s.Relays {
		sm.Relays = append(sm.Relays, net.Relay(i).Stats())
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	sm.HeapBytes = int64(ms.HeapAlloc)
	return sm
}
