package relay

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/libp2p/go-libp2p/core/network"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/imigee/imigee/relay/rendezvous"
)

// connState is what the relay keeps per libp2p connection: the request rate
// limiter and the rendezvous token budget shared by all its streams, its
// stream count and its rendezvous sessions (so Forget on the mailbox stream can withdraw them). Connections
// are keyed by the connection ID, never by peer ID or address.
type connState struct {
	limiter *rate.Limiter
	budget  *rendezvous.Group // token budget shared by its rendezvous streams
	source  string            // IP prefix, for per-source limits (never logged)
	mem     int64             // bytes reserved with the memory budget; guarded by memBudget.mu
	// memCap, if > 0, replaces memory_per_conn and memory_per_source for
	// this state: a peer relay's gossip share (gossip.go).
	memCap int64
	put    *rate.Limiter // per-connection put allowance; guarded by admission.mu

	mu       sync.Mutex // guards streams, sessions and late
	streams  int
	sessions map[*rendezvous.Session]struct{}
	late     int // history units spent: late tokens and forget secrets (historysvc.go)
}

// conns tracks connState per connection, and the rendezvous budget group
// each source (IP prefix) shares among its connections.
type conns struct {
	limits Limits
	rv     RendezvousConfig

	mu      sync.Mutex // guards m and sources
	m       map[string]*connState
	sources map[string]*sourceState
}

// sourceState is what connections from one source share.
type sourceState struct {
	rv    *rendezvous.Group
	conns int
}

func newConns(l Limits, rv RendezvousConfig) *conns {
	return &conns{limits: l, rv: rv, m: make(map[string]*connState), sources: make(map[string]*sourceState)}
}

// get returns the state of c, creating it.
func (cs *conns) get(c network.Conn) *connState {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	st := cs.m[c.ID()]
	if st == nil {
		src := sourceOf(c)
		ss := cs.sources[src]
		if ss == nil {
			ss = &sourceState{rv: rendezvous.NewLimitedGroup(cs.rv.MaxEntriesPerSource, nil)}
			cs.sources[src] = ss
		}
		ss.conns++
		st = &connState{
			limiter:  rate.NewLimiter(rate.Limit(cs.limits.RequestsPerSecond), cs.limits.RequestBurst),
			budget:   rendezvous.NewLimitedGroup(cs.rv.MaxEntriesPerConn, ss.rv),
			sessions: make(map[*rendezvous.Session]struct{}),
			source:   src,
		}
		cs.m[c.ID()] = st
	}
	return st
}

// forget drops the state of a closed connection.
func (cs *conns) forget(c network.Conn) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	st := cs.m[c.ID()]
	if st == nil {
		return
	}
	delete(cs.m, c.ID())
	if ss := cs.sources[st.source]; ss != nil {
		if ss.conns--; ss.conns <= 0 {
			delete(cs.sources, st.source)
		}
	}
}

// openStream counts a stream on st; false if the cap is reached.
func (st *connState) openStream(max int) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.streams >= max {
		return false
	}
	st.streams++
	return true
}

func (st *connState) closeStream() {
	st.mu.Lock()
	st.streams--
	st.mu.Unlock()
}

// allow charges n request units at now.
func (st *connState) allow(now time.Time, n int) bool {
	return st.limiter.AllowN(now, n)
}

func (st *connState) addSession(s *rendezvous.Session) {
	st.mu.Lock()
	st.sessions[s] = struct{}{}
	st.mu.Unlock()
}

func (st *connState) removeSession(s *rendezvous.Session) {
	st.mu.Lock()
	delete(st.sessions, s)
	st.mu.Unlock()
}

func (st *connState) sessionList() []*rendezvous.Session {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]*rendezvous.Session, 0, len(st.sessions))
	for s := range st.sessions {
		out = append(out, s)
	}
	return out
}

// notifiee drops connection state on disconnect.
type notifiee struct{ cs *conns }

func (n notifiee) Listen(network.Network, ma.Multiaddr)      {}
func (n notifiee) ListenClose(network.Network, ma.Multiaddr) {}
func (n notifiee) Connected(network.Network, network.Conn)   {}
func (n notifiee) Disconnected(_ network.Network, c network.Conn) {
	n.cs.forget(c)
}
