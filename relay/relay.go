package relay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	lprotocol "github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/relay/contacts"
	"github.com/imigee/imigee/relay/history"
	"github.com/imigee/imigee/relay/rendezvous"
	"github.com/imigee/imigee/relay/store"
)

// Sentinel errors of package relay.
var (
	// ErrClosed: the relay was closed (or shut down).
	ErrClosed = errors.New("relay: closed")
	// ErrStarted: Start was called twice.
	ErrStarted = errors.New("relay: already started")
)

// peerRedialInterval is how often the relay re-dials configured peers it is
// not connected to: 30 s.
const peerRedialInterval = 30 * time.Second

// trimInterval is how often the relay checks whether released budget
// memory should go back to the OS: 5 s.
const trimInterval = 5 * time.Second

// rendezvousSweepInterval is how often idle rendezvous epochs are swept and
// remote sessions pruned: 30 s (an epoch is 60 s at the shortest).
const rendezvousSweepInterval = 30 * time.Second

// Relay is one Imigee relay: a libp2p host serving the mailbox and
// rendezvous protocols, circuit relay v2 and AutoNAT, with a durable
// mailbox store and a gossip link to the other relays of its network.
type Relay struct {
	cfg     Config
	host    host.Host
	store   *store.Store
	rv      *rendezvous.Engine
	hub     *hub
	push    *pusher // push wake-ups (push.go)
	conns   *conns
	mem     *memBudget
	admit   *admission
	m       *metrics
	peers   []peer.AddrInfo  // configured relays to dial (with addresses)
	trusted map[peer.ID]bool // relays allowed in the gossip topic; read-only after New

	gossip    *gossip           // nil until Start
	contacts  *contacts.Service // contact matching (contactsvc.go)
	analytics *analyticsState   // analytics collector role, nil if none (analyticsvc.go)

	hist      *history.Store  // past announcements (historysvc.go); nil when off
	hm        *historyMetrics // never nil
	hw        chan histOp     // gossiped history writes, for historyWriter
	lateDay   *dayCounter     // late units per prefix per day; nil when off
	histShare *dayCounter     // tokens stored per source per day (fair share); nil when off

	ctx    context.Context // ends at Close; owned goroutines watch it
	cancel context.CancelFunc
	wg     sync.WaitGroup // owned background goroutines

	mu       sync.Mutex // guards the fields below
	started  bool
	draining bool // no new requests (Shutdown or Close began)
	closed   bool
	inflight int                         // requests being handled
	idle     chan struct{}               // closed when draining and inflight reaches 0
	streams  map[network.Stream]struct{} // open service streams
	handlers sync.WaitGroup              // stream handler calls; Add only under mu while !closed

	closeOnce sync.Once
	closeErr  error
}

// New validates cfg, opens the store in cfg.DataDir and builds the libp2p
// host. The relay neither listens nor serves until Start.
func New(cfg Config) (*Relay, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var peers []peer.AddrInfo
	trusted := make(map[peer.ID]bool)
	for _, s := range cfg.Peers {
		ai, err := peer.AddrInfoFromString(s)
		if err != nil {
			return nil, fmt.Errorf("relay: config: peer %q: %w", s, err)
		}
		trusted[ai.ID] = true
		if len(ai.Addrs) > 0 {
			peers = append(peers, *ai)
		}
	}
	for _, s := range cfg.ListenAddrs {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return nil, fmt.Errorf("relay: config: listen address %q: %w", s, err)
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("relay: data dir: %w", err)
	}
	st, err := store.Open(cfg.storeConfig())
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	r := &Relay{
		cfg:     cfg,
		store:   st,
		peers:   peers,
		trusted: trusted,
		rv: rendezvous.New(rendezvous.Config{
			Skew:           cfg.Rendezvous.Skew.D(),
			MaxEntries:     cfg.Rendezvous.MaxEntries,
			MaxRecordBytes: cfg.Rendezvous.MaxRecordBytes,
			TokenBudget:    cfg.Rendezvous.TokenBudget,
			EpochSeconds:   cfg.Rendezvous.EpochSeconds,
			Now:            cfg.Now,
		}),
		conns:   newConns(cfg.Limits, cfg.Rendezvous),
		streams: make(map[network.Stream]struct{}),
	}
	r.m = newMetrics(st.Stats, r.rv.Stats)
	r.mem = newMemBudget(cfg.Limits, func() { r.m.drop(dropMemory) })
	r.m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "imigee", Subsystem: "relay", Name: "memory_reserved_bytes",
		Help: "Bytes reserved with the memory budget: frames, responses, fetch batches, rendezvous entries and records, gossip."},
		func() float64 { return float64(r.mem.inUse()) }))
	r.admit = newAdmission(cfg, r.m.drop)
	if err := r.openHistory(); err != nil {
		st.Close()
		return nil, err
	}
	r.hub = newHub(func() { r.m.drop(dropNotifyQueueFull) }, r.m.notifies.Inc)
	r.push = newPusher(r)
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if r.host, err = newHost(cfg, r.m.reg); err != nil {
		st.Close()
		r.closeHistory()
		return nil, err
	}
	r.host.Network().Notify(notifiee{r.conns})
	if err := r.openContacts(); err != nil {
		r.host.Close()
		r.closeHistory()
		st.Close()
		return nil, err
	}
	if err := r.openAnalytics(); err != nil {
		r.contacts.Close()
		r.host.Close()
		r.closeHistory()
		st.Close()
		return nil, err
	}
	return r, nil
}

