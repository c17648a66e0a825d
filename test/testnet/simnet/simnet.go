package simnet

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/config"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/quicreuse"
	"github.com/marcopolo/simnet"
	"github.com/quic-go/quic-go"
	"go.uber.org/fx"

	"github.com/imigee/imigee/test/testnet"
	"github.com/imigee/imigee/test/testnet/inproc"
)

// Network constants.
const (
	// RelayBandwidthFactor: a relay's link is this many times a node's
	// (network.bandwidth_mbps): 50, a server next to phones.
	RelayBandwidthFactor = 50
	// Port every simulated host listens on (each host has its own IP).
	Port = 4001
	// RelaySyncDelay is the virtual time a relay's group commit takes in
	// place of the fsync its NoSync store skips (relay.Config.SyncDelay):
	// 300 µs, a one-put bbolt commit with fsync on the reference machine's
	// ext4 (2,900 per second, fsync ≈ 200 µs). Without it each write got
	// a commit of its own, since virtual time stood still during one:
	// 15,371 history commits of one write each in 30 simulated minutes of
	// the scale scenario, 2,028 (7.6 writes each) with it.
	RelaySyncDelay = 300 * time.Microsecond
)

// Backend runs real nodes and relays in this process over one simulated
// network (see the package doc).
type Backend struct {
	// Logger receives node and relay logs; nil discards them.
	Logger *slog.Logger
}

