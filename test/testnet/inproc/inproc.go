package inproc

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/imigee/imigee/crypto/geo"
	"github.com/imigee/imigee/node"
	"github.com/imigee/imigee/relay"
	"github.com/imigee/imigee/test/testnet"
)

// Set-up limits.
const (
	// LinkTimeout bounds linking one friend pair during set-up: 30 s.
	LinkTimeout = 30 * time.Second
	// LinkParallelism is how many pairs are linked at once: 8.
	LinkParallelism = 8
)

// Backend runs real nodes and relays in this process on 127.0.0.1.
type Backend struct {
	// Logger receives node and relay logs; nil discards them.
	Logger *slog.Logger

	// The hooks below put the same nodes and relays on another network
	// (package testnet/simnet); nil means loopback with real sockets.

	// RelayListen returns relay i's listen multiaddrs, fixed for the run
	// (a restarted relay comes back on them).
	RelayListen func(i int) ([]string, error)
	// RelayOptions are extra libp2p options of relay i (relay.Config
	// HostOptions), asked again at every start.
	RelayOptions func(i int) []libp2p.Option
	// NodeHost returns node i's node.Config.HostFactory.
	NodeHost func(i int) func(lcrypto.PrivKey) (host.Host, error)
	// NodeStats returns node i's cumulative byte counters.
	NodeStats func(i int) testnet.NodeStats
	// RelayBytes returns relay i's cumulative bytes in and out.
	RelayBytes func(i int) (in, out int64)
	// NoSync turns off fsync in every node's and relay's store
	// (node.Config.NoSync, relay.Config.NoSync): hundreds of stores share
	// one disk in a simulation, and a crash of the run loses nothing
	// worth keeping. Never for real data.
	NoSync bool
	// SyncDelay, with NoSync, is each relay commit's stand-in for its
	// skipped fsync (relay.Config.SyncDelay), so commits group as on a
	// disk.
	SyncDelay time.Duration
}

// Open implements testnet.Backend.
func (b *Backend) Open(ctx context.Context, env *testnet.Env) (testnet.Network, error) {
	log := b.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := env.Scenario
	nw := &network{b: b, env: env, log: log}
	plans, err := planRelays(s.Relays, b.RelayListen)
	if err != nil {
		return nil, err
	}
	if s.Analytics.Enabled {
		if nw.keys, err = newCollectorKeys(plans); err != nil {
			return nil, err
		}
	}
	for i := range plans {
		r, err := nw.newRelay(ctx, i, plans)
		if err != nil {
			nw.Close()
			return nil, err
		}
		nw.relays = append(nw.relays, r)
	}
	for i := 0; i < s.Nodes; i++ {
		n, err := nw.newNode(ctx, i)
		if err != nil {
			nw.Close()
			return nil, err
		}
		nw.nodes = append(nw.nodes, n)
	}
	if err := nw.linkAll(ctx); err != nil {
		nw.Close()
		return nil, err
	}
	return nw, nil
}

type network struct {
	b      *Backend
	env    *testnet.Env
	log    *slog.Logger
	relays []*relayDriver
	nodes  []*nodeDriver

	ids testnet.NodeIndex // node ID (a friend ID at its friends) -> index

	keys *collectorKeys // analytics collectors (analytics.go), nil when off
}

func (nw *network) Node(i int) testnet.NodeDriver   { return nw.nodes[i] }
func (nw *network) Relay(i int) testnet.RelayDriver { return nw.relays[i] }

func (nw *network) Close() error { return testnet.StopAll(nw.nodes, nw.relays) }

