package node

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"

	"github.com/imigee/imigee/node/relayclient"
)

// Reconnecting to a relay. The mailbox subscription is the node's live
// link to a relay: when it ends while the node runs (the relay restarted,
// the network dropped), the node dials the relay again with back-off,
// renews its circuit reservation, subscribes again and catches up on what
// arrived meanwhile. Without this a device that stayed online through a
// relay restart would not hear of new items until the next reservation
// refresh (ReservationRefresh), nor senders of their receipts. A relay
// unreachable at Start (or at a rotation) gets the same redial loop.
const (
	// RelayRedialMin is the first wait before dialling a lost relay again:
	// 1 s, doubling up to RelayRedialMax. Real time: it paces network
	// attempts, not protocol time.
	RelayRedialMin = time.Second
	// RelayRedialMax caps the wait between redials of a lost relay: 2 min.
	RelayRedialMax = 2 * time.Minute
	// subFlapFactor: a subscription that ends sooner than this many
	// RelayRedialMin after it was made (10 s) counts as a flap, and each
	// flap in a row doubles the first wait before the redial, so a relay
	// that keeps dropping subscriptions is not redialled every
	// RelayRedialMin.
	subFlapFactor = 10
)

// redialBaseLocked is RelayRedialMin, or what a test set. Callers hold n.mu.
func (n *Node) redialBaseLocked() time.Duration {
	if n.redialMin > 0 {
		return n.redialMin
	}
	return RelayRedialMin
}

// watchSub waits for subscription sub at rc to end. If it ends while it is
// still rc's current subscription (nobody replaced or closed it on
// purpose), the relay is redialled until a new subscription stands.
func (n *Node) watchSub(ctx context.Context, rc *relayConn, sub *relayclient.Subscription) {
	select {
	case <-ctx.Done():
		return
	case <-sub.Done():
	}
	n.mu.Lock()
	if n.closed || n.rconns[rc.ai.ID] != rc || rc.sub != sub {
		// Replaced or closed on purpose.
		n.mu.Unlock()
		return
	}
	base := n.redialBaseLocked()
	if time.Since(rc.subAt) < subFlapFactor*base {
		rc.flaps = min(rc.flaps+1, 7)
	} else {
		rc.flaps = 0
	}
	wait := base << rc.flaps
	n.mu.Unlock()
	n.log.Debug("mailbox subscription ended; redialling the relay", "err", sub.Err())
	n.redialLoop(ctx, rc.ai, min(wait, RelayRedialMax), func() bool { return n.subCurrent(rc, sub) })
}

// subCurrent reports whether sub is still rc's subscription and rc still
// the node's session with that relay (a rotation or Close replaces both).
func (n *Node) subCurrent(rc *relayConn, sub *relayclient.Subscription) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return !n.closed && n.rconns[rc.ai.ID] == rc && rc.sub == sub
}

// redialLater starts a redial loop for relay ai unless one runs: attaching
// to ai failed (no connection, or no subscription), and no watcher may be
// left to notice.
func (n *Node) redialLater(ai peer.AddrInfo) {
	n.mu.Lock()
	if n.closed || n.redialing[ai.ID] {
		n.mu.Unlock()
		return
	}
	if n.redialing == nil {
		n.redialing = map[peer.ID]bool{}
	}
	n.redialing[ai.ID] = true
	wait := n.redialBaseLocked()
	n.mu.Unlock()
	n.spawn(func(ctx context.Context) {
		defer func() {
			n.mu.Lock()
			delete(n.redialing, ai.ID)
			n.mu.Unlock()
		}()
		n.redialLoop(ctx, ai, wait, func() bool {
			n.mu.Lock()
			rc := n.rconns[ai.ID]
			var sub *relayclient.Subscription
			if rc != nil {
				sub = rc.sub
			}
			n.mu.Unlock()
			if sub == nil {
				return true
			}
			select {
			case <-sub.Done():
				return true
			default:
				return false // a live subscription: attached meanwhile
			}
		})
	})
}

// redialLoop attaches to relay ai (connect the current announce host,
// reserve, subscribe on the day's mailbox identity, catch up) with
// back-off from wait to RelayRedialMax, for as long as needed() holds and
// ctx lives.
func (n *Node) redialLoop(ctx context.Context, ai peer.AddrInfo, wait time.Duration, needed func() bool) {
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		h, err := n.host()
		if err != nil || !needed() {
			return
		}
		clearDialBackoff(h, ai.ID)
		if dh, err := n.dayHost(); err == nil {
			clearDialBackoff(dh, ai.ID)
		}
		err = n.attachRelay(ctx, h, ai)
		if err == nil {
			n.log.Debug("relay reattached")
			return
		}
		n.log.Debug("relay redial failed", "err", err)
		wait = min(2*wait, RelayRedialMax)
	}
}

// clearDialBackoff lets the next dial of relay p through at once. The node
// paces its relay dials itself (redials, delivery retries); libp2p's own
// back-off after a failed dial (5 s, growing to minutes with repeated
// failures) would otherwise fail a retry without dialling, even once the
// relay is back.
func clearDialBackoff(h host.Host, p peer.ID) {
	if sw, ok := h.Network().(interface{ Backoff() *swarm.DialBackoff }); ok {
		sw.Backoff().Clear(p)
	}
}
