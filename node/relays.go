package node

import (
	"context"
	"crypto/ed25519"
	"errors"
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
// friends can reach this device through it. A relay that cannot be
// reached gets a redial loop (relaywatch.go).
func (n *Node) attachRelays(ctx context.Context, h host.Host) {
	n.mu.Lock()
	relays := mergeAddrInfos(n.relays)
	n.mu.Unlock()
	for _, ai := range relays {
		if err := n.attachRelay(ctx, h, ai); err != nil {
			if errors.Is(err, ErrClosed) {
				return
			}
			// The error names the relay's address: debug level only.
			n.log.Warn("a relay is unreachable; retrying later")
			n.log.Debug("relay dial failed", "err", err)
			n.redialLater(ai)
		}
	}
}

// mergeAddrInfos groups addresses by peer, in the order of first
// appearance: Config.Relays names a relay once per address, and each
// relay is attached once, with all of them.
func mergeAddrInfos(in []peer.AddrInfo) []peer.AddrInfo {
	var out []peer.AddrInfo
	at := map[peer.ID]int{}
	for _, ai := range in {
		if i, ok := at[ai.ID]; ok {
			out[i].Addrs = append(out[i].Addrs, ai.Addrs...)
			continue
		}
		at[ai.ID] = len(out)
		out = append(out, peer.AddrInfo{ID: ai.ID, Addrs: append([]ma.Multiaddr(nil), ai.Addrs...)})
	}
	return out
}

// attachRelay connects announce host h to relay ai, reserves a circuit
// slot (best effort) and sets up the mailbox side (relayConnected, on the
// day's mailbox identity). It fails if the relay
// cannot be dialled or the mailbox subscription cannot be made.
func (n *Node) attachRelay(ctx context.Context, h host.Host, ai peer.AddrInfo) error {
	h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.PermanentAddrTTL)
	cctx, cancel := context.WithTimeout(ctx, DialTimeout)
	defer cancel()
	if err := h.Connect(cctx, ai); err != nil {
		if ctx.Err() == nil {
			n.countRelayConnect(false)
		}
		return err
	}
	n.countRelayConnect(true)
	if _, err := client.Reserve(cctx, h, ai); err != nil {
		n.log.Debug("circuit reservation failed", "err", err)
	}
	return n.relayConnected(ctx, ai)
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
