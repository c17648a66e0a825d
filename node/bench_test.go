package node

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	libp2pquic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	ma "github.com/multiformats/go-multiaddr"
)

// Benchmarks of the share path against raw baselines measured in the same
// loop (docs/BENCH.md). Each iteration runs the raw baselines and the
// share one after the other, so load from other processes on the machine
// hits all of them alike; the ratios are reported as metrics
// (share/raw: raw time over share time, so 1 means as fast as raw).

const benchSize = 8 << 20

// benchEvents hands a benchmark node's events to channels.
type benchEvents struct {
	offered   chan Event // item_offered
	received  chan Event // item_received
	delivered chan Event // delivered (the receipt is back)
	sealed    chan Event // the last sealing event
}

func newBenchEvents() *benchEvents {
	return &benchEvents{offered: make(chan Event, 64), received: make(chan Event, 64), delivered: make(chan Event, 64), sealed: make(chan Event, 64)}
}

func (h *benchEvents) OnEvent(e *Event) {
	switch {
	case e.Kind == EventItemOffered:
		h.offered <- *e
	case e.Kind == EventItemReceived:
		h.received <- *e
	case e.Kind == EventDelivered:
		h.delivered <- *e
	case e.Kind == EventSealing && e.Done == e.Total:
		h.sealed <- *e
	}
}

func benchNode(b *testing.B, clock *testClock) (*testNode, *benchEvents) {
	b.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	h := newBenchEvents()
	tn := &testNode{dir: b.TempDir(), key: key}
	tn.Node = tn.open(b, clock, nil, func(c *Config) {
		c.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1"}
		c.Events = h
	})
	return tn, h
}

// shareWorld is one sender linked with friends recipients that auto-accept.
type shareWorld struct {
	a        *testNode
	aev      *benchEvents
	rnodes   []*testNode
	rs       []*benchEvents
	roffered []chan Event
	ids      []string
	aIDs     []string // the sender's ID at each recipient
	path     string
}

func newShareWorld(b *testing.B, friends int, size int64) *shareWorld {
	clock := newTestClock()
	w := &shareWorld{}
	w.a, w.aev = benchNode(b, clock)
	for i := 0; i < friends; i++ {
		r, ev := benchNode(b, clock)
		inv, err := w.a.Invite()
		if err != nil {
			b.Fatal(err)
		}
		aID, err := r.Link(context.Background(), inv)
		if err != nil {
			b.Fatal(err)
		}
		if err := r.SetAutoAccept(aID, true); err != nil {
			b.Fatal(err)
		}
		w.ids = append(w.ids, r.ID())
		w.aIDs = append(w.aIDs, aID)
		w.rnodes = append(w.rnodes, r)
		w.rs = append(w.rs, ev)
		w.roffered = append(w.roffered, ev.offered)
	}
	time.Sleep(200 * time.Millisecond) // let link events settle
	// One message each, untimed: the sender learns each friend's Hello
	// caps (caps.go), so every timed share has the stream cipher a
	// linked pair of phones uses from then on.
	for _, id := range w.ids {
		if _, err := w.a.SendMessage(id, "warm up"); err != nil {
			b.Fatal(err)
		}
		select {
		case <-w.aev.delivered:
		case <-time.After(30 * time.Second):
			b.Fatal("warm-up message not delivered")
		}
	}
	w.path = filepath.Join(b.TempDir(), "video.mp4")
	writeRandom(b, w.path, size)
	return w
}

