package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"time"

	"github.com/libp2p/go-libp2p"
	p2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/imigee/imigee/node/relayclient"
)

// How a device talks to relays (DESIGN.md P12, docs/DESIGN.md "P12:
// transport"). Three kinds of transport identity, each a fresh Ed25519
// libp2p key, so what a relay sees on one cannot be joined to another by
// peer ID, connection or stream:
//
//   - the announce identity (Node.h): the listening host. It holds the
//     circuit reservation and the rendezvous session and talks to
//     friends. It lives a random 75–100 % of Config.TransportRotation
//     (default 1 h, at most 24 h), so one spans at most one rotation
//     period of announcements, and it never touches a mailbox. After a
//     rotation the new one attaches after a random wait (up to
//     attachJitterMax) so the old connection's end and the new one's
//     start are not back to back.
//   - the mailbox identity of the day (Node.dh): a client-only host made
//     at Start and at each day change (by the injected clock). It
//     subscribes exactly that day's inbound mailbox IDs (and the
//     mailboxes of open invites) and fetches and acks them. Mailbox IDs
//     change daily, so it shows the relay nothing another day's identity
//     shows; days do not chain. What it links is one day of one user's
//     inbound mailboxes, which the mailbox IDs of that day link anyway.
//   - one-off identities (ephemeral.go): a client-only host per delivery
//     batch (one put group of an item, one notice, one parked link
//     request) and per past day of a catch-up, closed after it. A put
//     never arrives on a connection that subscribes or announces, and a
//     catch-up never fetches two days on one identity.
//
// What remains is the IP address (the same for all three unless the
// network changes) and timing; docs/relay.md "What a relay learns" lists
// it.
const (
	// DefaultTransportRotation is Config.TransportRotation's default: 1 h.
	DefaultTransportRotation = time.Hour
	// MaxTransportRotation caps Config.TransportRotation: 24 h (longer
	// values are clamped).
	MaxTransportRotation = 24 * time.Hour
	// TransportRotation is the default rotation period (kept for callers
	// of the earlier constant): DefaultTransportRotation.
	TransportRotation = DefaultTransportRotation
	// rotationSpreadPct: an announce identity lives a random 75–100 % of
	// the rotation period, so rotations are not on a schedule a relay can
	// align across users.
	rotationSpreadPct = 25
)

// privacyDelays are the random waits that keep a relay from joining
// events by timing. Real time: they pace network actions, not protocol
// time. Tests shorten them.
type privacyDelays struct {
	// attach: after an announce rotation, the new identity connects after
	// a random 0..attach. Default 20 s.
	attach time.Duration
	// receiptMin..receiptMax: a receipt or rejection is posted this long
	// after it was made, so "fetched, then a receipt posted a second
	// later" does not tie the fetching mailbox to the sender's. Default
	// 1 s..20 s: longer helps little while the IP links the two anyway
	// (docs/relay.md) and delays the sender's "delivered".
	receiptMin, receiptMax time.Duration
	// dayCatchUp: after a day change, yesterday's mailboxes are fetched
	// once more (a one-off identity), after a random 2 min..dayCatchUp
	// wait, past the ±60 s clock-skew window. Default 10 min.
	dayCatchUp time.Duration
}

// defaultDelays are the shipped waits. Simulators (a HostFactory) get
// none, and full-period identity lifetimes (hostLifetime), so that a seed
// reproduces a run: random waits would change its timing from run to run.
// Identities still rotate and one-offs are still used there.
func defaultDelays(simulated bool) privacyDelays {
	if simulated {
		return privacyDelays{}
	}
	return privacyDelays{attach: 20 * time.Second, receiptMin: time.Second, receiptMax: 20 * time.Second, dayCatchUp: 10 * time.Minute}
}

// randBetween returns a uniformly random duration in [lo, hi].
func randBetween(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	r, err := rand.Int(rand.Reader, big.NewInt(int64(hi-lo)+1))
	if err != nil {
		return lo
	}
	return lo + time.Duration(r.Int64())
}

