package simnet

import (
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// TestLinkReserve: a link sends back to back at its rate and drops what
// would queue longer than MaxQueueDelay.
func TestLinkReserve(t *testing.T) {
	t0 := time.Unix(0, 0)
	l := link{bps: 8e6} // 1 MB/s: 1,000 bytes take 1 ms
	at, ok := l.reserve(t0, 1000, false)
	if !ok || at != t0.Add(time.Millisecond) {
		t.Fatalf("first packet sent at %v, %v", at.Sub(t0), ok)
	}
	at, ok = l.reserve(t0, 1000, false)
	if !ok || at != t0.Add(2*time.Millisecond) {
		t.Fatalf("second packet sent at %v, %v (queued behind the first)", at.Sub(t0), ok)
	}
	for i := 0; ; i++ {
		if _, ok := l.reserve(t0, 1000, false); !ok {
			// 50 ms of queue at 1 ms a packet, 2 already queued.
			if i < 45 || i > 50 {
				t.Fatalf("dropped after %d more packets", i)
			}
			break
		}
	}
	// Once the queue drained, packets go out at once again.
	at, ok = l.reserve(t0.Add(time.Second), 1000, false)
	if !ok || at != t0.Add(time.Second+time.Millisecond) {
		t.Fatalf("after the queue drained: %v, %v", at.Sub(t0), ok)
	}
}

// TestWireDelivery: a packet arrives after its serialization on the
// sender's up link, the latency and its serialization on the receiver's
// down link; the reader gets the sender's address; a closed endpoint
// gets nothing and unknown destinations count as dropped.
func TestWireDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWire(20*time.Millisecond, Model{})
		defer w.close()
		a, err := w.endpoint(&net.UDPAddr{IP: net.IPv4(1, 0, 0, 1), Port: Port}, 8e6, 8e6, endOpts{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := w.endpoint(&net.UDPAddr{IP: net.IPv4(1, 0, 0, 2), Port: Port}, 8e6, 8e6, endOpts{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.endpoint(b.addr, 8e6, 8e6, endOpts{}, nil); err == nil {
			t.Error("a second endpoint on an address in use")
		}
		start := time.Now()
		if _, err := a.WriteTo(make([]byte, 1000), b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 2000)
		n, from, err := b.ReadFrom(buf)
		if err != nil || n != 1000 || from.String() != a.LocalAddr().String() {
			t.Fatalf("read %d bytes from %v: %v", n, from, err)
		}
		if d := time.Since(start); d != 22*time.Millisecond {
			t.Errorf("delivered after %v, want 1 ms + 20 ms + 1 ms", d)
		}
		b.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := b.ReadFrom(buf); err == nil {
			t.Error("read without a packet before the deadline")
		}
		a.WriteTo([]byte("x"), &net.UDPAddr{IP: net.IPv4(1, 0, 0, 9), Port: Port})
		b.Close()
		a.WriteTo([]byte("x"), b.LocalAddr())
		time.Sleep(time.Second)
		if got := w.dropped.Load(); got != 2 {
			t.Errorf("dropped %d packets, want 2", got)
		}
	})
}

// TestWireNATLossJitter: a NATed end receives only from peers it sent to
// within NATTimeout; Loss drops about its share of a phone's packets;
// jitter delays but keeps a pair's order; per-end latencies add up.
func TestWireNATLossJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newWire(20*time.Millisecond, Model{Seed: 1, Jitter: 5 * time.Millisecond})
		defer w.close()
		pub, _ := w.endpoint(&net.UDPAddr{IP: net.IPv4(1, 0, 0, 1), Port: Port}, 8e6, 8e6, endOpts{Latency: 30 * time.Millisecond}, nil)
		nat, _ := w.endpoint(&net.UDPAddr{IP: net.IPv4(1, 0, 0, 2), Port: Port}, 8e6, 8e6, endOpts{Latency: 5 * time.Millisecond, NAT: true}, nil)
		buf := make([]byte, 100)
		pub.WriteTo([]byte("unsolicited"), nat.LocalAddr())
		time.Sleep(time.Second)
		if w.natDrop.Load() != 1 {
			t.Fatalf("NAT let an unsolicited packet in (natDrop %d)", w.natDrop.Load())
		}
		nat.WriteTo([]byte("out"), pub.LocalAddr()) // opens the mapping
		start := time.Now()
		if _, _, err := pub.ReadFrom(buf); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 35*time.Millisecond {
			t.Errorf("one way took %v, want ≥ 5 + 30 ms of access latency", d)
		}
		for i := range 20 {
			pub.WriteTo([]byte{byte(i)}, nat.LocalAddr())
		}
		for i := range 20 {
			n, _, err := nat.ReadFrom(buf)
			if err != nil || n != 1 || buf[0] != byte(i) {
				t.Fatalf("packet %d: got %v (%d bytes, %v): jitter reordered the pair", i, buf[0], n, err)
			}
		}
		time.Sleep(NATTimeout + time.Second)
		pub.WriteTo([]byte("late"), nat.LocalAddr())
		time.Sleep(time.Second)
		if w.natDrop.Load() != 2 {
			t.Errorf("the mapping outlived NATTimeout (natDrop %d)", w.natDrop.Load())
		}
	})
	synctest.Test(t, func(t *testing.T) {
		w := newWire(20*time.Millisecond, Model{Seed: 1, Loss: 0.1})
		defer w.close()
		a, _ := w.endpoint(&net.UDPAddr{IP: net.IPv4(1, 0, 0, 1), Port: Port}, 8e9, 8e9, endOpts{Lossy: true}, nil)
		b, _ := w.endpoint(&net.UDPAddr{IP: net.IPv4(1, 0, 0, 2), Port: Port}, 8e9, 8e9, endOpts{}, nil)
		for range 2000 {
			a.WriteTo([]byte("x"), b.LocalAddr())
		}
		time.Sleep(time.Second)
		l := w.lost.Load()
		if l < 150 || l > 250 {
			t.Errorf("lost %d of 2000 at 10 %%", l)
		}
		// Between two ends that are not lossy (relays) nothing is lost.
		c, _ := w.endpoint(&net.UDPAddr{IP: net.IPv4(1, 0, 0, 3), Port: Port}, 8e9, 8e9, endOpts{}, nil)
		for range 2000 {
			b.WriteTo([]byte("x"), c.LocalAddr())
		}
		time.Sleep(time.Second)
		if w.lost.Load() != l {
			t.Errorf("lost %d packets between ends that are not lossy", w.lost.Load()-l)
		}
	})
}
