package node

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	ma "github.com/multiformats/go-multiaddr"
)

// ReservationRefresh is how often circuit reservations at the relays are
// renewed: 20 min (relays grant about an hour).
const ReservationRefresh = 20 * time.Minute

func ed25519Verify(pub, msg, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && len(sig) == ed25519.SignatureSize && ed25519.Verify(pub, msg, sig)
}

// attachRelays connects to every relay and reserves a circuit slot so
// friends can reach this device through it. Failures are logged; the loop
// retries on its next reservation refresh.
func (n *Node) attachRelays(ctx context.Context, h host.Host) {
	n.mu.Lock()
	relays := append([]peer.AddrInfo(nil), n.relays...)
	n.mu.Unlock()
	for _, ai := range relays {
		h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
		cctx, cancel := context.WithTimeout(ctx, DialTimeout)
		if err := h.Connect(cctx, ai); err != nil {
			cancel()
			// The error names the relay's address: debug level only.
			n.log.Warn("a relay is unreachable; retrying later")
			n.log.Debug("relay dial failed", "err", err)
			continue
		}
		if _, err := client.Reserve(cctx, h, ai); err != nil {
			n.log.Debug("circuit reservation failed", "err", err)
		}
		cancel()
		n.relayConnected(ctx, h, ai)
	}
}

// reachableAddrs lists this device's addresses for friends: the host's own
// and a circuit address through each connected relay.
func (n *Node) reachableAddrs(h host.Host) []ma.Multiaddr {
	out := append([]ma.Multiaddr(nil), h.Addrs()...)
	n.mu.Lock()
	relays := append([]peer.AddrInfo(nil), n.relays...)
	n.mu.Unlock()
	for _, ai := range relays {
		if h.Network().Connectedness(ai.ID) != network.Connected {
			continue
		}
		for _, a := range ai.Addrs {
			c, err := ma.NewMultiaddr(a.String() + "/p2p/" + ai.ID.String() + "/p2p-circuit")
			if err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}
