package relay

// Gossip's share of the memory budget: what other relays' gossip makes this
// relay hold is reserved with the same accountant (memory.go) as what
// clients make it hold.

import (
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// gossipHoldMax is how long a validated gossip message stays reserved if
// the gossip loop never sees it (pubsub dropped it after validation, e.g. a
// duplicate delivered by two peers at once): 2 minutes, then it is
// released by prune.
const gossipHoldMax = 2 * time.Minute

// gossipMem reserves, per peer relay (and for this relay's own messages):
//
//   - a validated message's bytes (its raw data plus its decoded copy,
//     2 × len(data)) from validation until the gossip loop has applied it,
//     so the subscription buffer and validation pipeline cannot hold more
//     than the budget allows: a message that does not fit is ignored
//     (not forwarded, not delivered) and counted;
//   - the rendezvous entries and records its remote sessions hold, until
//     they expire or are withdrawn (the engine releases them).
//
// One peer relay may hold at most half of memory_budget, so local clients
// always keep the other half.
type gossipMem struct {
	b *memBudget

	mu    sync.Mutex // guards peers and held
	peers map[peer.ID]*connState
	held  map[*pubsub.Message]heldMsg
}

type heldMsg struct {
	st *connState
	n  int
	at time.Time
}

func newGossipMem(b *memBudget) *gossipMem {
	return &gossipMem{b: b, peers: make(map[peer.ID]*connState), held: make(map[*pubsub.Message]heldMsg)}
}

// account returns p's share of the budget. Only trusted relays (and this
// one) get here, so the map holds at most len(peers)+1 states.
func (g *gossipMem) account(p peer.ID) memAccount {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.peers[p]
	if st == nil {
		st = &connState{source: "relay/" + string(p), memCap: max(g.b.limit/2, 1)}
		g.peers[p] = st
	}
	return memAccount{g.b, st}
}

// hold reserves n bytes for msg on p's share; false if they do not fit.
func (g *gossipMem) hold(p peer.ID, msg *pubsub.Message, n int) bool {
	a := g.account(p)
	if a.Reserve(n) != nil {
		return false
	}
	g.mu.Lock()
	g.held[msg] = heldMsg{st: a.st, n: n, at: time.Now()}
	g.mu.Unlock()
	return true
}

// done releases msg's reservation (applied, skipped or undeliverable).
// Idempotent.
func (g *gossipMem) done(msg *pubsub.Message) {
	g.mu.Lock()
	h, ok := g.held[msg]
	delete(g.held, msg)
	g.mu.Unlock()
	if ok {
		g.b.release(h.st, h.n)
	}
}

// expire releases reservations older than gossipHoldMax.
func (g *gossipMem) expire(now time.Time) {
	g.mu.Lock()
	var old []heldMsg
	for m, h := range g.held {
		if now.Sub(h.at) > gossipHoldMax {
			old = append(old, h)
			delete(g.held, m)
		}
	}
	g.mu.Unlock()
	for _, h := range old {
		g.b.release(h.st, h.n)
	}
}

// releaseAll drops every message reservation (gossip closed).
func (g *gossipMem) releaseAll() { g.expire(time.Now().Add(1 << 62)) }
