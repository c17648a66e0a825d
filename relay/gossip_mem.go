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
//
// Outbound, the message bytes of every RPC pubsub queues for a peer are
// charged from the moment it is queued (RawTracer.SendRPC) until it is
// written (SendRPCCompleted), dropped (DropRPC) or the peer is gone
// (RemovePeer). Pubsub cannot be refused at that point, so while queued
// gossip holds a quarter of memory_budget, new gossip — received or our
// own — is ignored at validation instead.
type gossipMem struct {
	b *memBudget

	mu    sync.Mutex // guards peers, held, out and sending
	peers map[peer.ID]*connState
	held  map[*pubsub.Message]heldMsg
	// out is the state outbound gossip is charged to; sending the RPCs
	// queued for each peer and their message bytes.
	out     *connState
	sending map[peer.ID]map[*pubsub.RPC]int
}

type heldMsg struct {
	st *connState
	n  int
	at time.Time
}

func newGossipMem(b *memBudget) *gossipMem {
	return &gossipMem{b: b, peers: make(map[peer.ID]*connState), held: make(map[*pubsub.Message]heldMsg),
		out: &connState{source: "relay/out"}, sending: make(map[peer.ID]map[*pubsub.RPC]int)}
}

// outCap is how much queued outbound gossip may hold before new gossip
// (received or our own) is ignored: a quarter of memory_budget.
func (g *gossipMem) outCap() int64 { return max(g.b.limit/4, 1) }

// outFull reports whether outbound gossip holds its cap.
func (g *gossipMem) outFull() bool {
	g.b.mu.Lock()
	defer g.b.mu.Unlock()
	return g.out.mem >= g.outCap()
}

// queued charges the message bytes of rpc, just queued for p, to the
// budget (pubsub queued it already; it cannot be refused now, so new
// gossip is refused instead while outFull).
func (g *gossipMem) queued(rpc *pubsub.RPC, p peer.ID) {
	n := publishBytes(rpc)
	if n == 0 {
		return
	}
	g.mu.Lock()
	q := g.sending[p]
	if q == nil {
		q = make(map[*pubsub.RPC]int)
		g.sending[p] = q
	}
	if q[rpc] == writtenFirst {
		// The sender wrote it between pubsub's Push and this call.
		delete(q, rpc)
		g.mu.Unlock()
		return
	}
	q[rpc] += n
	g.mu.Unlock()
	g.b.force(g.out, n)
}

// writtenFirst marks an RPC whose write was reported before its queueing.
const writtenFirst = -1

// sent releases rpc's bytes once written (dropped: dropped). Idempotent.
func (g *gossipMem) sent(rpc *pubsub.RPC, p peer.ID, dropped bool) {
	g.mu.Lock()
	q := g.sending[p]
	n, ok := q[rpc] // what was charged, even if pubsub trimmed rpc since
	switch {
	case ok:
		delete(q, rpc)
	case !dropped && publishBytes(rpc) > 0:
		// Pubsub pushes an RPC on the peer's queue before it reports
		// SendRPC, so its writer may finish first.
		if q == nil {
			q = make(map[*pubsub.RPC]int)
			g.sending[p] = q
		}
		q[rpc] = writtenFirst
	}
	g.mu.Unlock()
	if n > 0 {
		g.b.release(g.out, n)
	}
}

func publishBytes(rpc *pubsub.RPC) int {
	n := 0
	for _, m := range rpc.GetPublish() {
		n += len(m.GetData())
	}
	return n
}

// peerGone releases everything still queued for p (its queue died with it).
func (g *gossipMem) peerGone(p peer.ID) {
	g.mu.Lock()
	n := 0
	for _, k := range g.sending[p] {
		n += max(k, 0)
	}
	delete(g.sending, p)
	g.mu.Unlock()
	g.b.release(g.out, n)
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
func (g *gossipMem) releaseAll() {
	g.expire(time.Now().Add(1 << 62))
	g.mu.Lock()
	var ps []peer.ID
	for p := range g.sending {
		ps = append(ps, p)
	}
	g.mu.Unlock()
	for _, p := range ps {
		g.peerGone(p)
	}
}
