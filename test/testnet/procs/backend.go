package procs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/imigee/imigee/test/testnet"
)

// Backend starts real processes: on this machine, or through Workers on
// several.
type Backend struct {
	// Imigee and Relay are the binaries; empty means "imigee" and
	// "imigee-relay" from PATH. Unused with Workers (each worker has
	// its own).
	Imigee, Relay string
	// Stderr receives the processes' logs; nil discards them. Unused with
	// Workers.
	Stderr io.Writer
	// Workers, when set, run the relays and nodes instead of this
	// process: relays round-robin, nodes in proportion to each worker's
	// Capacity (see Assign).
	Workers []Worker
}

// Open implements testnet.Backend.
func (b *Backend) Open(ctx context.Context, env *testnet.Env) (testnet.Network, error) {
	s := env.Scenario
	if s.Network.Speedup != 1 {
		return nil, ErrSpeedup
	}
	if testnet.NewReception(s) != nil {
		return nil, ErrNoOutages
	}
	if s.Workload.Policy == testnet.PolicyTogether {
		// The driver does not send the control socket's share-together
		// (capture-time) command yet.
		return nil, fmt.Errorf("procs: workload policy %q: mode sim or simnet only", s.Workload.Policy)
	}
	if s.Proximity.Precision != testnet.PrecisionClose || s.Proximity.Neighbours != testnet.NeighboursCorner {
		// The control socket has no precision command (yet).
		return nil, fmt.Errorf("procs: proximity %q/%q: only %q/%q in this mode", s.Proximity.Precision, s.Proximity.Neighbours, testnet.PrecisionClose, testnet.NeighboursCorner)
	}
	if s.Analytics.Enabled {
		// The collectors' keys and the end-of-run reports need in-process
		// relays and nodes (inproc); the control socket has no report command.
		return nil, errors.New("procs: [analytics] runs in sim and simnet modes only")
	}
	log := env.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	nw := &network{env: env, log: log}
	if err := nw.openMachines(ctx, b); err != nil {
		nw.Close()
		return nil, err
	}
	relayOn, nodeOn := Assign(s.Relays, s.Nodes, nw.capacities)
	if err := nw.openRelays(ctx, relayOn); err != nil {
		nw.Close()
		return nil, err
	}
	for i := 0; i < s.Nodes; i++ {
		if err := nw.newNode(ctx, i, nodeOn[i]); err != nil {
			nw.Close()
			return nil, err
		}
	}
	for _, e := range env.Graph.Edges {
		if err := nw.link(ctx, e); err != nil {
			nw.Close()
			return nil, err
		}
	}
	return nw, nil
}

// Assign places relays round-robin over len(capacity) machines and nodes
// by smooth weighted round-robin on capacity: with equal capacities,
// node i goes to machine i mod m. It returns each relay's and node's
// machine.
func Assign(relays, nodes int, capacity []int) (relayOn, nodeOn []int) {
	m := len(capacity)
	relayOn = make([]int, relays)
	for i := range relayOn {
		relayOn[i] = i % m
	}
	total := 0
	for _, c := range capacity {
		total += max(c, 1)
	}
	current := make([]int, m)
	nodeOn = make([]int, nodes)
	for i := range nodeOn {
		best := 0
		for k := range current {
			current[k] += max(capacity[k], 1)
			if current[k] > current[best] {
				best = k
			}
		}
		current[best] -= total
		nodeOn[i] = best
	}
	return relayOn, nodeOn
}

// network is one run's relays and nodes over its machines.
type network struct {
	env        *testnet.Env
	log        *slog.Logger
	machines   []Machine
	names      []string
	capacities []int
	relays     []*relayDriver
	nodes      []*nodeDriver
	ids        testnet.NodeIndex // node friend ID -> index

	closeOnce sync.Once
	closeErr  error
}

func (nw *network) openMachines(ctx context.Context, b *Backend) error {
	if len(b.Workers) == 0 {
		h, err := NewHost(HostConfig{Imigee: b.Imigee, Relay: b.Relay, Dir: nw.env.Dir,
			Stderr: b.Stderr, Emit: nw.emit, Log: nw.log})
		if err != nil {
			return err
		}
		nw.machines, nw.names, nw.capacities = []Machine{h}, []string{"local"}, []int{1}
		return nil
	}
	for _, w := range b.Workers {
		m, err := w.Open(ctx, nw.emit)
		if err != nil {
			return fmt.Errorf("procs: worker %s: %w", w.Name(), err)
		}
		nw.machines = append(nw.machines, m)
		nw.names = append(nw.names, w.Name())
		nw.capacities = append(nw.capacities, w.Capacity())
	}
	return nil
}

// emit turns a node event into a testnet.Event.
func (nw *network) emit(e NodeEvent) {
	ev := testnet.Event{Node: e.Node, Peer: nw.ids.Index(e.Friend), Item: e.Item, Via: e.Via}
	switch e.Event {
	case "friend_nearby":
		ev.Kind = testnet.KindNearby
	case "friend_gone":
		ev.Kind = testnet.KindGone
	case "item_received", "message":
		ev.Kind, ev.Size = testnet.KindReceived, e.Total
	case "delivered":
		ev.Kind = testnet.KindDelivered
	case "delivery_failed":
		ev.Kind, ev.Err = testnet.KindFailed, e.Err
	default:
		return
	}
	if e.Node < 0 || e.Node >= nw.env.Scenario.Nodes {
		return
	}
	nw.env.Emit(ev)
}

func (nw *network) Node(i int) testnet.NodeDriver   { return nw.nodes[i] }
func (nw *network) Relay(i int) testnet.RelayDriver { return nw.relays[i] }

