package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Lifecycle: app state, Stop and Start again, network changes. This file
// owns the node's network up/down transitions; SyncOnce (sync.go) uses
// them for one bounded wake-up.
//
// Networking is up while the app wants it (Start called, Stop not since)
// and the app is not in the background. In the background the node closes
// its libp2p host: no connection, no keepalive, no socket, so the radio
// can sleep. It wakes on its own only when a delivery or receipt retry
// falls due (backgroundLoop), or when told: SyncOnce (a background fetch
// or a push), NetworkChanged with something due, or a new share. Each wake
// starts networking with a fresh transport identity, catches up and
// flushes, and closes it again. The store stays open throughout, so the
// data API works in every state.

// App states of SetAppState.
const (
	// AppForeground: the app is visible and used; networking up, the node
	// announces without waiting to dwell (SetAppOpen(true)).
	AppForeground = "foreground"
	// AppInactive: visible but not interactive (iOS inactive, Android
	// paused behind a dialog); networking stays up, announcing as for a
	// closed app.
	AppInactive = "inactive"
	// AppBackground: networking down (no keepalives); the node wakes only
	// for its own retry timers or when told.
	AppBackground = "background"
)

// Network kinds of NetworkChanged.
const (
	NetworkWifi     = "wifi"
	NetworkCellular = "cellular"
	NetworkEthernet = "ethernet"
	NetworkOther    = "other"
	NetworkNone     = "none"
)

// lifecycle is the node's app-facing state. mu serializes network up and
// down (startNet/stopNet) with Close, and guards the fields after it.
type lifecycle struct {
	mu      sync.Mutex
	state   string // AppForeground ("" before SetAppState), AppInactive, AppBackground
	want    bool   // Start called and Stop not since
	up      bool   // networking runs (startNet succeeded, stopNet not since)
	syncing int    // SyncOnce calls between bringing the network up and down
	network string // last NetworkChanged kind
	metered bool

	offStop chan struct{} // closes the offline history recorder (history.go)
	offDone chan struct{}

	syncMu sync.Mutex // one SyncOnce at a time

	bgMu    sync.Mutex // guards the fields below
	bgStop  context.CancelFunc
	bgDone  chan struct{}
	bgPoke  chan struct{}
	stopped bool // Close: no new background loop

	evCancel context.CancelFunc // the event queue's goroutine
	evDone   chan struct{}

	// Events emitted, by kind group, for SyncOnce's summary.
	received  atomic.Int64 // item_offered, item_received, message, like
	delivered atomic.Int64 // delivered
	linked    atomic.Int64 // friend_linked
}

// count tallies an emitted event for SyncOnce's summary.
func (l *lifecycle) count(e *Event) {
	switch e.Kind {
	case EventItemOffered, EventItemReceived, EventMessage, EventLike:
		l.received.Add(1)
	case EventDelivered:
		l.delivered.Add(1)
	case EventFriendLinked:
		l.linked.Add(1)
	}
}

// startEvents runs the event queue on a goroutine of its own, which lives
// from New to Close, across Stop and Start.
func (n *Node) startEvents() {
	ctx, cancel := context.WithCancel(context.Background())
	n.life.evCancel, n.life.evDone = cancel, make(chan struct{})
	go func() { defer close(n.life.evDone); n.events.run(ctx) }()
}

func (n *Node) stopEvents() {
	n.life.evCancel()
	<-n.life.evDone
}

// Start starts networking: a libp2p host with a fresh transport identity,
// connections and circuit reservations at the relays, the mailbox check,
// and the background loop. Start returns when the host listens; relay
// trouble is logged and retried, not returned. Start after Stop works. In
// AppBackground, Start only records that networking is wanted: the node
// stays asleep until SetAppState(AppForeground) or a wake-up; likewise
// after NetworkChanged(NetworkNone) until a network is back.
func (n *Node) Start(ctx context.Context) error {
	n.life.mu.Lock()
	if n.isClosed() {
		n.life.mu.Unlock()
		return ErrClosed
	}
	n.life.want = true
	if n.life.state == AppBackground {
		n.life.mu.Unlock()
		n.startBackground()
		return nil
	}
	defer n.life.mu.Unlock()
	return n.upLocked(ctx)
}

