package relay

import (
	"fmt"

	"github.com/libp2p/go-libp2p"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	lprotocol "github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imigee/imigee/protocol"
)

// Resource manager limits of the relay's own protocols (per peer), on top of
// go-libp2p's defaults for its services. They are deliberate, not the
// defaults' accident:
//   - a peer may hold MaxStreamsPerConn mailbox streams and 8 rendezvous
//     streams (a phone needs one of each; a sender with parallel puts more);
//   - each protocol may use 64 MiB of tracked memory per peer (one full
//     fetch response is 4 MiB);
//   - the whole relay may hold 16384 mailbox and 16384 rendezvous streams.
//
// System-wide memory and FD limits (and every per-peer, per-connection and
// transient default) scale from Limits.ResourceMemory and Limits.ResourceFDs
// with rcmgr's scaling rules; system connection and stream counts follow
// Limits.MaxConns (see resourceManager).
const (
	rvStreamsPerPeer    = 8
	protoMemoryPerPeer  = 64 << 20
	protoStreamsOverall = 16384
)

// resourceManager builds the libp2p resource manager with explicit limits.
func resourceManager(l Limits) (*rcmgr.ScalingLimitConfig, rcmgr.ConcreteLimitConfig) {
	sc := rcmgr.DefaultLimits // a copy: the package value stays untouched
	libp2p.SetDefaultServiceLimits(&sc)
	for _, p := range []struct {
		id      string
		perPeer int
	}{{protocol.MailboxProtocol, l.MaxStreamsPerConn}, {protocol.RendezvousProtocol, rvStreamsPerPeer}} {
		sc.AddProtocolLimit(lprotocol.ID(p.id),
			rcmgr.BaseLimit{StreamsInbound: protoStreamsOverall, StreamsOutbound: 0, Streams: protoStreamsOverall, Memory: l.ResourceMemory / 2},
			rcmgr.BaseLimitIncrease{})
		sc.AddProtocolPeerLimit(lprotocol.ID(p.id),
			rcmgr.BaseLimit{StreamsInbound: p.perPeer, StreamsOutbound: 0, Streams: p.perPeer, Memory: protoMemoryPerPeer},
			rcmgr.BaseLimitIncrease{})
	}
	scaled := sc.Scale(l.ResourceMemory, l.ResourceFDs)
	// rcmgr's scaling is sized for a desktop peer (128 inbound connections
	// per GiB); a relay serves many phones, so the system connection and
	// stream limits follow Limits.MaxConns instead (16 streams each).
	conns := rcmgr.LimitVal(l.MaxConns)
	streams := rcmgr.LimitVal(16 * l.MaxConns)
	// Connections still in their handshake live in the transient scope,
	// which rcmgr sizes at 48 per GiB. After a relay restart every phone
	// reconnects at once; with 48, a burst of 64 loopback clients already
	// saw a quarter refused. Allow one in eight of MaxConns to handshake
	// concurrently (512 at the default), never fewer than 128.
	handshakes := rcmgr.LimitVal(max(128, l.MaxConns/8))
	partial := rcmgr.PartialLimitConfig{
		System: rcmgr.ResourceLimits{
			Conns: conns + relayOutboundConns, ConnsInbound: conns, ConnsOutbound: relayOutboundConns,
			Streams: streams, StreamsInbound: streams, StreamsOutbound: streams,
		},
		Transient: rcmgr.ResourceLimits{
			Conns: handshakes + relayOutboundConns, ConnsInbound: handshakes,
		},
	}
	return &sc, partial.Build(scaled)
}

// relayOutboundConns caps the relay's own outbound connections (to peer
// relays, AutoNAT dial-backs): 256.
const relayOutboundConns = 256

// newHost builds the libp2p host: QUIC and TCP only, explicit resource
// limits, a connection manager, circuit relay v2 and AutoNAT service, and
// libp2p's metrics in reg. It does not listen yet (Start does).
func newHost(cfg Config, reg prometheus.Registerer) (host.Host, error) {
	key := cfg.Identity
	if key == nil {
		k, _, err := lcrypto.GenerateEd25519Key(nil)
		if err != nil {
			return nil, fmt.Errorf("relay: identity: %w", err)
		}
		key = k
	}
	_, limits := resourceManager(cfg.Limits)
	str, err := rcmgr.NewStatsTraceReporter()
	if err != nil {
		return nil, fmt.Errorf("relay: resource manager metrics: %w", err)
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits), rcmgr.WithTraceReporter(str))
	if err != nil {
		return nil, fmt.Errorf("relay: resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(cfg.Limits.ConnsLow, cfg.Limits.ConnsHigh)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("relay: connection manager: %w", err)
	}
	opts := []libp2p.Option{
		libp2p.Identity(key),
		libp2p.NoListenAddrs,
		libp2p.Transport(quic.NewTransport),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.PrometheusRegisterer(reg),
		libp2p.EnableNATService(),
		libp2p.UserAgent("imigee-relay"),
	}
	if cfg.ForceReachabilityPublic {
		opts = append(opts, libp2p.ForceReachabilityPublic())
	}
	if cfg.EnableCircuitRelay {
		opts = append(opts, libp2p.EnableRelayService(
			relayv2.WithResources(cfg.Circuit.libp2p()),
			relayv2.WithMetricsTracer(relayv2.NewMetricsTracer(relayv2.WithRegisterer(reg))),
		))
	} else {
		opts = append(opts, libp2p.DisableRelay())
	}
	opts = append(opts, cfg.HostOptions...)
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("relay: libp2p host: %w", err)
	}
	return h, nil
}
