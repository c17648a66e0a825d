package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/analytics"
	"github.com/imigee/imigee/node/localstore"
)

// Node is one device's Imigee node. Create it with New, then Start it. All
// methods are safe for concurrent use.
type Node struct {
	cfg    Config
	log    *slog.Logger
	store  *localstore.Store
	id     *crypto.Identity
	media  string // directory of received files
	outdir string // directory of sealed pending copies

	events *eventQueue
	life   lifecycle // app state, Stop/Start, SyncOnce (lifecycle.go)

	histKeyMu sync.Mutex // serializes making the history forget key

	// histCur is the stored record of the epoch recordCells last wrote or
	// read, so its next call neither reads nor decodes it, and a call that
	// would change nothing (a position kept, or the epoch full: two of
	// every six cell changes of a walking phone) commits nothing. Every
	// writer of epoch records holds histMu across its transaction and
	// keeps histCur equal to what is stored (recordCells) or drops it
	// (updateHistory, pruneHistory). histMu is taken before n.mu. It is
	// held across a commit (a disk write), as bbolt's own writer lock is,
	// and only by history writers, so it adds no wait a commit did not.
	histMu  sync.Mutex
	histCur *historyRec // guarded by histMu

	mu             sync.Mutex      // guards everything below
	histLast       [2]uint64       // last (epoch, here cell) put in the history
	histPruned     uint32          // the day pruneHistory last ran
	histIdx        map[uint64]bool // history epoch → settled; nil until read (historyidx.go)
	histGen        uint64          // history writes so far (historyidx.go)
	lateRunning    bool            // a late announcement round runs
	lateRetryAt    time.Time       // real time before which no late round starts
	lateChecked    uint64          // the epoch in which lateTick last read the history
	lateRelay      peer.ID         // the relay it read it for
	lateDirty      bool            // the history changed since
	lateRetryWait  time.Duration
	lateSettleWait time.Duration // lateSettle if 0; tests shorten it
	friends        map[string]*friend
	started        bool
	closed         bool
	h              host.Host
	hostBorn       time.Time
	hostLife       time.Duration // drawn lifetime of h (transport.go)
	dh             host.Host     // the day's mailbox identity (transport.go)
	dhDay          uint32
	relays         []peer.AddrInfo
	rconns         map[peer.ID]*relayConn
	redialing      map[peer.ID]bool           // relays with a redial loop running (relaywatch.go)
	redialMin      time.Duration              // RelayRedialMin if 0; tests shorten it
	mdns           interface{ Close() error } // LAN discovery, when enabled
	prekeyRecips   []*crypto.Recipient        // own prekeys still held
	prekeyCurrent  []byte                     // today's signed prekey
	prekeyDay      uint32
	gen            uint64     // bumped when deliveries should be retried at once
	prox           *proxState // last announcement
	proxChanged    bool       // settings changed since prox
	loc            *location
	appOpen        bool
	decisions      map[string]chan bool // itemID → waiting offer stream

	qz                  quietZoneCache                // stored quiet zones (meet.go); own lock
	xf                  transfers                     // items being sealed or sent (sealing.go); own lock
	outMemo, noticeMemo scanMemo                      // the loop's last scans (loop.go); loop only
	tg                  togetherState                 // together shares (together.go); own lock
	tz                  atomic.Pointer[time.Location] // SetTimeZone; nil: Config.TimeZone

	// sendHook, if set (tests only, before Start), runs before each chunk
	// is sent; an error aborts the transfer as a dropped connection would.
	sendHook func(itemID string, index uint32) error
	// placedHook, if set (tests only, before Start), runs when a received
	// item's file has its final name, before the receipt and the
	// delivery's commit; an error ends the stream there, as a crash would.
	placedHook func(itemID string) error
	// noDirect, if set (tests only, before Start), writes received chunks
	// through the page cache even where direct writes work.
	noDirect bool
	// relayRec, if set (tests only, before Start), sees every byte sent
	// to a relay.
	relayRec func(protocol string, p []byte)
	// relayObs, if set (tests only, before Start), sees the same with the
	// transport identity each byte leaves on and the stream it is on.
	relayObs func(local peer.ID, stream, protocol string, p []byte)
	// offerWait is OfferWait; tests shorten it.
	offerWait time.Duration
	// delays are the P12 random waits (transport.go); tests shorten them.
	delays privacyDelays
	tstats transportStats
	// syncing counts running background syncs (SyncOnce): notices are
	// not held during one (sync.go).
	syncing atomic.Int32

	ctx     context.Context // canceled by Close
	cancel  context.CancelFunc
	wg      sync.WaitGroup      // every goroutine the node starts
	kick    chan struct{}       // wakes the loop (location, retry, friend online)
	an      *analytics.Counters // anonymous analytics counts; nil when off (analyticsglue.go)
	anDirty chan struct{}       // wakes analyticsPersister, the counters' one writer
	anSend  chan struct{}       // held (one slot) by the one report send running (sendDays)
	anLocAt atomic.Int64        // unix seconds of the last location fix counted (analyticsfeed.go)
}

