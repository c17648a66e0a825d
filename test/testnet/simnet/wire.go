package simnet

import (
	"cmp"
	"container/heap"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing/synctest"
	"time"

	"github.com/imigee/imigee/test/testnet"
)

// MaxQueueDelay bounds a link's queue: a packet that would wait longer
// than this for its link (up or down) is dropped, as a router's
// drop-tail buffer would: 50 ms. QUIC sees the loss and backs off, so a
// bulk transfer cannot build an unbounded queue in front of everything
// else the node sends.
const MaxQueueDelay = 50 * time.Millisecond

// wire is the simulated packet network every host of a run sends through:
// one endpoint (a UDP socket, package-level conn) per host, each with its
// own up and down link of a fixed bandwidth, and a fixed one-way latency
// between any two.
//
// It replaces marcopolo/simnet's goroutine-per-link pipeline (four
// goroutine hand-offs per packet) with one goroutine and a heap, and it
// is deterministic: the run's goroutines that wake at the same virtual
// instant run in the Go scheduler's order, which a seed cannot fix (select
// and map order use the runtime's own random numbers), so the wire lets
// them settle (synctest.Wait) and then takes the packets they wrote in a
// canonical order (source, destination, then write order), and it
// delivers one packet at a time, letting the run settle after each. What
// a packet causes therefore happens before the next one arrives, whatever
// the scheduler does.
type wire struct {
	latency time.Duration
	model   Model
	rng     *rand.Rand // owned by run: loss and jitter, drawn in canonical order

	mu      sync.Mutex // guards everything below
	ends    map[netip.AddrPort]*conn
	outbox  []*packet // written since the last round, in write order
	settles []chan struct{}
	closed  bool

	notify chan struct{} // 1-buffered: outbox or settles not empty
	done   chan struct{} // closed when run returns
	quit   chan struct{} // closed by close

	// owned by run
	events evHeap
	seq    uint64
	last   time.Time // latest delivery scheduled

	packets atomic.Int64 // packets written
	dropped atomic.Int64 // packets lost to full queues or unknown addresses
	lost    atomic.Int64 // packets lost at random (Model.Loss)
	natDrop atomic.Int64 // packets a NAT filtered (no mapping for the source)
}

// Model is the wire's link model beyond bandwidth and queues. The zero
// Model is the plain network: one fixed latency, no loss.
type Model struct {
	// Seed seeds the loss and jitter draws (the scenario seed).
	Seed uint64
	// Jitter is the mean of an exponential extra delay per packet. A
	// pair's packets stay in order (jitter delays, it does not reorder).
	Jitter time.Duration
	// Loss is the probability that a packet to or from a node is lost
	// (each direction of a path, independently).
	Loss float64
}

// NATTimeout is how long a NAT keeps a mapping open after the host behind
// it last sent to a peer: 30 s, the common UDP timeout. Packets from a
// peer without a live mapping are dropped (an address-restricted NAT).
const NATTimeout = 30 * time.Second

// endOpts describe one endpoint: its access latency and whether it sits
// behind a NAT.
type endOpts struct {
	// Latency is this end's share of a path's one-way latency: a path's
	// latency is the sum of both ends' (zero: half the wire's latency).
	Latency time.Duration
	NAT     bool
	// Lossy ends lose Model.Loss of their packets (phones; not relays).
	Lossy bool
}

// link is one direction of an endpoint's access link.
type link struct {
	bps  float64   // bits per second
	free time.Time // when the link finishes sending what it has queued
}

// reserve queues size bytes arriving at t and returns when they are sent,
// or false when the queue is too long (the packet is dropped). A reliable
// message (the lite transport's) is never dropped: it waits its turn,
// as a stream's bytes wait in a real sender's buffer.
func (l *link) reserve(t time.Time, size int, reliable bool) (time.Time, bool) {
	start := t
	if l.free.After(t) {
		if !reliable && l.free.Sub(t) > MaxQueueDelay {
			return time.Time{}, false
		}
		start = l.free
	}
	l.free = start.Add(time.Duration(float64(size*8) / l.bps * float64(time.Second)))
	return l.free, true
}