// linkAll makes every graph edge friends through the real link flow
// (invite, Link over the network), then turns auto-accept on both ways;
// LinkParallelism pairs at a time.
func (nw *network) linkAll(ctx context.Context) error {
	edges := nw.env.Graph.Edges
	next := make(chan testnet.Edge)
	errc := make(chan error, LinkParallelism)
	var wg sync.WaitGroup
	for range LinkParallelism {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range next {
				if err := nw.link(ctx, e); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for _, e := range edges {
		select {
		case next <- e:
		case err = <-errc:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errc:
		default:
		}
	}
	return err
}

// Each call runs as the node it goes to (testnet.InComponent), so what
// the node draws from crypto/rand comes from its own stream in simnet.
func (nw *network) link(ctx context.Context, e testnet.Edge) (err error) {
	a, b := nw.nodes[e.A], nw.nodes[e.B]
	var inv string
	a.as(func() { inv, err = a.n.Invite() })
	if err != nil {
		return fmt.Errorf("inproc: invite: %w", err)
	}
	var aID string
	b.as(func() {
		lctx, cancel := context.WithTimeout(ctx, LinkTimeout)
		defer cancel()
		if aID, err = b.n.Link(lctx, inv); err != nil {
			err = fmt.Errorf("inproc: link %d-%d: %w", e.A, e.B, err)
			return
		}
		if err = b.n.SetAutoAccept(aID, true); err != nil {
			err = fmt.Errorf("inproc: auto-accept: %w", err)
		}
	})
	if err != nil {
		return err
	}
	if err := waitFriend(ctx, a.n, b.id); err != nil {
		return fmt.Errorf("inproc: link %d-%d: %w", e.A, e.B, err)
	}
	a.as(func() { err = a.n.SetAutoAccept(b.id, true) })
	if err != nil {
		return fmt.Errorf("inproc: auto-accept: %w", err)
	}
	if nw.env.Scenario.Proximity.Precision == testnet.PrecisionCasual {
		a.as(func() { err = a.n.SetPrecision(b.id, node.PrecisionCasual) })
		if err == nil {
			b.as(func() { err = b.n.SetPrecision(aID, node.PrecisionCasual) })
		}
		if err != nil {
			return fmt.Errorf("inproc: precision: %w", err)
		}
	}
	return nil
}

// waitFriend waits until n lists friend id (the inviter stores the friend
// while answering the link request).
func waitFriend(ctx context.Context, n *node.Node, id string) error {
	deadline := time.Now().Add(LinkTimeout)
	for time.Now().Before(deadline) {
		for _, f := range n.Friends() {
			if f.ID == id {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("inviter never listed the friend")
}

func quietLogger(l *slog.Logger, kind string, i int) *slog.Logger {
	return l.With(kind, i)
}

// relayDriver is one relay; Stop closes it and Start opens a new one on
// the same data, identity and addresses (nodes keep their relay list).
type relayDriver struct {
	nw  *network
	i   int
	cfg relay.Config

	mu sync.Mutex // guards r
	r  *relay.Relay
}

// relayPlan is a relay's identity and addresses, fixed before any relay
// starts: relays trust gossip only from their configured Peers, so each
// needs every other's address and ID up front, and a restarted relay must
// come back where its nodes expect it.
type relayPlan struct {
	key   lcrypto.PrivKey
	id    peer.ID
	addrs []string // listen multiaddrs
}

func planRelays(n int, listen func(int) ([]string, error)) ([]relayPlan, error) {
	plans := make([]relayPlan, n)
	for i := range plans {
		key, _, err := lcrypto.GenerateEd25519Key(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("inproc: relay key: %w", err)
		}
		id, err := peer.IDFromPrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("inproc: relay key: %w", err)
		}
		plans[i] = relayPlan{key: key, id: id}
		if listen != nil {
			if plans[i].addrs, err = listen(i); err != nil {
				return nil, fmt.Errorf("inproc: relay %d addresses: %w", i, err)
			}
			continue
		}
		udp, tcp, err := freePorts()
		if err != nil {
			return nil, err
		}
		plans[i].addrs = []string{
			fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", udp),
			fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", tcp),
		}
	}
	return plans, nil
}

// freePorts finds a free UDP and TCP port on 127.0.0.1 (released at once;
// another process could take them before the relay binds, which on a
// test machine's loopback is rare and shows as a clear start error).
func freePorts() (udp, tcp int, err error) {
	uc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return 0, 0, fmt.Errorf("inproc: free port: %w", err)
	}
	udp = uc.LocalAddr().(*net.UDPAddr).Port
	uc.Close()
	tl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, 0, fmt.Errorf("inproc: free port: %w", err)
	}
	tcp = tl.Addr().(*net.TCPAddr).Port
	tl.Close()
	return udp, tcp, nil
}

func (nw *network) newRelay(ctx context.Context, i int, plans []relayPlan) (*relayDriver, error) {
	s := nw.env.Scenario
	cfg := relay.DefaultConfig()
	cfg.DataDir = filepath.Join(nw.env.Dir, fmt.Sprintf("relay-%03d", i))
	cfg.ListenAddrs = plans[i].addrs
	cfg.Identity = plans[i].key
	cfg.Network = "testnet"
	cfg.Now = nw.env.Now
	cfg.Logger = quietLogger(nw.log, "relay", i)
	cfg.Rendezvous.EpochSeconds = uint32(s.Epoch.Seconds())
	// Late matching (issue 10): the scenario's window, 0 = off.
	cfg.History.Window = relay.Duration(s.History.RelayWindow.Duration)
	cfg.Limits.ResourceMemory = 256 << 20
	cfg.NoSync = nw.b.NoSync
	cfg.SyncDelay = nw.b.SyncDelay
	nw.keys.relayConfig(s, i, plans, &cfg)
	for j, p := range plans {
		if j != i {
			for _, a := range p.addrs {
				cfg.Peers = append(cfg.Peers, a+"/p2p/"+p.id.String())
			}
		}
	}
	rd := &relayDriver{nw: nw, i: i, cfg: cfg}
	if err := rd.Start(ctx); err != nil {
		return nil, err
	}
	return rd, nil
}

// addrs are the relay's multiaddrs with /p2p/ID.
func (rd *relayDriver) addrs() []string {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.r == nil {
		return nil
	}
	var out []string
	for _, a := range rd.r.Addrs() {
		out = append(out, a.String()+"/p2p/"+rd.r.ID().String())
	}
	return out
}

func (rd *relayDriver) Start(ctx context.Context) (err error) {
	testnet.InComponent(testnet.RelayComponent(rd.i), func() { err = rd.start(ctx) })
	return err
}

func (rd *relayDriver) start(ctx context.Context) error {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.r != nil {
		return nil
	}
	cfg := rd.cfg
	if f := rd.nw.b.RelayOptions; f != nil {
		cfg.HostOptions = f(rd.i)
	}
	r, err := relay.New(cfg)
	if err != nil {
		return fmt.Errorf("inproc: relay %d: %w", rd.i, err)
	}
	if err := r.Start(ctx); err != nil {
		r.Close()
		return fmt.Errorf("inproc: relay %d start: %w", rd.i, err)
	}
	rd.r = r
	return nil
}

func (rd *relayDriver) Stop() error {
	rd.mu.Lock()
	r := rd.r
	rd.r = nil
	rd.mu.Unlock()
	if r == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	testnet.InComponent(testnet.RelayComponent(rd.i), func() { err = r.Shutdown(ctx) })
	return err
}

// Stats reads the relay's Prometheus gauges.
func (rd *relayDriver) Stats() testnet.RelayStats {
	rd.mu.Lock()
	r := rd.r
	rd.mu.Unlock()
	var st testnet.RelayStats
	if f := rd.nw.b.RelayBytes; f != nil {
		st.BytesIn, st.BytesOut = f(rd.i)
	}
	if r == nil {
		return st
	}
	mfs, err := r.MetricsRegistry().Gather()
	if err != nil {
		return st
	}
	for _, mf := range mfs {
		var v float64
		for _, m := range mf.GetMetric() {
			if g := m.GetGauge(); g != nil {
				v += g.GetValue()
			}
		}
		// Not process_resident_memory_bytes: that is the whole simulator.
		st.SetMetric(mf.GetName(), v)
	}
	return st
}

// nodeDriver is one phone: a node.Node on its own data directory.
type nodeDriver struct {
	nw     *network
	i      int
	id     string
	cfg    node.Config
	policy node.SharePolicy

	mu      sync.Mutex // guards n, appOpen, noNet, photos
	n       *node.Node
	appOpen bool
	noNet   bool // no reception (SetNetwork(false)); applied at every start
	photos  int  // photos written for taken-while-together shares
}

func (nw *network) newNode(ctx context.Context, i int) (*nodeDriver, error) {
	s := nw.env.Scenario
	dir := filepath.Join(nw.env.Dir, fmt.Sprintf("node-%05d", i))
	nd := &nodeDriver{nw: nw, i: i}
	key := make([]byte, 32)
	var err error
	nd.as(func() { _, err = rand.Read(key) })
	if err != nil {
		return nil, err
	}
	nd.cfg = node.Config{
		DataDir:      dir,
		StoreKey:     key,
		Relays:       nw.relays[i%len(nw.relays)].addrs(),
		ListenAddrs:  []string{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"},
		EpochSeconds: int(s.Epoch.Seconds()),
		Now:          nw.env.Now,
		Logger:       quietLogger(nw.log, "node", i),
		Events:       nd,
		NoSync:       nw.b.NoSync,
	}
	// The scenario's 0 is "off"; the node's is "default" (negative is off).
	nd.cfg.History.Window = s.History.NodeWindow.Duration
	if nd.cfg.History.Window == 0 {
		nd.cfg.History.Window = -1
	}
	if s.Proximity.Neighbours == testnet.NeighboursAll {
		nd.cfg.CellRule = geo.AllCells
	}
	if f := nw.b.NodeHost; f != nil {
		nd.cfg.HostFactory = f(i)
		nd.cfg.ListenAddrs = nil
	}
	nw.keys.nodeConfig(&nd.cfg)
	nd.policy = node.SharePolicy{Mode: node.ShareAsk}
	switch s.Workload.Policy {
	case testnet.PolicyNearby:
		nd.policy.Mode = node.ShareNearby
	case testnet.PolicyTogether:
		nd.policy = node.SharePolicy{Mode: node.ShareTogether, Auto: true}
	}
	if err := nd.Start(ctx); err != nil {
		return nil, err
	}
	nd.id = nd.n.ID()
	nw.ids.Set(nd.id, i)
	return nd, nil
}

// as runs f as this node's component (testnet.InComponent): goroutines f
// starts, and what it draws from crypto/rand, belong to the node.
func (nd *nodeDriver) as(f func()) { testnet.InComponent(testnet.NodeComponent(nd.i), f) }

func (nd *nodeDriver) node() *node.Node {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.n
}

func (nd *nodeDriver) Start(ctx context.Context) (err error) {
	nd.as(func() { err = nd.start(ctx) })
	return err
}

func (nd *nodeDriver) start(ctx context.Context) error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.n != nil {
		return nil
	}
	n, err := node.New(nd.cfg)
	if err != nil {
		return fmt.Errorf("inproc: node %d: %w", nd.i, err)
	}
	// A phone that comes back inside a dead zone starts without network
	// (told before Start, so the node does not dial first).
	if nd.noNet {
		if err := n.NetworkChanged(node.NetworkNone, false); err != nil {
			n.Close()
			return fmt.Errorf("inproc: node %d network: %w", nd.i, err)
		}
	}
	if err := n.Start(ctx); err != nil {
		n.Close()
		return fmt.Errorf("inproc: node %d start: %w", nd.i, err)
	}
	if err := n.SetSharePolicy(nd.policy); err != nil {
		n.Close()
		return fmt.Errorf("inproc: node %d policy: %w", nd.i, err)
	}
	n.SetAppOpen(nd.appOpen)
	nd.n = n
	return nil
}

func (nd *nodeDriver) Stop() error {
	nd.mu.Lock()
	n := nd.n
	nd.n = nil
	nd.mu.Unlock()
	if n == nil {
		return nil
	}
	var err error
	nd.as(func() { err = n.Close() })
	return err
}

func (nd *nodeDriver) SetLocation(lat, lng float64) error {
	n := nd.node()
	if n == nil {
		return errors.New("inproc: node offline")
	}
	var err error
	nd.as(func() {
		if math.IsNaN(lat) {
			n.ClearLocation()
			return
		}
		err = n.SetLocation(lat, lng, 10)
	})
	return err
}

func (nd *nodeDriver) SetAppOpen(open bool) {
	nd.mu.Lock()
	nd.appOpen = open
	n := nd.n
	nd.mu.Unlock()
	if n != nil {
		nd.as(func() { n.SetAppOpen(open) })
	}
}

// SetNetwork drives node.NetworkChanged: NetworkNone takes the node off
// the network (it keeps its history), NetworkCellular brings it back, as
// a phone leaving a dead zone sees it.
func (nd *nodeDriver) SetNetwork(up bool) error {
	nd.mu.Lock()
	nd.noNet = !up
	n := nd.n
	nd.mu.Unlock()
	if n == nil {
		return nil
	}
	kind := node.NetworkNone
	if up {
		kind = node.NetworkCellular
	}
	var err error
	nd.as(func() { err = n.NetworkChanged(kind, false) })
	return err
}

func (nd *nodeDriver) Share(ctx context.Context, spec testnet.ShareSpec) (id string, err error) {
	nd.as(func() { id, err = nd.share(spec) })
	return id, err
}

func (nd *nodeDriver) share(spec testnet.ShareSpec) (string, error) {
	n := nd.node()
	if n == nil {
		return "", errors.New("inproc: node offline")
	}
	var to []string
	for _, t := range spec.To {
		to = append(to, nd.nw.nodes[t].id)
	}
	if spec.Message {
		if len(to) != 1 {
			return "", errors.New("inproc: a message has one recipient")
		}
		return n.SendMessage(to[0], strings.Repeat("m", min(spec.Size, node.MaxMessageLen)))
	}
	// Shares seal in the background (the source must stay until sealed),
	// so the photo is handed over as bytes.
	data := make([]byte, spec.Size)
	if _, err := io.ReadFull(rand.Reader, data); err != nil {
		return "", err
	}
	if spec.Together {
		return nd.shareTogether(n, data)
	}
	return n.ShareBytes(node.TypePhoto, "item.jpg", data, to)
}

// shareTogether writes the photo into the node's directory (a waiting
// photo is shared from its path when a late meeting is confirmed, so the
// file stays for the run) and shares it as taken now, pre-approved.
func (nd *nodeDriver) shareTogether(n *node.Node, data []byte) (string, error) {
	dir := filepath.Join(nd.cfg.DataDir, "camera")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("inproc: camera: %w", err)
	}
	nd.mu.Lock()
	nd.photos++
	path := filepath.Join(dir, fmt.Sprintf("photo-%06d.jpg", nd.photos))
	nd.mu.Unlock()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("inproc: camera: %w", err)
	}
	return n.SharePhotoTogether(path, nd.nw.env.Now().Unix(), true)
}