// Close stops every node, then every relay, then closes the machines.
func (nw *network) Close() error {
	nw.closeOnce.Do(func() {
		errs := []error{testnet.StopAll(nw.nodes, nw.relays)}
		for _, m := range nw.machines {
			errs = append(errs, m.Close())
		}
		nw.closeErr = errors.Join(errs...)
	})
	return nw.closeErr
}

func (nw *network) openRelays(ctx context.Context, relayOn []int) error {
	s := nw.env.Scenario
	for i, k := range relayOn {
		addrs, err := nw.machines[k].CreateRelay(ctx, i)
		if err != nil {
			return fmt.Errorf("procs: relay %d on %s: %w", i, nw.names[k], err)
		}
		nw.relays = append(nw.relays, &relayDriver{m: nw.machines[k], i: i, addrs: addrs})
	}
	for i, r := range nw.relays {
		r.spec = RelaySpec{EpochSeconds: int(s.Epoch.Seconds())}
		for j, q := range nw.relays {
			if j != i {
				r.spec.Peers = append(r.spec.Peers, q.addrs...)
			}
		}
		if err := r.Start(ctx); err != nil {
			return fmt.Errorf("procs: relay %d on %s: %w", i, nw.names[relayOn[i]], err)
		}
	}
	return nil
}

func (nw *network) newNode(ctx context.Context, i, k int) error {
	spec := NodeSpec{EpochSeconds: int(nw.env.Scenario.Epoch.Seconds()),
		Relays: nw.relays[i%len(nw.relays)].addrs}
	id, err := nw.machines[k].CreateNode(ctx, i, spec)
	if err != nil {
		return fmt.Errorf("procs: node %d on %s: %w", i, nw.names[k], err)
	}
	nw.ids.Set(id, i)
	nw.nodes = append(nw.nodes, &nodeDriver{nw: nw, m: nw.machines[k], i: i, id: id})
	return nil
}

func (nw *network) link(ctx context.Context, e testnet.Edge) error {
	a, b := nw.nodes[e.A], nw.nodes[e.B]
	var inv struct {
		Invite string `json:"invite"`
	}
	if err := a.control(ctx, Command{Cmd: CmdInvite}, &inv); err != nil {
		return err
	}
	if err := b.control(ctx, Command{Cmd: CmdLink, Text: inv.Invite}, nil); err != nil {
		return err
	}
	// The inviter stores the friend while answering; then turn
	// auto-accept on there too.
	deadline := time.Now().Add(StartTimeout)
	for {
		err := a.control(ctx, Command{Cmd: CmdAutoAccept, Friend: b.id, Value: "on"}, nil)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("procs: link %d-%d: %w", e.A, e.B, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// relayDriver is a testnet.RelayDriver for a relay on a Machine.
type relayDriver struct {
	m     Machine
	i     int
	addrs []string
	spec  RelaySpec
}

func (r *relayDriver) Start(ctx context.Context) error { return r.m.StartRelay(ctx, r.i, r.spec) }

func (r *relayDriver) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), StopTimeout+CommandTimeout)
	defer cancel()
	return r.m.StopRelay(ctx, r.i)
}

// Stats: zero values when the relay cannot be reached.
func (r *relayDriver) Stats() testnet.RelayStats {
	st, _ := r.m.RelayStats(context.Background(), r.i)
	return st
}

// nodeDriver is a testnet.NodeDriver for a node on a Machine.
type nodeDriver struct {
	nw *network
	m  Machine
	i  int
	id string
}

func (n *nodeDriver) Start(ctx context.Context) error { return n.m.StartNode(ctx, n.i) }

func (n *nodeDriver) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), StopTimeout+CommandTimeout)
	defer cancel()
	return n.m.StopNode(ctx, n.i)
}

func (n *nodeDriver) control(ctx context.Context, c Command, result any) error {
	res, err := n.m.Control(ctx, n.i, c)
	if err != nil {
		return fmt.Errorf("procs: node %d %s: %w", n.i, c.Cmd, err)
	}
	if result != nil && len(res) > 0 {
		if err := json.Unmarshal(res, result); err != nil {
			return fmt.Errorf("procs: node %d %s: %w", n.i, c.Cmd, err)
		}
	}
	return nil
}

func (n *nodeDriver) SetLocation(lat, lng float64) error {
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	if math.IsNaN(lat) {
		return n.control(ctx, Command{Cmd: CmdLocate, Value: "off"}, nil)
	}
	return n.control(ctx, Command{Cmd: CmdLocate, Lat: lat, Lng: lng, Accuracy: 10}, nil)
}

// SetAppOpen: "imigee run" counts as an open app; nothing to do.
func (n *nodeDriver) SetAppOpen(bool) {}

// SetNetwork: not wired to the control socket's network command yet
// (Open refuses scenarios with outages).
func (n *nodeDriver) SetNetwork(bool) error { return ErrNoOutages }

func (n *nodeDriver) Share(ctx context.Context, spec testnet.ShareSpec) (string, error) {
	var to []string
	for _, t := range spec.To {
		to = append(to, n.nw.nodes[t].id)
	}
	if spec.Message {
		if len(to) != 1 {
			return "", errors.New("procs: a message has one recipient")
		}
		var res struct {
			Item string `json:"item"`
		}
		err := n.control(ctx, Command{Cmd: CmdMessage, Friend: to[0], Text: strings.Repeat("m", min(spec.Size, 4096))}, &res)
		return res.Item, err
	}
	return n.m.SharePhoto(ctx, n.i, spec.Size, to)
}

// Stats: a process's bytes are not exposed; 0.
func (n *nodeDriver) Stats() testnet.NodeStats { return testnet.NodeStats{} }