// sleepCtx waits d or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// rotationPeriod is Config.TransportRotation, defaulted and clamped.
func (c *Config) rotationPeriod() time.Duration {
	switch {
	case c.TransportRotation <= 0 && c.HostFactory != nil:
		// Simulators keep the daily rotation unless they ask: a rotation
		// inside a seeded run makes its timing differ between runs
		// (test/testnet/simnet TestSimSameSeed).
		return MaxTransportRotation
	case c.TransportRotation <= 0:
		return DefaultTransportRotation
	case c.TransportRotation > MaxTransportRotation:
		return MaxTransportRotation
	}
	return c.TransportRotation
}

// hostLifetime draws the lifetime of a new announce identity: a random
// 75–100 % of the rotation period.
func (n *Node) hostLifetime() time.Duration {
	p := n.cfg.rotationPeriod()
	if n.cfg.HostFactory != nil {
		return p // reproducible simulations (defaultDelays)
	}
	return p - randBetween(0, p*rotationSpreadPct/100)
}

// freshTransport makes a fresh transport key and, with Config.HostFactory,
// the factory's host under it (checked to use that key); without a
// factory h is nil and the caller builds its own host with priv.
func (n *Node) freshTransport() (priv p2pcrypto.PrivKey, h host.Host, err error) {
	priv, _, err = p2pcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("node: transport key: %w", err)
	}
	n.tstats.hosts.Add(1)
	f := n.cfg.HostFactory
	if f == nil {
		return priv, nil, nil
	}
	if h, err = f(priv); err != nil {
		return nil, nil, fmt.Errorf("node: host factory: %w", err)
	}
	if want, _ := peer.IDFromPrivateKey(priv); h.ID() != want {
		h.Close()
		return nil, nil, fmt.Errorf("node: host factory: host does not use the transport key: %w", ErrBadArgument)
	}
	return priv, h, nil
}

// clientHost makes a client-only host under a fresh transport key: no
// listener, no relay service, no hole punching, a null resource manager
// (it has one or two connections, to relays). With Config.HostFactory the
// factory makes it, as it makes the announce hosts.
func (n *Node) clientHost() (host.Host, error) {
	priv, h, err := n.freshTransport()
	if err != nil || h != nil {
		return h, err
	}
	h, err = libp2p.New(
		libp2p.Identity(priv),
		libp2p.NoListenAddrs,
		libp2p.Transport(libp2pquic.NewTransport),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.UserAgent("imigee"),
	)
	if err != nil {
		return nil, fmt.Errorf("node: libp2p client host: %w", err)
	}
	return h, nil
}

// dayHost returns the current mailbox identity's host.
func (n *Node) dayHost() (host.Host, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	if n.dh == nil {
		return nil, ErrNotStarted
	}
	return n.dh, nil
}

// dayIs reports whether the current mailbox identity is day d's.
func (n *Node) dayIs(d uint32) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.dhDay == d
}

// startDayHost makes the mailbox identity for today (Start).
func (n *Node) startDayHost() error {
	if n.simShared() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.dh, n.dhDay = n.h, n.today()
		return nil
	}
	h, err := n.clientHost()
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		h.Close()
		return ErrClosed
	}
	n.dh, n.dhDay = h, n.today()
	return nil
}

// simShared reports whether the mailbox session shares the announce host:
// only under a simulator's HostFactory, where a second long-lived host per
// node made seeded runs differ from run to run (test/testnet/simnet
// TestSimSameSeed). Puts, notices and past-day catch-ups still use
// one-off identities there.
func (n *Node) simShared() bool { return n.cfg.HostFactory != nil }

// maybeNewDay moves every relay's mailbox session to a fresh identity
// when the day changed: the new one subscribes the new day's mailboxes
// only, and yesterday's are fetched once more, later, by one-off
// identities (catchUp). Called from the loop.
func (n *Node) maybeNewDay() {
	n.mu.Lock()
	due := n.dh != nil && !n.closed && n.today() != n.dhDay
	n.mu.Unlock()
	if !due {
		return
	}
	var h host.Host
	var err error
	if n.simShared() {
		h, err = n.host()
	} else {
		h, err = n.clientHost()
	}
	if err != nil {
		n.log.Warn("mailbox identity not renewed; keeping the old one", "err", err)
		return
	}
	n.moveMailbox(h)
	n.log.Debug("mailbox identity renewed for the day")
}