// writeRandom writes size random bytes to path, 1 MiB at a time.
func writeRandom(b *testing.B, path string, size int64) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for left := size; left > 0; left -= int64(len(buf)) {
		_, _ = rand.Read(buf)
		if _, err := f.Write(buf[:min(left, int64(len(buf)))]); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// share shares the file with every friend and returns the time from the
// start (the share call, or the end of sealing if withSeal is false) until
// every receipt is back at the sender.
func (w *shareWorld) share(b *testing.B, withSeal bool) (time.Duration, time.Duration) {
	if !withSeal {
		// Seal first, untimed: a share to nobody reachable yet would start
		// streaming, so hold deliveries until the copy is sealed.
		w.a.holdDeliveries(true)
	}
	start := time.Now()
	id, err := w.a.ShareVideo(w.path, w.ids)
	if err != nil {
		b.Fatal(err)
	}
	if !withSeal {
		w.a.waitSealed(id)
		w.a.holdDeliveries(false)
		start = time.Now()
	}
	cpu0 := cpuTime()
	for range w.ids {
		select {
		case <-w.aev.delivered:
		case <-time.After(120 * time.Second):
			b.Fatal("transfer did not finish")
		}
	}
	d, cpu := time.Since(start), cpuTime()-cpu0
	for _, ev := range w.rs {
		e := <-ev.received
		os.Remove(e.Path)
	}
	drain(w.aev.sealed)
	return d, cpu
}

func drain(c chan Event) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// rawWorld is the baseline: one sender host and friends receiver hosts
// (bare libp2p QUIC on loopback). A receiver reads the stream to its end,
// writes it to a file with the same 64 KiB writes the node makes and
// fsyncs it if toFile, then answers one byte; the sender waits for every
// answer (as it waits for receipts).
type rawWorld struct {
	h1  host.Host
	hs  []host.Host
	dir string
	buf []byte
}

func newRawWorld(b *testing.B, friends int) *rawWorld {
	w := &rawWorld{dir: b.TempDir(), buf: make([]byte, 1<<20)}
	_, _ = rand.Read(w.buf)
	mk := func() host.Host {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"), libp2p.Transport(libp2pquic.NewTransport), libp2p.DisableRelay())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Close() })
		return h
	}
	w.h1 = mk()
	for i := 0; i < friends; i++ {
		h := mk()
		dst := filepath.Join(w.dir, "raw"+strconv.Itoa(i))
		h.SetStreamHandler("/bench/raw", func(s network.Stream) {
			var wr io.Writer = io.Discard
			var f *os.File
			if s.Protocol() == "/bench/raw" && readFlag(s) {
				f, _ = os.Create(dst)
				wr = f
			}
			buf := make([]byte, 64<<10)
			_, _ = io.CopyBuffer(onlyWriter{wr}, s, buf)
			if f != nil {
				_ = f.Sync()
				f.Close()
			}
			_, _ = s.Write([]byte{1})
			_ = s.Close()
		})
		if err := w.h1.Connect(context.Background(), peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()}); err != nil {
			b.Fatal(err)
		}
		w.hs = append(w.hs, h)
	}
	return w
}

// onlyWriter hides ReadFrom so io.CopyBuffer writes in its buffer's steps.
type onlyWriter struct{ io.Writer }

func readFlag(s network.Stream) bool {
	var f [1]byte
	_, _ = io.ReadFull(s, f[:])
	return f[0] == 1
}

// send streams size bytes to every receiver at once and returns the time
// until every answer is back.
func (w *rawWorld) send(b *testing.B, size int64, toFile bool) time.Duration {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(w.hs))
	for _, h := range w.hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := w.h1.NewStream(context.Background(), h.ID(), "/bench/raw")
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			flag := []byte{0}
			if toFile {
				flag[0] = 1
			}
			_, _ = s.Write(flag)
			for left := size; left > 0; left -= int64(len(w.buf)) {
				if _, err := s.Write(w.buf[:min(left, int64(len(w.buf)))]); err != nil {
					errs <- err
					return
				}
			}
			_ = s.CloseWrite()
			var ack [1]byte
			if _, err := io.ReadFull(s, ack[:]); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return time.Since(start)
}

// minRounds is the fewest rounds benchTransfer takes its medians over.
const minRounds = 5