type packet struct {
	from, to netip.AddrPort
	src      *net.UDPAddr // the sender's address, as ReadFrom returns it
	buf      []byte
	// A lite transport message (lite.go) instead of a datagram: msg is
	// handed to the destination's recv, size is what it occupies on the
	// links. It is reliable (queued, never dropped; a loss costs a
	// retransmission delay), and only an opening message (a dial) is
	// subject to a NAT: established connections keep their mapping alive
	// as QUIC's keep-alives do.
	msg     *liteMsg
	size    int
	opening bool
}

// len is what the packet occupies on a link.
func (p *packet) len() int {
	if p.msg != nil {
		return p.size
	}
	return len(p.buf)
}

// event is a packet reaching its destination's down link (arrive) or the
// destination socket (deliver) at time at; seq orders events of one
// instant in the order they were scheduled.
type event struct {
	at      time.Time
	seq     uint64
	deliver bool
	p       *packet
}

type evHeap []event

func (h evHeap) Len() int { return len(h) }
func (h evHeap) Less(i, j int) bool {
	if c := h[i].at.Compare(h[j].at); c != 0 {
		return c < 0
	}
	if less, ok := lessContent(&h[i], &h[j]); ok {
		return less
	}
	return h[i].seq < h[j].seq
}
func (h evHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *evHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *evHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = event{} // the backing array must not keep the packet alive
	*h = old[:len(old)-1]
	return e
}

// newWire starts the network's goroutine; it must be called inside the
// run's synctest bubble, and close must be called before the bubble ends.
func newWire(latency time.Duration, m Model) *wire {
	w := &wire{
		latency: latency,
		model:   m,
		rng:     testnet.NewRand(m.Seed, "wire"),
		ends:    map[netip.AddrPort]*conn{},
		notify:  make(chan struct{}, 1),
		done:    make(chan struct{}),
		quit:    make(chan struct{}),
	}
	go w.run()
	return w
}

// endpoint opens the socket of a host at addr with the given link rates.
// recv, when not nil, takes the lite transport's messages instead of the
// socket's read queue; it runs on the wire's goroutine and must not block.
func (w *wire) endpoint(addr *net.UDPAddr, upBPS, downBPS int, o endOpts, recv func(*packet)) (*conn, error) {
	ap := canon(addr.AddrPort())
	if o.Latency == 0 {
		o.Latency = w.latency / 2
	}
	c := &conn{
		opts:   o,
		sent:   map[netip.AddrPort]time.Time{},
		lastTo: map[netip.AddrPort]time.Time{},
		w:      w,
		addr:   net.UDPAddrFromAddrPort(ap),
		ap:     ap,
		up:     link{bps: float64(upBPS)},
		down:   link{bps: float64(downBPS)},
		ready:  make(chan struct{}, 1),
		dl:     make(chan struct{}, 1),
		shut:   make(chan struct{}),
		recv:   recv,
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, net.ErrClosed
	}
	if old, ok := w.ends[ap]; ok && !old.isClosed() {
		return nil, errors.New("simnet: address in use")
	}
	w.ends[ap] = c
	return c, nil
}

// settle blocks until every goroutine of the run but the caller has
// nothing left to do at this instant (the wire has delivered everything
// due and what that caused has run). The driver calls it before it acts
// and samples, so what it sees does not depend on the scheduler.
func (w *wire) settle() {
	ch := make(chan struct{})
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.settles = append(w.settles, ch)
	w.mu.Unlock()
	w.poke()
	select {
	case <-ch:
	case <-w.done:
	}
}

func (w *wire) poke() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

func (w *wire) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	close(w.quit)
	<-w.done
}

func (w *wire) send(p *packet) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.outbox = append(w.outbox, p)
	w.mu.Unlock()
	w.packets.Add(1)
	w.poke()
}