// moveMailbox moves every relay's mailbox session to host h (a new day's
// mailbox identity; under a simulator, the new announce host), subscribes
// there and catches up.
func (n *Node) moveMailbox(h host.Host) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		if !n.simShared() {
			h.Close()
		}
		return
	}
	oldH := n.dh
	n.dh, n.dhDay = h, n.today()
	old := n.rconns
	n.rconns = map[peer.ID]*relayConn{}
	var fresh []*relayConn
	for id, rc := range old {
		nrc := newRelayConn(n.relayHost(h), rc.ai)
		nrc.ann, nrc.annH, nrc.rv = rc.ann, rc.annH, rc.rv
		n.rconns[id] = nrc
		fresh = append(fresh, nrc)
	}
	n.mu.Unlock()
	for _, rc := range old {
		rc.c.Close()
	}
	if oldH != nil && !n.simShared() {
		oldH.Close()
	}
	for _, rc := range fresh {
		n.spawn(func(ctx context.Context) {
			pending, err := n.resubscribe(rc)
			if err != nil {
				n.redialLater(rc.ai)
			}
			n.catchUpAfterSubscribe(ctx, rc, pending)
			if sleepCtx(ctx, randBetween(min(2*time.Minute, n.delays.dayCatchUp), n.delays.dayCatchUp)) {
				n.catchUp(ctx, rc, true)
			}
		})
	}
}

// maybeRotate replaces the announce host with one under a fresh transport
// identity once the current one has lived its drawn lifetime (by the
// injected clock). Streams in flight on the old host break and are
// retried; the rendezvous sessions are reopened from the new host after a
// random wait; mailbox sessions are not touched (they are on the day's
// mailbox identity).
func (n *Node) maybeRotate() {
	n.mu.Lock()
	due := n.h != nil && !n.closed && n.cfg.Now().Sub(n.hostBorn) >= n.hostLife
	n.mu.Unlock()
	if !due {
		return
	}
	h, err := n.newHost()
	if err != nil {
		n.log.Warn("transport rotation failed; keeping the old identity", "err", err)
		return
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		h.Close()
		return
	}
	old := n.h
	n.h, n.hostBorn, n.hostLife = h, n.cfg.Now(), n.hostLifetime()
	n.prox = nil
	anns := n.detachAnnLocked()
	n.mu.Unlock()
	for _, c := range anns {
		c.Close()
	}
	if n.simShared() {
		n.moveMailbox(h) // it was on the old announce host
	}
	old.Close()
	n.stopMDNS()
	if n.cfg.EnableMDNS && n.cfg.HostFactory == nil {
		n.startMDNS(h)
	}
	n.spawn(func(ctx context.Context) {
		if sleepCtx(ctx, randBetween(0, n.delays.attach)) {
			n.attachRelays(ctx, h)
			n.wake() // announce from the new identity
		}
	})
	n.log.Debug("transport identity rotated")
}

// detachAnnLocked forgets every relay's rendezvous client (made on the
// announce host) and returns them for the caller to close. Callers hold
// n.mu.
func (n *Node) detachAnnLocked() []*relayclient.Client {
	var out []*relayclient.Client
	for _, rc := range n.rconns {
		if rc.ann != nil {
			out = append(out, rc.ann)
		}
		rc.ann, rc.annH, rc.rv = nil, nil, nil
	}
	return out
}

// annClient returns rc's client on the current announce host (for the
// rendezvous), making one if the host changed.
func (n *Node) annClient(rc *relayConn) (*relayclient.Client, error) {
	h, err := n.host()
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	if rc.ann != nil && rc.annH == h {
		defer n.mu.Unlock()
		return rc.ann, nil
	}
	stale := rc.ann
	rc.ann, rc.annH, rc.rv = relayclient.New(n.relayHost(h), rc.ai, relayclient.Config{}), h, nil
	c := rc.ann
	n.mu.Unlock()
	if stale != nil {
		stale.Close()
	}
	return c, nil
}

// TransportID returns the current announce transport peer ID (what relays
// see on the rendezvous and friends' devices see; it rotates). Empty
// before Start.
func (n *Node) TransportID() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.h == nil {
		return ""
	}
	return n.h.ID().String()
}