// benchTransfer interleaves, per iteration: the raw stream, the raw
// stream into fsynced files, the share from the sealed copy, and the share
// with its sealing; it reports the medians' ratios.
func benchTransfer(b *testing.B, friends int, size int64) {
	raw := newRawWorld(b, friends)
	sw := newShareWorld(b, friends, size)
	var tRaw, tFile, tShare, tSeal []time.Duration
	var cRaw, cFile, cShare time.Duration
	var rss int64
	// One untimed round first: the first transfer of a process pays
	// one-time costs (buffer pools, QUIC windows growing, file creation)
	// that a later one does not, and it fell on whichever transfer went
	// first. The medians take at least minRounds rounds: with -benchtime
	// 1s a 256 MiB run is one round, which made its ratio that one
	// round's (0.6–1.05 in alternating runs of one binary).
	raw.send(b, size, false)
	raw.send(b, size, true)
	sw.share(b, false)
	b.ResetTimer()
	for i := 0; i < max(b.N, minRounds); i++ {
		c0 := cpuTime()
		tRaw = append(tRaw, raw.send(b, size, false))
		c1 := cpuTime()
		tFile = append(tFile, raw.send(b, size, true))
		c2 := cpuTime()
		before := resetPeakRSS()
		ts, cs := sw.share(b, false)
		rss = max(rss, peakRSS()-before)
		tShare = append(tShare, ts)
		cRaw, cFile, cShare = cRaw+c1-c0, cFile+c2-c1, cShare+cs
		ts, _ = sw.share(b, true)
		tSeal = append(tSeal, ts)
	}
	b.StopTimer()
	r, f, s, sl := medianDur(tRaw), medianDur(tFile), medianDur(tShare), medianDur(tSeal)
	b.ReportMetric(float64(r.Microseconds())/1e3, "raw-ms")
	b.ReportMetric(float64(f.Microseconds())/1e3, "rawfile-ms")
	b.ReportMetric(float64(s.Microseconds())/1e3, "share-ms")
	b.ReportMetric(float64(sl.Microseconds())/1e3, "sealshare-ms")
	b.ReportMetric(r.Seconds()/s.Seconds(), "share/raw")
	b.ReportMetric(f.Seconds()/s.Seconds(), "share/rawfile")
	b.ReportMetric(f.Seconds()/sl.Seconds(), "sealshare/rawfile")
	// CPU time of the whole process (both ends) per transfer: on a
	// loaded machine the wall-clock ratios follow the CPU available.
	rounds := float64(len(tRaw))
	b.ReportMetric(float64(cRaw.Microseconds())/1e3/rounds, "raw-cpu-ms")
	b.ReportMetric(float64(cFile.Microseconds())/1e3/rounds, "rawfile-cpu-ms")
	b.ReportMetric(float64(cShare.Microseconds())/1e3/rounds, "share-cpu-ms")
	if rss > 0 {
		b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
	}
}

// cpuTime is the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func medianDur(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)/2]
}

// resetPeakRSS resets the process's peak RSS (Linux: clear_refs 5) and
// returns the current RSS in bytes (0 where unsupported).
func resetPeakRSS() int64 {
	if os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) != nil {
		return 0
	}
	return procStatus("VmRSS:")
}

// peakRSS is the peak RSS since the last reset, in bytes.
func peakRSS() int64 { return procStatus("VmHWM:") }

