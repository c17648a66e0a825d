package relay

import (
	"net"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// memBudget is the relay's one accountant for the buffers a stranger can
// make it hold: partial request frames, encoded responses and pushes waiting
// for a slow reader, fetch batches read from the store. Every such buffer
// is reserved here before it is allocated and released when dropped; a
// reservation that would pass the relay-wide limit, the connection's share
// or the source's share is refused, and the request gets UNAVAILABLE with
// nothing else changed. Sources are IP prefixes (/32 for IPv4, /64 for
// IPv6), so many connections or identities from one machine share one
// share. Rendezvous entries and sealed records are reserved here too, by
// the session that announced them (a client's connection, or the peer
// relay whose gossip carried them) and released when they expire or are
// withdrawn; so are gossip messages from the moment they pass validation
// until the gossip loop has applied them, and queued for sending until
// written (gossip_mem.go). The engine's entry
// and record caps remain as hard caps underneath.
type memBudget struct {
	limit, perConn, perSource int64
	refused                   func() // counts a refusal

	mu      sync.Mutex // guards used, peak and sources
	used    int64
	peak    int64 // highest used since the last trim
	sources map[string]int64
}

// trimStep is how far reservations must have fallen from their peak before
// the relay hands freed memory back to the OS: 32 MiB.
const trimStep = 32 << 20

// shouldTrim reports (and resets) whether reservations fell by trimStep
// since their peak, or by a quarter of it to below a quarter of the peak: an attack's buffers were released, and the Go runtime,
// left alone, would keep the pages until its next forced GC (up to 2 min)
// and scavenge them slowly after.
func (b *memBudget) shouldTrim() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	fell := b.peak - b.used
	if fell < trimStep && (fell < trimStep/4 || b.used > b.peak/4) {
		// Not fallen far, and not most of the way back to idle either.
		return false
	}
	b.peak = b.used
	return true
}

func newMemBudget(l Limits, refused func()) *memBudget {
	return &memBudget{limit: l.MemoryBudget, perConn: l.MemoryPerConn, perSource: l.MemoryPerSource, refused: refused, sources: make(map[string]int64)}
}

// errMemory is what a refused reservation answers.
var errMemory = &protocol.Error{Code: pb.ErrorCode_UNAVAILABLE, Detail: "relay memory budget exhausted"}

// reserve charges n bytes to st's connection and source.
func (b *memBudget) reserve(st *connState, n int) error {
	if n <= 0 {
		return nil
	}
	v := int64(n)
	b.mu.Lock()
	perConn, perSource := b.perConn, b.perSource
	if st.memCap > 0 {
		perConn, perSource = st.memCap, st.memCap
	}
	if b.used+v > b.limit || st.mem+v > perConn || b.sources[st.source]+v > perSource {
		b.mu.Unlock()
		b.refused()
		return errMemory
	}
	b.used += v
	b.peak = max(b.peak, b.used)
	st.mem += v
	b.sources[st.source] += v
	b.mu.Unlock()
	return nil
}

// force charges n bytes to st without checking the limits: for bytes
// already held by a library that cannot be refused after the fact (gossip
// queued for sending); the caller refuses new work while they are high.
func (b *memBudget) force(st *connState, n int) {
	if n <= 0 {
		return
	}
	v := int64(n)
	b.mu.Lock()
	b.used += v
	b.peak = max(b.peak, b.used)
	st.mem += v
	b.sources[st.source] += v
	b.mu.Unlock()
}

func (b *memBudget) release(st *connState, n int) {
	if n <= 0 {
		return
	}
	v := int64(n)
	b.mu.Lock()
	b.used -= v
	st.mem -= v
	if s := b.sources[st.source] - v; s > 0 {
		b.sources[st.source] = s
	} else {
		delete(b.sources, st.source)
	}
	b.mu.Unlock()
}

// inUse reports the bytes reserved now (metrics, tests).
func (b *memBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// memAccount is a connection's view of the budget (a protocol.Account).
type memAccount struct {
	b  *memBudget
	st *connState
}

func (a memAccount) Reserve(n int) error { return a.b.reserve(a.st, n) }
func (a memAccount) Release(n int)       { a.b.release(a.st, n) }

// sourceOf names a connection's source for per-source limits: the remote
// IPv4 address, or the /64 of an IPv6 address. Connections without an IP
// (in-memory transports) share one source.
func sourceOf(c network.Conn) string {
	if c == nil {
		return ""
	}
	ip, err := manet.ToIP(c.RemoteMultiaddr())
	if err != nil {
		return "other"
	}
	return sourceOfIP(ip)
}

func sourceOfIP(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return string(v4)
	}
	return string(ip.Mask(net.CIDRMask(64, 128)))
}