// Start listens on cfg.ListenAddrs, registers the protocol handlers, joins
// the gossip topic and dials the configured peers (in the background). ctx
// bounds only Start itself; the relay runs until Shutdown or Close.
func (r *Relay) Start(ctx context.Context) error {
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		return ErrClosed
	case r.started:
		r.mu.Unlock()
		return ErrStarted
	}
	r.started = true
	r.mu.Unlock()
	addrs := make([]ma.Multiaddr, 0, len(r.cfg.ListenAddrs))
	for _, s := range r.cfg.ListenAddrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("relay: listen address %q: %w", s, err)
		}
		addrs = append(addrs, a)
	}
	if err := r.host.Network().Listen(addrs...); err != nil {
		return fmt.Errorf("relay: listen: %w", err)
	}
	if err := r.startGossip(r.ctx); err != nil {
		return fmt.Errorf("relay: gossip: %w", err)
	}
	r.host.SetStreamHandler(lprotocol.ID(protocol.MailboxProtocol), r.handler("mailbox", r.serveMailbox))
	r.host.SetStreamHandler(lprotocol.ID(protocol.RendezvousProtocol), r.handler("rendezvous", r.serveRendezvous))
	r.push.start()
	r.host.SetStreamHandler(lprotocol.ID(protocol.ContactsProtocol), r.handler("contacts", r.serveContacts))
	r.startAnalytics()
	if r.hist != nil {
		r.wg.Add(1)
		go r.historyWriter()
	}
	r.wg.Add(1)
	go r.background()
	if err := ctx.Err(); err != nil {
		return err
	}
	r.cfg.Logger.Info("relay started", "peer_id", r.host.ID().String(), "network", r.cfg.Network)
	return nil
}

// background re-dials peers and sweeps rendezvous state until Close.
func (r *Relay) background() {
	defer r.wg.Done()
	r.dialPeers()
	redial := time.NewTicker(peerRedialInterval)
	defer redial.Stop()
	sweep := time.NewTicker(rendezvousSweepInterval)
	defer sweep.Stop()
	trim := time.NewTicker(trimInterval)
	defer trim.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-redial.C:
			r.dialPeers()
		case <-trim.C:
			if r.mem.shouldTrim() {
				// Give an attack's released buffers back to the OS now.
				debug.FreeOSMemory()
			}
		case <-sweep.C:
			r.rv.Sweep()
			r.sweepHistory()
			r.admit.sweep(time.Now())
			if _, err := r.contacts.Sweep(); err != nil {
				r.cfg.Logger.Warn("relay: contacts sweep", "err", err)
			}
			if r.gossip != nil {
				r.gossip.prune()
			}
		}
	}
}

// dialPeers connects to configured peers not connected yet and protects
// them from the connection manager.
func (r *Relay) dialPeers() {
	for _, ai := range r.peers {
		if ai.ID == r.host.ID() || r.host.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		r.host.ConnManager().Protect(ai.ID, "imigee-relay-peer")
		ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
		if err := r.host.Connect(ctx, ai); err != nil {
			r.cfg.Logger.Debug("relay: peer relay unreachable", "err", err)
		}
		cancel()
	}
}