// Open implements testnet.Backend.
func (b *Backend) Open(ctx context.Context, env *testnet.Env) (testnet.Network, error) {
	s := env.Scenario
	bps := int(s.Network.BandwidthMbps * 1e6)
	sw := &world{
		w:       newWire(s.Network.Latency.Duration, Model{Seed: s.Seed, Jitter: s.Network.Jitter.Duration, Loss: s.Network.Loss}),
		nodeEnd: nodeEnds(s),
		nodeBPS: bps,
		relay:   bps * RelayBandwidthFactor,
		relays:  s.Relays,
		nodes:   s.Nodes,
		hosts:   make([]int, s.Nodes),
		nodeBW:  make([]*byteCounter, s.Nodes),
		relayBW: make([]*byteCounter, s.Relays),
		lite:    s.Network.Transport == TransportLite,
	}
	for i := range sw.relayBW {
		sw.relayBW[i] = &byteCounter{}
	}
	for i := range sw.nodeBW {
		sw.nodeBW[i] = &byteCounter{}
	}
	ib := &inproc.Backend{
		Logger: b.Logger,
		RelayListen: func(i int) ([]string, error) {
			return []string{fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", simnet.IntToPublicIPv4(i), Port)}, nil
		},
		RelayOptions: func(i int) []libp2p.Option {
			return []libp2p.Option{sw.transport(sw.relay, endOpts{}, true), libp2p.DisableIdentifyAddressDiscovery(),
				libp2p.BandwidthReporter(sw.relayBW[i]), noAutoNAT}
		},
		RelayBytes: func(i int) (int64, int64) {
			t := sw.relayBW[i].GetBandwidthTotals()
			return t.TotalIn, t.TotalOut
		},
		NodeHost:  sw.nodeHost,
		NodeStats: sw.nodeStats,
		NoSync:    true,
		SyncDelay: RelaySyncDelay,
	}
	inner, err := ib.Open(ctx, env)
	if err != nil {
		sw.w.close()
		return nil, err
	}
	return &simNetwork{Network: inner, sw: sw}, nil
}

// simNetwork closes the simulated network after every host on it.
type simNetwork struct {
	testnet.Network
	sw *world
}

func (n *simNetwork) Close() error {
	err := n.Network.Close()
	n.sw.w.close()
	return err
}

// Settle implements testnet.Settler: it returns when everything the wire
// has due at this instant was delivered and handled.
func (n *simNetwork) Settle() { n.sw.w.settle() }

// NetStats implements testnet.NetStater: packets sent, and those dropped
// by full queues or for a destination that no longer exists (a node's old
// address after it restarted), lost at random, or filtered by a NAT.
func (n *simNetwork) NetStats() testnet.NetworkSummary {
	w := n.sw.w
	return testnet.NetworkSummary{Packets: w.packets.Load(), QueueDrops: w.dropped.Load(), Lost: w.lost.Load(), NATFiltered: w.natDrop.Load()}
}

// world is the simulated network and the per-node counters.
type world struct {
	w       *wire
	nodeBPS int
	relay   int
	relays  int
	nodes   int
	nodeBW  []*byteCounter
	relayBW []*byteCounter
	nodeEnd []endOpts // per node: access latency, NAT
	lite    bool      // network.transport = "lite" (lite.go)

	mu    sync.Mutex // guards hosts
	hosts []int      // hosts made per node so far
}

// nodeHost is node i's host factory: a QUIC-only host on a fresh simulated
// IP each time (a phone gets a new address on every start and rotation).
// The k-th host of node i gets address number relays + k*nodes + i, so
// addresses do not depend on which node rotates first.
func (w *world) nodeHost(i int) func(lcrypto.PrivKey) (host.Host, error) {
	return func(priv lcrypto.PrivKey) (host.Host, error) {
		w.mu.Lock()
		k := w.hosts[i]
		w.hosts[i]++
		w.mu.Unlock()
		ip := simnet.IntToPublicIPv4(w.relays + k*w.nodes + i)
		h, err := libp2p.New(
			libp2p.Identity(priv),
			libp2p.ListenAddrStrings(fmt.Sprintf("/ip4/%s/udp/%d/quic-v1", ip, Port)),
			w.transport(w.nodeBPS, w.nodeEnd[i], false),
			// x/simlibp2p: identify's address discovery stalls synctest.
			libp2p.DisableIdentifyAddressDiscovery(),
			libp2p.ResourceManager(&network.NullResourceManager{}),
			noConnManager,   // hostwork.go
			noAutoNATProbes, // hostwork.go
			libp2p.BandwidthReporter(w.nodeBW[i]),
			libp2p.DisableMetrics(),
			libp2p.EnableRelay(),
			libp2p.UserAgent("imigee-sim"),
			noAutoNAT,
		)
		if err != nil {
			return nil, fmt.Errorf("simnet: node %d host: %w", i, err)
		}
		return h, nil
	}
}

func (w *world) nodeStats(i int) testnet.NodeStats {
	t := w.nodeBW[i].GetBandwidthTotals()
	return testnet.NodeStats{BytesIn: t.TotalIn, BytesOut: t.TotalOut}
}

// transport is the host's one transport on the wire: QUIC over wire
// endpoints, or the lite transport. For a relay (replace), whose own
// options register QUIC and TCP, the lite transport replaces them: both
// would claim QUIC's addresses.
func (w *world) transport(bps int, o endOpts, replace bool) libp2p.Option {
	if !w.lite {
		if replace {
			return w.quic(bps, o)
		}
		return libp2p.ChainOptions(libp2p.Transport(libp2pquic.NewTransport), w.quic(bps, o))
	}
	lite := libp2p.Transport(w.liteTransport(bps, o))
	return func(cfg *config.Config) error {
		cfg.Transports = nil
		return lite(cfg)
	}
}

// quic is the QUIC transport's socket layer replaced by wire endpoints with
// links of bps each way (what x/simlibp2p.QUICSimnet does for
// marcopolo/simnet; that package imports testing helpers, so it is not
// imported).
func (w *world) quic(bps int, o endOpts) libp2p.Option {
	src := &sourceIP{}
	return libp2p.QUICReuse(
		func(l fx.Lifecycle, reset quic.StatelessResetKey, token quic.TokenGeneratorKey, opts ...quicreuse.Option) (*quicreuse.ConnManager, error) {
			cm, err := quicreuse.NewConnManager(reset, token, opts...)
			if err != nil {
				return nil, err
			}
			// A supplied conn manager is not closed by libp2p itself.
			l.Append(fx.StopHook(cm.Close))
			return cm, nil
		},
		quicreuse.OverrideSourceIPSelector(func() (quicreuse.SourceIPSelector, error) { return src, nil }),
		quicreuse.OverrideListenUDP(func(_ string, addr *net.UDPAddr) (net.PacketConn, error) {
			src.set(addr.IP)
			return w.w.endpoint(addr, bps, bps, o, nil)
		}),
	)
}

// noAutoNAT turns the AutoNAT service off (the relay enables it). go-libp2p
// builds its dial-back host from the transports alone, without the
// QUICReuse option, so it would open real UDP sockets: off the simulated
// network, and under synctest a goroutine blocked on a socket is not
// durably blocked, so virtual time would stop. Every simulated address is
// public and reachable, so there is nothing for AutoNAT to find out.
func noAutoNAT(cfg *config.Config) error {
	cfg.AutoNATConfig.EnableService = false
	cfg.EnableAutoNATv2 = false
	return nil
}

// sourceIP answers quicreuse's "which local IP reaches this destination"
// with the host's one simulated IP.
type sourceIP struct {
	mu sync.Mutex
	ip net.IP
}

func (s *sourceIP) set(ip net.IP) {
	s.mu.Lock()
	s.ip = ip
	s.mu.Unlock()
}

func (s *sourceIP) PreferredSourceIPForDestination(*net.UDPAddr) (net.IP, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ip, nil
}

// nodeEnds draws each phone's access latency (network.latency_spread) and
// picks the NATed ones (network.nat_fraction), from the scenario seed and
// node index only.
func nodeEnds(s *testnet.Scenario) []endOpts {
	n := s.Network
	out := make([]endOpts, s.Nodes)
	lat := testnet.NewRand(s.Seed, "access-latency")
	for i := range out {
		out[i].Lossy = true
		out[i].Latency = n.Latency.Duration / 2
		if n.LatencySpread > 0 {
			out[i].Latency = time.Duration(float64(out[i].Latency) * math.Exp(n.LatencySpread*lat.NormFloat64()))
		}
	}
	k := int(math.Round(n.NATFraction * float64(s.Nodes)))
	for _, i := range testnet.NewRand(s.Seed, "nat").Perm(s.Nodes)[:k] {
		out[i].NAT = true
	}
	return out
}