// Stop stops networking (host, relay sessions, loop, every goroutine but
// the event queue) and keeps the store open: the data API works, and
// Start brings networking back with a fresh transport identity.
func (n *Node) Stop() error {
	n.stopBackground()
	n.life.mu.Lock()
	defer n.life.mu.Unlock()
	if n.isClosed() {
		return ErrClosed
	}
	n.life.want = false
	return n.downLocked()
}

func (n *Node) isClosed() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.closed
}

// upLocked starts networking if it is down. Callers hold life.mu.
func (n *Node) upLocked(ctx context.Context) error {
	if n.life.up || n.life.network == NetworkNone {
		// No network: networking comes up when NetworkChanged says so.
		return nil
	}
	if err := n.startNet(ctx); err != nil {
		return err
	}
	n.life.up = true
	return nil
}

// downLocked stops networking if it is up. Callers hold life.mu.
func (n *Node) downLocked() error {
	if !n.life.up {
		return nil
	}
	n.life.up = false
	return n.stopNet()
}

// sleepLocked registers the push endpoint at the relays (push.go), then
// stops networking: the way into the background. Callers hold life.mu.
func (n *Node) sleepLocked() error {
	if !n.life.up {
		return nil
	}
	n.registerPushAll()
	return n.downLocked()
}

// wantNetLocked: networking should stay up. Callers hold life.mu.
func (n *Node) wantNetLocked() bool {
	return n.life.want && n.life.state != AppBackground
}

// stopNet is Close without closing the store and the event queue: it
// marks the node closed for as long as it takes (so no new goroutine or
// stream handler starts), cancels the run context, closes relays and
// host, waits for every node goroutine, then makes a fresh run context.
// Callers hold life.mu (so Close cannot run meanwhile).
func (n *Node) stopNet() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	n.closed = true
	h := n.h
	n.h = nil
	for id, ch := range n.decisions {
		close(ch)
		delete(n.decisions, id)
	}
	n.mu.Unlock()
	n.cancel()
	n.stopMDNS()
	n.closeRelays()
	var err error
	if h != nil {
		err = h.Close()
	}
	n.wg.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	n.mu.Lock()
	n.ctx, n.cancel = ctx, cancel
	n.closed, n.started = false, false
	n.prox = nil
	n.mu.Unlock()
	if err != nil {
		return fmt.Errorf("node: stop: %w", err)
	}
	return nil
}

// SetAppState tells the node what the app is doing: AppForeground,
// AppInactive or AppBackground (see each). Going to the background stops
// networking (it returns once the host is closed); coming back starts it
// again when Start was called (it returns once the host listens, like
// Start). An unknown state is ErrBadArgument.
func (n *Node) SetAppState(state string) error {
	switch state {
	case AppForeground, AppInactive, AppBackground:
	default:
		return fmt.Errorf("node: app state %q: %w", state, ErrBadArgument)
	}
	n.SetAppOpen(state == AppForeground)
	n.life.mu.Lock()
	if n.isClosed() {
		n.life.mu.Unlock()
		return ErrClosed
	}
	n.life.state = state
	if state == AppBackground {
		var err error
		if n.life.syncing == 0 {
			err = n.sleepLocked()
		}
		want := n.life.want
		n.life.mu.Unlock()
		if want {
			n.startBackground()
		}
		return err
	}
	n.life.mu.Unlock()
	n.stopBackground()
	n.life.mu.Lock()
	defer n.life.mu.Unlock()
	if !n.wantNetLocked() {
		return nil
	}
	return n.upLocked(context.Background())
}