// handler wraps a service loop with stream tracking and the per-connection
// stream cap.
func (r *Relay) handler(name string, serve func(serviceStream, *connState)) network.StreamHandler {
	return func(s network.Stream) {
		r.mu.Lock()
		if r.closed || r.draining {
			r.mu.Unlock()
			r.m.drop(dropDraining)
			_ = s.Reset()
			return
		}
		r.handlers.Add(1)
		r.streams[s] = struct{}{}
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			delete(r.streams, s)
			r.mu.Unlock()
			r.handlers.Done()
		}()
		cs := r.conns.get(s.Conn())
		if !cs.openStream(r.cfg.Limits.MaxStreamsPerConn) {
			r.m.drop(dropStreamLimit)
			_ = s.Reset()
			return
		}
		defer cs.closeStream()
		g := r.m.streams.WithLabelValues(name)
		g.Inc()
		defer g.Dec()
		serve(s, cs)
		_ = s.Close()
		if s.Conn().IsClosed() {
			// The disconnect notification may have run before this
			// stream's state was created.
			r.conns.forget(s.Conn())
		}
	}
}

// beginRequest admits one request unless the relay is draining.
func (r *Relay) beginRequest() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.draining {
		return false
	}
	r.inflight++
	return true
}

func (r *Relay) endRequest() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight--
	if r.inflight == 0 && r.idle != nil {
		close(r.idle)
		r.idle = nil
	}
}

// ID returns the relay's peer ID.
func (r *Relay) ID() peer.ID { return r.host.ID() }

// Addrs returns the relay's listen addresses (without /p2p/ID).
//
// libp2p's address manager computes host.Addrs in the background; just
// after start (seen under load) it may not list every listener yet, and
// the daemon prints these once for its clients and tests. So every bound
// listen address that is specific (not 0.0.0.0 / ::) is added if missing.
func (r *Relay) Addrs() []ma.Multiaddr {
	out := r.host.Addrs()
	for _, l := range r.host.Network().ListenAddresses() {
		if manet.IsIPUnspecified(l) || slices.ContainsFunc(out, l.Equal) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// AddrInfo returns the relay's ID and addresses, for clients to dial.
func (r *Relay) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: r.host.ID(), Addrs: r.Addrs()}
}

// Host returns the relay's libp2p host (tests and the daemon's health
// check use it; do not close it).
func (r *Relay) Host() host.Host { return r.host }

// Ready reports whether the relay is started and serving (for /readyz).
func (r *Relay) Ready() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.started && !r.draining && !r.closed
}

// MetricsRegistry returns the registry holding the relay's metrics and
// libp2p's; all are aggregate (no per-user, per-peer or per-address labels).
func (r *Relay) MetricsRegistry() *prometheus.Registry { return r.m.reg }

// Shutdown stops accepting streams and requests (new ones get UNAVAILABLE),
// waits for in-flight requests (so every acknowledged put is durable) until
// ctx ends, then closes everything like Close. It returns ctx.Err() if ctx
// ended first (the relay is closed anyway).
func (r *Relay) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.draining = true
	var idle chan struct{}
	if r.inflight > 0 {
		if r.idle == nil {
			r.idle = make(chan struct{})
		}
		idle = r.idle
	}
	r.mu.Unlock()
	r.host.RemoveStreamHandler(lprotocol.ID(protocol.MailboxProtocol))
	r.host.RemoveStreamHandler(lprotocol.ID(protocol.RendezvousProtocol))
	var waitErr error
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			waitErr = ctx.Err()
		}
	}
	if r.gossip != nil {
		// Hand what was acknowledged to gossipsub, as an unbatched publish did.
		r.gossip.flush(ctx)
	}
	if err := r.Close(); err != nil {
		return err
	}
	return waitErr
}

// Close stops the relay at once: open streams are reset, owned goroutines
// stop, the host and the store close. Requests already inside the store
// complete first. Close is idempotent and waits for everything it stops.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.draining = true
		r.closed = true
		streams := make([]network.Stream, 0, len(r.streams))
		for s := range r.streams {
			streams = append(streams, s)
		}
		r.mu.Unlock()
		r.cancel()
		for _, s := range streams {
			_ = s.Reset()
		}
		r.handlers.Wait()
		r.push.close()
		if r.gossip != nil {
			r.gossip.close()
		}
		r.wg.Wait()
		var errs []error
		if err := r.host.Close(); err != nil {
			errs = append(errs, fmt.Errorf("relay: close host: %w", err))
		}
		if err := r.store.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := r.contacts.Close(); err != nil {
			errs = append(errs, err)
		}
		if err := r.closeAnalytics(); err != nil {
			errs = append(errs, err)
		}
		if err := r.closeHistory(); err != nil {
			errs = append(errs, err)
		}
		r.closeErr = errors.Join(errs...)
		r.cfg.Logger.Info("relay stopped")
	})
	return r.closeErr
}