// New opens (or creates) the node's store in cfg.DataDir. It does no
// network I/O; call Start.
func New(cfg Config) (*Node, error) {
	if cfg.DataDir == "" || len(cfg.StoreKey) != localstore.KeySize {
		return nil, fmt.Errorf("node: DataDir and a %d-byte StoreKey are required: %w", localstore.KeySize, ErrBadArgument)
	}
	c := cfg.withDefaults()
	st, err := localstore.OpenWith(c.DataDir, c.StoreKey, localstore.Options{NoSync: c.NoSync})
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n := &Node{
		cfg:       c,
		log:       c.Logger.With("component", "imigee-node"),
		store:     st,
		media:     filepath.Join(c.DataDir, "media"),
		outdir:    filepath.Join(c.DataDir, "outbox"),
		friends:   map[string]*friend{},
		decisions: map[string]chan bool{},
		rconns:    map[peer.ID]*relayConn{},
		kick:      make(chan struct{}, 1),
		offerWait: OfferWait,
		delays:    defaultDelays(c.HostFactory != nil),
		// Start above any generation stored by an earlier run.
		gen: uint64(time.Now().UnixNano()),
	}
	for _, d := range []string{n.media, n.outdir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			st.Close()
			return nil, fmt.Errorf("node: mkdir: %w", err)
		}
	}
	if err := n.loadIdentity(); err != nil {
		st.Close()
		return nil, err
	}
	if err := n.loadFriends(); err != nil {
		st.Close()
		return nil, err
	}
	if err := n.ensurePrekeys(); err != nil {
		st.Close()
		return nil, err
	}
	n.openAnalytics()
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.events = newEventQueue(c.Events)
	n.startEvents()
	n.catchUpTogether()
	if n.an != nil {
		n.wg.Add(1)
		go func() { defer n.wg.Done(); n.analyticsPersister(n.ctx) }()
	}
	return n, nil
}

func (n *Node) loadIdentity() error {
	b, err := n.store.Get(localstore.Meta, "identity")
	if errors.Is(err, localstore.ErrNotFound) {
		id, err := crypto.NewIdentityAt(rand.Reader, n.cfg.Now().Unix())
		if err != nil {
			return fmt.Errorf("node: new identity: %w", err)
		}
		raw, _ := id.MarshalBinary()
		if err := n.store.Put(localstore.Meta, "identity", raw); err != nil {
			return fmt.Errorf("node: store identity: %w", err)
		}
		n.id = id
		return nil
	}
	if err != nil {
		return fmt.Errorf("node: load identity: %w", err)
	}
	id, err := crypto.UnmarshalIdentity(b)
	if err != nil {
		return fmt.Errorf("node: load identity: %w", err)
	}
	n.id = id
	return nil
}

// ID returns this device's friend ID (the fingerprint friends see).
func (n *Node) ID() string {
	c := n.id.Card()
	return c.Fingerprint()
}

// startNet starts networking: a libp2p host with a fresh transport identity,
// connections and circuit reservations at the relays, the mailbox check,
// and the background loop (Start, SetAppState and SyncOnce call it; see
// lifecycle.go).
func (n *Node) startNet(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	if n.started {
		n.mu.Unlock()
		return nil
	}
	relays, err := parseRelays(n.cfg.Relays)
	if err != nil {
		n.mu.Unlock()
		return err
	}
	n.relays = relays
	n.mu.Unlock()

	// Before the host serves streams: a Resume for an item left unsealed
	// must find its sealing job (else it would read a partial copy), and
	// the sweep must not race a stream that starts receiving.
	n.resumeSealing()
	n.recoverPlaced()
	n.sweepParts()
	n.sweepSealed()
	h, err := n.newHost()
	if err != nil {
		return err
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		h.Close()
		return ErrClosed
	}
	n.h, n.hostBorn, n.hostLife, n.started = h, n.cfg.Now(), n.hostLifetime(), true
	n.mu.Unlock()
	if err := n.startDayHost(); err != nil {
		return err
	}
	n.attachRelays(ctx, h)
	n.wg.Add(1)
	go func() { defer n.wg.Done(); n.loop() }()
	if n.an != nil {
		n.spawn(n.analyticsLoop)
	}
	if n.cfg.EnableMDNS && n.cfg.HostFactory == nil {
		n.startMDNS(h)
	}
	return nil
}

// Close stops every goroutine, closes the host and the store. It is
// idempotent.
func (n *Node) Close() error {
	n.stopBackgroundLoop(true)
	n.life.mu.Lock()
	defer n.life.mu.Unlock()
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
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
	n.stopOfflineRecorder()
	n.stopSealing()
	n.stopEvents()
	if serr := n.store.Close(); err == nil {
		err = serr
	}
	return err
}

// host returns the current libp2p host or ErrNotStarted.
func (n *Node) host() (host.Host, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	if n.h == nil {
		return nil, ErrNotStarted
	}
	return n.h, nil
}

// wake nudges the loop without blocking.
func (n *Node) wake() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
	n.pokeBackground()
}

// go runs f as a node-owned goroutine unless the node is closing.
func (n *Node) spawn(f func(ctx context.Context)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.wg.Add(1)
	go func() { defer n.wg.Done(); f(n.ctx) }()
}

// enter registers an inbound stream handler with the node's WaitGroup so
// Close waits for it; it returns false (and the caller resets the stream)
// once the node is closing.
func (n *Node) enter() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	return true
}

func (n *Node) emit(e *Event) { n.life.count(e); n.countEvent(e); n.events.push(e) }

// eventQueue delivers events in order on one goroutine, without blocking
// the producer (the queue is unbounded but events are small and rare).
type eventQueue struct {
	h    EventHandler
	mu   sync.Mutex // guards q
	q    []*Event
	wake chan struct{}
}

func newEventQueue(h EventHandler) *eventQueue {
	return &eventQueue{h: h, wake: make(chan struct{}, 1)}
}

func (q *eventQueue) push(e *Event) {
	if q.h == nil {
		return
	}
	q.mu.Lock()
	q.q = append(q.q, e)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *eventQueue) run(ctx context.Context) {
	for {
		q.mu.Lock()
		batch := q.q
		q.q = nil
		q.mu.Unlock()
		for _, e := range batch {
			q.h.OnEvent(e)
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		}
	}
}