// Stats come from Backend.NodeStats; on loopback bytes are not counted
// (0), since the node builds its own host there.
func (nd *nodeDriver) Stats() testnet.NodeStats {
	if f := nd.nw.b.NodeStats; f != nil {
		return f(nd.i)
	}
	return testnet.NodeStats{}
}

// OnEvent maps node events to testnet events.
func (nd *nodeDriver) OnEvent(e *node.Event) {
	ev := testnet.Event{Node: nd.i, Peer: nd.nw.ids.Index(e.FriendID), Item: e.ItemID, Via: e.Via}
	switch e.Kind {
	case node.EventFriendNearby:
		ev.Kind = testnet.KindNearby
	case node.EventFriendGone:
		ev.Kind = testnet.KindGone
	case node.EventFriendWasNearby:
		start := nd.nw.env.Scenario.Start.Unix()
		ev.Kind = testnet.KindWasNearby
		ev.SpanFrom, ev.SpanTo = (e.From-start)*1000, (e.To-start)*1000
	case node.EventItemReceived, node.EventMessage:
		ev.Kind, ev.Size = testnet.KindReceived, e.Total
	case node.EventDelivered:
		ev.Kind = testnet.KindDelivered
	case node.EventDeliveryFailed:
		ev.Kind, ev.Err = testnet.KindFailed, e.Err
	default:
		return
	}
	nd.nw.env.Emit(ev)
}