func procStatus(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkTransfer8MiB: one 8 MiB item node → node over QUIC on
// loopback, accepted, until the receipt is back at the sender (offer,
// reply, chunks opened, written, made durable, receipt), against a raw
// libp2p QUIC stream (share/raw, goal ≥ 0.6) and a raw stream into an
// fsynced file answered by one byte (share/rawfile, goal ≥ 0.9), in the
// same loop. sealshare includes sealing the pending copy (which overlaps
// the transfer).
func BenchmarkTransfer8MiB(b *testing.B) { benchTransfer(b, 1, benchSize) }

// BenchmarkTransfer8MiBTo5Friends: the same item to five friends (sealed
// once) against five raw fsynced streams run at once (goal ≥ 0.8).
func BenchmarkTransfer8MiBTo5Friends(b *testing.B) { benchTransfer(b, 5, benchSize) }

// BenchmarkTransfer256MiB: a 256 MiB video, same ratios; rss-MiB is the
// growth of this process's peak RSS during the share, sender and receiver
// together (goal < 64 MiB each). Skipped with -short.
func BenchmarkTransfer256MiB(b *testing.B) {
	if testing.Short() {
		b.Skip("256 MiB: not with -short")
	}
	benchTransfer(b, 1, 256<<20)
}

// BenchmarkTTFBAfterAccept: time from Accept (ask mode, the sender's offer
// stream waiting) to the first whole chunk (64 KiB) read at the
// recipient, and the same in round trips of a 1-byte echo on the same
// connection measured just before (ttfb-rtts). By protocol it is one
// round trip (the OfferReply goes out before the decision is committed,
// the first chunk follows it, alone); on loopback the echo takes ~20 µs,
// so the figure is dominated by local work (goroutine wake-ups, reading
// the pending copy, a 64 KiB frame) and is context, not the goal's test.
//
// Sub-benchmarks: loopback (the connection as linked) and rtt40ms, where
// the recipient's only connection to the sender runs through a UDP proxy
// that holds each datagram 20 ms each way (udpDelay), a phone-like RTT on
// which ttfb-rtts counts protocol round trips: the goal (≤ 2) is judged
// there, since on loopback a round trip is shorter than a goroutine
// wake-up.
func BenchmarkTTFBAfterAccept(b *testing.B) {
	b.Run("loopback", func(b *testing.B) { benchTTFB(b, 0) })
	b.Run("rtt40ms", func(b *testing.B) { benchTTFB(b, 20*time.Millisecond) })
}

func benchTTFB(b *testing.B, oneWay time.Duration) {
	w := newShareWorld(b, 1, 1<<20)
	a := w.a
	r := w.rnodes[0]
	if err := r.SetAutoAccept(w.aIDs[0], false); err != nil {
		b.Fatal(err)
	}
	ah, _ := a.host()
	rh, _ := r.host()
	checkPath := func() {}
	if oneWay > 0 {
		checkPath = throughDelay(b, ah, rh, oneWay)
	}
	first := make(chan time.Time, 1)
	r.xf.mu.Lock()
	r.xf.recvHook = func(_ string, i int64) {
		select {
		case first <- time.Now():
		default:
		}
	}
	r.xf.mu.Unlock()
	// RTT: one byte echoed on a stream of the same connection.
	ah.SetStreamHandler("/bench/echo", func(s network.Stream) {
		var c [1]byte
		for {
			if _, err := io.ReadFull(s, c[:]); err != nil {
				s.Close()
				return
			}
			if _, err := s.Write(c[:]); err != nil {
				return
			}
		}
	})
	es, err := rh.NewStream(context.Background(), ah.ID(), "/bench/echo")
	if err != nil {
		b.Fatal(err)
	}
	defer es.Close()
	echo := func() time.Duration {
		var c [1]byte
		start := time.Now()
		if _, err := es.Write(c[:]); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(es, c[:]); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	echo()
	// A raw 64 KiB message from the sender's host to the recipient's,
	// answered by one byte, on the same connection: what a first chunk
	// costs the transport itself (QUIC paces a burst of ~50 packets).
	rh.SetStreamHandler("/bench/sink", func(s network.Stream) {
		buf := make([]byte, 64<<10)
		for {
			if _, err := io.ReadFull(s, buf); err != nil {
				s.Close()
				return
			}
			if _, err := s.Write(buf[:1]); err != nil {
				return
			}
		}
	})
	ss, err := ah.NewStream(context.Background(), rh.ID(), "/bench/sink")
	if err != nil {
		b.Fatal(err)
	}
	defer ss.Close()
	chunk := make([]byte, 64<<10)
	sink := func() time.Duration {
		start := time.Now()
		if _, err := ss.Write(chunk); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(ss, chunk[:1]); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	sink()
	var ttfb, rtt, raw64 []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.holdDeliveries(true)
		id, err := a.ShareVideo(w.path, w.ids)
		if err != nil {
			b.Fatal(err)
		}
		a.waitSealed(id)
		a.holdDeliveries(false)
		select {
		case <-w.roffered[0]:
		case <-time.After(30 * time.Second):
			b.Fatal("no offer")
		}
		checkPath()
		rt := min(echo(), echo(), echo())
		raw64 = append(raw64, sink())
		select {
		case <-first:
		default:
		}
		start := time.Now()
		if err := r.Accept(id); err != nil {
			b.Fatal(err)
		}
		ttfb = append(ttfb, (<-first).Sub(start))
		rtt = append(rtt, rt)
		checkPath()
		<-w.aev.delivered
		os.Remove((<-w.rs[0].received).Path)
		// The sealing events are not waited for here; left in their
		// channel they filled it after 64 iterations and blocked the
		// sender's event queue (the benchmark hung at b.N > 64).
		drain(w.aev.sealed)
	}
	b.StopTimer()
	t, p, r64 := medianDur(ttfb), medianDur(rtt), medianDur(raw64)
	b.ReportMetric(float64(t.Microseconds())/1e3, "ttfb-ms")
	b.ReportMetric(float64(p.Microseconds())/1e3, "rtt-ms")
	b.ReportMetric(t.Seconds()/p.Seconds(), "ttfb-rtts")
	b.ReportMetric(float64(r64.Microseconds())/1e3, "raw64k-ms")
	b.ReportMetric(t.Seconds()/r64.Seconds(), "ttfb/raw64k")
}

// throughDelay makes the recipient rh's only connection to the sender ah
// run through a udpDelay of oneWay each way: it closes their direct
// connections, leaves each peerstore only the proxy's address for the
// other (rh dials, ah could only answer), and reconnects. The returned
// check fails the benchmark if any connection between them bypasses the
// proxy (a node redialling directly would make the figure a lie).
func throughDelay(b *testing.B, ah, rh host.Host, oneWay time.Duration) func() {
	b.Helper()
	var target *net.UDPAddr
	for _, m := range ah.Addrs() {
		ip, err1 := m.ValueForProtocol(ma.P_IP4)
		port, err2 := m.ValueForProtocol(ma.P_UDP)
		if _, err3 := m.ValueForProtocol(ma.P_QUIC_V1); err1 == nil && err2 == nil && err3 == nil {
			if u, err := net.ResolveUDPAddr("udp4", net.JoinHostPort(ip, port)); err == nil && u.IP.IsLoopback() {
				target = u
				break
			}
		}
	}
	if target == nil {
		b.Fatal("sender has no loopback QUIC address")
	}
	p := newUDPDelay(b, target, oneWay)
	front, err := ma.NewMultiaddr(fmt.Sprintf("/ip4/127.0.0.1/udp/%d/quic-v1", p.Addr().Port))
	if err != nil {
		b.Fatal(err)
	}
	pin := func() {
		rh.Peerstore().ClearAddrs(ah.ID())
		rh.Peerstore().AddAddr(ah.ID(), front, time.Hour)
		ah.Peerstore().ClearAddrs(rh.ID())
	}
	pin()
	_ = ah.Network().ClosePeer(rh.ID())
	_ = rh.Network().ClosePeer(ah.ID())
	pin()
	if err := rh.Connect(context.Background(), peer.AddrInfo{ID: ah.ID(), Addrs: []ma.Multiaddr{front}}); err != nil {
		b.Fatal(err)
	}
	return func() {
		conns := rh.Network().ConnsToPeer(ah.ID())
		if len(conns) == 0 {
			b.Fatal("no connection to the sender")
		}
		for _, c := range conns {
			if !c.RemoteMultiaddr().Equal(front) {
				b.Fatalf("a connection bypasses the delay: %s", c.RemoteMultiaddr())
			}
		}
		pin()
	}
}
