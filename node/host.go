package node

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	proto "github.com/imigee/imigee/protocol"
)

// Network time-outs.
const (
	// DialTimeout bounds one connection attempt to a friend or relay: 10 s.
	DialTimeout = 10 * time.Second
	// StreamIdleTimeout bounds the wait for the next frame on a peer
	// stream: 30 s (a stalled peer cannot hold a stream open longer).
	StreamIdleTimeout = 30 * time.Second
)

// newHost builds the announce host with a fresh transport identity (P12,
// transport.go): QUIC
// and TCP, hole punching, the circuit relay client; or asks
// Config.HostFactory for one under that identity. No autorelay: the node
// reserves circuits at its own relays explicitly (attachRelays), which
// works the same on loopback and behind NATs.
func (n *Node) newHost() (host.Host, error) {
	priv, h, err := n.freshTransport()
	if err != nil {
		return nil, err
	}
	if h != nil {
		n.setHandlers(h)
		return h, nil
	}
	h, err = libp2p.New(
		libp2p.Identity(priv),
		libp2p.ListenAddrStrings(n.cfg.ListenAddrs...),
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.EnableRelay(),
		libp2p.EnableHolePunching(),
		libp2p.DisableMetrics(),
		libp2p.UserAgent("imigee"),
	)
	if err != nil {
		return nil, fmt.Errorf("node: libp2p host: %w", err)
	}
	n.setHandlers(h)
	return h, nil
}

func (n *Node) setHandlers(h host.Host) {
	h.SetStreamHandler(protocol.ID(proto.LinkProtocol), n.handleLink)
	h.SetStreamHandler(protocol.ID(proto.ShareProtocol), n.handleShare)
}

func parseRelays(addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("node: relay address: %w", ErrBadArgument)
		}
		ai, err := peer.AddrInfoFromP2pAddr(m)
		if err != nil {
			return nil, fmt.Errorf("node: relay address needs /p2p/<id>: %w", ErrBadArgument)
		}
		out = append(out, *ai)
	}
	return out, nil
}