// run is the network's one goroutine: settle, admit what was written,
// then deliver at most one due packet and settle again; with nothing due,
// sleep until the next event or the next write.
func (w *wire) run() {
	defer close(w.done)
	// The wake-up timer is replaced, never reset to an earlier time: in a
	// bubble every timer of the run shares one heap, and a timer moved
	// earlier makes the runtime scan that whole heap (runtime
	// timers.adjust) when it comes due. With a thousand hosts that scan
	// took a quarter of the run's CPU. armed is when the current timer
	// fires (zero: none).
	var timer *time.Timer
	var armed time.Time
	for {
		synctest.Wait()
		now := time.Now()
		w.mu.Lock()
		out := w.outbox
		w.outbox = nil
		w.mu.Unlock()
		w.admit(now, out)
		if w.step(now) {
			continue // deliver the rest of this instant one by one
		}
		if len(out) > 0 {
			continue // what was admitted may be due now
		}
		// Quiet: release the settlers one at a time, in the order they
		// asked (normally there is one, the driver).
		w.mu.Lock()
		var first chan struct{}
		if len(w.settles) > 0 {
			first = w.settles[0]
			w.settles = w.settles[1:]
		}
		w.mu.Unlock()
		if first != nil {
			close(first)
			continue
		}
		if len(w.events) > 0 {
			if next := w.events[0].at; armed.IsZero() || next.Before(armed) {
				if timer != nil {
					timer.Stop() // a zombie, dropped when it reaches the top
				}
				timer, armed = time.NewTimer(next.Sub(now)), next
			}
		}
		var tc <-chan time.Time
		if timer != nil && !armed.IsZero() {
			tc = timer.C
		}
		select {
		case <-w.notify:
		case <-tc:
			armed = time.Time{}
		case <-w.quit:
			if timer != nil {
				timer.Stop()
			}
			w.mu.Lock()
			for _, ch := range w.settles {
				close(ch)
			}
			w.settles = nil
			w.mu.Unlock()
			return
		}
	}
}

// admit puts the packets written during the last round on their senders'
// up links, in canonical order: by source and destination, a pair's
// packets in write order, and the lite streams of one source by content
// (wireorder.go).
func (w *wire) admit(now time.Time, out []*packet) {
	if len(out) == 0 {
		return
	}
	slices.SortStableFunc(out, func(a, b *packet) int {
		return cmp.Or(a.from.Compare(b.from), a.to.Compare(b.to))
	})
	out = canonSources(out)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range out {
		src, dst := w.ends[p.from], w.ends[p.to]
		if src == nil || dst == nil {
			w.dropped.Add(1)
			continue
		}
		if src.opts.NAT {
			src.sent[p.to] = now // the sender's NAT opens (or keeps) a mapping
		}
		path := src.opts.Latency + dst.opts.Latency
		var resend time.Duration // a reliable message's retransmission delay
		if w.model.Loss > 0 && (src.opts.Lossy || dst.opts.Lossy) {
			if p.msg == nil {
				if w.rng.Float64() < w.model.Loss {
					w.lost.Add(1)
					continue
				}
			} else if w.liteLost(p.size) {
				w.lost.Add(1)
				resend = LiteResendRTTs * 2 * path
			}
		}
		sent, ok := src.up.reserve(now, p.len(), p.msg != nil)
		if !ok {
			w.dropped.Add(1)
			continue
		}
		at := sent.Add(path + resend)
		if w.model.Jitter > 0 {
			at = at.Add(time.Duration(w.rng.ExpFloat64() * float64(w.model.Jitter)))
			// Keep the pair's order: jitter delays, it does not reorder.
			if last := src.lastTo[p.to]; at.Before(last) {
				at = last
			}
			src.lastTo[p.to] = at
		}
		w.push(event{at: at, p: p})
	}
}

// step handles the events due at now up to and including the first
// delivery; it reports whether it delivered one.
func (w *wire) step(now time.Time) bool {
	for len(w.events) > 0 && !w.events[0].at.After(now) {
		e := heap.Pop(&w.events).(event)
		w.mu.Lock()
		dst := w.ends[e.p.to]
		w.mu.Unlock()
		if dst == nil || dst.isClosed() {
			w.dropped.Add(1)
			continue
		}
		if !e.deliver {
			if dst.opts.NAT && (e.p.msg == nil || e.p.opening) {
				if t, ok := dst.sent[e.p.from]; !ok || e.at.Sub(t) > NATTimeout {
					w.natDrop.Add(1)
					continue
				}
			}
			at, ok := dst.down.reserve(e.at, e.p.len(), e.p.msg != nil)
			if !ok {
				w.dropped.Add(1)
				continue
			}
			// No two deliveries share an instant: each is a step of its
			// own, and the timers what it causes sets are its own too.
			if !at.After(w.last) {
				at = w.last.Add(time.Nanosecond)
			}
			w.last = at
			w.push(event{at: at, deliver: true, p: e.p})
			continue
		}
		dst.put(e.p)
		return true
	}
	return false
}

func (w *wire) push(e event) {
	w.seq++
	e.seq = w.seq
	heap.Push(&w.events, e)
}

// canon is addr with an IPv4 address in its 4-byte form.
func canon(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
