package node

import (
	"net"
	"sync"
	"testing"
	"time"
)

// udpDelay is a one-client UDP proxy on loopback that holds every
// datagram for a fixed one-way delay in each direction, in order: a link
// with a real round-trip time between two QUIC endpoints on one machine,
// so a benchmark can count protocol round trips where loopback's 20 µs
// would only measure goroutine wake-ups. No loss, no rate limit. Its
// goroutines stop on close (registered with t.Cleanup).
type udpDelay struct {
	front  *net.UDPConn // the client sends here
	back   *net.UDPConn // to the target, from one socket
	target *net.UDPAddr
	delay  time.Duration

	mu     sync.Mutex
	client *net.UDPAddr // the first sender on front; later ones are dropped

	toBack, toFront chan delayed
	wg              sync.WaitGroup
}

type delayed struct {
	due time.Time
	b   []byte
	to  *net.UDPAddr // nil: the target
}

// newUDPDelay starts a proxy in front of target (a 127.0.0.1 UDP address)
// adding oneWay to each direction; Addr is what the client dials.
func newUDPDelay(t testing.TB, target *net.UDPAddr, oneWay time.Duration) *udpDelay {
	t.Helper()
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	front, err := net.ListenUDP("udp4", lo)
	if err != nil {
		t.Fatal(err)
	}
	back, err := net.ListenUDP("udp4", lo)
	if err != nil {
		front.Close()
		t.Fatal(err)
	}
	p := &udpDelay{front: front, back: back, target: target, delay: oneWay,
		toBack: make(chan delayed, 8192), toFront: make(chan delayed, 8192)}
	p.wg.Add(4)
	go p.read(front, p.toBack, true)
	go p.read(back, p.toFront, false)
	go p.write(back, p.toBack)
	go p.write(front, p.toFront)
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's client-facing address.
func (p *udpDelay) Addr() *net.UDPAddr { return p.front.LocalAddr().(*net.UDPAddr) }

// read queues each datagram with its due time; a full queue drops (as a
// full router queue would), which the benchmark's sizes never reach.
func (p *udpDelay) read(c *net.UDPConn, q chan<- delayed, fromClient bool) {
	defer p.wg.Done()
	defer close(q)
	buf := make([]byte, 64<<10)
	for {
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return
		}
		d := delayed{due: time.Now().Add(p.delay), b: append([]byte(nil), buf[:n]...)}
		p.mu.Lock()
		if fromClient {
			if p.client == nil {
				p.client = from
			}
			if !p.client.IP.Equal(from.IP) || p.client.Port != from.Port {
				p.mu.Unlock()
				continue
			}
		} else {
			d.to = p.client
		}
		p.mu.Unlock()
		select {
		case q <- d:
		default:
		}
	}
}

// write sends each queued datagram when it is due, in arrival order.
func (p *udpDelay) write(c *net.UDPConn, q <-chan delayed) {
	defer p.wg.Done()
	for d := range q {
		if w := time.Until(d.due); w > 0 {
			time.Sleep(w)
		}
		to := d.to
		if to == nil {
			to = p.target
		}
		_, _ = c.WriteToUDP(d.b, to)
	}
}

func (p *udpDelay) close() {
	p.front.Close()
	p.back.Close()
	p.wg.Wait()
}