// AppState returns the last state SetAppState set (AppForeground before).
func (n *Node) AppState() string {
	n.life.mu.Lock()
	defer n.life.mu.Unlock()
	if n.life.state == "" {
		return AppForeground
	}
	return n.life.state
}

// NetworkChanged tells the node the device's network changed: kind is
// one of the Network* constants, metered whether the new network is paid
// by volume. With networking up, the node reconnects to its relays at once
// (its connections may be bound to an address that is gone) and retries
// every pending delivery; in the background it wakes only if a delivery
// or receipt is waiting (a new network may reach the friend). NetworkNone
// takes networking down (nothing can be reached; dialling would only spend
// battery) while the node keeps its own history of where it would have
// announced (history.go), and the next other kind brings networking back
// if Start was called and the app is not in the background; the epochs
// missed are then announced late (late.go). metered is recorded for the
// app's own policy (NetworkStatus); this version does not change transfers
// by it.
func (n *Node) NetworkChanged(kind string, metered bool) error {
	switch kind {
	case NetworkWifi, NetworkCellular, NetworkEthernet, NetworkOther, NetworkNone:
	default:
		return fmt.Errorf("node: network kind %q: %w", kind, ErrBadArgument)
	}
	n.count(netField(kind))
	n.life.mu.Lock()
	was := n.life.network
	n.life.network, n.life.metered = kind, metered
	up := n.life.up
	if kind == NetworkNone {
		// No reception: networking goes down (nothing can be reached, and
		// dialling would only spend battery) and the history keeps
		// recording, so the epochs missed are announced late once a
		// network is back (late.go).
		var err error
		if up {
			err = n.downLocked()
		}
		n.startOfflineRecorder()
		n.life.mu.Unlock()
		return err
	}
	if was == NetworkNone {
		n.stopOfflineRecorder()
		var err error
		if n.wantNetLocked() {
			err = n.upLocked(context.Background())
		}
		n.life.mu.Unlock()
		return err
	}
	n.life.mu.Unlock()
	if up {
		n.spawn(func(ctx context.Context) {
			h, err := n.host()
			if err != nil {
				return
			}
			n.mu.Lock()
			relays := mergeAddrInfos(n.relays)
			n.mu.Unlock()
			for _, ai := range relays {
				clearDialBackoff(h, ai.ID)
			}
			n.refreshRelays()
			n.bump()
		})
		return nil
	}
	n.pokeBackground()
	return nil
}

// NetworkStatus returns the last NetworkChanged kind ("" if never told)
// and whether it is metered.
func (n *Node) NetworkStatus() (kind string, metered bool) {
	n.life.mu.Lock()
	defer n.life.mu.Unlock()
	return n.life.network, n.life.metered
}

// wakeForForget brings networking up for Forget when the app started the
// node but it sleeps in the background: the relays must hear the forget
// (P8) before the local wipe. The background loop stops for good first:
// a wake-up of its own ending meanwhile would put the network down under
// Forget (Close follows anyway).
func (n *Node) wakeForForget(ctx context.Context) {
	n.stopBackgroundLoop(true)
	n.life.mu.Lock()
	defer n.life.mu.Unlock()
	if n.life.want && !n.life.up && !n.isClosed() {
		_ = n.upLocked(ctx)
	}
}

// startOfflineRecorder starts the history recorder of NetworkNone unless it
// runs. Callers hold life.mu.
func (n *Node) startOfflineRecorder() {
	if n.life.offStop != nil || n.isClosed() {
		return
	}
	stop, done := make(chan struct{}), make(chan struct{})
	n.life.offStop, n.life.offDone = stop, done
	go func() { defer close(done); n.offlineRecorder(stop) }()
}

// stopOfflineRecorder stops the offline history recorder and waits for it.
// Callers hold life.mu (Close does too).
func (n *Node) stopOfflineRecorder() {
	if n.life.offStop == nil {
		return
	}
	close(n.life.offStop)
	<-n.life.offDone
	n.life.offStop, n.life.offDone = nil, nil
}
