package node

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/crypto/geo"
)

// Local-path limits.
const (
	// MDNSService is the DNS-SD service name on the LAN.
	MDNSService = "_imigee._udp"
	// MaxLANProbes caps the friends tried against one LAN peer: 16.
	MaxLANProbes = 16
	// MaxBLETokens caps the here tokens in one advertisement: 32 (256 bytes).
	MaxBLETokens = 32
	// MaxBLEScan caps the bytes OnBLEScan looks at: 4 KiB.
	MaxBLEScan = 4 << 10
)

// startMDNS advertises this host on the LAN and probes peers it finds.
func (n *Node) startMDNS(h host.Host) {
	svc := mdns.NewMdnsService(h, MDNSService, lanNotifee{n})
	if err := svc.Start(); err != nil {
		n.log.Debug("mdns unavailable", "err", err)
		return
	}
	n.mu.Lock()
	n.mdns = svc
	n.mu.Unlock()
}

func (n *Node) stopMDNS() {
	n.mu.Lock()
	svc := n.mdns
	n.mdns = nil
	n.mu.Unlock()
	if svc != nil {
		svc.Close()
	}
}

type lanNotifee struct{ n *Node }

// HandlePeerFound probes a LAN peer: a Hello for each friend we would
// announce to (the same rules as tokens: not in a quiet zone, precision not
// off, app open or dwelling). A stranger sees per-epoch hints it cannot
// link; a friend answers and becomes nearby.
func (l lanNotifee) HandlePeerFound(ai peer.AddrInfo) {
	n := l.n
	h, err := n.host()
	if err != nil || ai.ID == h.ID() || n.announcing() == nil {
		return
	}
	h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
	n.spawn(func(ctx context.Context) {
		fs := n.proxFriends()
		for i, f := range fs {
			if i == MaxLANProbes || ctx.Err() != nil {
				return
			}
			cctx, cancel := context.WithTimeout(ctx, DialTimeout)
			s, err := n.dialSessionTo(cctx, f, ai.ID)
			cancel()
			if err == nil {
				s.sendPrekey()
				s.close()
				n.notePeer(f, ai.ID)
				n.setNearby(f)
				return
			}
		}
	})
}

// bleTokens returns, per friend we announce to, this epoch's here and near
// tokens, or nil when the node must stay silent.
func (n *Node) bleTokens() (here [][crypto.TokenSize]byte, all map[[crypto.TokenSize]byte]*friend) {
	loc := n.announcing()
	if loc == nil {
		return nil, nil
	}
	epoch := n.epochNow()
	all = map[[crypto.TokenSize]byte]*friend{}
	for _, f := range n.proxFriends() {
		lvl := n.precisionLevel(f)
		hc, nc := geo.Cells(loc.lat, loc.lng, lvl)
		ht, nts, err := crypto.FriendTokens(f.keys, epoch, uint32(n.cfg.EpochSeconds), lvl, hc, nc)
		if err != nil {
			continue
		}
		if len(here) < MaxBLETokens {
			here = append(here, ht)
		}
		all[ht] = f
		for _, t := range nts {
			all[t] = f
		}
	}
	return here, all
}

// BLEAdvertisement returns the bytes the app should broadcast over
// Bluetooth now: this epoch's "here" tokens, 8 bytes each, one per friend
// (at most MaxBLETokens). Empty when the node must stay silent (no
// location, quiet zone, app closed and not dwelling). Call again each epoch
// and after SetLocation.
func (n *Node) BLEAdvertisement() []byte {
	here, _ := n.bleTokens()
	out := make([]byte, 0, len(here)*crypto.TokenSize)
	for _, t := range here {
		out = append(out, t[:]...)
	}
	return out
}

// OnBLEScan feeds bytes scanned from a nearby device's advertisement. A
// token of a friend's makes the node confirm end to end (Hello proofs over
// a connection to the friend's last known transport ID) before raising
// friend_nearby.
func (n *Node) OnBLEScan(data []byte) {
	if len(data) > MaxBLEScan {
		data = data[:MaxBLEScan]
	}
	_, all := n.bleTokens()
	if len(all) == 0 {
		return
	}
	seen := map[*friend]bool{}
	for len(data) >= crypto.TokenSize {
		var t [crypto.TokenSize]byte
		copy(t[:], data)
		data = data[crypto.TokenSize:]
		f := all[t]
		if f == nil || seen[f] {
			continue
		}
		seen[f] = true
		n.mu.Lock()
		pid, nearby := f.peer, n.cfg.Now().Before(f.nearbyUntil)
		n.mu.Unlock()
		if pid == "" || nearby {
			continue
		}
		n.spawn(func(ctx context.Context) {
			cctx, cancel := context.WithTimeout(ctx, DialTimeout)
			defer cancel()
			if s, err := n.dialSessionTo(cctx, f, pid); err == nil {
				s.sendPrekey()
				s.close()
				n.setNearby(f)
			}
		})
	}
}

var _ = time.Second
